// The one access policy: who may do what in which room. Decided at a join and at each
// membership change, never per delivery: a socket in a room's broadcast was let in, and what
// it may do there (its role, a mute) travels with it until the next change.
import { ChatError } from '../errors.js'
import { MAX_MEMBERSHIPS_GIVEN, MAX_MEMBERSHIPS_PER_USER, roomKind } from './limits.js'
import type { Member } from './protocol.js'
import type { Directory, Membership, Role } from './store/parts.js'

/** The same answer whether the room exists or not: nobody learns a private room's name by asking. */
export const NOT_YOURS = 'This room is not open to you'

/** The token role that moderates every public room (the contract's Identity). */
export const MODERATOR_ROLE = 'moderator'

/** The role a user holds in `room`: a token moderator moderates any public room, member or not. */
export function effectiveRole(room: string, role: Role | undefined, tokenRoles?: readonly string[]): Role | undefined {
  if (roomKind(room) !== 'public' || tokenRoles?.includes(MODERATOR_ROLE) !== true) return role
  return role === 'owner' ? role : 'moderator'
}

/** A ban's or mute's end when it has none (JSON carries it, as it cannot Infinity). */
export const FOR_GOOD = Number.MAX_SAFE_INTEGER

/** What a socket that was let into a room may do there. */
export interface RoomGrant {
  role: Role
  /** Muted until then (ms since the epoch; FOR_GOOD): may read, not send or type. */
  mutedUntil?: number
  /** In a direct room: the other user blocked this one, who may read, not send or type. */
  blocked?: boolean
}

export class RoomAccess {
  constructor(private readonly directory: Directory) {}

  /** Whether the other user of direct room `room` blocked `userId` (a member or not any more). */
  private async blockedIn(room: string, userId: string): Promise<boolean> {
    const pair = (await this.directory.room(room))?.pair
    const other =
      pair?.find((id) => id !== userId) ??
      (await this.directory.roomMembers(room)).find((m) => m.userId !== userId)?.userId
    return other !== undefined && (await this.directory.hasBlocked(other, userId))
  }

  /**
   * Lets `user` into `room` or refuses FORBIDDEN: anyone not banned into a public room
   * (recorded as its member), only members into private and direct rooms.
   */
  async admit(user: Member, room: string, tokenRoles?: readonly string[], now = Date.now()): Promise<RoomGrant> {
    const [ban, membership, mute] = await Promise.all([
      this.directory.restriction('ban', room, user.id, now),
      this.directory.membership(room, user.id),
      this.directory.restriction('mute', room, user.id, now)
    ])
    if (ban !== undefined) throw new ChatError('FORBIDDEN', NOT_YOURS)
    const mutedUntil = mute === undefined ? undefined : (mute.until ?? FOR_GOOD)
    if (membership !== undefined) {
      // Member lists show the name a member was last seen with.
      if (membership.name !== user.name || membership.guest !== user.guest) {
        await this.directory.setMembership(withMember({ ...membership }, user))
      }
      const grant: RoomGrant = { role: effectiveRole(room, membership.role, tokenRoles) ?? membership.role, mutedUntil }
      if (roomKind(room) === 'direct' && (await this.blockedIn(room, user.id))) grant.blocked = true
      return grant
    }
    if (roomKind(room) !== 'public') throw new ChatError('FORBIDDEN', NOT_YOURS)
    // Memberships are kept for good: without a bound, joins of ever new names would grow them.
    if ((await this.directory.membershipCount(user.id)) >= MAX_MEMBERSHIPS_PER_USER) {
      throw new ChatError('INVALID_PAYLOAD', `A user may be a member of at most ${MAX_MEMBERSHIPS_PER_USER} rooms`)
    }
    await joinUnlessBanned(this.directory, withMember({ room, userId: user.id, role: 'member', since: now }, user))
    return { role: effectiveRole(room, 'member', tokenRoles) ?? 'member', mutedUntil }
  }
}

/**
 * Records `membership`, unless a ban of the user is in force once it is written: the ban is
 * read again after the write, so that a ban racing the join or add (set, then the membership
 * removed) always wins. FORBIDDEN alike whether banned before or during.
 */
export async function joinUnlessBanned(directory: Directory, membership: Membership): Promise<void> {
  const { room, userId } = membership
  await directory.setMembership(membership)
  if ((await directory.restriction('ban', room, userId, Date.now())) !== undefined) {
    await directory.removeMembership(room, userId)
    throw new ChatError('FORBIDDEN', NOT_YOURS)
  }
}

/**
 * Refuses CONFLICT when `userId` has no room for one more membership: of their own doing (a
 * join, an accepted invite, a room they made) up to MAX_MEMBERSHIPS_PER_USER; of others' (an
 * add, a direct room opened with them) up to MAX_MEMBERSHIPS_GIVEN, so that nobody can fill
 * another user's rooms and lock them out of the ones they choose.
 */
export async function requireRoomFor(directory: Directory, userId: string, byThemself: boolean): Promise<void> {
  const cap = byThemself ? MAX_MEMBERSHIPS_PER_USER : MAX_MEMBERSHIPS_GIVEN
  if ((await directory.membershipCount(userId)) >= cap) {
    throw new ChatError(
      'CONFLICT',
      byThemself
        ? `A user may be a member of at most ${MAX_MEMBERSHIPS_PER_USER} rooms`
        : 'This user is in too many rooms to be added to more: they may join themself'
    )
  }
}

/** A membership with the name (and guest mark) the member was last seen with, for member lists. */
export function withMember(membership: Membership, user: Member): Membership {
  membership.name = user.name
  if (user.guest === true) membership.guest = true
  else delete membership.guest
  return membership
}

/** Refuses FORBIDDEN while `grant` carries a mute in force, or a block. */
export function requireVoice(grant: RoomGrant | undefined, now = Date.now()): void {
  if (grant?.mutedUntil !== undefined && grant.mutedUntil > now) {
    throw new ChatError('FORBIDDEN', 'You are muted in this room')
  }
  if (grant?.blocked === true) throw new ChatError('FORBIDDEN', 'You cannot write to this user')
}
