// The presence scripts. A room's keys share its hash tag; the room list and a node's socket set
// are cluster-wide keys (Redis Cluster will need these steps split: see docs/architecture.md).

// KEYS: room members, the user's sockets in the room, rooms, this node's sockets.
// ARGV: user id, member JSON, socket key, room, node entry.
export const ADD_PRESENCE = `
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
export const REMOVE_PRESENCE = `
redis.call('SREM', KEYS[4], ARGV[4])
if redis.call('SREM', KEYS[2], ARGV[2]) == 0 then return 0 end
if redis.call('SCARD', KEYS[2]) > 0 then return 1 end
local member = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
if tonumber(redis.call('ZINCRBY', KEYS[3], -1, ARGV[3])) <= 0 then redis.call('ZREM', KEYS[3], ARGV[3]) end
return member or 1
`

// KEYS: rooms. ARGV: how many. The busiest rooms with their member counts, ties by name, in one
// step (a count that changed between two reads could list a room twice).
export const BUSIEST_ROOMS = `
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

// KEYS: nodes, the node's sockets, a tombstone for them, the sweeps under way. ARGV: node id,
// the latest heartbeat that counts as dead, now, the sweep's entry. Claims a dead node for this
// sweeper, in one step: only if its heartbeat is still that old (it may have come back since it
// was listed), and its sockets move to the tombstone, so that what the node records after
// coming back is not swept with them. The sweep is listed until it is done: one that fails
// part-way (Redis away again) is taken over later, rather than its members left for good.
export const CLAIM_DEAD = `
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
export const TAKE_SWEEP = `
local started = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not started or tonumber(started) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`
