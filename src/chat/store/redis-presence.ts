// Cluster presence: who has a socket in which room, on any node, in Redis. Each node says it is
// alive (heartbeats); whoever finds a node dead sweeps its sockets and tells who left. The part
// keeps what this node recorded, so that it can retry removals that failed while Redis was away,
// and record everything again when it finds that it was itself forgotten (swept as dead while
// cut off, or Redis lost its data).
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { Member } from '../protocol.js'
import { busiestFirst, type Presence, type PresenceChange, type RoomSummary } from './parts.js'
import type { RedisCalls } from './redis-calls.js'
import { NodeLiveness } from './redis-liveness.js'
import { ADD_PRESENCE, BUSIEST_ROOMS, REMOVE_PRESENCE } from './redis-presence-scripts.js'

export const PRESENCE_KEY = {
  members: (room: string) => `chat:{${room}}:members`,
  userSockets: (room: string, userId: string) => `chat:{${room}}:user:${userId}`,
  rooms: 'chat:rooms',
  nodeSockets: (nodeId: string) => `chat:node:${nodeId}:sockets`
}

export interface RedisPresenceOptions {
  /** How often this node says it is alive, and after how long without that it counts as dead. */
  heartbeatMs?: number
  nodeTimeoutMs?: number
  /** How long a sweep may go unfinished (its sweeper lost Redis part-way) before another takes it over. */
  sweepTakeoverMs?: number
  /** How often upkeep runs (dead nodes, failed removals, recording again); 0: only when called. */
  upkeepMs?: number
}

interface Recorded {
  room: string
  user: Member
  socketId: string
}

const recordKey = (room: string, socketId: string) => `${room}\n${socketId}`

export class RedisPresence implements Presence {
  readonly liveness: NodeLiveness
  private readonly addScript
  private readonly removeScript
  private readonly busiestScript
  private readonly listeners: Array<(change: PresenceChange) => void> = []
  /** What this node recorded, by room and socket: the truth to write again if Redis forgot it. */
  private readonly recorded = new Map<string, Recorded>()
  /** Removals Redis refused (away); retried by upkeep. */
  private readonly unfinished = new Map<string, Recorded>()
  private presenceLost = false
  private upkeepTimer: NodeJS.Timeout | undefined
  private upkeepRunning = false

  constructor(
    private readonly calls: RedisCalls,
    options: RedisPresenceOptions = {}
  ) {
    this.addScript = calls.script('chatAddPresence', 4, ADD_PRESENCE)
    this.removeScript = calls.script('chatRemovePresence', 4, REMOVE_PRESENCE)
    this.busiestScript = calls.script('chatBusiestRooms', 1, BUSIEST_ROOMS)
    this.liveness = new NodeLiveness(
      calls,
      `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`,
      options,
      (...args) => this.removeUnder(...args)
    )
    const every = options.upkeepMs ?? 5000
    if (every > 0) {
      this.upkeepTimer = setInterval(() => void this.upkeepSafely(), every)
      this.upkeepTimer.unref()
    }
  }

  onChange(listener: (change: PresenceChange) => void): void {
    this.listeners.push(listener)
  }

  private tell(change: PresenceChange): void {
    for (const listener of this.listeners) listener(change)
  }

  /** Announces this node (again, after every reconnection). */
  start(): void {
    this.liveness.start()
  }

  add(room: string, user: Member, socketId: string): Promise<boolean> {
    const key = recordKey(room, socketId)
    // A removal still queued from an outage must not undo this.
    this.unfinished.delete(key)
    this.recorded.set(key, { room, user, socketId })
    return this.calls.call('addPresence', () => this.addUnder(room, user, socketId, this.liveness.nodeId))
  }

  private async addUnder(room: string, user: Member, socketId: string, nodeId: string): Promise<boolean> {
    const keys = [
      PRESENCE_KEY.members(room),
      PRESENCE_KEY.userSockets(room, user.id),
      PRESENCE_KEY.rooms,
      PRESENCE_KEY.nodeSockets(nodeId)
    ]
    const first = await this.addScript(
      ...keys,
      user.id,
      JSON.stringify(user),
      `${nodeId}/${socketId}`,
      room,
      JSON.stringify([room, user.id, socketId])
    )
    return first === 1
  }

  async remove(room: string, user: Member, socketId: string): Promise<boolean> {
    const key = recordKey(room, socketId)
    const record = { room, user, socketId }
    this.recorded.delete(key)
    try {
      return await this.calls.call('removePresence', () => this.removeAnyId(room, user.id, socketId))
    } catch (err) {
      // Kept for upkeep rather than leave a ghost member in the room.
      this.unfinished.set(key, record)
      throw err
    }
  }

  /** Forgets a socket's presence recorded under this node's id, or an earlier one. */
  private async removeAnyId(room: string, userId: string, socketId: string): Promise<boolean> {
    for (const nodeId of this.liveness.allIds()) {
      const { found, last } = await this.removeUnder(room, userId, socketId, nodeId)
      if (found) return last !== undefined
    }
    return false
  }

  /** Forgets a socket's presence as recorded under `nodeId`: whether it was, and the member when it was their last. */
  private async removeUnder(
    room: string,
    userId: string,
    socketId: string,
    nodeId: string
  ): Promise<{ found: boolean; last?: Member }> {
    const keys = [
      PRESENCE_KEY.members(room),
      PRESENCE_KEY.userSockets(room, userId),
      PRESENCE_KEY.rooms,
      PRESENCE_KEY.nodeSockets(nodeId)
    ]
    const answer = await this.removeScript(
      ...keys,
      userId,
      `${nodeId}/${socketId}`,
      room,
      JSON.stringify([room, userId, socketId])
    )
    return typeof answer === 'string' ? { found: true, last: JSON.parse(answer) as Member } : { found: answer === 1 }
  }

  members(room: string): Promise<Member[]> {
    return this.calls.call('members', async () => {
      const all = await this.calls.redis.hvals(PRESENCE_KEY.members(room))
      return all.map((json) => JSON.parse(json) as Member)
    })
  }

  rooms(limit: number): Promise<RoomSummary[]> {
    return this.calls.call('rooms', async () => {
      const flat = (await this.busiestScript(PRESENCE_KEY.rooms, limit)) as string[]
      const list: RoomSummary[] = []
      for (let i = 0; i < flat.length; i += 2) list.push({ name: flat[i]!, members: Number(flat[i + 1]) })
      return list.sort(busiestFirst)
    })
  }

  private async upkeepSafely(): Promise<void> {
    if (this.upkeepRunning) return
    this.upkeepRunning = true
    try {
      await this.upkeep()
    } catch (err) {
      this.calls.failed(err, 'upkeep')
    } finally {
      this.upkeepRunning = false
    }
  }

  /**
   * Retries removals that failed, sweeps dead nodes, and records this node's presence again
   * after Redis forgot it; tells the rooms what changed.
   */
  async upkeep(): Promise<void> {
    for (const [key, entry] of [...this.unfinished]) {
      this.unfinished.delete(key)
      let last: boolean
      try {
        last = await this.removeAnyId(entry.room, entry.user.id, entry.socketId)
      } catch (err) {
        this.unfinished.set(key, entry)
        throw err
      }
      if (last) this.tell({ room: entry.room, user: entry.user, status: 'left' })
    }
    for (const { room, user } of await this.liveness.sweep()) this.tell({ room, user, status: 'left' })
    if (this.liveness.forgotten()) this.presenceLost = true
    if (this.presenceLost) {
      // Until it went through (Redis may go away again meanwhile); adding is idempotent.
      await this.recordAgain()
      this.presenceLost = false
    }
  }

  private async recordAgain(): Promise<void> {
    for (const [key, entry] of [...this.recorded]) {
      const first = await this.addUnder(entry.room, entry.user, entry.socketId, this.liveness.nodeId)
      if (this.recorded.get(key) !== entry) {
        // Removed meanwhile, perhaps before this addition went through: remove it again.
        await this.removeUnder(entry.room, entry.user.id, entry.socketId, this.liveness.nodeId)
        continue
      }
      if (first) this.tell({ room: entry.room, user: entry.user, status: 'joined' })
    }
  }

  async close(): Promise<void> {
    clearInterval(this.upkeepTimer)
    await this.liveness.close()
  }
}
