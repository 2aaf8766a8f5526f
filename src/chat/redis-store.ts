// The cluster store: history, sequence numbers, retry de-duplication and presence in Redis, so
// any number of nodes serve one chat. The append is one Lua script that also publishes the
// message to the Socket.IO Redis Streams adapter's stream, as an external emitter does: every
// node (the sender's included) delivers it from that stream, in stream order, which is seq order.
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { type Redis, ReplyError } from 'ioredis'
import { ChatError } from '../errors.js'
import type { Member, Message } from './protocol.js'
import { type AppendInput, type AppendResult, busiestFirst, type ChatStore, type Departure, type RoomSummary, type SinceResult } from './store.js'

export interface RedisStoreOptions {
  historyLimit: number
  /** The Socket.IO Redis Streams adapter's stream name and length cap. */
  streamName: string
  streamMaxLen: number
  /** How long a room's history outlives its last message (default 30 days). */
  roomTtlSeconds?: number
  /** How often this node says it is alive, and after how long without that it counts as dead. */
  heartbeatMs?: number
  nodeTimeoutMs?: number
  /** How long a sweep may go unfinished (its sweeper lost Redis part-way) before another takes it over. */
  sweepTakeoverMs?: number
  /** Called when an operation fails because Redis cannot be reached. */
  onError?: (err: unknown, operation: string) => void
}

const ROOM_TTL_SECONDS = 30 * 24 * 3600

const KEY = {
  seq: (room: string) => `chat:room:${room}:seq`,
  log: (room: string) => `chat:room:${room}:log`,
  dedup: (room: string) => `chat:room:${room}:dedup`,
  /** The de-dup fields by the seq of their message, to find those that go with trimmed history. */
  dedupBySeq: (room: string) => `chat:room:${room}:dedup-seq`,
  members: (room: string) => `chat:room:${room}:members`,
  userSockets: (room: string, userId: string) => `chat:room:${room}:user:${userId}`,
  rooms: 'chat:rooms',
  nodes: 'chat:nodes',
  nodeSockets: (nodeId: string) => `chat:node:${nodeId}:sockets`,
  /** Sweeps of dead nodes under way: [node id, tombstone] by when they started. */
  sweeping: 'chat:sweeping'
}

// KEYS: seq, log, dedup, stream, dedup fields by seq. ARGV: history limit, de-dup field ('' for
// none), message JSON before and after its seq, room, trace context JSON ('' for none), stream
// cap, and how long a room's keys outlive its last message (so abandoned rooms do not pile up).
// The stream entry is what every node's Deliverer takes (see ChatStreamEntry): the message JSON
// as stored. A retry-id lasts as long as its message is in history; which ids go with trimmed
// messages is looked up by seq, never by decoding the stored JSON (cjson refuses some of what
// JSON.stringify writes, such as a lone surrogate's escape).
const APPEND = `
if ARGV[2] ~= '' then
  local first = redis.call('HGET', KEYS[3], ARGV[2])
  if first then return {0, first} end
end
local seq = redis.call('INCR', KEYS[1])
local json = ARGV[3] .. seq .. ARGV[4]
redis.call('ZADD', KEYS[2], seq, json)
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[2], json)
  redis.call('ZADD', KEYS[5], seq, ARGV[2])
end
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[1])
if excess > 0 then
  local newest = redis.call('ZRANGE', KEYS[2], excess - 1, excess - 1, 'WITHSCORES')[2]
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
  for _, field in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', newest)) do redis.call('HDEL', KEYS[3], field) end
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', newest)
end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', 'uid', 'emitter', 'nsp', '/', 'type', '3', 'room', ARGV[5], 'chat', json, 'trace', ARGV[6])
for _, i in ipairs({1, 2, 3, 5}) do redis.call('EXPIRE', KEYS[i], ARGV[8]) end
return {1, json}
`

// KEYS: room members, the user's sockets in the room, rooms, this node's sockets.
// ARGV: user id, member JSON, socket key, room, node entry.
const ADD_PRESENCE = `
redis.call('SADD', KEYS[4], ARGV[5])
if redis.call('SADD', KEYS[2], ARGV[3]) == 1 and redis.call('SCARD', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZINCRBY', KEYS[3], 1, ARGV[4])
  return 1
end
return 0
`

// Same KEYS; ARGV: user id, socket key, room, node entry. Returns the member JSON when it was
// the user's last socket in the room, 1 when it was not, 0 when the socket was not recorded.
const REMOVE_PRESENCE = `
redis.call('SREM', KEYS[4], ARGV[4])
if redis.call('SREM', KEYS[2], ARGV[2]) == 0 then return 0 end
if redis.call('SCARD', KEYS[2]) > 0 then return 1 end
local member = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
if tonumber(redis.call('ZINCRBY', KEYS[3], -1, ARGV[3])) <= 0 then redis.call('ZREM', KEYS[3], ARGV[3]) end
return member or 1
`

// KEYS: nodes, the node's sockets, a tombstone for them, the sweeps under way. ARGV: node id,
// the latest heartbeat that counts as dead, now, the sweep's entry. Claims a dead node for this
// sweeper, in one step: only if its heartbeat is still that old (it may have come back since it
// was listed), and its sockets move to the tombstone, so that what the node records after
// coming back is not swept with them. The sweep is listed until it is done: one that fails
// part-way (Redis away again) is taken over later, rather than its members left for good.
const CLAIM_DEAD = `
local beat = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not beat or tonumber(beat) > tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('RENAME', KEYS[2], KEYS[3])
  redis.call('ZADD', KEYS[4], ARGV[3], ARGV[4])
end
return 1
`

// KEYS: the sweeps under way. ARGV: a sweep's entry, the latest start that counts as abandoned,
// now. Takes over an abandoned sweep (one sweeper at a time).
const TAKE_SWEEP = `
local started = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not started or tonumber(started) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`

// KEYS: rooms. ARGV: how many. The busiest rooms with their member counts, ties by name, in one
// step (a count that changed between two reads could list a room twice).
const BUSIEST_ROOMS = `
local limit = tonumber(ARGV[1])
local top = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', 1, 'WITHSCORES', 'LIMIT', 0, limit)
if #top < 2 * limit or limit == 0 then return top end
-- Among the rooms tied at the cut ZREVRANGEBYSCORE took the last by name: take the first.
local cut = top[#top]
local out = {}
for i = 1, #top, 2 do
  if tonumber(top[i + 1]) > tonumber(cut) then
    out[#out + 1] = top[i]
    out[#out + 1] = top[i + 1]
  end
end
for _, name in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], cut, cut, 'LIMIT', 0, limit - #out / 2)) do
  out[#out + 1] = name
  out[#out + 1] = cut
end
return out
`

/**
 * Whether a failure was Redis answering with an error (full under maxmemory, say): it answers,
 * though it refuses, unlike a timeout or a lost connection. (The answer's error still reaches
 * the client: the error-ratio alert tells of a Redis that refuses writes.)
 */
function refused(err: unknown): boolean {
  return err instanceof ReplyError
}

/** ioredis's words for a command refused before it was written (no connection, no queue). */
const NOT_SENT = /Stream isn't writeable/

function parse(list: string[]): Message[] {
  return list.map((json) => JSON.parse(json) as Message)
}

/** `{"id":…,"room":…,"seq":` and `,"user":…}` around the seq the script assigns. */
function messageParts(id: string, input: AppendInput): [string, string] {
  const head = `{"id":${JSON.stringify(id)},"room":${JSON.stringify(input.room)},"seq":`
  const rest: Omit<Message, 'id' | 'room' | 'seq'> = { user: input.user, text: input.text, ts: input.ts }
  if (input.clientId !== undefined) rest.clientId = input.clientId
  return [head, `,${JSON.stringify(rest).slice(1)}`]
}

export class RedisStore implements ChatStore {
  readonly broadcasts = true
  private readonly baseId = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`
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
  /** Set when a heartbeat found this node missing from the live nodes (see `forgotten`). */
  private wasForgotten = false
  /** False from a command that failed (Redis away or stalled) until one goes through again. */
  private answering = true
  private closed = false
  /** How long a sweep may go unfinished before another sweeper takes it over. */
  private readonly sweepTakeoverMs: number
  private readonly heartbeatMs: number
  private readonly nodeTimeoutMs: number

  constructor(
    private readonly redis: Redis,
    private readonly options: RedisStoreOptions
  ) {
    this.heartbeatMs = options.heartbeatMs ?? 5000
    this.nodeTimeoutMs = options.nodeTimeoutMs ?? 20_000
    this.sweepTakeoverMs = options.sweepTakeoverMs ?? 60_000
    redis.defineCommand('chatAppend', { numberOfKeys: 5, lua: APPEND })
    redis.defineCommand('chatAddPresence', { numberOfKeys: 4, lua: ADD_PRESENCE })
    redis.defineCommand('chatRemovePresence', { numberOfKeys: 4, lua: REMOVE_PRESENCE })
    redis.defineCommand('chatClaimDead', { numberOfKeys: 4, lua: CLAIM_DEAD })
    redis.defineCommand('chatTakeSweep', { numberOfKeys: 1, lua: TAKE_SWEEP })
    redis.defineCommand('chatBusiestRooms', { numberOfKeys: 1, lua: BUSIEST_ROOMS })
  }

  /** Announces this node and keeps announcing it, so others can tell when it died. */
  start(): void {
    clearInterval(this.heartbeat)
    this.healthySince = Date.now()
    const beat = () => {
      const sentAt = Date.now()
      const id = this.nodeId
      this.redis.zadd(KEY.nodes, sentAt, id).then(
        (added) => {
          this.answering = true
          // Answered late: Redis was stalled, and nobody's heartbeat got through meanwhile.
          if (Date.now() - sentAt > this.heartbeatMs) this.healthySince = Date.now()
          if (this.closed || id !== this.nodeId) return // a beat from before a switch, or the close
          if (added === 1 && this.announcedId === id) {
            // Added rather than updated: this node had been swept as dead (or Redis lost its
            // data). Its presence is recorded again under a new id, which a sweep of the old
            // one, perhaps still under way, cannot touch; the old id, back among the nodes,
            // is swept in turn later, with whatever was still recorded under it.
            this.generation++
            this.wasForgotten = true
            beat()
          } else this.announcedId = id
        },
        (err: unknown) => {
          this.healthySince = Date.now()
          this.answering = refused(err)
          this.options.onError?.(err, 'heartbeat')
        }
      )
    }
    beat()
    this.heartbeat = setInterval(beat, this.heartbeatMs)
    this.heartbeat.unref()
  }

  /**
   * Runs `fn`; a Redis failure becomes a ChatError (nothing internal reaches the client).
   * UNAVAILABLE promises that nothing was stored, so it is the answer only when the command
   * never reached Redis; a command that was sent and then timed out or lost its connection may
   * have run, and is answered INTERNAL (a retry with the same clientId is safe either way).
   */
  private async call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      const result = await fn()
      this.answering = true
      return result
    } catch (err) {
      if (err instanceof ChatError) throw err
      this.answering = refused(err)
      this.options.onError?.(err, operation)
      if (operation === 'append' && !NOT_SENT.test((err as Error).message)) {
        throw new ChatError('INTERNAL', 'The message may not have been stored; retry with the same clientId')
      }
      throw new ChatError('UNAVAILABLE', 'The chat store is unavailable; nothing was stored, retry later')
    }
  }

  append(input: AppendInput): Promise<AppendResult> {
    return this.call('append', async () => {
      const [head, tail] = messageParts(randomUUID(), input)
      const dedup = input.clientId === undefined ? '' : `${input.user.id}\n${input.clientId}`
      const [stored, json] = (await (this.redis as unknown as Scripts).chatAppend(
        KEY.seq(input.room),
        KEY.log(input.room),
        KEY.dedup(input.room),
        this.options.streamName,
        KEY.dedupBySeq(input.room),
        this.options.historyLimit,
        dedup,
        head,
        tail,
        input.room,
        input.trace === undefined ? '' : JSON.stringify(input.trace),
        this.options.streamMaxLen,
        this.options.roomTtlSeconds ?? ROOM_TTL_SECONDS
      )) as [number, string]
      return { message: JSON.parse(json) as Message, duplicate: stored === 0 }
    })
  }

  latest(room: string, limit: number): Promise<Message[]> {
    return this.call('latest', async () => parse(await this.redis.zrange(KEY.log(room), -limit, -1)))
  }

  since(room: string, since: number): Promise<SinceResult> {
    return this.call('since', async () => {
      const [[, seq], [, after], [, oldest]] = (await this.redis
        .multi()
        .get(KEY.seq(room))
        .zrangebyscore(KEY.log(room), `(${since}`, '+inf')
        .zrange(KEY.log(room), 0, 0, 'WITHSCORES')
        .exec()) as [[null, string | null], [null, string[]], [null, string[]]]
      const last = Number(seq ?? 0)
      if (since > last) return { messages: await this.latest(room, 50), recovered: false }
      const oldestSeq = oldest.length > 1 ? Number(oldest[1]) : last + 1
      return { messages: parse(after), recovered: since === last || oldestSeq <= since + 1 }
    })
  }

  page(room: string, range: { before?: number; after?: number; limit: number }): Promise<Message[]> {
    return this.call('page', async () => {
      const min = range.after === undefined ? '-inf' : `(${range.after}`
      const max = range.before === undefined ? '+inf' : `(${range.before}`
      if (range.after !== undefined && range.before === undefined) {
        return parse(await this.redis.zrangebyscore(KEY.log(room), min, max, 'LIMIT', 0, range.limit))
      }
      const newest = await this.redis.zrevrangebyscore(KEY.log(room), max, min, 'LIMIT', 0, range.limit)
      return parse(newest.reverse())
    })
  }

  private presenceKeys(room: string, userId: string, nodeId: string): string[] {
    return [KEY.members(room), KEY.userSockets(room, userId), KEY.rooms, KEY.nodeSockets(nodeId)]
  }

  addPresence(room: string, user: Member, socketId: string): Promise<boolean> {
    return this.call('addPresence', async () => {
      const first = await (this.redis as unknown as Scripts).chatAddPresence(
        ...this.presenceKeys(room, user.id, this.nodeId),
        user.id,
        JSON.stringify(user),
        `${this.nodeId}/${socketId}`,
        room,
        JSON.stringify([room, user.id, socketId])
      )
      return first === 1
    })
  }

  /** Forgets a socket's presence as recorded under `nodeId`: whether it was, and the member when it was their last. */
  private async remove(room: string, userId: string, socketId: string, nodeId: string): Promise<{ found: boolean; last?: Member }> {
    const answer = await (this.redis as unknown as Scripts).chatRemovePresence(
      ...this.presenceKeys(room, userId, nodeId),
      userId,
      `${nodeId}/${socketId}`,
      room,
      JSON.stringify([room, userId, socketId])
    )
    return typeof answer === 'string' ? { found: true, last: JSON.parse(answer) as Member } : { found: answer === 1 }
  }

  removePresence(room: string, userId: string, socketId: string): Promise<boolean> {
    return this.call('removePresence', async () => {
      // Recorded under this node's id, or under an earlier one (before it found itself forgotten).
      for (const nodeId of [this.nodeId, ...this.earlierIds()]) {
        const { found, last } = await this.remove(room, userId, socketId, nodeId)
        if (found) return last !== undefined
      }
      return false
    })
  }

  /** The ids this process had before its current one, newest first. */
  private earlierIds(): string[] {
    const ids: string[] = []
    for (let g = this.generation - 1; g >= 0; g--) ids.push(g === 0 ? this.baseId : `${this.baseId}.${g}`)
    return ids
  }

  members(room: string): Promise<Member[]> {
    return this.call('members', async () => {
      const all = await this.redis.hvals(KEY.members(room))
      return all.map((json) => JSON.parse(json) as Member)
    })
  }

  rooms(limit: number): Promise<RoomSummary[]> {
    return this.call('rooms', async () => {
      const flat = (await (this.redis as unknown as Scripts).chatBusiestRooms(KEY.rooms, limit)) as string[]
      const list: RoomSummary[] = []
      for (let i = 0; i < flat.length; i += 2) list.push({ name: flat[i]!, members: Number(flat[i + 1]) })
      return list.sort(busiestFirst)
    })
  }

  /**
   * Forgets the sockets of nodes that stopped their heartbeat (killed, partitioned): whoever
   * claims a dead node first cleans it up, and gets the users who thereby left rooms. Sweeps
   * that another sweeper abandoned part-way (Redis went away meanwhile) are taken over.
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
      const claimed = await (this.redis as unknown as Scripts).chatClaimDead(KEY.nodes, KEY.nodeSockets(nodeId), sweep[1], KEY.sweeping, nodeId, askedAt - this.nodeTimeoutMs, Date.now(), JSON.stringify(sweep))
      if (claimed === 1) mine.push(sweep)
    }
    const abandonedBefore = Date.now() - this.sweepTakeoverMs
    for (const entry of await this.redis.zrangebyscore(KEY.sweeping, '-inf', abandonedBefore)) {
      if ((await (this.redis as unknown as Scripts).chatTakeSweep(KEY.sweeping, entry, abandonedBefore, Date.now())) === 1) {
        mine.push(JSON.parse(entry) as [string, string])
      }
    }
    const departures: Departure[] = []
    try {
      for (const sweep of mine) await this.finishSweep(sweep, departures)
    } catch (err) {
      // Redis went away part-way: what is done is told now, the rest is taken over later.
      this.options.onError?.(err, 'sweep')
    }
    return departures
  }

  private async finishSweep([nodeId, tombstone]: [string, string], departures: Departure[]): Promise<void> {
    for (const entry of await this.redis.smembers(tombstone)) {
      const [room, userId, socketId] = JSON.parse(entry) as [string, string, string]
      const { last } = await this.remove(room, userId, socketId, nodeId)
      await this.redis.srem(tombstone, entry)
      if (last !== undefined) departures.push({ room, user: last })
    }
    await this.redis.del(tombstone)
    await this.redis.zrem(KEY.sweeping, JSON.stringify([nodeId, tombstone]))
  }

  get available(): boolean {
    return this.answering && this.redis.status === 'ready'
  }

  /**
   * This node's name among the live nodes, and in what it records of its sockets' presence: the
   * process's, plus a generation once it was forgotten.
   */
  get nodeId(): string {
    return this.generation === 0 ? this.baseId : `${this.baseId}.${this.generation}`
  }

  forgotten(): boolean {
    const was = this.wasForgotten
    this.wasForgotten = false
    return was
  }

  async ping(): Promise<void> {
    try {
      await this.redis.ping()
    } catch (err) {
      this.answering = refused(err)
      throw err
    }
    // Readiness asks often: typing need not wait for the next heartbeat after an outage.
    this.answering = true
  }

  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.heartbeat)
    // The drain closed every socket; whatever presence of ours is still recorded (a removal
    // that failed or raced the close) goes now, then this node itself, under every id it had.
    try {
      for (const nodeId of [this.nodeId, ...this.earlierIds()]) {
        for (const entry of await this.redis.smembers(KEY.nodeSockets(nodeId))) {
          const [room, userId, socketId] = JSON.parse(entry) as [string, string, string]
          await this.remove(room, userId, socketId, nodeId)
        }
        await this.redis.zrem(KEY.nodes, nodeId)
        await this.redis.del(KEY.nodeSockets(nodeId))
      }
    } catch (err) {
      // Redis is away: the surviving nodes sweep this one once its heartbeat is stale.
      this.options.onError?.(err, 'close')
    }
  }
}

interface Scripts {
  chatAppend(...args: Array<string | number>): Promise<unknown>
  chatAddPresence(...args: Array<string | number>): Promise<unknown>
  chatRemovePresence(...args: Array<string | number>): Promise<unknown>
  chatClaimDead(...args: Array<string | number>): Promise<unknown>
  chatTakeSweep(...args: Array<string | number>): Promise<unknown>
  chatBusiestRooms(...args: Array<string | number>): Promise<unknown>
}
