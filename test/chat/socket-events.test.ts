import t from 'tap'
import { client, collect, connect, guest, next, request, scrape, signIn, startApp, until } from '../helpers.js'

const MAX = 2000

t.test('a message goes to every member, the sender included, with gap-free seq', async (t) => {
  const { url } = await startApp(t)
  const alice = await guest(t, url, 'Alice')
  const bob = await guest(t, url, 'Bob')
  const joined = await request(alice.socket, 'room:join', { room: 'general' })
  t.same(joined, { ok: true, room: 'general', members: [alice.user], messages: [], recovered: true })
  const presence = next(alice.socket, 'presence')
  await request(bob.socket, 'room:join', { room: 'general' })
  t.same(await presence, { room: 'general', user: bob.user, status: 'joined' })

  const atBob = next(bob.socket, 'message')
  const atAlice = next(alice.socket, 'message')
  const sent = await request(alice.socket, 'message:send', { room: 'general', text: '  hello <b>world</b>  ' })
  t.equal(sent.ok, true)
  t.match(sent.message, { room: 'general', seq: 1, user: alice.user, text: '  hello <b>world</b>  ' })
  t.type(sent.message.id, 'string')
  t.ok(Math.abs(sent.message.ts - Date.now()) < 60_000, 'ts is the server clock in ms')
  t.same(await atBob, sent.message)
  t.same(await atAlice, sent.message)
  const second = await request(bob.socket, 'message:send', { room: 'general', text: 'hi', clientId: 'b-1' })
  t.equal(second.message.seq, 2)
  t.equal(second.message.clientId, 'b-1')
})

t.test('room:join returns the latest 50, or everything after since', async (t) => {
  const { url } = await startApp(t, { HISTORY_LIMIT: '60', MESSAGE_RATE_PER_SEC: '0' })
  const alice = await guest(t, url, 'Alice')
  await request(alice.socket, 'room:join', { room: 'r1' })
  for (let i = 1; i <= 70; i++) await request(alice.socket, 'message:send', { room: 'r1', text: `m${i}` })
  const bob = await guest(t, url, 'Bob')
  const latest = await request(bob.socket, 'room:join', { room: 'r1' })
  t.same(
    latest.messages.map((m: any) => m.seq),
    Array.from({ length: 50 }, (_, i) => 21 + i)
  )
  t.equal(latest.recovered, true)

  const recent = await request(bob.socket, 'room:join', { room: 'r1', since: 65 })
  t.same(
    recent.messages.map((m: any) => m.seq),
    [66, 67, 68, 69, 70]
  )
  t.equal(recent.recovered, true, 'nothing after 65 was trimmed')
  t.same(recent.members.map((m: any) => m.name).sort(), ['Alice', 'Bob'], 'joining twice is harmless')

  const kept = await request(bob.socket, 'room:join', { room: 'r1', since: 10 })
  t.equal(kept.recovered, true, 'seq 11 to 70 are all still kept (60 of 70)')
  t.same(
    kept.messages.map((m: any) => m.seq),
    Array.from({ length: 60 }, (_, i) => 11 + i)
  )
  const trimmed = await request(bob.socket, 'room:join', { room: 'r1', since: 9 })
  t.equal(trimmed.recovered, false, 'seq 10 was trimmed')
  t.same(
    trimmed.messages.map((m: any) => m.seq),
    Array.from({ length: 60 }, (_, i) => 11 + i)
  )

  const current = await request(bob.socket, 'room:join', { room: 'r1', since: 70 })
  t.same([current.messages, current.recovered], [[], true])
  const future = await request(bob.socket, 'room:join', { room: 'r1', since: 500 })
  t.equal(future.recovered, false, 'a since the room never reached means the client must start over')
  t.equal(future.messages.at(-1).seq, 70)
})

t.test(
  'an answer carries about 1 MiB of messages at most: a catch-up that does not fit says so, pages go on from where they stop',
  async (t) => {
    // 200 messages of 2,000 lone surrogates: 12 KB each as JSON, 2.4 MB in all.
    const { url } = await startApp(t, { MESSAGE_RATE_PER_SEC: '0', ROOM_RATE_PER_SEC: '0' })
    const mallory = await guest(t, url, 'Mallory')
    await request(mallory.socket, 'room:join', { room: 'big' })
    const text = '\ud800'.repeat(MAX)
    for (let i = 0; i < 200; i++) await request(mallory.socket, 'message:send', { room: 'big', text })
    const bytes = (messages: unknown[]) => Buffer.byteLength(JSON.stringify(messages))
    const seqs = (messages: Array<{ seq: number }>) => messages.map((m) => m.seq)

    const reader = await guest(t, url, 'Reader')
    const caughtUp = await request(reader.socket, 'room:join', { room: 'big', since: 0 })
    t.equal(caughtUp.recovered, false, 'not the whole catch-up: the client is told')
    t.ok(bytes(caughtUp.messages) <= 1024 * 1024, `within the budget (${bytes(caughtUp.messages)} bytes)`)
    t.ok(caughtUp.messages.length >= 80, `and as much as fits (${caughtUp.messages.length} messages)`)
    t.equal(caughtUp.messages.at(-1).seq, 200, 'the newest kept')
    t.equal(
      (await request(reader.socket, 'room:join', { room: 'big', since: 150 })).recovered,
      true,
      'a catch-up that fits is whole'
    )
    // Ten at once are answered in turn, each as it would be alone.
    const many = await Promise.all(
      Array.from({ length: 10 }, () => request(reader.socket, 'room:join', { room: 'big', since: 0 }))
    )
    t.same(
      many.map((answer) => answer.messages.length),
      many.map(() => caughtUp.messages.length),
      'ten catch-ups at once: each as big as one alone'
    )

    // A join waiting its turn behind two big answers, whose room is left meanwhile, does not join.
    const waiting = Promise.all([
      request(reader.socket, 'room:join', { room: 'big', since: 0 }),
      request(reader.socket, 'room:join', { room: 'big', since: 0 }),
      request(reader.socket, 'room:join', { room: 'elsewhere' })
    ])
    const left = request(reader.socket, 'room:leave', { room: 'elsewhere' })
    const [, , late] = await waiting
    await left
    t.match(late, { ok: false, error: { code: 'NOT_IN_ROOM' } }, 'the leave, sent after it, has the last word')
    t.match(
      await request(reader.socket, 'room:history', { room: 'elsewhere' }),
      { ok: false, error: { code: 'NOT_IN_ROOM' } },
      'not in the room'
    )

    // Paging forward from seq 0 gets every message, in pages that stop where they must.
    const all: Array<{ seq: number; text: string }> = []
    for (let after = 0, rounds = 0; after < 200 && rounds < 20; rounds++) {
      const { messages } = await request(reader.socket, 'room:history', { room: 'big', after, limit: 200 })
      t.ok(bytes(messages) <= 1024 * 1024, 'each page within the budget')
      all.push(...messages)
      after = messages.at(-1).seq
    }
    t.same(
      seqs(all),
      Array.from({ length: 200 }, (_, i) => i + 1),
      'every message, once, in order'
    )
    t.ok(
      all.every((m) => m.text === text),
      'exactly as sent'
    )
    const older = await request(reader.socket, 'room:history', { room: 'big', before: 201, limit: 200 })
    t.equal(older.messages.at(-1).seq, 200, 'paging back keeps the newest')
    t.ok(older.messages.length < 200)
  }
)

t.test(
  'a reconnect rejoining many rooms at once gets every catch-up whole, however many answers it takes',
  async (t) => {
    // 20 rooms with 300 missed messages of 200 characters each: about 2 MB of catch-up in all,
    // more than a socket's answers may hold at once, each far below one answer's bound.
    const { url } = await startApp(t, { MESSAGE_RATE_PER_SEC: '0', ROOM_RATE_PER_SEC: '0' })
    const writer = await guest(t, url, 'Writer')
    const rooms = Array.from({ length: 20 }, (_, i) => `r${i}`)
    for (const room of rooms) {
      await request(writer.socket, 'room:join', { room })
      await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          request(writer.socket, 'message:send', { room, text: `${i}`.padEnd(200, '.') })
        )
      )
    }
    const reader = await guest(t, url, 'Reader')
    const answers = await Promise.all(rooms.map((room) => request(reader.socket, 'room:join', { room, since: 0 })))
    t.ok(
      answers.every((answer) => answer.ok && answer.recovered && answer.messages.length === 300),
      'all 20 whole, recovered'
    )
  }
)

t.test('room:history pages in seq order', async (t) => {
  const { url } = await startApp(t, { MESSAGE_RATE_PER_SEC: '0' })
  const alice = await guest(t, url, 'Alice')
  await request(alice.socket, 'room:join', { room: 'h' })
  for (let i = 1; i <= 30; i++) await request(alice.socket, 'message:send', { room: 'h', text: `m${i}` })
  const seqs = async (payload: object) =>
    (await request(alice.socket, 'room:history', { room: 'h', ...payload })).messages.map((m: any) => m.seq)
  t.same(await seqs({ before: 11, limit: 5 }), [6, 7, 8, 9, 10], 'the newest before')
  t.same(await seqs({ after: 25 }), [26, 27, 28, 29, 30])
  t.same(await seqs({ after: 3, limit: 2 }), [4, 5], 'the oldest after')
  t.same(await seqs({ after: 3, before: 7 }), [4, 5, 6])
  t.same(await seqs({ limit: 3 }), [28, 29, 30], 'the newest by default')
  t.equal((await seqs({})).length, 30)
  t.same(await seqs({ before: 1 }), [])
  const other = await request(alice.socket, 'room:history', { room: 'elsewhere' })
  t.same(other, { ok: false, error: { code: 'NOT_IN_ROOM', message: 'Join elsewhere first' } })
})

t.test('sending needs a joined room; leaving stops delivery', async (t) => {
  const { url } = await startApp(t)
  const alice = await guest(t, url, 'Alice')
  const bob = await guest(t, url, 'Bob')
  const denied = await request(alice.socket, 'message:send', { room: 'general', text: 'hi' })
  t.equal(denied.error.code, 'NOT_IN_ROOM')
  await request(alice.socket, 'room:join', { room: 'general' })
  await request(bob.socket, 'room:join', { room: 'general' })
  const left = next(alice.socket, 'presence')
  t.same(await request(bob.socket, 'room:leave', { room: 'general' }), { ok: true })
  t.same(await left, { room: 'general', user: bob.user, status: 'left' })
  t.same(await request(bob.socket, 'room:leave', { room: 'general' }), { ok: true }, 'leaving twice is harmless')
  const atBob = collect(bob.socket)
  const atAlice = next(alice.socket, 'message')
  await request(alice.socket, 'message:send', { room: 'general', text: 'only for alice' })
  await atAlice
  // Written to everyone in one broadcast: had Bob been in it, it would be here before this answer.
  await request(bob.socket, 'room:join', { room: 'other' })
  t.same(atBob, [])
  t.equal((await request(bob.socket, 'message:send', { room: 'general', text: 'x' })).error.code, 'NOT_IN_ROOM')
})

t.test(
  "a room named like another connection's socket id is just a room: that connection gets nothing from it",
  async (t) => {
    const { url } = await startApp(t, { MESSAGE_RATE_PER_SEC: '0' })
    // Socket.IO keeps every socket in a room named by its id; most ids are valid room names.
    let victim = await guest(t, url, 'Victim')
    while (!/^[A-Za-z0-9]/.test(victim.socket.id ?? '')) victim = await guest(t, url, 'Victim')
    const heard: string[] = []
    victim.socket.onAny((event) => heard.push(event))
    const mallory = await guest(t, url, 'Mallory')
    const room = victim.socket.id!
    t.ok((await request(mallory.socket, 'room:join', { room })).ok)
    t.ok((await request(mallory.socket, 'typing', { room, typing: true })).ok)
    t.ok((await request(mallory.socket, 'message:send', { room, text: 'for your eyes only' })).ok)
    // Bob's join is answered after everything above went out: a stray packet would be here by then.
    const bob = await guest(t, url, 'Bob')
    await request(bob.socket, 'room:join', { room })
    await request(victim.socket, 'room:join', { room: 'own' })
    t.same(heard, [], 'no presence, typing or message reached the connection named like the room')
  }
)

t.test('two senders racing keep seq gap-free and every member sees the same order', async (t) => {
  const { url } = await startApp(t, { MESSAGE_RATE_PER_SEC: '0' })
  const senders = [await guest(t, url, 'A'), await guest(t, url, 'B')]
  const watcher = await guest(t, url, 'W')
  for (const s of [...senders, watcher]) await request(s.socket, 'room:join', { room: 'race' })
  const seen = collect(watcher.socket)
  const N = 200
  const acks = await Promise.all(
    senders.flatMap((s, k) =>
      Array.from({ length: N }, (_, i) => request(s.socket, 'message:send', { room: 'race', text: `${k}-${i}` }))
    )
  )
  const seqs = acks.map((a) => a.message.seq).sort((a, b) => a - b)
  t.same(
    seqs,
    Array.from({ length: 2 * N }, (_, i) => i + 1),
    'acknowledged seqs are 1..400 exactly'
  )
  await until(() => seen.length === 2 * N, 5000, 'all deliveries')
  t.same(
    seen.map((m) => m.seq),
    Array.from({ length: 2 * N }, (_, i) => i + 1),
    'delivered once each, in order'
  )
})

t.test('a retried clientId returns the first message and broadcasts once', async (t) => {
  const { url } = await startApp(t)
  const alice = await guest(t, url, 'Alice')
  const bob = await guest(t, url, 'Bob')
  await request(alice.socket, 'room:join', { room: 'general' })
  await request(bob.socket, 'room:join', { room: 'general' })
  const atBob = collect(bob.socket)
  const first = await request(alice.socket, 'message:send', { room: 'general', text: 'once', clientId: 'c-1' })
  const retry = await request(alice.socket, 'message:send', { room: 'general', text: 'once', clientId: 'c-1' })
  t.same(retry, first, 'the retry is answered with the first message')
  const otherUser = await request(bob.socket, 'message:send', { room: 'general', text: 'mine', clientId: 'c-1' })
  t.equal(otherUser.message.seq, 2, "another user's clientId is their own")
  // A second tab of the same user retrying after a reconnect is still a retry.
  const tab = await connect(client(t, url, alice.token))
  await request(tab, 'room:join', { room: 'general' })
  const fromTab = await request(tab, 'message:send', { room: 'general', text: 'once', clientId: 'c-1' })
  t.same(fromTab, first)
  // Deliveries keep seq order: once a later message arrives, a duplicate would already be here.
  await request(bob.socket, 'message:send', { room: 'general', text: 'marker' })
  await until(() => atBob.some((m) => m.seq === 3), 5000, 'the marker')
  t.same(
    atBob.map((m) => m.seq),
    [1, 2, 3],
    'one broadcast per stored message'
  )
})

t.test('presence counts a user once across tabs; typing goes to the others', async (t) => {
  const { url } = await startApp(t)
  const alice = await guest(t, url, 'Alice')
  const tab2 = await connect(client(t, url, alice.token))
  const bob = await guest(t, url, 'Bob')
  await request(bob.socket, 'room:join', { room: 'p' })
  const presence: any[] = []
  bob.socket.on('presence', (p) => presence.push(p))
  await request(alice.socket, 'room:join', { room: 'p' })
  const both = await request(tab2, 'room:join', { room: 'p' })
  t.equal(both.members.length, 2, 'Alice is one member with two tabs')
  const { rooms } = (await (
    await fetch(`${url}/api/rooms`, { headers: { authorization: `Bearer ${bob.token}` } })
  ).json()) as any
  t.same(rooms, [{ name: 'p', members: 2 }])

  const typingEvents: any[] = []
  tab2.on('typing', (e) => typingEvents.push(e))
  const atBob: boolean[] = []
  bob.socket.on('typing', (e) => atBob.push(e.typing))
  const typing = next(bob.socket, 'typing')
  t.same(await request(alice.socket, 'typing', { room: 'p', typing: true }), { ok: true })
  t.same(await typing, { room: 'p', user: alice.user, typing: true })

  await request(alice.socket, 'room:leave', { room: 'p' })
  alice.socket.disconnect()
  const left = next(bob.socket, 'presence')
  tab2.disconnect()
  t.same(await left, { room: 'p', user: alice.user, status: 'left' })
  t.same(
    presence,
    [
      { room: 'p', user: alice.user, status: 'joined' },
      { room: 'p', user: alice.user, status: 'left' }
    ],
    'one joined and one left for two tabs'
  )
  t.same(typingEvents, [], "typing is not echoed to the typist's own tabs")
  t.same(atBob, [true, false], 'leaving while typing says it stopped; closing the tabs after says nothing more')
})

t.test(
  'a tab that closes or leaves while typing tells the room its user stopped, unless another tab types on',
  async (t) => {
    const { url } = await startApp(t)
    const alice = await guest(t, url, 'Alice')
    const tab2 = await connect(client(t, url, alice.token))
    const tab3 = await connect(client(t, url, alice.token))
    const bob = await guest(t, url, 'Bob')
    for (const socket of [bob.socket, alice.socket, tab2, tab3]) await request(socket, 'room:join', { room: 'p' })
    const seen: string[] = []
    bob.socket.on('typing', (e) => seen.push(`${e.user.name} ${e.typing}`))
    bob.socket.on('presence', (e) => seen.push(`${e.user.name} ${e.status}`))
    /** Everything Bob saw until the marker message, which one of Alice's tabs sends after all before it. */
    const upToMarker = async (text: string, from = tab2) => {
      const marker = next(bob.socket, 'message', (m) => 'text' in m && m.text === text)
      await request(from, 'message:send', { room: 'p', text })
      await marker
      return seen.splice(0)
    }

    await request(alice.socket, 'typing', { room: 'p', typing: true })
    alice.socket.disconnect()
    await until(() => seen.length === 2, 5000, 'typing at Bob')
    t.same(
      await upToMarker('1'),
      ['Alice true', 'Alice false'],
      'a closed tab stops showing typing; Alice is still in the room'
    )

    await request(tab2, 'typing', { room: 'p', typing: true })
    await request(tab3, 'typing', { room: 'p', typing: true })
    await request(tab3, 'room:leave', { room: 'p' })
    t.same(await upToMarker('2'), ['Alice true', 'Alice true'], 'another tab still typing keeps Alice typing')

    await request(tab3, 'room:join', { room: 'p' })
    await request(tab3, 'typing', { room: 'p', typing: false })
    await request(tab2, 'room:leave', { room: 'p' })
    t.same(
      await upToMarker('3', tab3),
      ['Alice false', 'Alice false'],
      "tab 2's leave ends the typing once no other tab types"
    )
  }
)

t.test('the rate limit answers RATE_LIMITED and leaves other users alone', async (t) => {
  const { url } = await startApp(t, { MESSAGE_RATE_PER_SEC: '1', MESSAGE_BURST: '3' })
  const alice = await guest(t, url, 'Alice')
  const bob = await guest(t, url, 'Bob')
  await request(alice.socket, 'room:join', { room: 'r' })
  await request(bob.socket, 'room:join', { room: 'r' })
  const answers = []
  for (let i = 0; i < 5; i++) answers.push(await request(alice.socket, 'message:send', { room: 'r', text: `a${i}` }))
  t.same(
    answers.map((a) => a.ok),
    [true, true, true, false, false]
  )
  t.equal(answers[3].error.code, 'RATE_LIMITED')
  t.ok(answers[3].error.retryAfterMs > 0 && answers[3].error.retryAfterMs <= 1000, 'retryAfterMs says when')
  t.equal((await request(alice.socket, 'typing', { room: 'r', typing: true })).error.code, 'RATE_LIMITED')
  const fromBob = await request(bob.socket, 'message:send', { room: 'r', text: 'bob is fine' })
  t.equal(fromBob.ok, true)
  t.equal(fromBob.message.seq, 4, 'refused messages took no seq')
  const history = await request(alice.socket, 'room:history', { room: 'r' })
  t.equal(history.ok, true, 'history has a limit of its own')
  const carol = await guest(t, url, 'Carol')
  const malformed = []
  for (let i = 0; i < 5; i++) malformed.push((await request(carol.socket, 'message:send', { text: 5 })).error.code)
  t.same(
    malformed,
    ['INVALID_PAYLOAD', 'INVALID_PAYLOAD', 'INVALID_PAYLOAD', 'RATE_LIMITED', 'RATE_LIMITED'],
    'malformed events spend tokens too'
  )
})

t.test('joins and history pages have a rate limit of their own; leaving has none', async (t) => {
  const { url } = await startApp(t, { ROOM_RATE_PER_SEC: '2', ROOM_BURST: '4' })
  const alice = await guest(t, url, 'Alice')
  const bob = await guest(t, url, 'Bob')
  await request(bob.socket, 'room:join', { room: 'r' })
  const presence: string[] = []
  bob.socket.on('presence', (e) => presence.push(e.status))
  // Joining and leaving over and over would broadcast presence to the whole room each time.
  const answers: any[] = []
  for (let i = 0; i < 5; i++) {
    answers.push(await request(alice.socket, 'room:join', { room: 'r' }))
    answers.push(await request(alice.socket, 'room:leave', { room: 'r' }))
  }
  t.same(
    answers.map((a) => a.ok),
    [true, true, true, true, true, true, true, true, false, true],
    'the fifth join is refused, no leave is'
  )
  const refused = answers[8].error
  t.equal(refused.code, 'RATE_LIMITED')
  t.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= 500, 'retryAfterMs says when')
  t.equal(
    (await request(alice.socket, 'room:history', { room: 'r' })).error.code,
    'RATE_LIMITED',
    'history shares the bucket'
  )
  t.equal((await request(bob.socket, 'room:history', { room: 'r' })).ok, true, 'other users are left alone')
  t.equal(
    (await request(bob.socket, 'message:send', { room: 'r', text: 'hi' })).ok,
    true,
    'sending is limited separately'
  )
  await new Promise((resolve) => setTimeout(resolve, refused.retryAfterMs + 20))
  t.equal((await request(alice.socket, 'room:join', { room: 'r' })).ok, true, 'after retryAfterMs a join goes through')
  await until(() => presence.length === 9, 5000, 'presence events')
  t.same(
    presence,
    [...Array(4).fill(['joined', 'left']).flat(), 'joined'],
    'none for the refused join (nor the leave after it)'
  )
})

t.test('ROOM_RATE_PER_SEC=0 turns the room limit off', async (t) => {
  const { url } = await startApp(t, { ROOM_RATE_PER_SEC: '0', ROOM_BURST: '1' })
  const alice = await guest(t, url, 'Alice')
  const answers = await Promise.all(
    Array.from({ length: 30 }, (_, i) => request(alice.socket, 'room:join', { room: `r${i}` }))
  )
  t.ok(
    answers.every((a) => a.ok),
    '30 joins at once'
  )
})

t.test('a rate of 0 turns the limit off', async (t) => {
  const { url } = await startApp(t, { MESSAGE_RATE_PER_SEC: '0', MESSAGE_BURST: '1' })
  const alice = await guest(t, url, 'Alice')
  await request(alice.socket, 'room:join', { room: 'r' })
  const answers = await Promise.all(
    Array.from({ length: 50 }, (_, i) => request(alice.socket, 'message:send', { room: 'r', text: `${i}` }))
  )
  t.ok(answers.every((a) => a.ok))
})

const room = 'general'
const badPayloads: Record<string, Array<[string, unknown]>> = {
  'room:join': [
    ['no payload', undefined],
    ['null', null],
    ['an array', [room]],
    ['a string', room],
    ['missing room', {}],
    ['room of wrong type', { room: 42 }],
    ['empty room', { room: '' }],
    ['room with a space', { room: 'a b' }],
    ['room starting with a dot', { room: '.hidden' }],
    ['room with a colon', { room: 'user:x' }],
    ['room of 65 characters', { room: 'a'.repeat(65) }],
    ['since negative', { room, since: -1 }],
    ['since fractional', { room, since: 1.5 }],
    ['since a string', { room, since: '3' }],
    ['an unknown key', { room, extra: true }],
    ['a __proto__ key', JSON.parse('{"room":"general","__proto__":{"isAdmin":true}}')]
  ],
  'room:leave': [
    ['null', null],
    ['missing room', {}],
    ['bad room', { room: 'no/slash' }],
    ['a __proto__ key', JSON.parse('{"room":"general","__proto__":{}}')]
  ],
  'message:send': [
    ['no payload', undefined],
    ['null', null],
    ['an array', [room, 'hi']],
    ['missing text', { room }],
    ['missing room', { text: 'hi' }],
    ['text of wrong type', { room, text: 5 }],
    ['text an object', { room, text: { toString: 'x' } }],
    ['empty text', { room, text: '' }],
    ['white-space text', { room, text: ' \n\t\u00a0 ' }],
    ['Unicode white space only (NEL, ideographic space)', { room, text: '\u0085\u3000\u2028' }],
    ['text one over the limit', { room, text: 'x'.repeat(MAX + 1) }],
    ['emoji one over the limit', { room, text: '😀'.repeat(MAX + 1) }],
    ['bad room', { room: '-bad', text: 'hi' }],
    ['clientId empty', { room, text: 'hi', clientId: '' }],
    ['clientId too long', { room, text: 'hi', clientId: 'c'.repeat(65) }],
    ['clientId with a space', { room, text: 'hi', clientId: 'a b' }],
    ['clientId a number', { room, text: 'hi', clientId: 7 }],
    ['an unknown key', { room, text: 'hi', admin: true }],
    ['a __proto__ key', JSON.parse('{"room":"general","text":"hi","__proto__":{"x":1}}')]
  ],
  'room:history': [
    ['null', null],
    ['limit 0', { room, limit: 0 }],
    ['limit 201', { room, limit: 201 }],
    ['limit a string', { room, limit: '5' }],
    ['before negative', { room, before: -5 }],
    ['after fractional', { room, after: 0.5 }],
    ['bad room', { room: '' }],
    ['a __proto__ key', JSON.parse('{"room":"general","__proto__":{}}')]
  ],
  typing: [
    ['null', null],
    ['typing missing', { room }],
    ['typing a string', { room, typing: 'yes' }],
    ['bad room', { room: 'a'.repeat(100), typing: true }],
    ['an unknown key', { room, typing: true, x: 1 }]
  ]
}

t.test('every event refuses bad payloads with INVALID_PAYLOAD and stores nothing', async (t) => {
  const { url } = await startApp(t, { MESSAGE_RATE_PER_SEC: '0' })
  const alice = await guest(t, url, 'Alice')
  await request(alice.socket, 'room:join', { room })
  for (const [event, cases] of Object.entries(badPayloads)) {
    for (const [name, payload] of cases) {
      const answer = await request(alice.socket, event as any, payload)
      t.equal(answer.ok, false, `${event}: ${name}`)
      t.equal(answer.error?.code, 'INVALID_PAYLOAD', `${event}: ${name} → INVALID_PAYLOAD`)
      t.type(answer.error?.message, 'string')
    }
  }
  const exact = await request(alice.socket, 'message:send', { room, text: '😀'.repeat(MAX) })
  t.equal(exact.ok, true, 'exactly the limit, counted in characters, is accepted')
  t.equal(exact.message.seq, 1, 'none of the bad sends took a seq')
  t.same(await request(alice.socket, 'room:history', { room, limit: 200 }), { ok: true, messages: [exact.message] })
  t.equal(Object.hasOwn({}, 'isAdmin'), false, 'no prototype was polluted')
})

t.test('an event without a callback is handled, and its error comes back as chat:error', async (t) => {
  const { url } = await startApp(t)
  const alice = await guest(t, url, 'Alice')
  const error = next(alice.socket, 'chat:error')
  alice.socket.emit('message:send', { room, text: 'not joined' })
  t.same(await error, { event: 'message:send', code: 'NOT_IN_ROOM', message: `Join ${room} first` })
  const invalid = next(alice.socket, 'chat:error')
  ;(alice.socket as any).emit('room:join')
  t.match(await invalid, { event: 'room:join', code: 'INVALID_PAYLOAD' })
  const mine = next(alice.socket, 'message')
  alice.socket.emit('room:join', { room })
  // The join is handled although nobody waits for its answer: a send after it is accepted.
  const sent = await request(alice.socket, 'message:send', { room, text: 'joined without a callback' })
  t.equal(sent.ok, true)
  t.same(await mine, sent.message)
})

t.test('unknown events are ignored and the connection keeps working', async (t) => {
  const { url } = await startApp(t)
  const alice = await guest(t, url, 'Alice')
  const errors: unknown[] = []
  alice.socket.on('chat:error', (e) => errors.push(e))
  ;(alice.socket as any).emit('admin:delete-everything', { all: true })
  ;(alice.socket as any).emit('__proto__', {})
  ;(alice.socket as any).emit('constructor', {})
  const joined = await request(alice.socket, 'room:join', { room })
  t.equal(joined.ok, true)
  t.same(errors, [])
})

t.test('an unknown event with a callback is answered UNKNOWN_EVENT, and counted', async (t) => {
  const { url } = await startApp(t)
  const alice = await guest(t, url, 'Alice')
  const errors: unknown[] = []
  alice.socket.on('chat:error', (e) => errors.push(e))
  for (const event of ['admin:delete-everything', 'constructor', 'message:sendd']) {
    t.same(
      await request(alice.socket, event as never, { room }),
      { ok: false, error: { code: 'UNKNOWN_EVENT', message: 'No such event' } },
      `${event} is answered`
    )
  }
  const noPayload = await (alice.socket.timeout(5000) as any).emitWithAck('nothing:here')
  t.match(noPayload, { ok: false, error: { code: 'UNKNOWN_EVENT' } }, 'with no payload too')
  t.equal((await request(alice.socket, 'room:join', { room })).ok, true, 'the connection keeps working')
  t.same(errors, [], 'no chat:error besides the answers')
  t.equal((await scrape(url)).get('chat_unknown_events_total'), 4, 'each is counted')
})

t.test('a client of Engine.IO protocol 3 (socket.io-client 2) is refused at the handshake', async (t) => {
  const { url } = await startApp(t)
  for (const query of ['EIO=3&transport=polling', 'transport=polling']) {
    const res = await fetch(`${url}/socket.io/?${query}`)
    t.equal(res.status, 400, query)
    t.same(await res.json(), { code: 5, message: 'Unsupported protocol version' })
  }
  const current = await fetch(`${url}/socket.io/?EIO=4&transport=polling`)
  t.equal(current.status, 200, 'Engine.IO 4 is taken')
  await current.arrayBuffer()
})

t.test('a frame over the size limit drops that connection only', async (t) => {
  const { url, config } = await startApp(t)
  const alice = await guest(t, url, 'Alice')
  const bob = await guest(t, url, 'Bob')
  await request(alice.socket, 'room:join', { room })
  await request(bob.socket, 'room:join', { room })
  const dropped = new Promise((resolve) => alice.socket.once('disconnect', resolve))
  alice.socket.emit('message:send', { room, text: 'x'.repeat(config.maxFrameBytes + 10) })
  t.equal(await dropped, 'transport close')
  const sent = await request(bob.socket, 'message:send', { room, text: 'still here' })
  t.equal(sent.ok, true)
  t.equal(sent.message.seq, 1, 'the huge message was not stored')
  const { token } = await signIn(url, 'Carol')
  t.ok((await connect(client(t, url, token))).connected, 'new connections are still taken')
})

t.test('a connection may join a bounded number of rooms', async (t) => {
  const { url } = await startApp(t)
  const alice = await guest(t, url, 'Alice')
  const answers = []
  for (let i = 0; i < 101; i++) answers.push(await request(alice.socket, 'room:join', { room: `r${i}` }))
  t.ok(answers.slice(0, 100).every((a) => a.ok))
  t.match(answers[100], { ok: false, error: { code: 'INVALID_PAYLOAD' } })
  t.equal((await request(alice.socket, 'room:join', { room: 'r5' })).ok, true, 'rejoining a joined room still works')
})
