import { Redis } from 'ioredis'
import t from 'tap'
import { RedisStore } from '../../src/chat/redis-store.js'
import { guest, next, request, startApp } from '../helpers.js'
import { startRedis } from '../redis-server.js'

t.test('a node that was swept as dead while it was alive records its users again, and the rooms hear they joined', async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const env = { REDIS_URL: redis.url }
  const [a, b] = [await startApp(t, env), await startApp(t, env)]
  const watcher = await guest(t, a.url, 'Watcher')
  const bob = await guest(t, b.url, 'Bob')
  await request(watcher.socket, 'room:join', { room: 'lobby' })
  await request(bob.socket, 'room:join', { room: 'lobby' })

  // Another node's upkeep judges B dead (as after a partition of B from Redis longer than the
  // node timeout): its sockets' presence is removed and the room hears Bob left.
  const client = new Redis(redis.url)
  t.teardown(() => client.disconnect())
  const judge = new RedisStore(client, { historyLimit: 10, streamName: 'chat:socket.io', streamMaxLen: 10, heartbeatMs: 60_000, nodeTimeoutMs: 1 })
  judge.start()
  t.teardown(() => judge.close())
  await new Promise((r) => setTimeout(r, 20))
  const swept = await judge.sweep()
  t.ok(swept.some((d) => d.room === 'lobby' && d.user.id === bob.user.id), 'Bob was swept with B')
  t.same((await request(watcher.socket, 'room:join', { room: 'lobby' })).members.map((m: { name: string }) => m.name), ['Watcher'])

  // B's next heartbeat finds it gone; its next upkeep writes Bob's presence again.
  const back = next(watcher.socket, 'presence')
  ;(b.app.chat.store as RedisStore).start()
  await new Promise((r) => setTimeout(r, 100))
  await b.app.chat.maintain()
  t.same(await back, { room: 'lobby', user: bob.user, status: 'joined' }, 'the room hears Bob is back')
  const members = (await request(watcher.socket, 'room:join', { room: 'lobby' })).members.map((m: { name: string }) => m.name).sort()
  t.same(members, ['Bob', 'Watcher'], 'and lists him again')
  await b.app.chat.maintain()
  t.same((await a.app.chat.store.rooms(10)).find((r) => r.name === 'lobby')?.members, 2, 'once')
})
