import { Redis } from 'ioredis'
import t from 'tap'
import { feedChannel } from '../../src/chat/store/redis-feed.js'
import { RedisStore } from '../../src/chat/store/redis-store.js'
import { client, connect, guest, next, request, scrape, startApp, until, untilReady } from '../helpers.js'
import { startRedis } from '../redis-server.js'

t.test(
  'a node that was swept as dead while it was alive records its users again, and the rooms hear they joined',
  async (t) => {
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
    const subscriber = client.duplicate()
    t.teardown(() => {
      client.disconnect()
      subscriber.disconnect()
    })
    const judge = new RedisStore(client, subscriber, {
      historyLimit: 10,
      heartbeatMs: 60_000,
      nodeTimeoutMs: 1,
      upkeepMs: 0
    })
    judge.start()
    t.teardown(() => judge.close())
    await new Promise((r) => setTimeout(r, 20))
    const swept = await judge.presence.liveness.sweep()
    t.ok(
      swept.some((d) => d.room === 'lobby' && d.user.id === bob.user.id),
      'Bob was swept with B'
    )
    t.same(
      (await request(watcher.socket, 'room:join', { room: 'lobby' })).members.map((m: { name: string }) => m.name),
      ['Watcher']
    )

    // B's next heartbeat finds it gone; its next upkeep writes Bob's presence again.
    const back = next(watcher.socket, 'presence')
    const bStore = b.app.chat.store as RedisStore
    bStore.start()
    await new Promise((r) => setTimeout(r, 100))
    await bStore.presence.upkeep()
    t.same(await back, { room: 'lobby', user: bob.user, status: 'joined' }, 'the room hears Bob is back')
    const members = (await request(watcher.socket, 'room:join', { room: 'lobby' })).members
      .map((m: { name: string }) => m.name)
      .sort()
    t.same(members, ['Bob', 'Watcher'], 'and lists him again')
    await bStore.presence.upkeep()
    t.same((await a.app.chat.store.presence.rooms(10)).find((r) => r.name === 'lobby')?.members, 2, 'once')
  }
)

t.test('while Redis is away typing is refused, not queued to arrive stale, and it works again after', async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const env = { REDIS_URL: redis.url, MESSAGE_RATE_PER_SEC: '0' }
  const [a, b] = [await startApp(t, env), await startApp(t, env)]
  const ann = await guest(t, a.url, 'Ann')
  const bob = await guest(t, b.url, 'Bob')
  await request(ann.socket, 'room:join', { room: 'r' })
  await request(bob.socket, 'room:join', { room: 'r' })
  const seen: boolean[] = []
  bob.socket.on('typing', (e) => seen.push(e.typing))
  await redis.stop()
  await untilReady(a.url, 503)
  for (let i = 0; i < 5; i++) {
    const answer = await request(ann.socket, 'typing', { room: 'r', typing: true })
    t.equal(answer.error?.code, 'UNAVAILABLE', `typing ${i} during the outage is refused`)
  }
  await redis.start()
  await untilReady(a.url)
  let answer: { ok: boolean } | undefined
  for (let i = 0; i < 100 && !answer?.ok; i++) {
    const got = await request(ann.socket, 'typing', { room: 'r', typing: false })
    answer = got
    if (!got.ok) await new Promise((r) => setTimeout(r, 50))
  }
  t.ok(answer?.ok, 'typing works again once Redis is back')
  await until(() => seen.length > 0, 5000, 'typing at Bob')
  // A message sent after it comes after it: had stale typing been queued, it would be here by now.
  const got = next(bob.socket, 'message')
  await request(ann.socket, 'message:send', { room: 'r', text: 'after' })
  await got
  t.same(seen, [false], 'Bob got only the typing sent after the outage')
})

t.test('a node that has read nothing from the stream yet misses no message stored while Redis stalled', async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const env = { REDIS_URL: redis.url, MESSAGE_RATE_PER_SEC: '0' }
  const a = await startApp(t, env)
  const ann = await guest(t, a.url, 'Ann')
  await request(ann.socket, 'room:join', { room: 'q' })
  // A second node, and Ann's second tab on it: she is a member already, so the join broadcasts
  // nothing, and this node's feed has handed on no entry yet.
  const b = await startApp(t, env)
  const tab = await connect(client(t, b.url, ann.token))
  await request(tab, 'room:join', { room: 'q' })
  const seen = new Set<number>()
  tab.on('message', (m) => seen.add(m.seq))
  tab.on('messages', (list) => {
    for (const m of list) seen.add(m.seq)
  })
  // Longer than the reader's blocking read (1 s), so that it times out once Redis goes on.
  const stalled = redis.stall(2500)
  await new Promise((r) => setTimeout(r, 300))
  const during = Array.from({ length: 5 }, (_, i) =>
    request(ann.socket, 'message:send', { room: 'q', text: `during ${i}`, clientId: `d${i}` })
  )
  await stalled
  await Promise.all(during)
  for (let i = 0; i < 5; i++)
    await request(ann.socket, 'message:send', { room: 'q', text: `after ${i}`, clientId: `a${i}` })
  const stored = (await request(ann.socket, 'room:history', { room: 'q', limit: 50 })).messages.map(
    (m: { seq: number }) => m.seq
  )
  await until(() => stored.every((seq: number) => seen.has(seq)), 5000, 'every stored message at the tab on B').catch(
    () => {}
  )
  t.same(
    stored.filter((seq: number) => !seen.has(seq)),
    [],
    `the tab on B got all ${stored.length} stored messages`
  )
})

t.test('chat_redis_up is 0 while Redis hangs with its connection open, and 1 again once it answers', async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const { url } = await startApp(t, { REDIS_URL: redis.url })
  await untilReady(url)
  t.equal((await scrape(url)).get('chat_redis_up'), 1)
  const stalled = redis.stall(6000)
  // Readiness pings Redis; the ping times out (after 2 s) while the connection stays open.
  await untilReady(url, 503, 10_000)
  let up = 1
  const poll = setInterval(() => void scrape(url).then((m) => (up = m.get('chat_redis_up') ?? -1)), 100)
  await until(() => up === 0, 5000, 'chat_redis_up 0').catch(() => {})
  clearInterval(poll)
  t.equal(up, 0, 'down while the connection is still open')
  await stalled
  await untilReady(url)
  t.equal((await scrape(url)).get('chat_redis_up'), 1, 'up again')
})

t.test(
  'a full Redis (maxmemory, noeviction) refuses sends with an error, yet answers: chat_redis_up stays 1',
  async (t) => {
    const redis = await startRedis(t)
    if (redis === undefined) return
    const { url } = await startApp(t, { REDIS_URL: redis.url })
    const ann = await guest(t, url, 'Ann')
    await request(ann.socket, 'room:join', { room: 'full' })
    const admin = new Redis(redis.url)
    t.teardown(() => admin.quit())
    await admin.config('SET', 'maxmemory', '1')
    const refused = await request(ann.socket, 'message:send', { room: 'full', text: 'no room for me', clientId: 'f1' })
    t.equal(refused.error?.code, 'INTERNAL', 'the send is refused (a retry with its clientId is safe)')
    t.equal((await scrape(url)).get('chat_redis_up'), 1, 'Redis answers: it is not down')
    await admin.config('SET', 'maxmemory', '0')
    const stored = await request(ann.socket, 'message:send', { room: 'full', text: 'room again', clientId: 'f2' })
    t.equal(stored.ok, true)
  }
)

t.test('a join left at once leaves no member, presence record or feed subscription behind (Redis)', async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const { app, url } = await startApp(t, { REDIS_URL: redis.url, MESSAGE_RATE_PER_SEC: '0' })
  const ann = await guest(t, url, 'Ann')
  const rooms = ['a', 'b', 'c', 'd', 'e']
  const answers = rooms.flatMap((room) => [
    request(ann.socket, 'room:join', { room }),
    request(ann.socket, 'room:leave', { room })
  ])
  await Promise.all(answers)
  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())
  const subscribed = async () => {
    const counts = (await admin.call('PUBSUB', 'SHARDNUMSUB', ...rooms.map((r) => feedChannel(r, 0)))) as Array<
      string | number
    >
    return counts.filter((_, i) => i % 2 === 1).reduce((a, b) => Number(a) + Number(b), 0)
  }
  await until(() => true)
  for (const room of rooms) t.same(await app.store.presence.members(room), [], `nobody is in ${room}`)
  t.equal(await subscribed(), 0, 'the node follows none of them')
  ann.socket.disconnect()
  await new Promise((resolve) => setTimeout(resolve, 200))
  for (const room of rooms) t.same(await app.store.presence.members(room), [], `still nobody in ${room}`)
})
