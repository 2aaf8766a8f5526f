// Direct rooms and blocks, tried by the two users and by a third who wants in, on one node and
// across two on Redis.
import t, { type Test } from 'tap'
import { api, client, connect, guest, next, request, startApp } from '../helpers.js'
import { startRedis } from '../redis-server.js'

type Guest = Awaited<ReturnType<typeof guest>>

/** Alice (on `aliceUrl`) and Bob (on `bobUrl`), both seen in a public room, and their direct room. */
async function aliceAndBob(t: Test, aliceUrl: string, bobUrl: string) {
  const alice = await guest(t, aliceUrl, 'Alice')
  const bob = await guest(t, bobUrl, 'Bob')
  await request(bob.socket, 'room:join', { room: 'general' })
  const added = next(bob.socket, 'room:added')
  const opened = await api(aliceUrl, alice.token, 'POST', '/api/direct', { userId: bob.user.id })
  t.equal(opened.status, 200)
  t.match(opened.body.room, { name: /^dm\.[A-Za-z0-9_-]{32}$/, kind: 'direct', title: 'Bob' }, "titled with Bob's name")
  const room = opened.body.room.name as string
  t.match(await added, { room: { name: room, kind: 'direct', title: 'Alice' }, role: 'member' }, 'Bob hears at once')
  t.equal((await request(alice.socket, 'room:join', { room })).ok, true)
  t.equal((await request(bob.socket, 'room:join', { room })).ok, true)
  return { alice, bob, room }
}

async function sends(who: Guest, room: string, text: string): Promise<string | undefined> {
  const answer = await request(who.socket, 'message:send', { room, text })
  return answer.ok ? undefined : answer.error.code
}

t.test('a direct room: the same for the pair every time, its two users only', async (t) => {
  const { url } = await startApp(t)
  const { alice, bob, room } = await aliceAndBob(t, url, url)
  const again = await api(url, alice.token, 'POST', '/api/direct', { userId: bob.user.id })
  t.equal(again.body.room.name, room, 'the same room the second time')
  const fromBob = await api(url, bob.token, 'POST', '/api/direct', { userId: alice.user.id })
  t.match(fromBob.body.room, { name: room, title: 'Alice' }, 'and from the other side')
  t.equal(await sends(alice, room, 'hi Bob'), undefined)
  t.equal(
    (await api(url, alice.token, 'POST', '/api/direct', { userId: alice.user.id })).status,
    400,
    'not with oneself'
  )

  const carol = await guest(t, url, 'Carol')
  const join = await request(carol.socket, 'room:join', { room, since: 0 })
  const madeUp = await request(carol.socket, 'room:join', { room: `dm.${'A'.repeat(32)}` })
  t.equal(join.error?.code, 'FORBIDDEN', 'a third user is refused')
  t.same(madeUp.error, join.error, 'alike for a made-up direct name')
  t.equal((await api(url, carol.token, 'GET', `/api/rooms/${room}/members`)).status, 403, 'no member list')
  const carolWithBob = await api(url, carol.token, 'POST', '/api/direct', { userId: bob.user.id })
  t.not(carolWithBob.body.room.name, room, "Carol's room with Bob is another")
  for (const path of [`members/${carol.user.id}`, `bans/${carol.user.id}`, `mutes/${bob.user.id}`]) {
    const answer = await api(
      url,
      alice.token,
      'PUT',
      `/api/rooms/${room}/${path}`,
      path.startsWith('members') ? { role: 'member' } : {}
    )
    t.equal(answer.status, 403, `nobody adds, bans or mutes in a direct room (${path.split('/')[0]})`)
  }
  t.equal((await api(url, alice.token, 'POST', `/api/rooms/${room}/invites`, {})).status, 403, 'nor invites')

  const alices = await api(url, alice.token, 'GET', '/api/me/rooms')
  t.match(alices.body.rooms[0], { name: room, kind: 'direct', title: 'Bob', role: 'member', lastSeq: 1 })
  const bobs = await api(url, bob.token, 'GET', '/api/me/rooms')
  t.match(
    bobs.body.rooms.find((r: { name: string }) => r.name === room),
    { kind: 'direct', title: 'Alice' },
    'each sees the other'
  )
  const list = await api(url, bob.token, 'GET', `/api/rooms/${room}/members`)
  t.same(list.body.members.map((m: { name: string }) => m.name).sort(), ['Alice', 'Bob'])
})

t.test('blocks: no direct room opened by the blocked user, no sends in the one they share', async (t) => {
  const { url } = await startApp(t)
  const { alice, bob, room } = await aliceAndBob(t, url, url)
  t.equal((await api(url, bob.token, 'PUT', `/api/me/blocks/${alice.user.id}`)).status, 204, 'Bob blocks Alice')
  t.equal(await sends(alice, room, 'are you there?'), 'FORBIDDEN', "Alice's sends are refused")
  t.equal((await request(alice.socket, 'typing', { room, typing: true })).error?.code, 'FORBIDDEN', 'and typing')
  t.equal((await request(alice.socket, 'room:history', { room })).ok, true, 'she still reads')
  const refused = await api(url, alice.token, 'POST', '/api/direct', { userId: bob.user.id })
  t.equal(refused.status, 403, 'nor opens it again')
  t.equal(refused.body.code, 'FORBIDDEN')
  const phone = await connect(client(t, url, alice.token))
  await request(phone, 'room:join', { room })
  t.equal(
    (await request(phone, 'message:send', { room, text: 'from my phone' })).error?.code,
    'FORBIDDEN',
    'a socket that joins after the block is blocked too'
  )
  t.equal(await sends(bob, room, 'I can still write'), undefined, 'a block is one way')
  t.equal((await api(url, bob.token, 'PUT', `/api/me/blocks/${bob.user.id}`)).status, 400, 'nobody blocks themself')
  t.equal((await api(url, bob.token, 'DELETE', `/api/me/blocks/${alice.user.id}`)).status, 204)
  t.equal(await sends(alice, room, 'thanks'), undefined, 'unblocked')
  t.equal((await request(phone, 'message:send', { room, text: 'thanks twice' })).ok, true)
  const carol = await guest(t, url, 'Carol')
  t.equal((await api(url, carol.token, 'PUT', `/api/me/blocks/${alice.user.id}`)).status, 204, 'a block with no room')
  t.equal((await api(url, alice.token, 'POST', '/api/direct', { userId: carol.user.id })).status, 403)
})

t.test('across two nodes on Redis: room:added and blocks reach the other node', async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const env = { REDIS_URL: redis.url }
  const [a, b] = [await startApp(t, env), await startApp(t, env)]
  const { alice, bob, room } = await aliceAndBob(t, a.url, b.url)
  t.equal(await sends(bob, room, 'hello from b'), undefined)
  t.equal((await api(b.url, bob.token, 'PUT', `/api/me/blocks/${alice.user.id}`)).status, 204)
  t.equal(await sends(alice, room, 'from a'), 'FORBIDDEN', 'blocked on the other node as soon as the call answered')
  t.equal((await api(a.url, alice.token, 'POST', '/api/direct', { userId: bob.user.id })).status, 403)
  t.equal((await api(a.url, bob.token, 'DELETE', `/api/me/blocks/${alice.user.id}`)).status, 204)
  t.equal(await sends(alice, room, 'from a again'), undefined)
  const same = await api(b.url, bob.token, 'POST', '/api/direct', { userId: alice.user.id })
  t.equal(same.body.room.name, room, 'both nodes name the pair alike')
})
