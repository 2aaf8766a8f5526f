// Deletion and the send budget across two nodes on one Redis: the other node's sockets get the
// deletion entry, a socket that was away gets it with `since`, a scan of every Redis key finds
// the text nowhere afterwards, and a user's budget in a room is one budget on every node.
import { Redis } from 'ioredis'
import t from 'tap'
import { privateRoom, SECRET } from '../chat/deletion-setup.js'
import { client, collect, connect, guest, next, request, startApp, until } from '../helpers.js'
import { startRedis } from '../redis-server.js'

/** Every key name and every value of every key, of every type, in every database, as bytes. */
async function everything(url: string): Promise<Buffer[]> {
  const redis = new Redis(url)
  try {
    const found: Buffer[] = []
    const info = await redis.info('keyspace')
    for (const [, db] of info.matchAll(/^db(\d+):/gm)) {
      await redis.select(Number(db))
      let cursor = '0'
      do {
        const [nextCursor, keys] = await redis.scanBuffer(cursor, 'COUNT', 1000)
        cursor = String(nextCursor)
        for (const key of keys) found.push(key, ...(await values(redis, key)))
      } while (cursor !== '0')
    }
    return found
  } finally {
    redis.disconnect()
  }
}

async function values(redis: Redis, key: Buffer): Promise<Buffer[]> {
  const type = await redis.type(key)
  switch (type) {
    case 'string':
      return [(await redis.getBuffer(key)) ?? Buffer.alloc(0)]
    case 'hash':
      return Object.entries(await redis.hgetallBuffer(key)).flatMap(([field, value]) => [Buffer.from(field), value])
    case 'list':
      return redis.lrangeBuffer(key, 0, -1)
    case 'set':
      return redis.smembersBuffer(key)
    case 'zset':
      return redis.zrangeBuffer(key, 0, -1)
    case 'stream': {
      const entries = (await redis.xrangeBuffer(key, '-', '+')) as Array<[Buffer, Buffer[]]>
      return entries.flatMap(([id, fields]) => [id, ...fields])
    }
    case 'none':
      return [] // expired between the scan and the read
    default:
      throw new Error(`a key of a type this scan cannot read: ${type}`)
  }
}

const holds = (all: Buffer[], text: string) => all.some((b) => b.includes(text))

t.test('across two nodes: the deletion reaches every node and a returning socket; no key holds the text', async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const env = { REDIS_URL: redis.url }
  const [a, b] = [await startApp(t, env), await startApp(t, env)]
  const { room, alice, bob, carol } = await privateRoom(t, a, b)
  const dan = await guest(t, a.url, 'Dan')
  await a.app.store.directory.setMembership({ room, userId: dan.user.id, role: 'member', since: Date.now() })
  await request(dan.socket, 'room:join', { room })
  const onA = collect(alice.socket)
  const onB = collect(bob.socket)

  const secret = (await request(alice.socket, 'message:send', { room, text: SECRET, clientId: 'c-secret' })).message
  const words = (await request(bob.socket, 'message:send', { room, text: 'the rest' })).message
  await until(() => onA.length === 2 && onB.length === 2, 5000, 'both messages on both nodes')
  t.ok(holds(await everything(redis.url), 'zebra-umbrella'), 'the scan finds the text while it is kept')
  dan.socket.disconnect()

  t.equal((await request(bob.socket, 'message:delete', { room, id: secret.id })).error?.code, 'FORBIDDEN')
  t.equal((await request(bob.socket, 'message:delete', { room, id: 'no-such-id' })).error?.code, 'NOT_FOUND')
  const onOtherNode = next(alice.socket, 'message', (e) => 'type' in e)
  t.same(await request(carol.socket, 'message:delete', { room, id: secret.id }), { ok: true }, 'a moderator on B')
  const entry = await onOtherNode
  t.match(entry, { room, seq: 3, type: 'deletion', target: secret.id, user: carol.user }, 'reaches node A')
  await until(() => onB.length === 3, 5000, 'the entry on B')
  t.same(onB[2], entry, 'and B, the same entry')

  const all = await everything(redis.url)
  t.notOk(holds(all, 'zebra-umbrella') || holds(all, '1204'), 'no key or value of any type holds the text')
  t.ok(holds(all, secret.id) && holds(all, 'the rest'), 'while the tombstone and the other message are kept')

  const back = await connect(client(t, b.url, dan.token))
  const rejoined = await request(back, 'room:join', { room, since: words.seq })
  t.same(rejoined.messages, [entry], 'a socket that was away gets the deletion with since')
  t.equal(rejoined.recovered, true)
  const fresh = await request(back, 'room:join', { room })
  t.match(fresh.messages, [{ id: secret.id, text: '', deleted: true }, { id: words.id, text: 'the rest' }, entry])
  const retry = await request(alice.socket, 'message:send', { room, text: SECRET, clientId: 'c-secret' })
  t.same(retry.message, { ...secret, text: '', deleted: true }, 'a retry of the clientId gets the tombstone')
  t.same(await request(alice.socket, 'message:delete', { room, id: secret.id }), { ok: true }, 'again: answered')
  t.equal((await request(alice.socket, 'room:history', { room })).messages.length, 3, 'with no new entry')
})

t.test("a user's send budget in a room is one budget on every node", async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const env = { REDIS_URL: redis.url, USER_ROOM_MESSAGES_PER_MIN: '4', MESSAGE_RATE_PER_SEC: '0' }
  const [a, b] = [await startApp(t, env), await startApp(t, env)]
  const onA = await guest(t, a.url, 'Pusher')
  const onB = await connect(client(t, b.url, onA.token))
  const other = await guest(t, b.url, 'Other')
  for (const s of [onA.socket, onB, other.socket]) await request(s, 'room:join', { room: 'general' })
  const sent = []
  for (const s of [onA.socket, onB, onA.socket, onB]) {
    sent.push(await request(s, 'message:send', { room: 'general', text: 'x', clientId: `c${sent.length}` }))
  }
  t.ok(
    sent.every((answer) => answer.ok),
    'four, two on each node'
  )
  for (const s of [onA.socket, onB]) {
    const refused = await request(s, 'message:send', { room: 'general', text: 'one more' })
    t.equal(refused.error?.code, 'RATE_LIMITED', 'the fifth, on either node')
    t.ok(refused.error.retryAfterMs > 0 && refused.error.retryAfterMs <= 15_000, `${refused.error.retryAfterMs} ms`)
  }
  const retry = await request(onB, 'message:send', { room: 'general', text: 'x', clientId: 'c0' })
  t.same(retry.message, sent[0].message, 'a retry on B of what A stored still answers')
  t.equal((await request(other.socket, 'message:send', { room: 'general', text: 'hi' })).ok, true, 'others talk on')
  await request(onA.socket, 'room:join', { room: 'elsewhere' })
  t.equal((await request(onA.socket, 'message:send', { room: 'elsewhere', text: 'x' })).ok, true, 'another room')
  t.equal((await request(other.socket, 'room:history', { room: 'general' })).messages.length, 5, 'nothing refused kept')
})
