// A join whose history read is still under way when the user is removed must not answer with
// what was written after the removal answered (the log's read is held here to make the store's
// latency a deterministic window). The same for a history page.
import t from 'tap'
import { api, guest, request, startApp } from '../helpers.js'

t.test('a join answered after the removal carries nothing sent after it', async (t) => {
  const { url, app } = await startApp(t)
  const alice = await guest(t, url, 'Alice')
  const bob = await guest(t, url, 'Bob')
  const room = (await api(url, alice.token, 'POST', '/api/rooms', { kind: 'private', title: 'Team' })).body.room.name
  t.equal((await request(alice.socket, 'room:join', { room })).ok, true)
  await api(url, alice.token, 'PUT', `/api/rooms/${room}/members/${bob.user.id}`, { role: 'member' })

  const log = app.store.log
  const latest = log.latest.bind(log)
  let release!: () => void
  let reached!: () => void
  const atRead = new Promise<void>((resolve) => (reached = resolve))
  let hold = true
  log.latest = async (r, limit) => {
    if (hold && r === room) {
      hold = false
      reached()
      await new Promise<void>((resolve) => (release = resolve))
    }
    return latest(r, limit)
  }
  const removedEvent = new Promise((resolve) => bob.socket.once('room:removed', resolve))
  const join = request(bob.socket, 'room:join', { room })
  await atRead
  t.equal((await api(url, alice.token, 'DELETE', `/api/rooms/${room}/members/${bob.user.id}`)).status, 204)
  await removedEvent
  t.equal((await request(alice.socket, 'message:send', { room, text: 'said after Bob was removed' })).ok, true)
  release()
  const answer = await join
  t.equal(answer.error?.code, 'NOT_IN_ROOM', 'the join is refused: he was removed during it')
  t.notOk(JSON.stringify(answer).includes('said after Bob was removed'))
})

t.test('a history page read while the reader was removed is refused', async (t) => {
  const { url, app } = await startApp(t)
  const alice = await guest(t, url, 'Alice')
  const bob = await guest(t, url, 'Bob')
  const room = (await api(url, alice.token, 'POST', '/api/rooms', { kind: 'private', title: 'Team' })).body.room.name
  await request(alice.socket, 'room:join', { room })
  await api(url, alice.token, 'PUT', `/api/rooms/${room}/members/${bob.user.id}`, { role: 'member' })
  t.equal((await request(bob.socket, 'room:join', { room })).ok, true)
  const log = app.store.log
  const page = log.page.bind(log)
  let release!: () => void
  let reached!: () => void
  const atRead = new Promise<void>((resolve) => (reached = resolve))
  log.page = async (r, range) => {
    reached()
    await new Promise<void>((resolve) => (release = resolve))
    return page(r, range)
  }
  const history = request(bob.socket, 'room:history', { room })
  await atRead
  t.equal((await api(url, alice.token, 'DELETE', `/api/rooms/${room}/members/${bob.user.id}`)).status, 204)
  await request(alice.socket, 'message:send', { room, text: 'after Bob' })
  release()
  t.equal((await history).error?.code, 'NOT_IN_ROOM')
})
