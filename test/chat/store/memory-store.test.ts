import t from 'tap'
import { MemoryStore } from '../../../src/chat/store/memory-store.js'
import { directoryContract } from './directory-contract.js'
import { feedContract } from './feed-contract.js'
import { logContract, type MakeStore } from './log-contract.js'
import { presenceContract } from './presence-contract.js'

const make: MakeStore = async (t, historyLimit = 10, options = {}) => {
  const store = new MemoryStore(historyLimit, undefined, options.userRoomMessagesPerMin)
  t.teardown(() => store.close())
  return store
}
logContract(t, make)
presenceContract(t, make)
directoryContract(t, make)
feedContract(t, make)

t.test('the memory store keeps at most maxRooms rooms of history, never evicting a joined room', async (t) => {
  const store = new MemoryStore(10, 3)
  const user = { id: 'u', name: 'U' }
  await store.presence.add('joined', user, 's1')
  await store.log.append({ room: 'joined', user, text: 'stays', ts: 1 })
  for (const room of ['a', 'b', 'c', 'd']) await store.log.append({ room, user, text: room, ts: 1 })
  const texts = async (room: string) => (await store.log.latest(room, 5)).map((m) => ('text' in m ? m.text : m.type))
  t.same(await texts('joined'), ['stays'], 'a room with members keeps its history')
  t.same(await texts('a'), [], 'the least recently written idle room was evicted')
  t.same(await texts('b'), [], 'and the next one')
  t.same(await texts('d'), ['d'])
})

t.test('the memory feed hands an entry on inside its append, before the append resolves', async (t) => {
  const store = new MemoryStore(10)
  const seen: number[] = []
  store.feed.onEntry((entry) => seen.push(entry.seq))
  const appending = store.log.append({ room: 'r', user: { id: 'u', name: 'U' }, text: 'x', ts: 1 })
  t.same(seen, [1], 'at once')
  await appending
})
