// The directory's contract: the memory and the Redis directory pass this same suite.
import type { Test } from 'tap'
import type { MakeStore } from './log-contract.js'

const room = { name: 'p.abc', kind: 'private' as const, title: 'Plans', createdAt: 1_700_000_000_000 }

export function directoryContract(t: Test, make: MakeStore): void {
  t.test('a room is recorded once; a taken name changes nothing', async (t) => {
    const { directory } = await make(t)
    t.equal(await directory.room('p.abc'), undefined, 'unknown before')
    t.equal(await directory.createRoom(room), true)
    t.same(await directory.room('p.abc'), room)
    t.equal(await directory.createRoom({ ...room, title: 'Other', kind: 'public' }), false, 'taken')
    t.same(await directory.room('p.abc'), room, 'the first record stands')
  })

  t.test('memberships are kept per room and per user, with their role', async (t) => {
    const { directory } = await make(t)
    const owner = { room: 'p.abc', userId: 'ann', role: 'owner' as const, since: 1 }
    await directory.setMembership(owner)
    await directory.setMembership({ room: 'p.abc', userId: 'bob', role: 'member', since: 2 })
    await directory.setMembership({ room: 'general', userId: 'bob', role: 'member', since: 3 })
    t.same(await directory.membership('p.abc', 'ann'), owner)
    t.equal(await directory.membership('p.abc', 'cy'), undefined, 'not a member')
    t.equal(await directory.membership('other', 'ann'), undefined, 'a room never seen')
    const byRoom = (list: Array<{ room: string }>) => list.map((m) => m.room).sort()
    t.same(byRoom(await directory.memberships('bob')), ['general', 'p.abc'])
    t.equal(await directory.membershipCount('bob'), 2)
    t.equal(await directory.membershipCount('nobody'), 0)
    t.same((await directory.roomMembers('p.abc')).map((m) => m.userId).sort(), ['ann', 'bob'])
    await directory.setMembership({ room: 'p.abc', userId: 'bob', role: 'moderator', since: 2 })
    t.equal((await directory.membership('p.abc', 'bob'))?.role, 'moderator', 'a role changed')
    t.equal((await directory.memberships('bob')).find((m) => m.room === 'p.abc')?.role, 'moderator', 'on both sides')
    t.equal(await directory.removeMembership('p.abc', 'bob'), true)
    t.equal(await directory.removeMembership('p.abc', 'bob'), false, 'removing twice')
    t.equal(await directory.membership('p.abc', 'bob'), undefined)
    t.same(byRoom(await directory.memberships('bob')), ['general'])
    t.same(
      (await directory.roomMembers('p.abc')).map((m) => m.userId),
      ['ann']
    )
    t.same(await directory.memberships('nobody'), [])
    t.same(await directory.roomMembers('nowhere'), [])
  })
}
