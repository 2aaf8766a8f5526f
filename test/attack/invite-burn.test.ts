// Invites are spent only by those who get in: a user refused (at the membership cap) uses none,
// and one user accepting the same code several times at once uses one.
import t from 'tap'
import { api, guest, startApp } from '../helpers.js'
import { startRedis } from '../redis-server.js'

t.test('refused accepts spend no use of a maxUses invite', async (t) => {
  const { url } = await startApp(t)
  const alice = await guest(t, url, 'Alice')
  const room = (await api(url, alice.token, 'POST', '/api/rooms', { kind: 'private', title: 'Team' })).body.room.name
  const invite = await api(url, alice.token, 'POST', `/api/rooms/${room}/invites`, { maxUses: 2 })
  const mallory = await guest(t, url, 'Mallory')
  for (let made = 0; made < 1000; made += 50) {
    await Promise.all(
      Array.from({ length: 50 }, () => api(url, mallory.token, 'POST', '/api/rooms', { kind: 'private', title: 'x' }))
    )
  }
  for (let i = 0; i < 2; i++) {
    t.equal((await api(url, mallory.token, 'POST', `/api/invites/${invite.body.code}`)).status, 409, 'at the cap')
  }
  const carol = await guest(t, url, 'Carol')
  t.equal((await api(url, carol.token, 'POST', `/api/invites/${invite.body.code}`)).status, 200, 'uses left for Carol')
})

for (const store of ['memory', 'Redis'] as const) {
  t.test(`${store}: one user accepting three times at once spends one use`, async (t) => {
    const redis = store === 'Redis' ? await startRedis(t) : undefined
    if (store === 'Redis' && redis === undefined) return
    const { url } = await startApp(t, redis === undefined ? {} : { REDIS_URL: redis.url })
    const alice = await guest(t, url, 'Alice')
    const room = (await api(url, alice.token, 'POST', '/api/rooms', { kind: 'private', title: 'Team' })).body.room.name
    const invite = await api(url, alice.token, 'POST', `/api/rooms/${room}/invites`, { maxUses: 2 })
    const mallory = await guest(t, url, 'Mallory')
    const answers = await Promise.all(
      [1, 2, 3].map(() => api(url, mallory.token, 'POST', `/api/invites/${invite.body.code}`))
    )
    t.same(
      answers.map((a) => a.status),
      [200, 200, 200],
      'Mallory is a member'
    )
    const carol = await guest(t, url, 'Carol')
    t.equal((await api(url, carol.token, 'POST', `/api/invites/${invite.body.code}`)).status, 200, 'one use left')
  })
}
