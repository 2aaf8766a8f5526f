// Deleting messages over real sockets on one node (memory store), tried as an attacker would:
// who may delete what, what the room sees, and that the text is held nowhere afterwards. The
// per-user send budget of a room, across a user's connections.
import t from 'tap'
import type { MemoryStore } from '../../src/chat/store/memory-store.js'
import { type ClientSocket, client, collect, connect, guest, next, request, startApp } from '../helpers.js'
import { privateRoom, SECRET, strings } from './deletion-setup.js'

const del = (socket: ClientSocket, room: string, id: string) => request(socket, 'message:delete', { room, id })

t.test('deleting on one node: the author and moderators may, nobody else; the text is held nowhere', async (t) => {
  const node = await startApp(t)
  const { room, alice, bob, carol, mallory } = await privateRoom(t, node)
  const seenByBob = collect(bob.socket)
  const secret = (await request(alice.socket, 'message:send', { room, text: SECRET, clientId: 'c-secret' })).message
  const bobs = (await request(bob.socket, 'message:send', { room, text: "Bob's words" })).message
  t.ok(strings(node.app.store).includes(SECRET), 'the search sees into the store: the text is there before')

  t.equal((await del(mallory.socket, room, secret.id)).error?.code, 'NOT_IN_ROOM', 'a stranger: not in the room')
  await request(mallory.socket, 'room:join', { room: 'lobby' })
  t.equal(
    (await del(mallory.socket, 'lobby', secret.id)).error?.code,
    'NOT_FOUND',
    "from a room she is in: not that room's"
  )
  t.equal((await del(bob.socket, room, secret.id)).error?.code, 'FORBIDDEN', "a plain member: not someone else's")
  t.equal((await del(bob.socket, room, 'made-up-id')).error?.code, 'NOT_FOUND', 'a made-up id')
  const before = await request(alice.socket, 'room:history', { room })
  t.same(
    before.messages.map((m: { text: string }) => m.text),
    [SECRET, "Bob's words"],
    'nothing changed by the refusals'
  )

  const arriving = next(bob.socket, 'message', (e) => 'type' in e)
  t.same(await del(carol.socket, room, secret.id), { ok: true }, "a moderator deletes Alice's message")
  const entry = await arriving
  t.match(entry, { room, seq: 3, type: 'deletion', target: secret.id, user: carol.user })
  t.same(await del(bob.socket, room, bobs.id), { ok: true }, 'the author deletes his own')
  t.same(await del(alice.socket, room, secret.id), { ok: true }, 'deleting again answers alike')
  t.equal((await del(alice.socket, room, entry.id)).error?.code, 'NOT_FOUND', 'a deletion entry is no message')

  const history = await request(alice.socket, 'room:history', { room })
  t.match(history.messages, [
    { id: secret.id, seq: 1, text: '', deleted: true },
    { id: bobs.id, seq: 2, text: '', deleted: true },
    { seq: 3, type: 'deletion', target: secret.id },
    { seq: 4, type: 'deletion', target: bobs.id }
  ])
  t.equal(history.messages.length, 4, 'the repeat made no entry')
  const retry = await request(alice.socket, 'message:send', { room, text: SECRET, clientId: 'c-secret' })
  t.same(retry.message, { ...secret, text: '', deleted: true }, 'a retry of its clientId gets the tombstone')
  t.same(
    seenByBob.filter((e) => e.type === 'deletion').map((e) => e.target),
    [secret.id, bobs.id],
    'the room saw both deletions'
  )

  const store = node.app.store as MemoryStore
  const held = strings(store)
  t.notOk(
    held.some((s) => s.includes('1204') || s.includes("Bob's words")),
    "the memory store's log, feed, presence and directory hold neither text"
  )
  t.ok(held.includes(secret.id), 'while the tombstones are there')
  const audit = await store.directory.auditTrail(room, 10)
  t.match(
    audit.filter((a) => a.action === 'message.deleted'),
    [
      { by: bob.user.id, user: bob.user.id, detail: bobs.id },
      { by: carol.user.id, user: alice.user.id, detail: secret.id }
    ],
    'each deletion audited once, newest first: who deleted whose message'
  )
})

t.test("an owner deletes anyone's message; in a direct room each deletes only their own", async (t) => {
  const node = await startApp(t)
  const { room, alice, bob } = await privateRoom(t, node)
  const bobs = (await request(bob.socket, 'message:send', { room, text: 'hello' })).message
  t.same(await del(alice.socket, room, bobs.id), { ok: true }, 'the owner')

  const direct = 'dm.alice-bob-test'
  await node.app.store.directory.createRoom({ name: direct, kind: 'direct', title: '', createdAt: Date.now() })
  for (const who of [alice, bob]) {
    await node.app.store.directory.setMembership({
      room: direct,
      userId: who.user.id,
      role: 'owner',
      since: Date.now()
    })
    t.equal((await request(who.socket, 'room:join', { room: direct })).ok, true)
  }
  const mine = (await request(alice.socket, 'message:send', { room: direct, text: 'between us' })).message
  t.equal((await del(bob.socket, direct, mine.id)).error?.code, 'FORBIDDEN', 'not even an owner, in a direct room')
  t.same(await del(alice.socket, direct, mine.id), { ok: true }, 'the author may')
})

t.test("a user's send budget in a room holds across the user's connections", async (t) => {
  const node = await startApp(t, { USER_ROOM_MESSAGES_PER_MIN: '4', MESSAGE_RATE_PER_SEC: '0' })
  const first = await guest(t, node.url, 'Pusher')
  const second = await guest(t, node.url, 'Other')
  // The same user on a second connection: the same token.
  const tab = await connect(client(t, node.url, first.token))
  for (const s of [first.socket, tab, second.socket]) await request(s, 'room:join', { room: 'general' })
  const sent = []
  for (const s of [first.socket, tab, first.socket, tab]) {
    sent.push(await request(s, 'message:send', { room: 'general', text: 'x', clientId: `c${sent.length}` }))
  }
  t.ok(
    sent.every((a) => a.ok),
    'four, on two connections'
  )
  const refused = await request(tab, 'message:send', { room: 'general', text: 'one more' })
  t.equal(refused.error?.code, 'RATE_LIMITED')
  t.ok(
    refused.error.retryAfterMs > 0 && refused.error.retryAfterMs <= 15_000,
    `retry after ${refused.error.retryAfterMs} ms`
  )
  const retry = await request(first.socket, 'message:send', { room: 'general', text: 'x', clientId: 'c0' })
  t.same(retry.message, sent[0].message, "a retry of a stored message's clientId still answers")
  t.equal((await request(second.socket, 'message:send', { room: 'general', text: 'hi' })).ok, true, 'others talk on')
  const history = await request(second.socket, 'room:history', { room: 'general' })
  t.equal(history.messages.length, 5, 'nothing refused was stored')
})

t.test("the deleter's answer leaves with the deletion entry's packet, not before it", async (t) => {
  const node = await startApp(t, { COALESCE_WINDOW_MS: '50', COALESCE_MIN_SOCKETS: '1' })
  const { room, bob } = await privateRoom(t, node)
  const order: string[] = []
  bob.socket.on('message', (e) => {
    if ('type' in e) order.push('entry')
  })
  bob.socket.on('messages', (list) => {
    for (const e of list) if ('type' in e) order.push('entry')
  })
  for (let i = 0; i < 5; i++) {
    const sent = (await request(bob.socket, 'message:send', { room, text: `line ${i}` })).message
    t.same(await del(bob.socket, room, sent.id), { ok: true })
    order.push('answer')
  }
  t.same(order, ['entry', 'answer', 'entry', 'answer', 'entry', 'answer', 'entry', 'answer', 'entry', 'answer'])
})
