// The presence contract: the memory and the Redis presence pass this same suite.
import type { Test } from 'tap'
import type { MakeStore } from './log-contract.js'

const alice = { id: 'u-alice', name: 'Alice' }
const bob = { id: 'u-bob', name: 'Bob' }

export function presenceContract(t: Test, make: MakeStore): void {
  t.test('presence counts a user once across sockets and lists rooms busiest first', async (t) => {
    const store = (await make(t)).presence
    t.equal(await store.add('r', alice, 's1'), true, 'first socket')
    t.equal(await store.add('r', alice, 's2'), false, 'second tab')
    t.equal(await store.add('r', alice, 's2'), false, 'joining twice')
    t.equal(await store.add('r', bob, 's3'), true)
    t.equal(await store.add('q', bob, 's3'), true)
    t.same(
      (await store.members('r')).sort((a, b) => a.id.localeCompare(b.id)),
      [alice, bob]
    )
    t.same(await store.rooms(10), [
      { name: 'r', members: 2 },
      { name: 'q', members: 1 }
    ])
    t.same(await store.rooms(1), [{ name: 'r', members: 2 }], 'the busiest, up to the limit')
    for (const room of ['d', 'c', 'b', 'a', 'B']) await store.add(room, alice, 's1')
    t.same(
      await store.rooms(4),
      [
        { name: 'r', members: 2 },
        { name: 'B', members: 1 },
        { name: 'a', members: 1 },
        { name: 'b', members: 1 }
      ],
      'ties at the cut go by name'
    )
    for (const room of ['d', 'c', 'b', 'a', 'B']) await store.remove(room, alice, 's1')
    t.equal(await store.remove('r', alice, 's1'), false, 'one tab left')
    t.equal(await store.remove('r', alice, 's1'), false, 'removing twice')
    t.equal(await store.remove('r', alice, 's2'), true, 'last tab')
    t.equal(await store.remove('r', { id: 'nobody', name: 'Nobody' }, 'sx'), false)
    t.same(await store.members('r'), [bob])
    await store.remove('q', bob, 's3')
    t.same(await store.rooms(10), [{ name: 'r', members: 1 }])
  })

  t.test('the store answers a ping while it is up', async (t) => {
    const store = await make(t)
    await t.resolves(store.ping())
    t.equal(store.available, true)
  })
}
