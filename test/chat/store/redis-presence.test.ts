// Cluster presence in Redis: heartbeats, sweeps of dead nodes, and a node that finds itself
// forgotten. Each store runs against a real redis-server; upkeep is called by the tests.
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { RedisStore, type RedisStoreOptions } from '../../../src/chat/store/redis-store.js'
import { startRedis } from '../../redis-server.js'

const redis = await startRedis(t)

/** A store on `client`, with a feed connection of its own and no upkeep timer. */
function storeOn(t: Test, client: Redis, options: Partial<RedisStoreOptions> = {}): RedisStore {
  const subscriber = client.duplicate()
  t.teardown(() => subscriber.disconnect())
  return new RedisStore(client, subscriber, { historyLimit: 10, upkeepMs: 0, ...options })
}

if (redis !== undefined) {
  t.test('presence of a node that died is swept, and the sweep tells who left', async (t) => {
    const a = new Redis(redis.url, { db: 14 })
    const b = new Redis(redis.url, { db: 14 })
    t.teardown(() => {
      a.disconnect()
      b.disconnect()
    })
    await a.flushdb()
    const dying = storeOn(t, a, { heartbeatMs: 50, nodeTimeoutMs: 200 })
    const survivor = storeOn(t, b, { heartbeatMs: 50, nodeTimeoutMs: 200 })
    dying.start()
    survivor.start()
    t.teardown(() => survivor.close())
    const ann = { id: 'ann', name: 'Ann' }
    const bob = { id: 'bob', name: 'Bob' }
    await dying.presence.add('r', ann, 's1')
    await survivor.presence.add('r', ann, 's2')
    await dying.presence.add('r', bob, 's3')
    await dying.presence.add('q', bob, 's3')
    t.same(await survivor.presence.liveness.sweep(), [], 'nobody is dead yet')
    // The dying node stops its heartbeat without cleaning up, as a kill -9 would.
    dying.presence.liveness.stopBeating()
    let departures: Awaited<ReturnType<RedisStore['presence']['liveness']['sweep']>> = []
    const deadline = Date.now() + 5000
    while (departures.length === 0 && Date.now() < deadline) {
      departures = await survivor.presence.liveness.sweep()
      await new Promise((r) => setTimeout(r, 50))
    }
    t.same(
      departures.sort((x, y) => x.room.localeCompare(y.room)),
      [
        { room: 'q', user: bob },
        { room: 'r', user: bob }
      ],
      'Bob left both rooms; Ann is still in r on the surviving node'
    )
    t.same(await survivor.presence.members('r'), [ann])
    t.same(await survivor.presence.rooms(10), [{ name: 'r', members: 1 }])
    t.same(await survivor.presence.liveness.sweep(), [], 'a dead node is swept once')
  })
}

if (redis !== undefined) {
  // As the service's store client (commands time out: heartbeats fail during the stall), and
  // without a timeout (answers come late).
  for (const commandTimeout of [200, undefined])
    t.test(
      `a stall of Redis longer than the node timeout makes nobody who is alive look dead (command timeout ${commandTimeout ?? 'none'})`,
      async (t) => {
        const [a, b] = [
          new Redis(redis.url, { db: 12, commandTimeout }),
          new Redis(redis.url, { db: 12, commandTimeout })
        ]
        t.teardown(() => {
          a.disconnect()
          b.disconnect()
        })
        await a.flushdb()
        const options = { heartbeatMs: 50, nodeTimeoutMs: 300 }
        const [alive, judge] = [storeOn(t, a, options), storeOn(t, b, options)]
        alive.start()
        judge.start()
        t.teardown(async () => {
          await judge.close()
          await alive.close()
        })
        await alive.presence.add('r', { id: 'ann', name: 'Ann' }, 's1')
        await new Promise((r) => setTimeout(r, 400))
        t.same(await judge.presence.liveness.sweep(), [], 'nobody is dead')
        // A sweep asked during the stall is answered after it, when every heartbeat is old.
        const stalled = redis.stall(800)
        await new Promise((r) => setTimeout(r, 400))
        const during = judge.presence.liveness.sweep()
        await stalled
        // With a command timeout the question itself times out; without one its late answer is distrusted.
        const answer = await during.then(
          (departures) => departures,
          (err: Error) => (commandTimeout !== undefined && /timed out/.test(err.message) ? [] : err)
        )
        t.same(answer, [], 'a sweep asked during the stall finds nobody dead')
        for (let i = 0; i < 12; i++) {
          t.same(await judge.presence.liveness.sweep(), [], `a sweep ${i * 50} ms after the stall finds nobody dead`)
          await new Promise((r) => setTimeout(r, 50))
        }
        t.same(await judge.presence.members('r'), [{ id: 'ann', name: 'Ann' }], "Ann's presence is still there")
        t.equal(alive.presence.liveness.forgotten(), false)
      }
    )

  /** A store on a fresh database, beating every 50 ms; closed at teardown (again, if the test did). */
  async function beatingStore(t: Test, db: number) {
    const client = new Redis(redis!.url, { db })
    t.teardown(() => client.disconnect())
    await client.flushdb()
    const store = storeOn(t, client, { heartbeatMs: 50 })
    store.start()
    t.teardown(() => store.close())
    return { client, store }
  }

  t.test('a node that was swept while alive learns it from its next heartbeat', async (t) => {
    const { client, store } = await beatingStore(t, 11)
    await new Promise((r) => setTimeout(r, 120))
    t.equal(store.presence.liveness.forgotten(), false, 'announced, and still known')
    const first = store.presence.liveness.nodeId
    await client.zrem('chat:nodes', first)
    await new Promise((r) => setTimeout(r, 120))
    t.equal(store.presence.liveness.forgotten(), true, 'swept: its heartbeat added it back')
    t.equal(store.presence.liveness.forgotten(), false, 'told once')
    t.not(store.presence.liveness.nodeId, first, 'it goes on under a new id')
    t.ok((await client.zscore('chat:nodes', store.presence.liveness.nodeId)) !== null, 'announced at once')
    await new Promise((r) => setTimeout(r, 120))
    t.equal(store.presence.liveness.forgotten(), false, 'the new id is not taken for another loss')
  })

  t.test('a sweep still under way cannot undo the presence a node records again after coming back', async (t) => {
    const [a, b] = [new Redis(redis.url, { db: 10 }), new Redis(redis.url, { db: 10 })]
    t.teardown(() => {
      a.disconnect()
      b.disconnect()
    })
    await a.flushdb()
    const node = storeOn(t, a, { heartbeatMs: 60_000 })
    const judge = storeOn(t, b, { heartbeatMs: 60_000, nodeTimeoutMs: 1 })
    node.start()
    judge.start()
    t.teardown(async () => {
      await judge.close()
      await node.close()
    })
    const users = Array.from({ length: 300 }, (_, i) => ({ id: `u${i}`, name: `U${i}` }))
    await Promise.all(users.map((user) => node.presence.add('r', user, `s-${user.id}`)))
    await new Promise((r) => setTimeout(r, 20))
    const old = node.presence.liveness.nodeId
    // The judge takes the node for dead (its heartbeat is older than 1 ms) and starts removing
    // its 300 sockets; the node comes back meanwhile and records them all again.
    const sweeping = judge.presence.liveness.sweep()
    while ((await b.zscore('chat:nodes', old)) !== null) await new Promise((r) => setTimeout(r, 1))
    node.start()
    while (!node.presence.liveness.forgotten()) await new Promise((r) => setTimeout(r, 1))
    await Promise.all(users.map((user) => node.presence.add('r', user, `s-${user.id}`)))
    await sweeping
    t.equal((await judge.presence.members('r')).length, 300, 'everyone is present')
    t.equal(
      await b.scard(`chat:node:${node.presence.liveness.nodeId}:sockets`),
      300,
      'and recorded under the new id, for a later sweep'
    )
  })

  /** Two stores on one database: a node with presence, and a judge that takes any heartbeat older than 1 ms for dead. */
  async function nodeAndJudge(t: Test, db: number, judgeOptions: Partial<RedisStoreOptions> = {}) {
    const [a, b] = [new Redis(redis!.url, { db }), new Redis(redis!.url, { db })]
    t.teardown(() => {
      a.disconnect()
      b.disconnect()
    })
    await a.flushdb()
    const node = storeOn(t, a, { heartbeatMs: 60_000 })
    const judge = storeOn(t, b, { heartbeatMs: 60_000, nodeTimeoutMs: 1, ...judgeOptions })
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
    await node.presence.add('r', { id: 'ann', name: 'Ann' }, 's1')
    const list = b.zrangebyscore.bind(b)
    ;(b as any).zrangebyscore = async (...args: Parameters<typeof list>) => {
      const answer = await list(...args)
      if (args[0] === 'chat:nodes') await a.zadd('chat:nodes', Date.now() + 1000, node.presence.liveness.nodeId)
      return answer
    }
    t.same(await judge.presence.liveness.sweep(), [], 'listed as dead, alive by the claim')
    t.same(await judge.presence.members('r'), [{ id: 'ann', name: 'Ann' }])
  })

  t.test('what a swept node records after the claim is not swept with the rest', async (t) => {
    const { b, node, judge } = await nodeAndJudge(t, 8)
    await node.presence.add('r', { id: 'ann', name: 'Ann' }, 's1')
    const members = b.smembers.bind(b)
    let joined = false
    ;(b as any).smembers = async (key: string) => {
      // The node, not yet aware, records a join as the judge reads what the node had recorded.
      if (key.startsWith('chat:node:') && !joined) {
        joined = true
        await node.presence.add('r', { id: 'bob', name: 'Bob' }, 's2')
      }
      return members(key)
    }
    t.same(await judge.presence.liveness.sweep(), [{ room: 'r', user: { id: 'ann', name: 'Ann' } }])
    t.same(
      await judge.presence.members('r'),
      [{ id: 'bob', name: 'Bob' }],
      "Bob's join stands (and is swept with the node's old id later)"
    )
  })

  t.test('a sweep cut off part-way tells who left so far, and the rest is taken over later', async (t) => {
    const { b, node, judge } = await nodeAndJudge(t, 7, { sweepTakeoverMs: 100 })
    const users = ['ann', 'bob', 'cy'].map((id) => ({ id, name: id }))
    for (const [i, user] of users.entries()) await node.presence.add('r', user, `s${i}`)
    const scripts = b as unknown as { chatRemovePresence: (...args: unknown[]) => Promise<unknown> }
    const remove = scripts.chatRemovePresence.bind(b)
    let calls = 0
    scripts.chatRemovePresence = async (...args) => {
      if (++calls === 2) throw new Error('Connection is closed.')
      return remove(...args)
    }
    const first = await judge.presence.liveness.sweep()
    t.equal(first.length, 1, 'the one removed before the failure is told')
    t.equal((await judge.presence.members('r')).length, 2)
    t.same(await judge.presence.liveness.sweep(), [], 'not taken over while it may still be under way')
    await new Promise((r) => setTimeout(r, 150))
    const rest = await judge.presence.liveness.sweep()
    t.same(
      rest.map((d) => d.user.id).sort(),
      users
        .map((u) => u.id)
        .filter((id) => id !== first[0]!.user.id)
        .sort(),
      'the rest, once abandoned'
    )
    t.same(await judge.presence.members('r'), [])
    t.equal(await b.zcard('chat:sweeping'), 0, 'and the sweep is done')
  })

  t.test('a node that was forgotten still removes, and closes away, what it recorded under its old id', async (t) => {
    const { client, store } = await beatingStore(t, 6)
    await new Promise((r) => setTimeout(r, 80))
    const old = store.presence.liveness.nodeId
    // Redis lost its data; a join lands before the next heartbeat notices.
    await client.flushdb()
    await store.presence.add('r', { id: 'ann', name: 'Ann' }, 's1')
    await store.presence.add('q', { id: 'bob', name: 'Bob' }, 's2')
    await new Promise((r) => setTimeout(r, 120))
    t.ok(store.presence.liveness.forgotten())
    t.not(store.presence.liveness.nodeId, old)
    t.equal(
      await store.presence.remove('r', { id: 'ann', name: 'Ann' }, 's1'),
      true,
      "Ann's last socket, recorded under the old id, is removed"
    )
    t.same(await store.presence.members('r'), [])
    await store.close()
    t.same(await store.presence.members('q'), [], 'closing removes what is left under the old id too')
    t.same(await client.zrange('chat:nodes', 0, -1), [], 'and every id of the node')
  })
}
