// One user must not fill another's memberships and lock them out of the rooms they choose:
// others may give a user at most MAX_MEMBERSHIPS_GIVEN of their MAX_MEMBERSHIPS_PER_USER rooms,
// making a room counts against its maker's cap, and a user who blocked you is added by you to
// nothing.
import t from 'tap'
import { MAX_MEMBERSHIPS_GIVEN } from '../../src/chat/limits.js'
import { api, guest, request, startApp } from '../helpers.js'

t.test("an attacker fills a victim's memberships: the victim still chooses rooms of their own", async (t) => {
  const { url } = await startApp(t)
  const mallory = await guest(t, url, 'Mallory')
  const victim = await guest(t, url, 'Victim')
  const friend = await guest(t, url, 'Friend')
  const answers: number[] = []
  for (let batch = 0; batch < 1001; batch += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, 1001 - batch) }, async () => {
        const made = await api(url, mallory.token, 'POST', '/api/rooms', { kind: 'private', title: 'spam' })
        answers.push(made.status)
        if (made.status !== 201) return
        await api(url, mallory.token, 'PUT', `/api/rooms/${made.body.room.name}/members/${victim.user.id}`, {
          role: 'member'
        })
      })
    )
  }
  t.equal(answers.filter((s) => s === 201).length, 1000, 'a maker holds at most 1,000 rooms')
  t.equal(answers.filter((s) => s === 409).length, 1, 'the next is refused CONFLICT')
  const theirs = await api(url, victim.token, 'GET', '/api/me/rooms')
  t.equal(theirs.body.rooms.length, MAX_MEMBERSHIPS_GIVEN, 'others gave the victim no more than their share')

  t.equal((await request(victim.socket, 'room:join', { room: 'lobby' })).ok, true, 'the victim joins a public room')
  const room = (await api(url, friend.token, 'POST', '/api/rooms', { kind: 'private', title: 'Real' })).body.room.name
  const invite = await api(url, friend.token, 'POST', `/api/rooms/${room}/invites`, {})
  t.equal((await api(url, victim.token, 'POST', `/api/invites/${invite.body.code}`)).status, 200, 'accepts an invite')
  t.equal((await api(url, victim.token, 'POST', '/api/direct', { userId: friend.user.id })).status, 200, 'opens a DM')

  t.equal((await api(url, victim.token, 'PUT', `/api/me/blocks/${mallory.user.id}`)).status, 204)
  const spare = await api(url, friend.token, 'POST', '/api/rooms', { kind: 'private', title: 'Other' })
  t.equal(spare.status, 201)
  const leave = await api(url, victim.token, 'DELETE', `/api/me/rooms/${theirs.body.rooms[0].name}`)
  t.equal(leave.status, 204)
  const again = await api(
    url,
    mallory.token,
    'PUT',
    `/api/rooms/${theirs.body.rooms[0].name}/members/${victim.user.id}`,
    {
      role: 'member'
    }
  )
  t.equal(again.status, 403, 'a user who blocked you is added by you to nothing')
})
