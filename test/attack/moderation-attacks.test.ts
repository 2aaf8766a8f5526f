// Attacks on membership and moderation found by a security review (each failed before its fix):
// lifting one's own mute, lifting a mute one may not set, users with long ids beyond moderation,
// a block escaped by the blocker leaving, and a removed moderator's invite.
import { createSigner } from 'fast-jwt'
import t, { type Test } from 'tap'
import { api, client, connect, guest, request, startApp, TEST_SECRET } from '../helpers.js'

/** Alice's private room with Bob added as a member (both joined). */
async function aliceRoom(t: Test, url: string) {
  const alice = await guest(t, url, 'Alice')
  const bob = await guest(t, url, 'Bob')
  const made = await api(url, alice.token, 'POST', '/api/rooms', { kind: 'private', title: 'Team' })
  const room = made.body.room.name as string
  t.equal((await request(alice.socket, 'room:join', { room })).ok, true)
  t.equal(
    (await api(url, alice.token, 'PUT', `/api/rooms/${room}/members/${bob.user.id}`, { role: 'member' })).status,
    200
  )
  t.equal((await request(bob.socket, 'room:join', { room })).ok, true)
  return { alice, bob, room }
}

t.test('a moderator muted by the owner cannot lift their own mute', async (t) => {
  const { url } = await startApp(t)
  const { alice, bob, room } = await aliceRoom(t, url)
  await api(url, alice.token, 'PUT', `/api/rooms/${room}/members/${bob.user.id}`, { role: 'moderator' })
  t.equal((await api(url, alice.token, 'PUT', `/api/rooms/${room}/mutes/${bob.user.id}`, {})).status, 204)
  t.equal((await request(bob.socket, 'message:send', { room, text: 'x' })).error?.code, 'FORBIDDEN', 'muted')
  const lifted = await api(url, bob.token, 'DELETE', `/api/rooms/${room}/mutes/${bob.user.id}`)
  t.equal(lifted.status, 403, 'nobody lifts their own mute')
  t.equal((await request(bob.socket, 'message:send', { room, text: 'I unmuted myself' })).error?.code, 'FORBIDDEN')
})

t.test('a moderator lifts no mute or ban they may not set, nor one the owner set', async (t) => {
  const { url } = await startApp(t)
  const { alice, bob, room } = await aliceRoom(t, url)
  const carol = await guest(t, url, 'Carol')
  const dave = await guest(t, url, 'Dave')
  for (const who of [bob, carol]) {
    await api(url, alice.token, 'PUT', `/api/rooms/${room}/members/${who.user.id}`, { role: 'moderator' })
  }
  t.equal((await api(url, alice.token, 'PUT', `/api/rooms/${room}/mutes/${carol.user.id}`, {})).status, 204)
  t.equal((await api(url, bob.token, 'PUT', `/api/rooms/${room}/mutes/${carol.user.id}`, {})).status, 403)
  t.equal(
    (await api(url, bob.token, 'DELETE', `/api/rooms/${room}/mutes/${carol.user.id}`)).status,
    403,
    'nor lifts a mute on another moderator'
  )
  t.equal((await api(url, alice.token, 'PUT', `/api/rooms/${room}/bans/${dave.user.id}`, {})).status, 204)
  t.equal(
    (await api(url, bob.token, 'DELETE', `/api/rooms/${room}/bans/${dave.user.id}`)).status,
    403,
    "nor lifts the owner's ban"
  )
  t.equal((await api(url, bob.token, 'PUT', `/api/rooms/${room}/bans/${dave.user.id}`, {})).status, 204, 'his own')
  t.equal((await api(url, bob.token, 'DELETE', `/api/rooms/${room}/bans/${dave.user.id}`)).status, 204, 'he lifts')
})

t.test('a user whose id is as long as a token allows can be banned, muted and removed', async (t) => {
  const { url } = await startApp(t)
  const alice = await guest(t, url, 'Alice')
  t.equal((await api(url, alice.token, 'POST', '/api/rooms', { kind: 'public', name: 'town' })).status, 201)
  const sign = createSigner({ key: TEST_SECRET, algorithm: 'HS256', expiresIn: 3600_000 })
  const longId = `u-${'x'.repeat(254)}`
  const spammer = await connect(client(t, url, sign({ sub: longId, name: 'Spammer' })))
  t.equal((await request(spammer, 'room:join', { room: 'town' })).ok, true)
  for (const [method, path, body] of [
    ['PUT', `mutes/${longId}`, {}],
    ['PUT', `bans/${longId}`, {}],
    ['DELETE', `members/${longId}`, undefined]
  ] as const) {
    const answer = await api(url, alice.token, method, `/api/rooms/town/${path}`, body)
    t.equal(answer.status, 204, `${method} ${path.split('/')[0]} of a member with a 256-character id`)
  }
  t.equal((await request(spammer, 'message:send', { room: 'town', text: 'spam' })).error?.code, 'NOT_IN_ROOM')
  const tooLong = await api(url, alice.token, 'POST', `/api/invites/${'c'.repeat(2000)}`)
  t.equal(tooLong.status, 404, 'a code longer than any is simply unknown')
  t.equal(tooLong.body.code, 'NOT_FOUND')
})

t.test('a block holds after the blocker left the direct room', async (t) => {
  const { url } = await startApp(t)
  const alice = await guest(t, url, 'Alice')
  const bob = await guest(t, url, 'Bob')
  const room = (await api(url, bob.token, 'POST', '/api/direct', { userId: alice.user.id })).body.room.name as string
  t.equal((await api(url, alice.token, 'PUT', `/api/me/blocks/${bob.user.id}`)).status, 204, 'Alice blocks Bob')
  t.equal((await api(url, alice.token, 'DELETE', `/api/me/rooms/${room}`)).status, 204, 'Alice leaves the room')
  const tab = await connect(client(t, url, bob.token))
  t.equal((await request(tab, 'room:join', { room })).ok, true, 'Bob, still a member, joins on a new tab')
  const sent = await request(tab, 'message:send', { room, text: 'you cannot get rid of me' })
  t.equal(sent.error?.code, 'FORBIDDEN', 'a blocked user sends nothing into the room the two share')
  await api(url, alice.token, 'POST', '/api/direct', { userId: bob.user.id })
  const joined = await request(alice.socket, 'room:join', { room })
  t.notOk(
    joined.messages?.some((m: { text?: string }) => m.text === 'you cannot get rid of me'),
    'nothing written while blocked reaches the blocker'
  )
})

t.test("a removed moderator's invites stop working; the owner revokes invites", async (t) => {
  const { url } = await startApp(t)
  const { alice, bob, room } = await aliceRoom(t, url)
  await api(url, alice.token, 'PUT', `/api/rooms/${room}/members/${bob.user.id}`, { role: 'moderator' })
  const invite = await api(url, bob.token, 'POST', `/api/rooms/${room}/invites`, { expiresInSeconds: 30 * 24 * 3600 })
  t.equal(invite.status, 201)
  t.equal((await api(url, alice.token, 'DELETE', `/api/rooms/${room}/members/${bob.user.id}`)).status, 204)
  t.equal((await api(url, bob.token, 'POST', `/api/invites/${invite.body.code}`)).status, 404, 'his link is dead')
  t.equal((await request(bob.socket, 'room:join', { room })).error?.code, 'FORBIDDEN', 'Bob stays out')

  const own = await api(url, alice.token, 'POST', `/api/rooms/${room}/invites`, {})
  const carol = await guest(t, url, 'Carol')
  const stranger = await api(url, carol.token, 'DELETE', `/api/rooms/${room}/invites/${own.body.code}`)
  t.equal(stranger.status, 403, 'a stranger revokes nothing')
  t.equal((await api(url, alice.token, 'DELETE', `/api/rooms/${room}/invites/${own.body.code}`)).status, 204)
  t.equal((await api(url, carol.token, 'POST', `/api/invites/${own.body.code}`)).status, 404, 'revoked')
})
