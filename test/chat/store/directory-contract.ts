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

  t.test('bans and mutes: in force until their end, lifted once', async (t) => {
    const { directory } = await make(t)
    const now = 1_700_000_000_000
    const ban = { room: 'p.abc', userId: 'eve', by: 'ann', at: now, reason: 'spam' }
    await directory.restrict('ban', ban)
    t.same(await directory.restriction('ban', 'p.abc', 'eve', now), ban, 'for good')
    t.equal(await directory.restriction('mute', 'p.abc', 'eve', now), undefined, 'a ban is no mute')
    t.equal(await directory.restriction('ban', 'other', 'eve', now), undefined, 'per room')
    const mute = { room: 'p.abc', userId: 'eve', by: 'ann', at: now, until: now + 1000 }
    await directory.restrict('mute', mute)
    t.same(await directory.restriction('mute', 'p.abc', 'eve', now + 999), mute)
    t.equal(await directory.restriction('mute', 'p.abc', 'eve', now + 1000), undefined, 'ended at until')
    t.equal(await directory.lift('ban', 'p.abc', 'eve'), true)
    t.equal(await directory.lift('ban', 'p.abc', 'eve'), false, 'lifting twice')
    t.equal(await directory.restriction('ban', 'p.abc', 'eve', now), undefined)
  })

  t.test('blocks are one way', async (t) => {
    const { directory } = await make(t)
    await directory.block('ann', 'eve')
    t.equal(await directory.hasBlocked('ann', 'eve'), true)
    t.equal(await directory.hasBlocked('eve', 'ann'), false, 'one way')
    t.equal(await directory.unblock('ann', 'eve'), true)
    t.equal(await directory.unblock('ann', 'eve'), false)
    t.equal(await directory.hasBlocked('ann', 'eve'), false)
  })

  t.test('invites: each use counted atomically, none past maxUses or expiry', async (t) => {
    const { directory } = await make(t)
    const now = Date.now()
    const invite = {
      code: 'c0de'.repeat(6),
      room: 'p.abc',
      by: 'ann',
      createdAt: now,
      expiresAt: now + 60_000,
      uses: 0
    }
    await directory.createInvite({ ...invite, maxUses: 3 })
    t.match(await directory.invite(invite.code, now), { room: 'p.abc', uses: 0, maxUses: 3 }, 'seen, not used')
    const uses = await Promise.all([1, 2, 3, 4, 5].map((i) => directory.redeemInvite(invite.code, now, `u${i}`)))
    t.same(uses.map((u) => u?.uses ?? 0).sort(), [0, 0, 1, 2, 3], 'five at once: three uses, two refused')
    t.equal(await directory.invite(invite.code, now), undefined, 'used up')
    await directory.createInvite({ ...invite, code: 'open'.repeat(6) })
    t.match(await directory.redeemInvite('open'.repeat(6), now, 'ann'), {
      uses: 1,
      by: 'ann',
      expiresAt: invite.expiresAt
    })
    t.equal(await directory.redeemInvite('open'.repeat(6), now + 60_000, 'bob'), undefined, 'expired')
    t.equal(await directory.invite('open'.repeat(6), now + 60_000), undefined)
    t.equal(await directory.redeemInvite('unknown', now, 'ann'), undefined)
    const thrice = { ...invite, code: 'same'.repeat(6), maxUses: 3 }
    await directory.createInvite(thrice)
    const again = await Promise.all([1, 2, 3].map(() => directory.redeemInvite(thrice.code, now, 'cy')))
    t.same(
      again.map((u) => u?.uses),
      [1, 1, 1],
      'one user three times at once: one use'
    )
    t.match(await directory.redeemInvite(thrice.code, now, 'dee'), { uses: 2 })
    t.match(await directory.redeemInvite(thrice.code, now, 'eve'), { uses: 3 })
    t.match(
      await directory.redeemInvite(thrice.code, now, 'cy'),
      { uses: 3 },
      'a user who used it is answered once used up'
    )
    t.equal(await directory.redeemInvite(thrice.code, now, 'fay'), undefined, 'nobody new')
    t.equal(await directory.deleteInvite(thrice.code), true, 'revoked')
    t.equal(await directory.deleteInvite(thrice.code), false)
    t.equal(await directory.redeemInvite(thrice.code, now, 'cy'), undefined, 'gone for everyone')
  })

  t.test("a room's audit trail, newest first", async (t) => {
    const { directory } = await make(t)
    await directory.record({ at: 1, action: 'room.created', room: 'p.abc', by: 'ann', detail: 'private' })
    await directory.record({ at: 2, action: 'member.added', room: 'p.abc', by: 'ann', user: 'bob' })
    await directory.record({ at: 3, action: 'ban', room: 'other', by: 'cy', user: 'eve' })
    t.same(
      (await directory.auditTrail('p.abc', 10)).map((e) => e.action),
      ['member.added', 'room.created']
    )
    t.same(await directory.auditTrail('p.abc', 1), [
      { at: 2, action: 'member.added', room: 'p.abc', by: 'ann', user: 'bob' }
    ])
    t.same(await directory.auditTrail('nowhere', 10), [])
  })
}
