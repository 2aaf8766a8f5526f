// The cluster's message log: each room's seq, history and retry-ids in Redis, under the room's
// hash tag. The append is one Lua script that also publishes the entry to the room's feed.
import { randomUUID } from 'node:crypto'
import { DEFAULT_PAGE_SIZE } from '../limits.js'
import type { Message } from '../protocol.js'
import type { AppendInput, AppendResult, MessageLog, PageRange, SinceResult } from './parts.js'
import type { RedisCalls } from './redis-calls.js'
import { feedChannel, publishEntryLua } from './redis-feed.js'

/** A room's keys: one hash tag, one Redis Cluster slot. */
export const LOG_KEY = {
  seq: (room: string) => `chat:{${room}}:seq`,
  log: (room: string) => `chat:{${room}}:log`,
  dedup: (room: string) => `chat:{${room}}:dedup`,
  /** The de-dup fields by the seq of their message, to find those that go with trimmed history. */
  dedupBySeq: (room: string) => `chat:{${room}}:dedup-seq`
}

// KEYS: seq, log, dedup, dedup fields by seq, feed channel. ARGV: history limit, de-dup field
// ('' for none), message JSON before and after its seq, trace context JSON ('' for none), how
// long a room's keys outlive its last message (so abandoned rooms do not pile up), message id. Which
// retry-ids go with trimmed messages is looked up by seq, never by decoding the stored JSON
// (cjson refuses some of what JSON.stringify writes, such as a lone surrogate's escape).
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
  redis.call('ZADD', KEYS[4], seq, ARGV[2])
end
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[1])
if excess > 0 then
  local newest = redis.call('ZRANGE', KEYS[2], excess - 1, excess - 1, 'WITHSCORES')[2]
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
  for _, field in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', newest)) do redis.call('HDEL', KEYS[3], field) end
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', newest)
end
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[6]) end
${publishEntryLua('KEYS[5]', 'seq', 'ARGV[7]', 'ARGV[5]', 'json')}
return {1, json}
`

const ROOM_TTL_SECONDS = 30 * 24 * 3600

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

export interface RedisLogOptions {
  historyLimit: number
  /** While this returns a promise, appends wait for it (keys of earlier versions being moved). */
  writesWait?: () => Promise<void> | undefined
  /** How long a room's history outlives its last message (default 30 days). */
  roomTtlSeconds?: number
}

export class RedisLog implements MessageLog {
  private readonly appendScript

  constructor(
    private readonly calls: RedisCalls,
    private readonly options: RedisLogOptions
  ) {
    this.appendScript = calls.script('chatAppend', 5, APPEND)
  }

  private get redis() {
    return this.calls.redis
  }

  append(input: AppendInput): Promise<AppendResult> {
    const { room } = input
    const id = randomUUID()
    const [head, tail] = messageParts(id, input)
    const dedup = input.clientId === undefined ? '' : `${input.user.id}\n${input.clientId}`
    const trace = input.trace === undefined ? '' : JSON.stringify(input.trace)
    const ttl = this.options.roomTtlSeconds ?? ROOM_TTL_SECONDS
    return this.calls.call(
      'append',
      async () => {
        await this.options.writesWait?.()
        const keys = [
          LOG_KEY.seq(room),
          LOG_KEY.log(room),
          LOG_KEY.dedup(room),
          LOG_KEY.dedupBySeq(room),
          feedChannel(room, this.redis.options.db ?? 0)
        ]
        const [stored, json] = (await this.appendScript(
          ...keys,
          this.options.historyLimit,
          dedup,
          head,
          tail,
          trace,
          ttl,
          id
        )) as [number, string]
        return { message: JSON.parse(json) as Message, duplicate: stored === 0 }
      },
      'The message may not have been stored; retry with the same clientId'
    )
  }

  latest(room: string, limit: number): Promise<Message[]> {
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

  page(room: string, range: PageRange): Promise<Message[]> {
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
