// The one access policy: who may do what in which room. Decided at a join (and, later, at each
// membership change), never per delivery: a socket in a room's broadcast was let in.
import { ChatError } from '../errors.js'
import { MAX_MEMBERSHIPS_PER_USER, roomKind } from './limits.js'
import type { Member } from './protocol.js'
import type { Directory, Membership } from './store/parts.js'

/** The same answer whether the room exists or not: nobody learns a private room's name by asking. */
const NOT_YOURS = 'This room is not open to you'

export class RoomAccess {
  constructor(private readonly directory: Directory) {}

  /**
   * Lets `user` into `room` or refuses FORBIDDEN: anyone into a public room (recorded as its
   * member), only members into private and direct rooms.
   */
  async admit(user: Member, room: string, now = Date.now()): Promise<Membership> {
    const membership = await this.directory.membership(room, user.id)
    if (membership !== undefined) return membership
    if (roomKind(room) !== 'public') throw new ChatError('FORBIDDEN', NOT_YOURS)
    // Memberships are kept for good: without a bound, joins of ever new names would grow them.
    if ((await this.directory.membershipCount(user.id)) >= MAX_MEMBERSHIPS_PER_USER) {
      throw new ChatError('INVALID_PAYLOAD', `A user may be a member of at most ${MAX_MEMBERSHIPS_PER_USER} rooms`)
    }
    const joined: Membership = { room, userId: user.id, role: 'member', since: now }
    await this.directory.setMembership(joined)
    return joined
  }
}
