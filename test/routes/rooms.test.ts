import t from 'tap'
import { ROOMS_LISTED } from '../../src/routes/rooms.js'
import { client, connect, guest, request, startApp } from '../helpers.js'

t.test('GET /api/rooms lists rooms with members, busiest first, for a signed-in user', async (t) => {
  const { url } = await startApp(t)
  const a = await guest(t, url, 'A')
  const b = await guest(t, url, 'B')
  const c = await guest(t, url, 'C')
  for (const s of [a, b, c]) await request(s.socket, 'room:join', { room: 'busy' })
  await request(a.socket, 'room:join', { room: 'quiet' })
  await request(b.socket, 'room:join', { room: 'left-alone' })
  await request(b.socket, 'room:leave', { room: 'left-alone' })
  const tab = await connect(client(t, url, a.token))
  await request(tab, 'room:join', { room: 'quiet' })

  const res = await fetch(`${url}/api/rooms`, { headers: { authorization: `Bearer ${a.token}` } })
  t.equal(res.status, 200)
  t.same(await res.json(), {
    rooms: [
      { name: 'busy', members: 3 },
      { name: 'quiet', members: 1 }
    ]
  })
})

t.test('GET /api/rooms lists at most ROOMS_LISTED rooms, the busiest', async (t) => {
  const { url } = await startApp(t, { ROOM_BURST: '1000' })
  const a = await guest(t, url, 'A')
  const b = await guest(t, url, 'B')
  await request(b.socket, 'room:join', { room: 'zz-top' })
  await request(a.socket, 'room:join', { room: 'zz-top' })
  for (let i = 0; i < ROOMS_LISTED + 5; i += 1) {
    await request(i < 99 ? a.socket : b.socket, 'room:join', { room: `r${String(i).padStart(3, '0')}` })
  }
  const res = await fetch(`${url}/api/rooms`, { headers: { authorization: `Bearer ${a.token}` } })
  const { rooms } = (await res.json()) as { rooms: Array<{ name: string; members: number }> }
  t.equal(rooms.length, ROOMS_LISTED)
  t.same(rooms[0], { name: 'zz-top', members: 2 }, 'the busiest first')
  t.same(
    rooms.slice(1, 3).map((r) => r.name),
    ['r000', 'r001'],
    'then ties by name'
  )
})

t.test('GET /api/rooms refuses missing and bad tokens with 401', async (t) => {
  const { url } = await startApp(t)
  for (const authorization of [
    undefined,
    'Bearer',
    'Bearer nope',
    'Basic dXNlcjpwYXNz',
    `Bearer ${'x'.repeat(5000)}`
  ]) {
    const res = await fetch(`${url}/api/rooms`, { headers: authorization ? { authorization } : {} })
    t.equal(res.status, 401, `${String(authorization).slice(0, 20)} → 401`)
    t.match(await res.json(), { statusCode: 401, code: 'UNAUTHORIZED', error: 'Unauthorized' })
  }
})
