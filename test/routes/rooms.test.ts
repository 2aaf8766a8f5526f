import t from 'tap'
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
  t.same(await res.json(), { rooms: [{ name: 'busy', members: 3 }, { name: 'quiet', members: 1 }] })
})

t.test('GET /api/rooms refuses missing and bad tokens with 401', async (t) => {
  const { url } = await startApp(t)
  for (const authorization of [undefined, 'Bearer', 'Bearer nope', 'Basic dXNlcjpwYXNz', `Bearer ${'x'.repeat(5000)}`]) {
    const res = await fetch(`${url}/api/rooms`, { headers: authorization ? { authorization } : {} })
    t.equal(res.status, 401, `${String(authorization).slice(0, 20)} → 401`)
    t.match(await res.json(), { statusCode: 401, code: 'UNAUTHORIZED', error: 'Unauthorized' })
  }
})
