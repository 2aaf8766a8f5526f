// Membership and moderation tried as the people in a room and as an attacker: invites, roles,
// removal, bans, mutes, leaving, member lists and the audit trail, on one node and across two on
// Redis, where a removal must have taken the user's sockets out of the room on both nodes
// before the removing call answers.
import { createSigner } from 'fast-jwt'
import t, { type Test } from 'tap'
import {
  api,
  type ClientSocket,
  client,
  collect,
  connect,
  guest,
  next,
  request,
  scrape,
  startApp,
  TEST_SECRET,
  until
} from '../helpers.js'
import { startRedis } from '../redis-server.js'

type Guest = Awaited<ReturnType<typeof guest>>

/** Alice's private room, with Bob let in through an invite. */
async function aliceBobRoom(t: Test, aliceUrl: string, bobUrl: string) {
  const alice = await guest(t, aliceUrl, 'Alice')
  const bob = await guest(t, bobUrl, 'Bob')
  const made = await api(aliceUrl, alice.token, 'POST', '/api/rooms', { kind: 'private', title: 'Team' })
  const room = made.body.room.name as string
  t.equal((await request(alice.socket, 'room:join', { room })).ok, true)
  const invite = await api(aliceUrl, alice.token, 'POST', `/api/rooms/${room}/invites`, { maxUses: 5 })
  t.equal(invite.status, 201, 'the owner invites')
  t.match(invite.body, { code: /^[A-Za-z0-9_-]{22,}$/, expiresAt: Number })
  const added = next(bob.socket, 'room:added')
  const accepted = await api(bobUrl, bob.token, 'POST', `/api/invites/${invite.body.code}`)
  t.equal(accepted.status, 200, 'the invite is accepted')
  t.match(accepted.body.room, { name: room, kind: 'private', title: 'Team' })
  t.match(await added, { room: { name: room, kind: 'private' }, role: 'member' }, "room:added on Bob's socket")
  t.equal((await request(bob.socket, 'room:join', { room })).ok, true, 'Bob, a member now, joins')
  return { alice, bob, room, code: invite.body.code as string }
}

/** A second socket of `who`, on `url`, joined to `room`. */
async function secondSocket(t: Test, url: string, who: Guest, room: string): Promise<ClientSocket> {
  const socket = await connect(client(t, url, who.token))
  t.equal((await request(socket, 'room:join', { room })).ok, true)
  return socket
}

/**
 * After `removed` answered, nothing of the room reaches the removed user's sockets: a member who
 * stayed types and Alice sends a marker; once the witness has it, the removed sockets must
 * have had no message, typing or presence of the room.
 */
async function nothingReaches(t: Test, sender: Guest, witness: Guest, removed: ClientSocket[], room: string) {
  const seen = removed.map((socket) => {
    const got: unknown[] = collect(socket)
    socket.on('typing', (e) => got.push(e))
    socket.on('presence', (e) => got.push(e))
    return got
  })
  const marker = next(witness.socket, 'message', (m) => 'text' in m && m.text === 'after the removal')
  t.equal((await request(witness.socket, 'typing', { room, typing: true })).ok, true)
  t.equal((await request(sender.socket, 'message:send', { room, text: 'after the removal' })).ok, true)
  await marker
  await new Promise((resolve) => setTimeout(resolve, 200))
  for (const got of seen) t.same(got, [], 'nothing of the room reaches a removed socket')
}

t.test('invites: a code of 144 bits, uses counted, expired or unknown codes answer alike', async (t) => {
  const { url } = await startApp(t)
  const { alice, room, code } = await aliceBobRoom(t, url, url)
  const carol = await guest(t, url, 'Carol')
  const again = await api(url, alice.token, 'POST', `/api/invites/${code}`)
  t.equal(again.status, 200, 'a member who opens the link again is answered with the room')
  const once = await api(url, alice.token, 'POST', `/api/rooms/${room}/invites`, { maxUses: 1 })
  t.equal((await api(url, carol.token, 'POST', `/api/invites/${once.body.code}`)).status, 200)
  const dave = await guest(t, url, 'Dave')
  const used = await api(url, dave.token, 'POST', `/api/invites/${once.body.code}`)
  t.equal(used.status, 404, 'a used-up code')
  t.equal(used.body.code, 'NOT_FOUND')
  for (const made of ['AAAAAAAAAAAAAAAAAAAAAAAA', 'short', 'x'.repeat(100), '%7Bhash%7D']) {
    const answer = await api(url, dave.token, 'POST', `/api/invites/${made}`)
    t.same(answer, used, `a made-up code (${made.slice(0, 12)}) answers as a used-up one`)
  }
  t.equal(
    (await request(dave.socket, 'room:join', { room })).error?.code,
    'FORBIDDEN',
    'Dave, whose code did not work, is no member'
  )
  const bad = await api(url, alice.token, 'POST', `/api/rooms/${room}/invites`, { expiresInSeconds: 1 })
  t.equal(bad.status, 400, 'an invite shorter than a minute is refused')
  const byMember = await api(url, carol.token, 'POST', `/api/rooms/${room}/invites`, {})
  t.equal(byMember.status, 403, 'a plain member does not invite')
  const stranger = await api(url, dave.token, 'POST', `/api/rooms/${room}/invites`, {})
  const madeUpRoom = await api(url, dave.token, 'POST', '/api/rooms/p.AAAAAAAAAAAAAAAAAAAAAAAA/invites', {})
  t.same(stranger, madeUpRoom, "a stranger learns nothing from another room's invites")
})

t.test('roles: what an owner, a moderator and a member may do', async (t) => {
  const { url } = await startApp(t)
  const { alice, bob, room } = await aliceBobRoom(t, url, url)
  const carol = await guest(t, url, 'Carol')
  const mallory = await guest(t, url, 'Mallory')
  const put = (who: Guest, userId: string, role: string) =>
    api(url, who.token, 'PUT', `/api/rooms/${room}/members/${userId}`, { role })

  t.equal((await put(bob, carol.user.id, 'member')).status, 403, 'a member adds nobody')
  const bobHears = next(bob.socket, 'room:member')
  const aliceHears = next(alice.socket, 'room:member')
  const strangerHeard: unknown[] = []
  mallory.socket.on('room:member', (e) => strangerHeard.push(e))
  t.equal((await put(alice, bob.user.id, 'moderator')).status, 200, 'the owner makes Bob a moderator')
  const promoted = { room, userId: bob.user.id, role: 'moderator' }
  t.same(await bobHears, promoted, 'Bob hears of his new role')
  t.same(await aliceHears, promoted, 'and the room')
  t.equal((await put(bob, alice.user.id, 'member')).status, 403, "a moderator changes not the owner's role")
  t.equal((await put(bob, mallory.user.id, 'moderator')).status, 403, 'a moderator makes no moderators')
  t.equal((await put(alice, carol.user.id, 'owner')).status, 403, 'a room has one owner')
  const addedCarol = next(carol.socket, 'room:added')
  const added = await put(bob, carol.user.id, 'member')
  t.equal(added.status, 200, 'a moderator adds a member')
  t.match(added.body.member, { id: carol.user.id, role: 'member' })
  t.match(await addedCarol, { room: { name: room }, role: 'member' })
  t.equal((await request(carol.socket, 'room:join', { room })).ok, true, 'Carol, added, joins')

  const list = await api(url, carol.token, 'GET', `/api/rooms/${room}/members`)
  t.match(list.body.members, [
    { id: alice.user.id, name: 'Alice', role: 'owner' },
    { id: bob.user.id, name: 'Bob', role: 'moderator' },
    { id: carol.user.id, role: 'member' }
  ])
  t.ok(
    list.body.members.every((m: { guest?: boolean }) => m.guest === true),
    'guests are marked as guests in the member list'
  )
  const strangers = await api(url, mallory.token, 'GET', `/api/rooms/${room}/members`)
  const madeUp = await api(url, mallory.token, 'GET', '/api/rooms/p.AAAAAAAAAAAAAAAAAAAAAAAA/members')
  t.equal(strangers.status, 403, "a stranger reads no private room's members")
  t.same(strangers, madeUp, 'and cannot tell it from a made-up one')

  t.equal(
    (await api(url, carol.token, 'DELETE', `/api/rooms/${room}/members/${bob.user.id}`)).status,
    403,
    'a member removes nobody'
  )
  t.equal(
    (await api(url, bob.token, 'DELETE', `/api/rooms/${room}/members/${alice.user.id}`)).status,
    403,
    'a moderator removes not the owner'
  )
  t.equal(
    (await api(url, alice.token, 'DELETE', `/api/rooms/${room}/members/${alice.user.id}`)).status,
    403,
    'nobody removes themself (they leave)'
  )
  for (const path of [`bans/${bob.user.id}`, `mutes/${bob.user.id}`]) {
    t.equal((await api(url, carol.token, 'PUT', `/api/rooms/${room}/${path}`, {})).status, 403, `a member: ${path}`)
    t.equal((await api(url, mallory.token, 'PUT', `/api/rooms/${room}/${path}`, {})).status, 403, `a stranger: ${path}`)
  }
  t.equal((await api(url, carol.token, 'GET', `/api/rooms/${room}/audit`)).status, 403, 'a member reads no audit')
  t.same(strangerHeard, [], 'a stranger hears nothing of the room')
  t.equal(
    (await api(url, mallory.token, 'PUT', `/api/rooms/${room}/members/${mallory.user.id}`, { role: 'member' })).status,
    403,
    'a stranger adds themself to nothing'
  )
})

t.test('a removal takes every socket of the user out at once; they may not come back', async (t) => {
  const { url } = await startApp(t)
  const { alice, bob, room } = await aliceBobRoom(t, url, url)
  const tab = await secondSocket(t, url, bob, room)
  const left = next(alice.socket, 'presence', (p) => p.status === 'left' && p.user.id === bob.user.id)
  const told = [next(bob.socket, 'room:removed'), next(tab, 'room:removed')]
  const removed = await api(url, alice.token, 'DELETE', `/api/rooms/${room}/members/${bob.user.id}`)
  t.equal(removed.status, 204)
  t.same(await Promise.all(told), [
    { room, reason: 'removed' },
    { room, reason: 'removed' }
  ])
  await left
  const witness = await guest(t, url, 'Witness')
  await api(url, alice.token, 'PUT', `/api/rooms/${room}/members/${witness.user.id}`, { role: 'member' })
  await request(witness.socket, 'room:join', { room })
  await nothingReaches(t, alice, witness, [bob.socket, tab], room)
  t.equal((await request(bob.socket, 'message:send', { room, text: 'still here?' })).error?.code, 'NOT_IN_ROOM')
  t.equal((await request(bob.socket, 'room:join', { room })).error?.code, 'FORBIDDEN', 'no way back in')
  t.equal((await request(tab, 'room:history', { room })).error?.code, 'NOT_IN_ROOM')
  const mine = await api(url, bob.token, 'GET', '/api/me/rooms')
  t.notOk(JSON.stringify(mine.body).includes(room), "gone from Bob's rooms")
})

t.test('bans with until, in a public room with an owner; unbans', async (t) => {
  const { url } = await startApp(t)
  const alice = await guest(t, url, 'Alice')
  t.equal((await api(url, alice.token, 'POST', '/api/rooms', { kind: 'public', name: 'town' })).status, 201)
  await request(alice.socket, 'room:join', { room: 'town' })
  const eve = await guest(t, url, 'Eve')
  await request(eve.socket, 'room:join', { room: 'town' })
  const told = next(eve.socket, 'room:removed')
  const endsAt = Date.now() + 1500
  const banned = await api(url, alice.token, 'PUT', `/api/rooms/town/bans/${eve.user.id}`, {
    until: endsAt,
    reason: 'spam'
  })
  t.equal(banned.status, 204)
  t.same(await told, { room: 'town', reason: 'banned' })
  t.equal(
    (await request(eve.socket, 'room:join', { room: 'town' })).error?.code,
    'FORBIDDEN',
    'banned from a public room'
  )
  const list = await api(url, eve.token, 'GET', '/api/rooms/town/members')
  t.equal(list.status, 403, "a banned user reads not the public room's members")
  await until(() => Date.now() > endsAt + 50, 5000, 'the ban to end')
  t.equal((await request(eve.socket, 'room:join', { room: 'town' })).ok, true, 'back once the ban ended')
  t.equal((await api(url, alice.token, 'PUT', `/api/rooms/town/bans/${eve.user.id}`, {})).status, 204, 'for good now')
  t.equal((await request(eve.socket, 'room:join', { room: 'town' })).error?.code, 'FORBIDDEN')
  t.equal(
    (await api(url, alice.token, 'PUT', `/api/rooms/town/members/${eve.user.id}`, { role: 'member' })).body.code,
    'CONFLICT',
    'a banned user is not added back before the ban is lifted'
  )
  t.equal((await api(url, alice.token, 'DELETE', `/api/rooms/town/bans/${eve.user.id}`)).status, 204)
  t.equal((await request(eve.socket, 'room:join', { room: 'town' })).ok, true, 'unbanned')
  const past = await api(url, alice.token, 'PUT', `/api/rooms/town/bans/${eve.user.id}`, { until: 1000 })
  t.equal(past.status, 400, 'an until in the past is refused')
  const reason = await api(url, alice.token, 'PUT', `/api/rooms/town/bans/${eve.user.id}`, { reason: 'a\u202Eb' })
  t.equal(reason.status, 400, 'a reason under the text rules')
  const unowned = await guest(t, url, 'Nobody')
  await request(unowned.socket, 'room:join', { room: 'lobby' })
  t.equal(
    (await api(url, unowned.token, 'PUT', `/api/rooms/lobby/bans/${eve.user.id}`, {})).status,
    403,
    'a public room without an owner has no moderators among its members'
  )
})

t.test('mutes: the user stays and reads, sends and typing are refused, on every socket', async (t) => {
  const { url } = await startApp(t)
  const { alice, bob, room } = await aliceBobRoom(t, url, url)
  const muted = await api(url, alice.token, 'PUT', `/api/rooms/${room}/mutes/${bob.user.id}`, {})
  t.equal(muted.status, 204)
  const send = await request(bob.socket, 'message:send', { room, text: 'can I speak?' })
  t.equal(send.error?.code, 'FORBIDDEN', 'a muted user sends nothing')
  t.equal((await request(bob.socket, 'typing', { room, typing: true })).error?.code, 'FORBIDDEN', 'nor types')
  t.equal((await request(bob.socket, 'room:history', { room })).ok, true, 'but reads')
  const later = await secondSocket(t, url, bob, room)
  t.equal(
    (await request(later, 'message:send', { room, text: 'from my phone' })).error?.code,
    'FORBIDDEN',
    'a socket that joins after the mute is muted too'
  )
  t.notOk(
    (await request(alice.socket, 'room:history', { room })).messages.some((m: { text?: string }) =>
      m.text?.includes('speak')
    ),
    'nothing of it was stored'
  )
  t.equal((await api(url, alice.token, 'DELETE', `/api/rooms/${room}/mutes/${bob.user.id}`)).status, 204)
  t.equal((await request(bob.socket, 'message:send', { room, text: 'thanks' })).ok, true, 'unmuted, on every socket')
  t.equal((await request(later, 'message:send', { room, text: 'thanks twice' })).ok, true)
})

t.test('leaving for good; an owner who leaves passes the room on; the audit trail and its metric', async (t) => {
  const { url } = await startApp(t)
  const { alice, bob, room } = await aliceBobRoom(t, url, url)
  const carol = await guest(t, url, 'Carol')
  await api(url, alice.token, 'PUT', `/api/rooms/${room}/members/${carol.user.id}`, { role: 'member' })
  await api(url, alice.token, 'PUT', `/api/rooms/${room}/members/${bob.user.id}`, { role: 'moderator' })
  await api(url, alice.token, 'PUT', `/api/rooms/${room}/mutes/${carol.user.id}`, { until: Date.now() + 60_000 })
  const audit = await api(url, alice.token, 'GET', `/api/rooms/${room}/audit`)
  t.equal(audit.status, 200)
  t.match(
    audit.body.entries.map((e: { action: string }) => e.action),
    ['mute', 'role.changed', 'member.added', 'invite.accepted', 'member.added', 'invite.created', 'room.created'],
    'newest first'
  )
  t.match(audit.body.entries[0], { by: alice.user.id, user: carol.user.id })
  const told = next(alice.socket, 'room:removed')
  t.equal((await api(url, alice.token, 'DELETE', `/api/me/rooms/${room}`)).status, 204, 'the owner leaves')
  t.same(await told, { room, reason: 'left' })
  t.equal((await request(alice.socket, 'room:join', { room })).error?.code, 'FORBIDDEN', 'and is out')
  const bobs = await api(url, bob.token, 'GET', '/api/me/rooms')
  t.match(bobs.body.rooms, [{ name: room, role: 'owner' }], 'the moderator became the owner')
  t.equal((await api(url, bob.token, 'DELETE', `/api/me/rooms/${room}`)).status, 204)
  t.match((await api(url, carol.token, 'GET', '/api/me/rooms')).body.rooms, [{ name: room, role: 'owner' }])
  t.equal((await api(url, carol.token, 'DELETE', `/api/me/rooms/${room}`)).status, 204, 'the last one leaves')
  t.equal((await api(url, carol.token, 'DELETE', `/api/me/rooms/${room}`)).status, 204, 'leaving twice is no error')
  const metrics = await scrape(url)
  t.ok((metrics.get('chat_moderation_actions_total{action="member.left"}') ?? 0) >= 3, 'counted by action')
  t.ok((metrics.get('chat_moderation_actions_total{action="mute"}') ?? 0) >= 1)
})

t.test(
  'across two nodes on Redis: removals, bans and mutes reach the sockets on both before the call answers',
  async (t) => {
    const redis = await startRedis(t)
    if (redis === undefined) return
    const env = { REDIS_URL: redis.url }
    const [a, b] = [await startApp(t, env), await startApp(t, env)]
    const { alice, bob, room } = await aliceBobRoom(t, a.url, b.url)
    const bobOnA = await secondSocket(t, a.url, bob, room)
    const witness = await guest(t, b.url, 'Witness')
    await api(a.url, alice.token, 'PUT', `/api/rooms/${room}/members/${witness.user.id}`, { role: 'member' })
    await request(witness.socket, 'room:join', { room })

    t.equal((await api(a.url, alice.token, 'PUT', `/api/rooms/${room}/mutes/${bob.user.id}`, {})).status, 204)
    t.equal(
      (await request(bob.socket, 'message:send', { room, text: 'muted on b' })).error?.code,
      'FORBIDDEN',
      'muted on the other node as soon as the call answered'
    )
    t.equal((await api(b.url, alice.token, 'DELETE', `/api/rooms/${room}/mutes/${bob.user.id}`)).status, 204)
    t.equal((await request(bob.socket, 'message:send', { room, text: 'unmuted' })).ok, true)

    const told = [next(bob.socket, 'room:removed'), next(bobOnA, 'room:removed')]
    t.equal((await api(a.url, alice.token, 'PUT', `/api/rooms/${room}/bans/${bob.user.id}`, {})).status, 204)
    await nothingReaches(t, alice, witness, [bob.socket, bobOnA], room)
    t.same(await Promise.all(told), [
      { room, reason: 'banned' },
      { room, reason: 'banned' }
    ])
    for (const socket of [bob.socket, bobOnA]) {
      t.equal((await request(socket, 'room:join', { room })).error?.code, 'FORBIDDEN', 'banned on both nodes')
    }
    const invite = await api(a.url, alice.token, 'POST', `/api/rooms/${room}/invites`, {})
    t.equal(
      (await api(b.url, bob.token, 'POST', `/api/invites/${invite.body.code}`)).status,
      403,
      'no invite undoes a ban'
    )
    const members = await api(b.url, witness.token, 'GET', `/api/rooms/${room}/members`)
    t.notOk(JSON.stringify(members.body).includes(bob.user.id), 'gone from the member list')
  }
)

t.test('a token moderator moderates every public room, and reads no private one', async (t) => {
  const { url } = await startApp(t)
  const sign = createSigner({ key: TEST_SECRET, algorithm: 'HS256', expiresIn: 3600_000 })
  const modToken = sign({ sub: 'staff-1', name: 'Staff', roles: ['moderator'] })
  const mod = await connect(client(t, url, modToken))
  const eve = await guest(t, url, 'Eve')
  await request(eve.socket, 'room:join', { room: 'lobby' })
  const spam = (await request(eve.socket, 'message:send', { room: 'lobby', text: 'buy now' })).message
  t.equal((await request(mod, 'room:join', { room: 'lobby' })).ok, true)
  t.same(await request(mod, 'message:delete', { room: 'lobby', id: spam.id }), { ok: true }, "deletes anyone's message")
  t.equal((await api(url, modToken, 'PUT', `/api/rooms/lobby/mutes/${eve.user.id}`, {})).status, 204, 'mutes')
  t.equal(
    (await api(url, modToken, 'PUT', `/api/rooms/quiet-room/bans/${eve.user.id}`, {})).status,
    204,
    'bans, member or not'
  )
  t.equal((await request(eve.socket, 'room:join', { room: 'quiet-room' })).error?.code, 'FORBIDDEN')

  const alice = await guest(t, url, 'Alice')
  const room = (await api(url, alice.token, 'POST', '/api/rooms', { kind: 'private', title: 'Ours' })).body.room.name
  t.equal((await request(mod, 'room:join', { room })).error?.code, 'FORBIDDEN', 'a private room stays its members’')
  t.equal((await api(url, modToken, 'GET', `/api/rooms/${room}/members`)).status, 403)
  t.equal((await api(url, modToken, 'PUT', `/api/rooms/${room}/bans/${alice.user.id}`, {})).status, 403)
})
