// The message log's contract: the memory and the Redis log pass this same suite.
import type { Test } from 'tap'
import type { ChatStore, MessageLog } from '../../../src/chat/store/parts.js'

const alice = { id: 'u-alice', name: 'Alice' }
const bob = { id: 'u-bob', name: 'Bob' }

/** A fresh store with the given history limit, closed at the test's teardown. */
export type MakeStore = (t: Test, historyLimit?: number) => Promise<ChatStore>

export function logContract(t: Test, make: MakeStore): void {
  const fresh = async (t: Test, historyLimit = 10): Promise<MessageLog> => (await make(t, historyLimit)).log
  const send = (store: MessageLog, room: string, text: string, clientId?: string, user = alice) =>
    store.append({ room, user, text, clientId, ts: 1_700_000_000_000 })

  t.test('append numbers each room from 1 with no gaps, and ids are unique', async (t) => {
    const store = await fresh(t)
    const a1 = await send(store, 'a', 'one')
    const a2 = await send(store, 'a', 'two')
    const b1 = await send(store, 'b', 'uno')
    t.same([a1.message.seq, a2.message.seq, b1.message.seq], [1, 2, 1])
    t.same(a1.message, { id: a1.message.id, room: 'a', seq: 1, user: alice, text: 'one', ts: 1_700_000_000_000 })
    t.equal(new Set([a1, a2, b1].map((r) => r.message.id)).size, 3)
    t.equal(a1.duplicate, false)
  })

  t.test('concurrent appends get distinct consecutive seqs', async (t) => {
    const store = await fresh(t, 1000)
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => send(store, 'r', `m${i}`)))
    t.same(
      results.map((r) => r.message.seq).sort((x, y) => x - y),
      Array.from({ length: 100 }, (_, i) => i + 1)
    )
  })

  t.test('a clientId already used by the user in the room returns the first message', async (t) => {
    const store = await fresh(t)
    const first = await send(store, 'r', 'hello', 'c1')
    const retry = await send(store, 'r', 'hello again', 'c1')
    t.same(retry, { message: first.message, duplicate: true })
    t.equal(first.message.clientId, 'c1')
    t.equal((await send(store, 'r', 'x', 'c1', bob)).duplicate, false, 'per user')
    t.equal((await send(store, 'other', 'x', 'c1')).duplicate, false, 'per room')
    t.equal((await send(store, 'r', 'y')).message.seq, 3, 'the retry took no seq')
  })

  t.test('history is trimmed to the limit; latest, page and since read it', async (t) => {
    const store = await fresh(t, 10)
    for (let i = 1; i <= 25; i++) await send(store, 'r', `m${i}`)
    const seqs = (list: Array<{ seq: number }>) => list.map((m) => m.seq)
    t.same(seqs(await store.latest('r', 5)), [21, 22, 23, 24, 25])
    t.same(seqs(await store.latest('r', 50)), [16, 17, 18, 19, 20, 21, 22, 23, 24, 25], 'only the kept ones')
    t.same(seqs(await store.page('r', { before: 20, limit: 3 })), [17, 18, 19])
    t.same(seqs(await store.page('r', { after: 17, limit: 3 })), [18, 19, 20])
    t.same(seqs(await store.page('r', { after: 17, before: 20, limit: 50 })), [18, 19])
    t.same(seqs(await store.page('r', { before: 3, limit: 5 })), [], 'trimmed messages are gone')
    t.same(await store.since('r', 22), { messages: await store.latest('r', 3), recovered: true })
    t.same(await store.since('r', 25), { messages: [], recovered: true })
    t.equal((await store.since('r', 15)).recovered, true, 'seq 16 is still kept')
    const trimmed = await store.since('r', 14)
    t.equal(trimmed.recovered, false, 'seq 15 was trimmed')
    t.same(seqs(trimmed.messages), [16, 17, 18, 19, 20, 21, 22, 23, 24, 25])
    t.equal((await store.since('r', 99)).recovered, false, 'a seq the room never reached')
    t.same(await store.since('empty', 0), { messages: [], recovered: true })
    t.same(await store.latest('empty', 5), [])
  })

  t.test('a trimmed message no longer de-duplicates its clientId', async (t) => {
    const store = await fresh(t, 2)
    await send(store, 'r', 'old', 'c-old')
    for (let i = 0; i < 10; i++) await send(store, 'r', `m${i}`)
    const again = await send(store, 'r', 'old', 'c-old')
    t.equal(again.duplicate, false)
    // Text is stored exactly as given, even what is not valid Unicode (a lone surrogate), and a
    // name can come from another identity provider's token: neither may keep a retry-id alive.
    const odd = { id: 'u-\ud800', name: 'Odd \udfff' }
    await send(store, 'q', 'lone \ud800', 'c-lone', odd)
    for (let i = 0; i < 3; i++) await send(store, 'q', `m${i}`)
    t.equal((await send(store, 'q', 'lone \ud800', 'c-lone', odd)).duplicate, false, 'whatever the text and name')
  })
}
