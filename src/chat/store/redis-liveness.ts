// Which nodes are alive: each node's heartbeat in Redis, and the sweep of those that stopped
// (killed, partitioned) without saying goodbye, whose presence would otherwise stay for good.
import { randomUUID } from 'node:crypto'
import type { Member } from '../protocol.js'
import type { RedisCalls } from './redis-calls.js'
import { CLAIM_DEAD, TAKE_SWEEP } from './redis-presence-scripts.js'

const KEY = {
  nodes: 'chat:nodes',
  nodeSockets: (nodeId: string) => `chat:node:${nodeId}:sockets`,
  /** Sweeps of dead nodes under way: [node id, tombstone] by when they started. */
  sweeping: 'chat:sweeping'
}

/** A user whose last socket in a room went away with a dead node. */
export interface Departure {
  room: string
  user: Member
}

type RemoveUnder = (
  room: string,
  userId: string,
  socketId: string,
  nodeId: string
) => Promise<{ found: boolean; last?: Member }>

export interface LivenessOptions {
  heartbeatMs?: number
  nodeTimeoutMs?: number
  sweepTakeoverMs?: number
}

export class NodeLiveness {
  /** Bumped each time this node finds itself forgotten (see `nodeId`). */
  private generation = 0
  private heartbeat: NodeJS.Timeout | undefined
  /**
   * Since when this node's own heartbeats have gone through promptly. It judges others dead only
   * after a whole node timeout of that: after an outage or a stall of Redis, nobody could beat,
   * and every live node needs time to announce itself again before its heartbeat means anything.
   */
  private healthySince = 0
  /** The id under which a heartbeat of this node last went through. */
  private announcedId: string | undefined
  private wasForgotten = false
  private closed = false
  private readonly heartbeatMs: number
  private readonly nodeTimeoutMs: number
  private readonly sweepTakeoverMs: number
  private readonly claimScript
  private readonly takeScript

  constructor(
    private readonly calls: RedisCalls,
    private readonly baseId: string,
    options: LivenessOptions,
    private readonly removeUnder: RemoveUnder
  ) {
    this.heartbeatMs = options.heartbeatMs ?? 5000
    this.nodeTimeoutMs = options.nodeTimeoutMs ?? 20_000
    this.sweepTakeoverMs = options.sweepTakeoverMs ?? 60_000
    this.claimScript = calls.script('chatClaimDead', 4, CLAIM_DEAD)
    this.takeScript = calls.script('chatTakeSweep', 1, TAKE_SWEEP)
  }

  private get redis() {
    return this.calls.redis
  }

  /**
   * This node's name among the live nodes, and in what it records of its sockets' presence: the
   * process's, plus a generation once it was forgotten.
   */
  get nodeId(): string {
    return this.generation === 0 ? this.baseId : `${this.baseId}.${this.generation}`
  }

  /** This node's id and the ids it had before, newest first. */
  allIds(): string[] {
    const ids = [this.nodeId]
    for (let g = this.generation - 1; g >= 0; g--) ids.push(g === 0 ? this.baseId : `${this.baseId}.${g}`)
    return ids
  }

  /** Announces this node and keeps announcing it, so others can tell when it died. */
  start(): void {
    clearInterval(this.heartbeat)
    this.healthySince = Date.now()
    this.beat()
    this.heartbeat = setInterval(() => this.beat(), this.heartbeatMs)
    this.heartbeat.unref()
  }

  /** Stops the heartbeat without a goodbye, as a kill -9 would (tests). */
  stopBeating(): void {
    clearInterval(this.heartbeat)
  }

  private beat(): void {
    const sentAt = Date.now()
    const id = this.nodeId
    this.redis.zadd(KEY.nodes, sentAt, id).then(
      (added) => {
        this.calls.succeeded()
        // Answered late: Redis was stalled, and nobody's heartbeat got through meanwhile.
        if (Date.now() - sentAt > this.heartbeatMs) this.healthySince = Date.now()
        if (this.closed || id !== this.nodeId) return // a beat from before a switch, or the close
        if (added === 1 && this.announcedId === id) {
          // Added rather than updated: this node had been swept as dead (or Redis lost its data).
          // Its presence is recorded again under a new id, which a sweep of the old one, perhaps
          // still under way, cannot touch; the old id is swept in turn later.
          this.generation++
          this.wasForgotten = true
          this.beat()
        } else this.announcedId = id
      },
      (err: unknown) => {
        this.healthySince = Date.now()
        this.calls.failed(err, 'heartbeat')
      }
    )
  }

  /**
   * True (once) when this node found that it was itself forgotten: the presence of its sockets
   * is gone and must be recorded again.
   */
  forgotten(): boolean {
    const was = this.wasForgotten
    this.wasForgotten = false
    return was
  }

  /**
   * Forgets the sockets of nodes that stopped their heartbeat: whoever claims a dead node first
   * cleans it up, and gets the users who thereby left rooms. Sweeps that another sweeper
   * abandoned part-way (Redis went away meanwhile) are taken over.
   */
  async sweep(): Promise<Departure[]> {
    if (Date.now() - this.healthySince < this.nodeTimeoutMs) return []
    const askedAt = Date.now()
    const dead = await this.redis.zrangebyscore(KEY.nodes, '-inf', askedAt - this.nodeTimeoutMs)
    // A slow answer means Redis was stalled while we asked: the others' heartbeats were stuck
    // behind it too, and the list is not to be trusted.
    if (Date.now() - askedAt > this.heartbeatMs) {
      this.healthySince = Date.now()
      return []
    }
    const mine: Array<[string, string]> = []
    for (const nodeId of dead) {
      if (nodeId === this.nodeId) continue
      const sweep: [string, string] = [nodeId, `${KEY.nodeSockets(nodeId)}:swept:${randomUUID()}`]
      const args = [nodeId, askedAt - this.nodeTimeoutMs, Date.now(), JSON.stringify(sweep)]
      if ((await this.claimScript(KEY.nodes, KEY.nodeSockets(nodeId), sweep[1], KEY.sweeping, ...args)) === 1)
        mine.push(sweep)
    }
    const abandonedBefore = Date.now() - this.sweepTakeoverMs
    for (const entry of await this.redis.zrangebyscore(KEY.sweeping, '-inf', abandonedBefore)) {
      if ((await this.takeScript(KEY.sweeping, entry, abandonedBefore, Date.now())) === 1)
        mine.push(JSON.parse(entry) as [string, string])
    }
    const departures: Departure[] = []
    try {
      for (const sweep of mine) await this.finishSweep(sweep, departures)
    } catch (err) {
      // Redis went away part-way: what is done is told now, the rest is taken over later.
      this.calls.failed(err, 'sweep')
    }
    return departures
  }

  private async finishSweep([nodeId, tombstone]: [string, string], departures: Departure[]): Promise<void> {
    for (const entry of await this.redis.smembers(tombstone)) {
      const [room, userId, socketId] = JSON.parse(entry) as [string, string, string]
      const { last } = await this.removeUnder(room, userId, socketId, nodeId)
      await this.redis.srem(tombstone, entry)
      if (last !== undefined) departures.push({ room, user: last })
    }
    await this.redis.del(tombstone)
    await this.redis.zrem(KEY.sweeping, JSON.stringify([nodeId, tombstone]))
  }

  /**
   * The drain closed every socket; whatever presence of this node is still recorded (a removal
   * that failed or raced the close) goes now, then the node itself, under every id it had.
   */
  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.heartbeat)
    try {
      for (const nodeId of this.allIds()) {
        for (const entry of await this.redis.smembers(KEY.nodeSockets(nodeId))) {
          const [room, userId, socketId] = JSON.parse(entry) as [string, string, string]
          await this.removeUnder(room, userId, socketId, nodeId)
        }
        await this.redis.zrem(KEY.nodes, nodeId)
        await this.redis.del(KEY.nodeSockets(nodeId))
      }
    } catch (err) {
      // Redis is away: the surviving nodes sweep this one once its heartbeat is stale.
      this.calls.failed(err, 'close')
    }
  }
}
