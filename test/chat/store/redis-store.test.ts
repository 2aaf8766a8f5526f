// The Redis store against a real redis-server: every part's contract, the feed's gap filling,
// and a room's keys under one hash tag.
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import type { FeedEntry } from '../../../src/chat/store/parts.js'
import { feedChannel } from '../../../src/chat/store/redis-feed.js'
import { RedisStore, type RedisStoreOptions } from '../../../src/chat/store/redis-store.js'
import { until } from '../../helpers.js'
import { startRedis } from '../../redis-server.js'
import { directoryContract } from './directory-contract.js'
import { feedContract } from './feed-contract.js'
import { logContract, type MakeStore } from './log-contract.js'
import { presenceContract } from './presence-contract.js'

const redis = await startRedis(t)
const ann = { id: 'ann', name: 'Ann' }

if (redis !== undefined) {
  let db = 0
  /** A store (a node) on its own database, or on `shared`'s when given; closed at teardown. */
  const open = async (t: Test, historyLimit = 10, onDb?: number, options: Partial<RedisStoreOptions> = {}) => {
    const client = new Redis(redis.url, { db: onDb ?? db++ % 12, enableOfflineQueue: true })
    const onDbNumber = onDb ?? (db - 1) % 12
    const subscriber = client.duplicate()
    if (onDb === undefined) await client.flushdb()
    const store = new RedisStore(client, subscriber, { historyLimit, upkeepMs: 0, ...options })
    t.teardown(async () => {
      await store.close()
      client.disconnect()
      subscriber.disconnect()
    })
    await until(() => subscriber.status === 'ready', 5000, 'the feed connection')
    return { store, client, subscriber, db: onDbNumber }
  }
  const make: MakeStore = async (t, historyLimit, options) => (await open(t, historyLimit, undefined, options)).store
  logContract(t, make)
  presenceContract(t, make)
  directoryContract(t, make)
  feedContract(t, make)

  /** Two nodes on one database: `reader` follows room r and collects what its feed hands on. */
  async function twoNodes(t: Test) {
    const writer = await open(t, 100)
    const reader = await open(t, 100, writer.db)
    const got: FeedEntry[] = []
    reader.store.feed.onEntry((entry) => got.push(entry))
    await reader.store.feed.follow('r')
    const send = (text: string) => writer.store.log.append({ room: 'r', user: ann, text, ts: 1 })
    return { writer, reader, got, send, seqs: () => got.map((e) => e.seq) }
  }

  t.test("a gap in a room's feed is filled from the log before the feed goes on", async (t) => {
    const { reader, got, send, seqs } = await twoNodes(t)
    await send('one')
    await until(() => got.length === 1, 5000, 'seq 1')
    // The reader's subscription is lost for a while behind the feed's back (as a node paused
    // past what Redis buffers for it would be): 2 and 3 never reach it.
    await reader.subscriber.sunsubscribe(feedChannel('r', reader.db))
    await send('two')
    await send('three')
    await reader.subscriber.ssubscribe(feedChannel('r', reader.db))
    await send('four')
    await until(() => got.length === 4, 5000, 'four entries')
    t.same(seqs(), [1, 2, 3, 4], 'every seq once, in order')
    t.same(
      got.map((e) => JSON.parse(e.json).text),
      ['one', 'two', 'three', 'four']
    )
  })

  t.test('after its connection comes back the feed reads what it missed, with nothing more sent', async (t) => {
    const { reader, got, send, seqs } = await twoNodes(t)
    await send('one')
    await until(() => got.length === 1, 5000, 'seq 1')
    reader.subscriber.disconnect(true)
    await send('two')
    await send('three')
    await until(() => got.length === 3, 10_000, 'the missed entries')
    t.same(seqs(), [1, 2, 3])
    await send('four')
    await until(() => got.length === 4, 5000, 'and the next')
    t.same(seqs(), [1, 2, 3, 4])
  })

  t.test('a room that starts over (Redis lost its data) is handed on from seq 1 again', async (t) => {
    const { writer, got, send, seqs } = await twoNodes(t)
    for (const text of ['old 1', 'old 2', 'old 3']) await send(text)
    await until(() => got.length === 3, 5000, 'the old history')
    await writer.client.flushdb()
    await send('new 1')
    await send('new 2')
    await until(() => got.length === 5, 5000, 'the new history')
    t.same(seqs(), [1, 2, 3, 1, 2])
    t.same(
      got.slice(3).map((e) => JSON.parse(e.json).text),
      ['new 1', 'new 2']
    )
  })

  t.test(
    'a room that starts over and has passed the last seq handed on by the time it is checked loses nothing',
    async (t) => {
      const { writer, got, send, seqs } = await twoNodes(t)
      for (const text of ['old 1', 'old 2']) await send(text)
      await until(() => got.length === 2, 5000, 'the old history')
      await writer.client.flushdb()
      await Promise.all(['new 1', 'new 2', 'new 3'].map(send))
      await until(() => got.length === 5, 5000, 'the new history')
      t.same(seqs(), [1, 2, 1, 2, 3], 'told apart by the id at the last seq, not by the seq alone')
    }
  )

  t.test('a room left while the feed connection is away is not subscribed again when it comes back', async (t) => {
    const { reader } = await twoNodes(t)
    await reader.store.feed.follow('q')
    const counts = async () =>
      (await reader.client.call(
        'PUBSUB',
        'SHARDNUMSUB',
        feedChannel('r', reader.db),
        feedChannel('q', reader.db)
      )) as Array<string | number>
    reader.subscriber.disconnect(true)
    reader.store.feed.unfollow('q')
    await until(() => reader.subscriber.status === 'ready', 5000, 'the feed connection back')
    let now: Array<string | number> = []
    await until(
      () => {
        void counts().then((c) => (now = c))
        return now[1] === 1 && now[3] === 0
      },
      5000,
      'r subscribed, q not'
    )
    t.same(now, [feedChannel('r', reader.db), 1, feedChannel('q', reader.db), 0])
  })

  t.test('what is missed while a gap fill is under way and the subscription drops is read back too', async (t) => {
    const { reader, got, send, seqs } = await twoNodes(t)
    await send('one')
    await until(() => got.length === 1, 5000, 'seq 1')
    // The next page the reader's log serves waits until released.
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    const page = reader.store.log.page.bind(reader.store.log)
    let pages = 0
    reader.store.log.page = async (...args) => {
      if (pages++ === 0) await held
      return page(...args)
    }
    await reader.subscriber.sunsubscribe(feedChannel('r', reader.db))
    await send('two')
    await reader.subscriber.ssubscribe(feedChannel('r', reader.db))
    await send('three') // a gap: the fill starts, and waits for its page
    await until(() => pages === 1, 5000, 'the fill under way')
    reader.subscriber.disconnect(true)
    await send('four') // published while the subscription is away
    await until(() => reader.subscriber.status === 'ready', 5000, 'the feed connection back')
    await new Promise((resolve) => setTimeout(resolve, 100))
    release()
    await until(() => got.length === 4, 5000, 'all four, with nothing more sent')
    t.same(seqs(), [1, 2, 3, 4])
  })

  t.test('a room no longer followed hands nothing on; following again anchors at its last seq', async (t) => {
    const { reader, got, send, seqs } = await twoNodes(t)
    await send('one')
    await until(() => got.length === 1, 5000, 'seq 1')
    reader.store.feed.unfollow('r')
    await send('two')
    await reader.store.feed.follow('r')
    await send('three')
    await until(() => got.length === 2, 5000, 'seq 3')
    t.same(seqs(), [1, 3], 'seq 2 came while nobody here was in the room (their join reads it from history)')
  })

  t.test('following a room while the feed connection is away is refused UNAVAILABLE', async (t) => {
    const { store, subscriber } = await open(t)
    subscriber.disconnect()
    await t.rejects(store.feed.follow('q'), { code: 'UNAVAILABLE' })
  })

  t.test("two deployments on one Redis server, in two databases, never see each other's feed", async (t) => {
    const [a, b] = [await open(t, 10, 14), await open(t, 10, 15)]
    await Promise.all([a.client.flushdb(), b.client.flushdb()])
    const got: FeedEntry[] = []
    b.store.feed.onEntry((entry) => got.push(entry))
    await b.store.feed.follow('r')
    await a.store.log.append({ room: 'r', user: ann, text: 'for database 14 only', ts: 1 })
    await b.store.log.append({ room: 'r', user: ann, text: 'for database 15', ts: 1 })
    await until(() => got.length === 1, 5000, "b's own entry")
    t.same(
      got.map((e) => JSON.parse(e.json).text),
      ['for database 15']
    )
  })

  t.test("every key of a room shares the room's hash tag, and expires a while after its last message", async (t) => {
    const { store, client } = await open(t, 10, undefined, { roomTtlSeconds: 3600 })
    await store.log.append({ room: 'r', user: ann, text: 'x', ts: 1, clientId: 'c' })
    await store.presence.add('r', ann, 's1')
    await store.directory.createRoom({ name: 'r', kind: 'public', title: 'r', createdAt: 1 })
    await store.directory.setMembership({ room: 'r', userId: 'ann', role: 'member', since: 1 })
    const keys = (await client.keys('*')).sort()
    const roomKeys = keys.filter((key) => key.includes('{r}'))
    t.same(
      keys.filter((key) => !key.includes('{r}')).sort(),
      [`chat:node:${store.presence.liveness.nodeId}:sockets`, 'chat:rooms', 'chat:user:{ann}:rooms'].sort(),
      'besides the cluster-wide and per-user keys, every key is the room tag'
    )
    t.ok(
      roomKeys.every((key) => key.startsWith('chat:{r}:')),
      roomKeys.join(' ')
    )
    for (const key of ['chat:{r}:seq', 'chat:{r}:log', 'chat:{r}:dedup', 'chat:{r}:dedup-seq']) {
      const ttl = await client.ttl(key)
      t.ok(ttl > 3500 && ttl <= 3600, `${key} expires in an hour (${ttl} s)`)
    }
  })

  t.test(
    'a move of earlier keys that failed keeps the node unready, and sends wait, until it went through',
    async (t) => {
      const { store, client } = await open(t)
      await client.set('chat:room:legacy:seq', '5')
      const scan = client.scan.bind(client)
      let fail = true
      ;(client as any).scan = async (...args: any[]) => {
        if (fail) {
          fail = false
          throw new Error('Connection is closed.')
        }
        return (scan as any)(...args)
      }
      store.start()
      await t.rejects(store.ping(), 'not ready after the failed attempt')
      store.start() // the next connection tries again
      const sent = store.log.append({ room: 'legacy', user: ann, text: 'after the move', ts: 1 })
      await store.ping()
      t.equal((await sent).message.seq, 6, 'a send made while the move ran went on from the old seq')
    }
  )

  t.test(
    "a room's history under the key names of earlier versions is moved once, and readiness waits for it",
    async (t) => {
      const moved: number[] = []
      const { store, client } = await open(t, 10, undefined, { onMigrated: (n) => moved.push(n) })
      const old = (seq: number, text: string) =>
        JSON.stringify({ id: `m${seq}`, room: 'old', seq, user: ann, text, ts: 1, clientId: `c${seq}` })
      await client.set('chat:room:old:seq', '2')
      await client.zadd('chat:room:old:log', 1, old(1, 'first'), 2, old(2, 'second'))
      await client.hset('chat:room:old:dedup', 'ann\nc2', old(2, 'second'))
      await client.zadd('chat:room:old:dedup-seq', 2, 'ann\nc2')
      // Presence a killed old node left, and a user key whose id ends in ':seq'.
      await client.hset('chat:room:old:members', 'gone', JSON.stringify({ id: 'gone', name: 'Gone' }))
      await client.sadd('chat:room:old:user:x:seq', 'node/s1')
      await client.zadd('chat:rooms', 1, 'old')
      // A room that already has a log under the new names keeps it.
      await client.set('chat:room:both:seq', '9')
      await client.set('chat:{both}:seq', '1')
      store.start()
      await store.ping()
      t.same(moved, [1], 'one room moved, told once')
      t.same(
        (await store.log.latest('old', 10)).map((m) => ('text' in m ? m.text : m.type)),
        ['first', 'second'],
        'its history reads as before'
      )
      const retry = await store.log.append({ room: 'old', user: ann, text: 'second', ts: 1, clientId: 'c2' })
      t.equal(retry.duplicate, true, 'its retry-ids still de-duplicate')
      t.equal(
        (await store.log.append({ room: 'old', user: ann, text: 'third', ts: 1 })).message.seq,
        3,
        'and its seq goes on'
      )
      t.same(await client.keys('chat:room:old:*'), [], 'nothing is left under the old names')
      t.same(await client.keys('chat:{old:user:x}:*'), [], 'a user key is no room')
      t.same(await store.presence.rooms(10), [], 'the presence a dead old node left is gone, from the room list too')
      t.equal(await client.get('chat:{both}:seq'), '1')
      store.start()
      await store.ping()
      t.same(moved, [1], 'not again at the next connection')
    }
  )
}
