// A join's grant read that membership changes keep overtaking is never kept out of date: after
// three reads the join is refused UNAVAILABLE (to be retried), so a mute that lands during the
// last read cannot be lost. The directory's reads are held to make the window deterministic; the
// user makes the first two changes themself (each direct room they open is one).
import t from 'tap'
import { api, guest, request, startApp } from '../helpers.js'

t.test('a mute that lands during a join whose user churned their own memberships holds', async (t) => {
  const { url, app } = await startApp(t)
  const alice = await guest(t, url, 'Alice')
  const bob = await guest(t, url, 'Bob')
  const room = (await api(url, alice.token, 'POST', '/api/rooms', { kind: 'private', title: 'Team' })).body.room.name
  await api(url, alice.token, 'PUT', `/api/rooms/${room}/members/${bob.user.id}`, { role: 'member' })
  t.equal((await request(bob.socket, 'room:join', { room })).ok, true)

  const directory = app.store.directory
  const read = directory.restriction.bind(directory)
  const held: Array<() => void> = []
  let reached: (() => void) | undefined
  const nextRead = () => new Promise<void>((resolve) => (reached = resolve))
  let holding = true
  directory.restriction = async (kind, r, userId, now) => {
    const answer = await read(kind, r, userId, now)
    if (holding && kind === 'mute' && userId === bob.user.id && r === room) {
      await new Promise<void>((resolve) => {
        held.push(resolve)
        reached?.()
      })
    }
    return answer
  }

  let readStarted = nextRead()
  const rejoin = request(bob.socket, 'room:join', { room })
  for (const other of ['churn-1', 'churn-2']) {
    await readStarted
    t.equal((await api(url, bob.token, 'POST', '/api/direct', { userId: other })).status, 200)
    readStarted = nextRead()
    held.shift()?.()
  }
  await readStarted
  t.equal((await api(url, alice.token, 'PUT', `/api/rooms/${room}/mutes/${bob.user.id}`, {})).status, 204)
  holding = false
  held.shift()?.()
  t.equal((await rejoin).error?.code, 'UNAVAILABLE', 'the join is refused rather than kept out of date')
  const sent = await request(bob.socket, 'message:send', { room, text: 'the mute did not stick' })
  t.ok(sent.ok !== true, `nothing is sent (${sent.error?.code})`)
  t.equal((await request(bob.socket, 'room:join', { room })).ok, true, 'joined again')
  t.equal((await request(bob.socket, 'message:send', { room, text: 'muted?' })).error?.code, 'FORBIDDEN', 'muted')
})
