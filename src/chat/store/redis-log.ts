// The cluster's message log: each room's seq, history, retry-ids, message index and send budgets
// in Redis, under the room's hash tag. Appending and deleting are each one Lua script that also
// publishes the new entry to the room's feed.
import { randomUUID } from 'node:crypto'
import { ChatError } from '../../errors.js'
import { DEFAULT_PAGE_SIZE } from '../limits.js'
import type { DeletionEntry, Entry, Message } from '../protocol.js'
import { budgetSpent, forbidden, notFound } from './memory-log.js'
import type {
  AppendInput,
  AppendResult,
  DeleteInput,
  DeleteResult,
  MessageLog,
  MessageLogOptions,
  PageRange,
  SinceResult
} from './parts.js'
import type { RedisCalls } from './redis-calls.js'
import { feedChannel, publishEntryLua } from './redis-feed.js'

/** A room's keys: one hash tag, one Redis Cluster slot. */
export const LOG_KEY = {
  seq: (room: string) => `chat:{${room}}:seq`,
  log: (room: string) => `chat:{${room}}:log`,
  dedup: (room: string) => `chat:{${room}}:dedup`,
  /** The de-dup fields by the seq of their message, to find those that go with trimmed history. */
  dedupBySeq: (room: string) => `chat:{${room}}:dedup-seq`,
  /** A retained message's id → `<seq>:<author's id>`: what a deletion finds it by, and checks. */
  ids: (room: string) => `chat:{${room}}:ids`,
  /** When the user's send budget in the room is full again (ms); gone by then. */
  budget: (room: string, userId: string) => `chat:{${room}}:budget:${userId}`
}

// Both scripts take KEYS: seq, log, dedup, dedup fields by seq, ids, feed channel (and the
// append the user's budget), and ARGV 1-7: history limit, de-dup field ('' for none), the
// entry's JSON before and after its seq, trace context JSON ('' for none), how long a room's
// keys outlive its last entry (so abandoned rooms do not pile up), the entry's id.
//
// The stored JSON is never decoded here (cjson refuses some of what JSON.stringify writes, such
// as a lone surrogate's escape): the retry-ids that go with trimmed entries are found by seq,
// and their message ids from the JSON's first field, which this file always writes first.
const ADD_ENTRY = `
redis.call('ZADD', KEYS[2], seq, json)
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[1])
if excess > 0 then
  local gone = redis.call('ZRANGE', KEYS[2], 0, excess - 1, 'WITHSCORES')
  for i = 1, #gone, 2 do
    local id = string.match(gone[i], '^{"id":"([^"]+)"')
    if id then redis.call('HDEL', KEYS[5], id) end
  end
  local newest = gone[#gone]
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
  for _, field in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', newest)) do redis.call('HDEL', KEYS[3], field) end
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', newest)
end
for i = 1, 5 do redis.call('EXPIRE', KEYS[i], ARGV[6]) end
${publishEntryLua('KEYS[6]', 'seq', 'ARGV[7]', 'ARGV[5]', 'json')}
`

// ARGV 8-9: the author's id, messages a user may add to the room per minute (0: no budget).
// The budget is GCRA: one number, the time the bucket is full again, kept in Redis's clock.
// Returns {0, first JSON} for a retry, {2, ms to wait} for a spent budget, {1, JSON}.
const APPEND = `
if ARGV[2] ~= '' then
  local first = redis.call('HGET', KEYS[3], ARGV[2])
  if first then return {0, first} end
end
local budget = tonumber(ARGV[9])
if budget > 0 then
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  local full = math.max(tonumber(redis.call('GET', KEYS[7]) or '0'), now) + 60000 / budget
  if full - now > 60000 then return {2, math.ceil(full - now - 60000)} end
  redis.call('SET', KEYS[7], string.format('%.3f', full), 'PX', math.ceil(full - now))
end
local seq = redis.call('INCR', KEYS[1])
local json = ARGV[3] .. seq .. ARGV[4]
redis.call('HSET', KEYS[5], ARGV[7], seq .. ':' .. ARGV[8])
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[2], json)
  redis.call('ZADD', KEYS[4], seq, ARGV[2])
end
${ADD_ENTRY}
return {1, json}
`

// ARGV 2 is the target's retry-id field; 8-12: the deleter's id, 'any' or 'own', the target's
// id, its JSON as read before, and its tombstone (made from it in Node). The check, the
// tombstone (in history and in the retry record) and the deletion entry are one step. Returns
// {0} unknown or trimmed, {1} someone else's, {2} changed since it was read, {3, entry JSON}.
const DELETE = `
local found = redis.call('HGET', KEYS[5], ARGV[10])
if not found then return {0} end
local sep = string.find(found, ':', 1, true)
local at = string.sub(found, 1, sep - 1)
if ARGV[9] ~= 'any' and string.sub(found, sep + 1) ~= ARGV[8] then return {1} end
if redis.call('ZRANGEBYSCORE', KEYS[2], at, at)[1] ~= ARGV[11] then return {2} end
redis.call('ZREM', KEYS[2], ARGV[11])
redis.call('ZADD', KEYS[2], at, ARGV[12])
if ARGV[2] ~= '' and redis.call('HGET', KEYS[3], ARGV[2]) == ARGV[11] then redis.call('HSET', KEYS[3], ARGV[2], ARGV[12]) end
local seq = redis.call('INCR', KEYS[1])
local json = ARGV[3] .. seq .. ARGV[4]
${ADD_ENTRY}
return {3, json}
`

// KEYS: ids, log. ARGV: a message id. Its stored JSON, or nil.
const FIND = `
local found = redis.call('HGET', KEYS[1], ARGV[1])
if not found then return nil end
local at = string.sub(found, 1, string.find(found, ':', 1, true) - 1)
return redis.call('ZRANGEBYSCORE', KEYS[2], at, at)[1]
`

const ROOM_TTL_SECONDS = 30 * 24 * 3600

/** Reads of a changed message before a deletion settles: it can change once (deleted, trimmed). */
const DELETE_ATTEMPTS = 3

function parse(list: string[]): Entry[] {
  return list.map((json) => JSON.parse(json) as Entry)
}

/** `{"id":…,"room":…,"seq":` and `,…}` (the rest of the entry) around the seq the script assigns. */
function entryParts(id: string, room: string, rest: object): [string, string] {
  const head = `{"id":${JSON.stringify(id)},"room":${JSON.stringify(room)},"seq":`
  return [head, `,${JSON.stringify(rest).slice(1)}`]
}

function messageParts(id: string, input: AppendInput): [string, string] {
  const rest: Omit<Message, 'id' | 'room' | 'seq'> = { user: input.user, text: input.text, ts: input.ts }
  if (input.clientId !== undefined) rest.clientId = input.clientId
  return entryParts(id, input.room, rest)
}

const dedupField = (userId: string, clientId: string) => `${userId}\n${clientId}`

export interface RedisLogOptions extends MessageLogOptions {
  /** While this returns a promise, appends wait for it (keys of earlier versions being moved). */
  writesWait?: () => Promise<void> | undefined
  /** How long a room's history outlives its last entry (default 30 days). */
  roomTtlSeconds?: number
}

export class RedisLog implements MessageLog {
  private readonly appendScript
  private readonly deleteScript
  private readonly findScript

  constructor(
    private readonly calls: RedisCalls,
    private readonly options: RedisLogOptions
  ) {
    this.appendScript = calls.script('chatAppend', 7, APPEND)
    this.deleteScript = calls.script('chatDelete', 6, DELETE)
    this.findScript = calls.script('chatFind', 2, FIND)
  }

  private get redis() {
    return this.calls.redis
  }

  /** The keys both scripts start with. */
  private keys(room: string): string[] {
    return [
      LOG_KEY.seq(room),
      LOG_KEY.log(room),
      LOG_KEY.dedup(room),
      LOG_KEY.dedupBySeq(room),
      LOG_KEY.ids(room),
      feedChannel(room, this.redis.options.db ?? 0)
    ]
  }

  private get ttl(): number {
    return this.options.roomTtlSeconds ?? ROOM_TTL_SECONDS
  }

  append(input: AppendInput): Promise<AppendResult> {
    const { room } = input
    const id = randomUUID()
    const [head, tail] = messageParts(id, input)
    const dedup = input.clientId === undefined ? '' : dedupField(input.user.id, input.clientId)
    const trace = input.trace === undefined ? '' : JSON.stringify(input.trace)
    return this.calls.call(
      'append',
      async () => {
        await this.options.writesWait?.()
        const [stored, answer] = (await this.appendScript(
          ...this.keys(room),
          LOG_KEY.budget(room, input.user.id),
          this.options.historyLimit,
          dedup,
          head,
          tail,
          trace,
          this.ttl,
          id,
          input.user.id,
          this.options.userRoomMessagesPerMin ?? 0
        )) as [number, string | number]
        if (stored === 2) throw budgetSpent(Number(answer))
        return { message: JSON.parse(answer as string) as Message, duplicate: stored === 0 }
      },
      'The message may not have been stored; retry with the same clientId'
    )
  }

  async delete(input: DeleteInput): Promise<DeleteResult> {
    const { room } = input
    const id = randomUUID()
    const rest: Omit<DeletionEntry, 'id' | 'room' | 'seq'> = {
      type: 'deletion',
      target: input.target,
      user: input.user,
      ts: input.ts
    }
    const [head, tail] = entryParts(id, room, rest)
    const trace = input.trace === undefined ? '' : JSON.stringify(input.trace)
    for (let attempt = 1; ; attempt++) {
      const json = await this.calls.call('delete', async () => {
        await this.options.writesWait?.()
        return (await this.findScript(LOG_KEY.ids(room), LOG_KEY.log(room), input.target)) as string | null
      })
      if (json === null) throw notFound()
      const message = JSON.parse(json) as Message
      if (input.may === 'own' && message.user.id !== input.user.id) throw forbidden()
      if (message.deleted) return { entry: undefined, author: message.user }
      const tombstone = JSON.stringify({ ...message, text: '', deleted: true } satisfies Message)
      const dedup = message.clientId === undefined ? '' : dedupField(message.user.id, message.clientId)
      const [done, answer] = (await this.calls.call(
        'delete',
        async () =>
          this.deleteScript(
            ...this.keys(room),
            this.options.historyLimit,
            dedup,
            head,
            tail,
            trace,
            this.ttl,
            id,
            input.user.id,
            input.may,
            input.target,
            json,
            tombstone
          ),
        'The message may not have been deleted; delete it again'
      )) as [number, string?]
      if (done === 3) return { entry: JSON.parse(answer!) as DeletionEntry, author: message.user }
      if (done === 0) throw notFound()
      if (done === 1) throw forbidden()
      // Deleted or trimmed meanwhile: the next read tells which.
      if (attempt === DELETE_ATTEMPTS) throw new ChatError('INTERNAL', 'The message kept changing; delete it again')
    }
  }

  latest(room: string, limit: number): Promise<Entry[]> {
    return this.calls.call('latest', async () => parse(await this.redis.zrange(LOG_KEY.log(room), -limit, -1)))
  }

  since(room: string, since: number): Promise<SinceResult> {
    return this.calls.call('since', async () => {
      const [[, seq], [, after], [, oldest]] = (await this.redis
        .multi()
        .get(LOG_KEY.seq(room))
        .zrangebyscore(LOG_KEY.log(room), `(${since}`, '+inf')
        .zrange(LOG_KEY.log(room), 0, 0, 'WITHSCORES')
        .exec()) as [[null, string | null], [null, string[]], [null, string[]]]
      const last = Number(seq ?? 0)
      // The client saw a history this room no longer has (it expired, or Redis lost it): start over.
      if (since > last) return { messages: await this.latest(room, DEFAULT_PAGE_SIZE), recovered: false }
      const oldestSeq = oldest.length > 1 ? Number(oldest[1]) : last + 1
      return { messages: parse(after), recovered: since === last || oldestSeq <= since + 1 }
    })
  }

  page(room: string, range: PageRange): Promise<Entry[]> {
    return this.calls.call('page', async () => {
      const min = range.after === undefined ? '-inf' : `(${range.after}`
      const max = range.before === undefined ? '+inf' : `(${range.before}`
      if (range.after !== undefined && range.before === undefined) {
        return parse(await this.redis.zrangebyscore(LOG_KEY.log(room), min, max, 'LIMIT', 0, range.limit))
      }
      const newest = await this.redis.zrevrangebyscore(LOG_KEY.log(room), max, min, 'LIMIT', 0, range.limit)
      return parse(newest.reverse())
    })
  }
}
