// The message log's contract: the memory and the Redis log pass this same suite.
import type { Test } from 'tap'
import type { Entry, Member, Message } from '../../../src/chat/protocol.js'
import type { ChatStore, FeedEntry, MessageLog, MessageLogOptions } from '../../../src/chat/store/parts.js'
import { until } from '../../helpers.js'

const alice = { id: 'u-alice', name: 'Alice' }
const bob = { id: 'u-bob', name: 'Bob' }

/** A fresh store with the given history limit (and budget), closed at the test's teardown. */
export type MakeStore = (
  t: Test,
  historyLimit?: number,
  options?: Pick<MessageLogOptions, 'userRoomMessagesPerMin'>
) => Promise<ChatStore>

/** The error a refused call rejects with (a ChatError: code, retryAfterMs). */
async function refusal(promise: Promise<unknown>): Promise<{ code?: string; retryAfterMs?: number }> {
  try {
    await promise
  } catch (err) {
    return err as { code?: string; retryAfterMs?: number }
  }
  return {}
}

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

  deletionContract(t, make)
  budgetContract(t, make)
}

const TS = 1_700_000_000_000

function deletionContract(t: Test, make: MakeStore): void {
  const send = (log: MessageLog, room: string, text: string, clientId?: string, user = alice) =>
    log.append({ room, user, text, clientId, ts: TS })
  const remove = (log: MessageLog, room: string, target: string, user: Member = alice, may: 'any' | 'own' = 'own') =>
    log.delete({ room, target, user, may, ts: TS + 1 })
  const texts = (list: Entry[]) => list.map((e) => ('type' in e ? `deleted ${e.target}` : e.text))

  t.test(
    "the author deletes a message: a tombstone in its place, a deletion entry at the room's next seq",
    async (t) => {
      const log = (await make(t, 10)).log
      const { message } = await send(log, 'r', 'my PIN is 1204', 'c1')
      const other = (await send(log, 'r', 'hello')).message
      const { entry, author } = await remove(log, 'r', message.id)
      t.same(entry, { id: entry!.id, room: 'r', seq: 3, type: 'deletion', target: message.id, user: alice, ts: TS + 1 })
      t.not(entry!.id, message.id)
      t.same(author, alice)
      const tombstone: Message = { ...message, text: '', deleted: true }
      t.same(await log.latest('r', 10), [tombstone, other, entry], 'latest: the tombstone in place, then the entry')
      t.same(await log.since('r', 0), { messages: [tombstone, other, entry], recovered: true })
      t.same(await log.since('r', 2), { messages: [entry], recovered: true }, 'since replays the deletion')
      t.same(await log.page('r', { before: 3, limit: 10 }), [tombstone, other])
      t.same(await log.page('r', { after: 1, limit: 10 }), [other, entry])
      t.same(
        await send(log, 'r', 'my PIN is 1204', 'c1'),
        { message: tombstone, duplicate: true },
        'a retry gets the tombstone'
      )
      t.equal((await send(log, 'r', 'next')).message.seq, 4, 'no gap')
    }
  )

  t.test('a message deleted before: nothing new; a deletion entry is no message', async (t) => {
    const log = (await make(t, 10)).log
    const { message } = await send(log, 'r', 'oops')
    const first = await remove(log, 'r', message.id)
    t.same(await remove(log, 'r', message.id), { entry: undefined, author: alice }, 'answered, no new entry')
    t.same(await remove(log, 'r', message.id, bob, 'any'), { entry: undefined, author: alice })
    t.equal((await refusal(remove(log, 'r', first.entry!.id, alice, 'any'))).code, 'NOT_FOUND')
    t.same(
      (await log.latest('r', 10)).map((e) => e.seq),
      [1, 2]
    )
  })

  t.test("someone else's message: FORBIDDEN to a plain member, and nothing changes; a moderator may", async (t) => {
    const log = (await make(t, 10)).log
    const { message } = await send(log, 'r', 'secret', 'c1')
    const before = await log.latest('r', 10)
    t.equal((await refusal(remove(log, 'r', message.id, bob, 'own'))).code, 'FORBIDDEN')
    t.same(await log.latest('r', 10), before, 'nothing changed')
    t.same((await send(log, 'r', 'secret', 'c1')).message, message, 'the retry record neither')
    const { entry, author } = await remove(log, 'r', message.id, bob, 'any')
    t.match(entry, { seq: 2, type: 'deletion', target: message.id, user: bob })
    t.same(author, alice, 'the author, for the audit trail')
  })

  t.test('an unknown id, one from another room, a trimmed message: NOT_FOUND', async (t) => {
    const log = (await make(t, 3)).log
    const old = (await send(log, 'r', 'old')).message
    const elsewhere = (await send(log, 'q', 'elsewhere')).message
    for (let i = 0; i < 3; i++) await send(log, 'r', `m${i}`)
    t.equal((await refusal(remove(log, 'r', old.id))).code, 'NOT_FOUND', 'trimmed')
    t.equal((await refusal(remove(log, 'r', elsewhere.id, alice, 'any'))).code, 'NOT_FOUND', 'another room')
    t.equal((await refusal(remove(log, 'r', '00000000-0000-4000-8000-000000000000'))).code, 'NOT_FOUND', 'made up')
    t.equal((await refusal(remove(log, 'none', old.id))).code, 'NOT_FOUND', 'a room with no history')
    t.same(texts(await log.latest('r', 10)), ['m0', 'm1', 'm2'], 'nothing changed')
  })

  t.test('deletion entries count as entries: trimmed with history, they trim it too', async (t) => {
    const log = (await make(t, 3)).log
    const sent = []
    for (let i = 0; i < 3; i++) sent.push((await send(log, 'r', `m${i}`, `c${i}`)).message)
    const { entry } = await remove(log, 'r', sent[0]!.id)
    t.same(texts(await log.latest('r', 10)), ['m1', 'm2', `deleted ${sent[0]!.id}`], 'its own tombstone went')
    await send(log, 'r', 'w')
    await send(log, 'r', 'x')
    await send(log, 'r', 'y')
    t.same(
      (await log.latest('r', 10)).map((e) => e.seq),
      [5, 6, 7]
    )
    t.equal((await log.since('r', entry!.seq - 1)).recovered, false, 'the deletion is trimmed too')
    t.equal((await refusal(remove(log, 'r', sent[1]!.id))).code, 'NOT_FOUND')
  })

  t.test('deletions at once: one entry per message; with appends, seqs stay consecutive', async (t) => {
    const log = (await make(t, 100)).log
    const sent = []
    for (let i = 0; i < 5; i++) sent.push((await send(log, 'r', `m${i}`)).message)
    const results = await Promise.all([
      ...sent.map((m) => remove(log, 'r', m.id)),
      ...sent.map((m) => remove(log, 'r', m.id, bob, 'any')),
      ...Array.from({ length: 5 }, (_, i) => send(log, 'r', `n${i}`))
    ])
    t.equal(results.filter((r) => 'entry' in r && r.entry !== undefined).length, 5, 'five deletion entries')
    const all = await log.latest('r', 100)
    t.same(
      all.map((e) => e.seq),
      Array.from({ length: 15 }, (_, i) => i + 1)
    )
    t.same(new Set(all.filter((e) => 'type' in e).map((e) => (e as { target: string }).target)).size, 5)
    t.ok(sent.every((m) => all.some((e) => e.id === m.id && 'deleted' in e && e.text === '')))
  })

  t.test(
    'a deletion racing the trim of its message: deleted, or NOT_FOUND; never a gap or a stray index',
    async (t) => {
      const log = (await make(t, 3)).log
      for (let round = 0; round < 5; round++) {
        const oldest = (await send(log, 'r', `old ${round}`)).message
        await send(log, 'r', 'a')
        await send(log, 'r', 'b')
        const [deleted] = await Promise.all([
          refusal(remove(log, 'r', oldest.id)),
          send(log, 'r', 'c'),
          send(log, 'r', 'd')
        ])
        t.ok(deleted.code === undefined || deleted.code === 'NOT_FOUND', `round ${round}: ${deleted.code ?? 'deleted'}`)
        const kept = await log.latest('r', 10)
        const last = kept.at(-1)!.seq
        t.same(
          kept.map((e) => e.seq),
          [last - 2, last - 1, last]
        )
        t.equal((await refusal(remove(log, 'r', oldest.id))).code, 'NOT_FOUND', 'trimmed by now')
      }
    }
  )

  t.test('text and names that are not valid Unicode are deleted like any other', async (t) => {
    const log = (await make(t, 10)).log
    const odd = { id: 'u-\ud800:x', name: 'Odd \udfff' }
    const { message } = await send(log, 'r', 'lone \ud800 "quoted" \\', 'c1', odd)
    t.equal((await refusal(remove(log, 'r', message.id, { id: 'u-\ud800', name: 'Near' }))).code, 'FORBIDDEN')
    const { entry } = await remove(log, 'r', message.id, odd)
    t.same(texts(await log.latest('r', 10)), ['', `deleted ${message.id}`])
    t.same((await send(log, 'r', 'again', 'c1', odd)).message, { ...message, text: '', deleted: true })
    t.same(entry?.user, odd)
  })

  t.test('the deletion entry goes through the feed like a message', async (t) => {
    const store = await make(t, 10)
    const got: FeedEntry[] = []
    store.feed.onEntry((e) => got.push(e))
    await store.feed.follow('r')
    const { message } = await send(store.log, 'r', 'gone soon')
    const { entry } = await remove(store.log, 'r', message.id)
    await until(() => got.length >= 2, 5000, 'two entries')
    t.same(
      got.map((e) => [e.seq, e.id]),
      [
        [1, message.id],
        [2, entry!.id]
      ]
    )
    t.same(JSON.parse(got[1]!.json), entry, 'as stored')
  })
}

function budgetContract(t: Test, make: MakeStore): void {
  const send = (log: MessageLog, room: string, text: string, user = alice, clientId?: string) =>
    log.append({ room, user, text, clientId, ts: TS })

  t.test("a user's send budget in a room: spent, RATE_LIMITED with a wait, and nothing stored", async (t) => {
    const log = (await make(t, 100, { userRoomMessagesPerMin: 3 })).log
    const first = await send(log, 'r', 'one', alice, 'c1')
    await send(log, 'r', 'two')
    await send(log, 'r', 'three')
    const refused = await refusal(send(log, 'r', 'four', alice, 'c4'))
    t.equal(refused.code, 'RATE_LIMITED')
    t.ok(
      refused.retryAfterMs! > 0 && refused.retryAfterMs! <= 20_000,
      `a wait of one refill (${refused.retryAfterMs} ms)`
    )
    t.equal((await log.latest('r', 10)).length, 3, 'nothing stored')
    t.same(
      await send(log, 'r', 'one', alice, 'c1'),
      { message: first.message, duplicate: true },
      'a retry still answers'
    )
    t.equal((await refusal(send(log, 'r', 'four', alice, 'c4'))).code, 'RATE_LIMITED', 'a new clientId is refused')
    t.equal((await send(log, 'r', 'mine', bob)).message.seq, 4, "another user's budget is their own")
    t.equal((await send(log, 'q', 'here')).message.seq, 1, 'so is another room')
    const { entry } = await log.delete({ room: 'r', target: first.message.id, user: alice, may: 'own', ts: TS })
    t.equal(entry?.seq, 5, 'deleting spends no budget')
  })

  t.test('the budget fills again at its rate', async (t) => {
    const log = (await make(t, 1000, { userRoomMessagesPerMin: 120 })).log
    const all = await Promise.all(Array.from({ length: 121 }, (_, i) => refusal(send(log, 'r', `m${i}`))))
    const refused = all.filter((r) => r.code === 'RATE_LIMITED')
    t.equal(refused.length, 1, 'the 121st at once is refused')
    const wait = refused[0]!.retryAfterMs!
    t.ok(wait > 0 && wait <= 500, `one refill is 500 ms (${wait} ms)`)
    await new Promise((resolve) => setTimeout(resolve, wait + 5))
    t.equal((await send(log, 'r', 'after the wait')).message.seq, 121, 'one more, after the wait it said')
    t.equal((await refusal(send(log, 'r', 'and no more'))).code, 'RATE_LIMITED')
  })

  t.test('without a budget (0) nothing is refused', async (t) => {
    const log = (await make(t, 100, { userRoomMessagesPerMin: 0 })).log
    await Promise.all(Array.from({ length: 50 }, (_, i) => send(log, 'r', `m${i}`)))
    t.equal((await log.latest('r', 100)).length, 50)
  })
}
