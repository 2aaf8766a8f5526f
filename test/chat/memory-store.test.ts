import t from 'tap'
import { MemoryStore } from '../../src/chat/memory-store.js'
import { storeContract } from './store-contract.js'

storeContract(t, async (historyLimit) => new MemoryStore(historyLimit))

t.test('the memory store keeps at most maxRooms rooms of history, never evicting a joined room', async (t) => {
  const store = new MemoryStore(10, 3)
  const user = { id: 'u', name: 'U' }
  await store.addPresence('joined', user, 's1')
  await store.append({ room: 'joined', user, text: 'stays', ts: 1 })
  for (const room of ['a', 'b', 'c', 'd']) await store.append({ room, user, text: room, ts: 1 })
  t.same((await store.latest('joined', 5)).map((m) => m.text), ['stays'], 'a room with members keeps its history')
  t.same(await store.latest('a', 5), [], 'the least recently written idle room was evicted')
  t.same(await store.latest('b', 5), [], 'and the next one')
  t.same((await store.latest('d', 5)).map((m) => m.text), ['d'])
})
