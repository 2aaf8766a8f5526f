// Private rooms and the access policy at the join, tried as an attacker with a guest token would,
// on one node and across two on Redis.
import t, { type Test } from 'tap'
import { api, guest, request, startApp } from '../helpers.js'
import { startRedis } from '../redis-server.js'

/** Alice's private room on `aliceUrl`, and Mallory, a guest on `malloryUrl`, who is not in it. */
async function aliceAndMallory(t: Test, aliceUrl: string, malloryUrl: string) {
  const alice = await guest(t, aliceUrl, 'Alice')
  const mallory = await guest(t, malloryUrl, 'Mallory')
  const made = await api(aliceUrl, alice.token, 'POST', '/api/rooms', { kind: 'private', title: 'Plans' })
  t.equal(made.status, 201)
  const room = made.body.room.name as string
  t.match(
    made.body.room,
    { name: /^p\.[A-Za-z0-9_-]{22,}$/, kind: 'private', title: 'Plans' },
    'a server-made, unguessable name'
  )
  t.equal((await request(alice.socket, 'room:join', { room })).ok, true, 'its owner joins')
  await request(alice.socket, 'message:send', { room, text: 'my PIN is 1204' })
  return { alice, mallory, room }
}

async function attack(t: Test, mallory: Awaited<ReturnType<typeof guest>>, url: string, room: string) {
  const real = await request(mallory.socket, 'room:join', { room })
  const madeUp = await request(mallory.socket, 'room:join', { room: 'p.AAAAAAAAAAAAAAAAAAAAAAAA' })
  t.equal(real.error?.code, 'FORBIDDEN', 'a non-member is refused')
  t.same(madeUp.error, real.error, 'a made-up private name answers alike')
  t.equal((await request(mallory.socket, 'room:join', { room, since: 0 })).error?.code, 'FORBIDDEN', 'with since too')
  for (const [event, payload] of [
    ['message:send', { room, text: 'let me in' }],
    ['room:history', { room }],
    ['typing', { room, typing: true }]
  ] as const) {
    const answer = await request(mallory.socket, event as 'typing', payload as never)
    t.equal(answer.error?.code, 'NOT_IN_ROOM', `${event} after the refused join is refused`)
  }
  const listed = await api(url, mallory.token, 'GET', '/api/rooms')
  t.notOk(JSON.stringify(listed.body).includes(room), 'not listed in /api/rooms')
  const mine = await api(url, mallory.token, 'GET', '/api/me/rooms')
  t.notOk(JSON.stringify(mine.body).includes(room), "not in the attacker's own rooms")
}

t.test('a private room: only members join; a stranger learns nothing, not even that it exists', async (t) => {
  const { url } = await startApp(t)
  const { alice, mallory, room } = await aliceAndMallory(t, url, url)
  await attack(t, mallory, url, room)
  const history = await request(alice.socket, 'room:history', { room })
  t.same(
    history.messages.map((m: { text: string }) => m.text),
    ['my PIN is 1204'],
    'nothing the attacker sent was stored'
  )
  const mine = await api(url, alice.token, 'GET', '/api/me/rooms')
  t.match(
    mine.body.rooms,
    [{ name: room, kind: 'private', title: 'Plans', role: 'owner', lastSeq: 1 }],
    "the owner's rooms"
  )
})

t.test('across two nodes on Redis: a private room made on one refuses a stranger on the other', async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const env = { REDIS_URL: redis.url }
  const [a, b] = [await startApp(t, env), await startApp(t, env)]
  const { alice, room } = await aliceAndMallory(t, a.url, b.url)
  const mallory = await guest(t, b.url, 'Mallory2')
  await attack(t, mallory, b.url, room)
  const tab = await guest(t, b.url, 'AliceTab')
  t.equal(
    (await request(tab.socket, 'room:join', { room })).error?.code,
    'FORBIDDEN',
    'a new identity is a stranger too'
  )
  t.equal((await request(alice.socket, 'room:history', { room })).messages.length, 1)
})

t.test('a public join makes the user a member; public rooms can be claimed while they have no history', async (t) => {
  const { url } = await startApp(t)
  const bob = await guest(t, url, 'Bob')
  await request(bob.socket, 'room:join', { room: 'general' })
  const mine = await api(url, bob.token, 'GET', '/api/me/rooms')
  t.match(mine.body.rooms, [{ name: 'general', kind: 'public', title: 'general', role: 'member' }])
  const claimed = await api(url, bob.token, 'POST', '/api/rooms', {
    kind: 'public',
    name: 'announcements',
    title: 'News'
  })
  t.equal(claimed.status, 201)
  t.match(claimed.body.room, { name: 'announcements', kind: 'public', title: 'News' })
  t.equal(
    (await api(url, bob.token, 'POST', '/api/rooms', { kind: 'public', name: 'announcements' })).body.code,
    'CONFLICT',
    'an owner already'
  )
  await request(bob.socket, 'message:send', { room: 'general', text: 'hi' })
  t.equal(
    (await api(url, bob.token, 'POST', '/api/rooms', { kind: 'public', name: 'general' })).status,
    409,
    'history already'
  )
  for (const name of ['p.mine', 'dm.mine', 'no spaces']) {
    const refused = await api(url, bob.token, 'POST', '/api/rooms', { kind: 'public', name })
    t.equal(refused.status, 400, `${name} is no public room name`)
  }
  const bad = await api(url, bob.token, 'POST', '/api/rooms', { kind: 'private', title: 'a\u202Eb' })
  t.equal(bad.body.code, 'INVALID_PAYLOAD', 'a title with a bidi override is refused')
  const owned = await api(url, bob.token, 'GET', '/api/me/rooms')
  t.match(
    owned.body.rooms,
    [
      { name: 'general', lastSeq: 1 },
      { name: 'announcements', role: 'owner', lastSeq: 0 }
    ],
    'latest activity first'
  )
  t.equal((await fetch(`${url}/api/me/rooms`)).status, 401, 'signed-in users only')
})

t.test(
  'a stranger who sends right behind its join, without waiting for the answer, stores nothing and reads nothing',
  async (t) => {
    const { url } = await startApp(t)
    const { alice, mallory, room } = await aliceAndMallory(t, url, url)
    const seen: unknown[] = []
    mallory.socket.on('message', (m) => seen.push(m))
    mallory.socket.on('messages', (m) => seen.push(m))
    const join = request(mallory.socket, 'room:join', { room })
    const send = request(mallory.socket, 'message:send', { room, text: 'pipelined in' })
    const typing = request(mallory.socket, 'typing', { room, typing: true })
    const history = request(mallory.socket, 'room:history', { room })
    t.equal((await join).error?.code, 'FORBIDDEN')
    t.equal((await send).error?.code, 'NOT_IN_ROOM', 'the send waited for the join, and was refused with it')
    t.equal((await typing).error?.code, 'NOT_IN_ROOM')
    t.equal((await history).error?.code, 'NOT_IN_ROOM')
    await request(alice.socket, 'message:send', { room, text: 'after the attempt' })
    const texts = (await request(alice.socket, 'room:history', { room })).messages.map((m: { text: string }) => m.text)
    t.same(texts, ['my PIN is 1204', 'after the attempt'], 'nothing of the stranger was stored')
    t.same(seen, [], 'and nothing of the room reached the stranger')
  }
)
