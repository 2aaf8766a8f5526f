import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { RedisStore, type RedisStoreOptions } from '../../src/chat/redis-store.js'
import { startRedis } from '../redis-server.js'
import { storeContract } from './store-contract.js'

const redis = await startRedis(t)
if (redis !== undefined) {
  let db = 0
  storeContract(t, async (historyLimit) => {
    const client = new Redis(redis.url, { db: db++ % 16, enableOfflineQueue: true })
    await client.flushdb()
    const store = new RedisStore(client, { historyLimit, streamName: 'chat:test-stream', streamMaxLen: 1000 })
    const close = store.close.bind(store)
    store.close = async () => {
      await close()
      client.disconnect()
    }
    return store
  })

  t.test('the append publishes each message to the adapter stream, in seq order', async (t) => {
    const client = new Redis(redis.url, { db: 15 })
    t.teardown(() => client.disconnect())
    await client.flushdb()
    const store = new RedisStore(client, { historyLimit: 10, streamName: 's', streamMaxLen: 1000 })
    const user = { id: 'u', name: 'U' }
    for (let i = 0; i < 3; i++) await store.append({ room: 'r', user, text: `m${i}`, ts: 1, trace: i === 2 ? { traceparent: '00-abc-def-01' } : undefined })
    await store.append({ room: 'r', user, text: 'again', ts: 1, clientId: 'c' })
    await store.append({ room: 'r', user, text: 'again', ts: 1, clientId: 'c' })
    const entries = await client.xrange('s', '-', '+')
    t.equal(entries.length, 4, 'a de-duplicated retry publishes nothing')
    const decoded = entries.map(([, fields]) => {
      const f = Object.fromEntries(fields.reduce<string[][]>((acc, v, i) => (i % 2 ? acc[acc.length - 1]!.push(v) : acc.push([v]), acc), []))
      return { ...f, chat: JSON.parse(f.chat!) }
    })
    t.match(decoded[0], { uid: 'emitter', nsp: '/', type: '3', room: 'r', chat: { seq: 1, room: 'r', text: 'm0' }, trace: '' })
    t.same(decoded.map((d: any) => d.chat.seq), [1, 2, 3, 4])
    const stored = await store.latest('r', 10)
    t.same(decoded.map((d: any) => d.chat), stored, 'the message as stored, the JSON itself')
    t.same(JSON.parse(decoded[2].trace), { traceparent: '00-abc-def-01' }, 'the trace context travels with it')
  })

  t.test('presence of a node that died is swept, and the sweep tells who left', async (t) => {
    const a = new Redis(redis.url, { db: 14 })
    const b = new Redis(redis.url, { db: 14 })
    t.teardown(() => {
      a.disconnect()
      b.disconnect()
    })
    await a.flushdb()
    const dying = new RedisStore(a, { historyLimit: 10, streamName: 's', streamMaxLen: 10, heartbeatMs: 50, nodeTimeoutMs: 200 })
    const survivor = new RedisStore(b, { historyLimit: 10, streamName: 's', streamMaxLen: 10, heartbeatMs: 50, nodeTimeoutMs: 200 })
    dying.start()
    survivor.start()
    t.teardown(() => survivor.close())
    const ann = { id: 'ann', name: 'Ann' }
    const bob = { id: 'bob', name: 'Bob' }
    await dying.addPresence('r', ann, 's1')
    await survivor.addPresence('r', ann, 's2')
    await dying.addPresence('r', bob, 's3')
    await dying.addPresence('q', bob, 's3')
    t.same(await survivor.sweep(), [], 'nobody is dead yet')
    // The dying node stops its heartbeat without cleaning up, as a kill -9 would.
    clearInterval((dying as any).heartbeat)
    let departures: Awaited<ReturnType<RedisStore['sweep']>> = []
    const deadline = Date.now() + 5000
    while (departures.length === 0 && Date.now() < deadline) {
      departures = await survivor.sweep()
      await new Promise((r) => setTimeout(r, 50))
    }
    t.same(departures.sort((x, y) => x.room.localeCompare(y.room)), [
      { room: 'q', user: bob },
      { room: 'r', user: bob }
    ], 'Bob left both rooms; Ann is still in r on the surviving node')
    t.same(await survivor.members('r'), [ann])
    t.same(await survivor.rooms(10), [{ name: 'r', members: 1 }])
    t.same(await survivor.sweep(), [], 'a dead node is swept once')
  })
}

if (redis !== undefined) {
  // As the service's store client (commands time out: heartbeats fail during the stall), and
  // without a timeout (answers come late).
  for (const commandTimeout of [200, undefined]) t.test(`a stall of Redis longer than the node timeout makes nobody who is alive look dead (command timeout ${commandTimeout ?? 'none'})`, async (t) => {
    const [a, b] = [new Redis(redis.url, { db: 12, commandTimeout }), new Redis(redis.url, { db: 12, commandTimeout })]
    t.teardown(() => {
      a.disconnect()
      b.disconnect()
    })
    await a.flushdb()
    const options = { historyLimit: 10, streamName: 's', streamMaxLen: 10, heartbeatMs: 50, nodeTimeoutMs: 300 }
    const [alive, judge] = [new RedisStore(a, options), new RedisStore(b, options)]
    alive.start()
    judge.start()
    t.teardown(async () => {
      await judge.close()
      await alive.close()
    })
    await alive.addPresence('r', { id: 'ann', name: 'Ann' }, 's1')
    await new Promise((r) => setTimeout(r, 400))
    t.same(await judge.sweep(), [], 'nobody is dead')
    // A sweep asked during the stall is answered after it, when every heartbeat is old.
    const stalled = redis.stall(800)
    await new Promise((r) => setTimeout(r, 400))
    const during = judge.sweep()
    await stalled
    // With a command timeout the question itself times out; without one its late answer is distrusted.
    const answer = await during.then(
      (departures) => departures,
      (err: Error) => (commandTimeout !== undefined && /timed out/.test(err.message) ? [] : err)
    )
    t.same(answer, [], 'a sweep asked during the stall finds nobody dead')
    for (let i = 0; i < 12; i++) {
      t.same(await judge.sweep(), [], `a sweep ${i * 50} ms after the stall finds nobody dead`)
      await new Promise((r) => setTimeout(r, 50))
    }
    t.same(await judge.members('r'), [{ id: 'ann', name: 'Ann' }], "Ann's presence is still there")
    t.equal(alive.forgotten(), false)
  })

  /** A store on a fresh database, beating every 50 ms; closed at teardown (again, if the test did). */
  async function beatingStore(t: Test, db: number) {
    const client = new Redis(redis!.url, { db })
    t.teardown(() => client.disconnect())
    await client.flushdb()
    const store = new RedisStore(client, { historyLimit: 10, streamName: 's', streamMaxLen: 10, heartbeatMs: 50 })
    store.start()
    t.teardown(() => store.close())
    return { client, store }
  }

  t.test('a node that was swept while alive learns it from its next heartbeat', async (t) => {
    const { client, store } = await beatingStore(t, 11)
    await new Promise((r) => setTimeout(r, 120))
    t.equal(store.forgotten(), false, 'announced, and still known')
    const first = store.nodeId
    await client.zrem('chat:nodes', first)
    await new Promise((r) => setTimeout(r, 120))
    t.equal(store.forgotten(), true, 'swept: its heartbeat added it back')
    t.equal(store.forgotten(), false, 'told once')
    t.not(store.nodeId, first, 'it goes on under a new id')
    t.ok((await client.zscore('chat:nodes', store.nodeId)) !== null, 'announced at once')
    await new Promise((r) => setTimeout(r, 120))
    t.equal(store.forgotten(), false, 'the new id is not taken for another loss')
  })

  t.test('a sweep still under way cannot undo the presence a node records again after coming back', async (t) => {
    const [a, b] = [new Redis(redis.url, { db: 10 }), new Redis(redis.url, { db: 10 })]
    t.teardown(() => {
      a.disconnect()
      b.disconnect()
    })
    await a.flushdb()
    const node = new RedisStore(a, { historyLimit: 10, streamName: 's', streamMaxLen: 10, heartbeatMs: 60_000 })
    const judge = new RedisStore(b, { historyLimit: 10, streamName: 's', streamMaxLen: 10, heartbeatMs: 60_000, nodeTimeoutMs: 1 })
    node.start()
    judge.start()
    t.teardown(async () => {
      await judge.close()
      await node.close()
    })
    const users = Array.from({ length: 300 }, (_, i) => ({ id: `u${i}`, name: `U${i}` }))
    await Promise.all(users.map((user) => node.addPresence('r', user, `s-${user.id}`)))
    await new Promise((r) => setTimeout(r, 20))
    const old = node.nodeId
    // The judge takes the node for dead (its heartbeat is older than 1 ms) and starts removing
    // its 300 sockets; the node comes back meanwhile and records them all again.
    const sweeping = judge.sweep()
    while ((await b.zscore('chat:nodes', old)) !== null) await new Promise((r) => setTimeout(r, 1))
    node.start()
    while (!node.forgotten()) await new Promise((r) => setTimeout(r, 1))
    await Promise.all(users.map((user) => node.addPresence('r', user, `s-${user.id}`)))
    await sweeping
    t.equal((await judge.members('r')).length, 300, 'everyone is present')
    t.equal(await b.scard(`chat:node:${node.nodeId}:sockets`), 300, 'and recorded under the new id, for a later sweep')
  })

  /** Two stores on one database: a node with presence, and a judge that takes any heartbeat older than 1 ms for dead. */
  async function nodeAndJudge(t: Test, db: number, judgeOptions: Partial<RedisStoreOptions> = {}) {
    const [a, b] = [new Redis(redis!.url, { db }), new Redis(redis!.url, { db })]
    t.teardown(() => {
      a.disconnect()
      b.disconnect()
    })
    await a.flushdb()
    const node = new RedisStore(a, { historyLimit: 10, streamName: 's', streamMaxLen: 10, heartbeatMs: 60_000 })
    const judge = new RedisStore(b, { historyLimit: 10, streamName: 's', streamMaxLen: 10, heartbeatMs: 60_000, nodeTimeoutMs: 1, ...judgeOptions })
    node.start()
    judge.start()
    t.teardown(async () => {
      await judge.close()
      await node.close()
    })
    await new Promise((r) => setTimeout(r, 20))
    return { a, b, node, judge }
  }

  t.test('a node whose heartbeat comes in between the list of the dead and the claim is not swept', async (t) => {
    const { a, b, node, judge } = await nodeAndJudge(t, 9)
    await node.addPresence('r', { id: 'ann', name: 'Ann' }, 's1')
    const list = b.zrangebyscore.bind(b)
    ;(b as any).zrangebyscore = async (...args: Parameters<typeof list>) => {
      const answer = await list(...args)
      if (args[0] === 'chat:nodes') await a.zadd('chat:nodes', Date.now() + 1000, node.nodeId)
      return answer
    }
    t.same(await judge.sweep(), [], 'listed as dead, alive by the claim')
    t.same(await judge.members('r'), [{ id: 'ann', name: 'Ann' }])
  })

  t.test('what a swept node records after the claim is not swept with the rest', async (t) => {
    const { b, node, judge } = await nodeAndJudge(t, 8)
    await node.addPresence('r', { id: 'ann', name: 'Ann' }, 's1')
    const members = b.smembers.bind(b)
    let joined = false
    ;(b as any).smembers = async (key: string) => {
      // The node, not yet aware, records a join as the judge reads what the node had recorded.
      if (key.startsWith('chat:node:') && !joined) {
        joined = true
        await node.addPresence('r', { id: 'bob', name: 'Bob' }, 's2')
      }
      return members(key)
    }
    t.same(await judge.sweep(), [{ room: 'r', user: { id: 'ann', name: 'Ann' } }])
    t.same(await judge.members('r'), [{ id: 'bob', name: 'Bob' }], "Bob's join stands (and is swept with the node's old id later)")
  })

  t.test('a sweep cut off part-way tells who left so far, and the rest is taken over later', async (t) => {
    const { b, node, judge } = await nodeAndJudge(t, 7, { sweepTakeoverMs: 100 })
    const users = ['ann', 'bob', 'cy'].map((id) => ({ id, name: id }))
    for (const [i, user] of users.entries()) await node.addPresence('r', user, `s${i}`)
    const scripts = b as unknown as { chatRemovePresence: (...args: unknown[]) => Promise<unknown> }
    const remove = scripts.chatRemovePresence.bind(b)
    let calls = 0
    scripts.chatRemovePresence = async (...args) => {
      if (++calls === 2) throw new Error('Connection is closed.')
      return remove(...args)
    }
    const first = await judge.sweep()
    t.equal(first.length, 1, 'the one removed before the failure is told')
    t.equal((await judge.members('r')).length, 2)
    t.same(await judge.sweep(), [], 'not taken over while it may still be under way')
    await new Promise((r) => setTimeout(r, 150))
    const rest = await judge.sweep()
    t.same(rest.map((d) => d.user.id).sort(), users.map((u) => u.id).filter((id) => id !== first[0]!.user.id).sort(), 'the rest, once abandoned')
    t.same(await judge.members('r'), [])
    t.equal(await b.zcard('chat:sweeping'), 0, 'and the sweep is done')
  })

  t.test('a node that was forgotten still removes, and closes away, what it recorded under its old id', async (t) => {
    const { client, store } = await beatingStore(t, 6)
    await new Promise((r) => setTimeout(r, 80))
    const old = store.nodeId
    // Redis lost its data; a join lands before the next heartbeat notices.
    await client.flushdb()
    await store.addPresence('r', { id: 'ann', name: 'Ann' }, 's1')
    await store.addPresence('q', { id: 'bob', name: 'Bob' }, 's2')
    await new Promise((r) => setTimeout(r, 120))
    t.ok(store.forgotten())
    t.not(store.nodeId, old)
    t.equal(await store.removePresence('r', 'ann', 's1'), true, "Ann's last socket, recorded under the old id, is removed")
    t.same(await store.members('r'), [])
    await store.close()
    t.same(await store.members('q'), [], 'closing removes what is left under the old id too')
    t.same(await client.zrange('chat:nodes', 0, -1), [], 'and every id of the node')
  })

  t.test("a room's keys expire a while after its last message", async (t) => {
    const client = new Redis(redis.url, { db: 13 })
    t.teardown(() => client.disconnect())
    await client.flushdb()
    const store = new RedisStore(client, { historyLimit: 10, streamName: 's', streamMaxLen: 10, roomTtlSeconds: 3600 })
    await store.append({ room: 'r', user: { id: 'u', name: 'U' }, text: 'x', ts: 1, clientId: 'c' })
    for (const key of ['chat:room:r:seq', 'chat:room:r:log', 'chat:room:r:dedup', 'chat:room:r:dedup-seq']) {
      const ttl = await client.ttl(key)
      t.ok(ttl > 3500 && ttl <= 3600, `${key} expires in an hour (${ttl} s)`)
    }
  })
}
