// Moves a room's message log from the key names before the `{room}` hash tag
// (`chat:room:<room>:seq`, ...) to today's, once, when a node of this version first reaches
// Redis: history written by earlier versions stays readable. Run with the older nodes stopped
// (the README's upgrade note); a room that already has a log under the new names keeps it.
import type { Redis } from 'ioredis'
import { isRoomName } from '../limits.js'
import { LOG_KEY } from './redis-log.js'

const LEGACY_SEQ = /^chat:room:(.+):seq$/

// KEYS: old seq, log, dedup, dedup-seq; new seq, log, dedup, dedup-seq. Moves all four or none.
const MOVE = `
if redis.call('EXISTS', KEYS[5]) == 1 or redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 1, 4 do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('RENAME', KEYS[i], KEYS[i + 4]) end
end
return 1
`

/** Moves every legacy room's log; returns how many rooms were moved. */
export async function migrateLegacyKeys(redis: Redis): Promise<number> {
  let cursor = '0'
  let moved = 0
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', 'chat:room:*:seq', 'COUNT', 1000)
    cursor = next
    for (const key of keys) {
      const room = LEGACY_SEQ.exec(key)?.[1]
      // A user's presence key whose user id ends in ':seq' matches too: not a room's.
      if (room === undefined || !isRoomName(room)) continue
      const old = ['seq', 'log', 'dedup', 'dedup-seq'].map((part) => `chat:room:${room}:${part}`)
      const now = [LOG_KEY.seq(room), LOG_KEY.log(room), LOG_KEY.dedup(room), LOG_KEY.dedupBySeq(room)]
      moved += Number(await redis.eval(MOVE, 8, ...old, ...now))
    }
  } while (cursor !== '0')
  await dropLegacyPresence(redis)
  await redis.zremrangebyscore('chat:rooms', '-inf', 0)
  return moved
}

/** Presence under the old names is only what killed old nodes left behind (the others removed theirs). */
async function dropLegacyPresence(redis: Redis): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', 'chat:room:*', 'COUNT', 1000)
    cursor = next
    const presence = keys.filter((key) => /^chat:room:[^:]+:(members|user:.*)$/.test(key))
    for (const key of presence.filter((k) => k.endsWith(':members'))) {
      // The room list counted these members: they go from it too.
      const room = key.slice('chat:room:'.length, -':members'.length)
      await redis.zincrby('chat:rooms', -(await redis.hlen(key)), room)
    }
    if (presence.length > 0) await redis.unlink(...presence)
  } while (cursor !== '0')
}
