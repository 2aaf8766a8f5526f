// A ban racing a public join, or an invite accepted at the moment of a ban (Redis, where the
// steps interleave): the ban answers 204 and the banned user must end up no member, whatever
// the order.
import t, { type Test } from 'tap'
import { api, guest, request, startApp } from '../helpers.js'
import { startRedis } from '../redis-server.js'

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms / 2))
const ROUNDS = 40

async function joinRacesBan(t: Test, env: Record<string, string>) {
  const { url } = await startApp(t, { SESSION_RATE_PER_MIN: '0', ...env })
  const alice = await guest(t, url, 'Alice')
  t.equal((await api(url, alice.token, 'POST', '/api/rooms', { kind: 'public', name: 'town' })).status, 201)
  let stale = 0
  for (let i = 0; i < ROUNDS; i++) {
    const eve = await guest(t, url, `Eve${i}`)
    const [banned] = await Promise.all([
      api(url, alice.token, 'PUT', `/api/rooms/town/bans/${eve.user.id}`, {}),
      delay(i % 8).then(() => request(eve.socket, 'room:join', { room: 'town' }))
    ])
    t.equal(banned.status, 204)
    const list = await api(url, alice.token, 'GET', '/api/rooms/town/members')
    if (list.body.members.some((m: { id: string }) => m.id === eve.user.id)) stale++
    eve.socket.disconnect()
  }
  t.equal(stale, 0, `a banned user is no member of the room (${stale} of ${ROUNDS} were)`)
}

async function acceptRacesBan(t: Test, env: Record<string, string>) {
  const { url } = await startApp(t, { SESSION_RATE_PER_MIN: '0', ...env })
  const alice = await guest(t, url, 'Alice')
  const room = (await api(url, alice.token, 'POST', '/api/rooms', { kind: 'private', title: 'Team' })).body.room.name
  const invite = await api(url, alice.token, 'POST', `/api/rooms/${room}/invites`, {})
  let stale = 0
  let reads = 0
  for (let i = 0; i < ROUNDS; i++) {
    const eve = await guest(t, url, `Eve${i}`)
    const [banned] = await Promise.all([
      delay(i % 8).then(() =>
        api(url, alice.token, 'PUT', `/api/rooms/${room}/bans/${eve.user.id}`, { until: Date.now() + 60_000 })
      ),
      api(url, eve.token, 'POST', `/api/invites/${invite.body.code}`)
    ])
    t.equal(banned.status, 204)
    const list = await api(url, alice.token, 'GET', `/api/rooms/${room}/members`)
    if (list.body.members.some((m: { id: string }) => m.id === eve.user.id)) stale++
    if ((await api(url, eve.token, 'GET', `/api/rooms/${room}/members`)).status === 200) reads++
    eve.socket.disconnect()
  }
  t.equal(stale, 0, `a banned user is no member of the room (${stale} of ${ROUNDS} were)`)
  t.equal(reads, 0, `a banned user reads no member list (${reads} of ${ROUNDS} did)`)
}

for (const [what, race] of [
  ['a public join', joinRacesBan],
  ['an invite accepted', acceptRacesBan]
] as const) {
  t.test(`a ban racing ${what}: memory`, (t) => race(t, {}))
  t.test(`a ban racing ${what}: Redis`, async (t) => {
    const redis = await startRedis(t)
    if (redis !== undefined) await race(t, { REDIS_URL: redis.url })
  })
}
