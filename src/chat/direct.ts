// Direct rooms: one per pair of users, named by an HMAC of the two ids under a server secret
// (nobody can compute another pair's room), both users members and nobody its owner; blocks.
import { createHmac } from 'node:crypto'
import { ChatError } from '../errors.js'
import { requireRoomFor, withMember } from './access.js'
import type { AuditTrail } from './audit.js'
import type { MembershipChanges } from './changes.js'
import { DIRECT_PREFIX } from './limits.js'
import type { Member, RoomInfo } from './protocol.js'
import type { Directory } from './store/parts.js'

/** The key direct names are made with, derived from the server secret for this use alone. */
export function directKey(secret: string): Buffer {
  return createHmac('sha256', secret).update('chat direct room names v1').digest()
}

/** `dm.` and 32 URL-safe characters (192 bits) of the HMAC of the two ids, whichever order. */
export function directName(key: Buffer, a: string, b: string): string {
  const pair = JSON.stringify(a < b ? [a, b] : [b, a])
  return `${DIRECT_PREFIX}${createHmac('sha256', key).update(pair).digest('base64url').slice(0, 32)}`
}

export class DirectRooms {
  private readonly key: Buffer

  constructor(
    private readonly directory: Directory,
    private readonly changes: MembershipChanges,
    private readonly audit: AuditTrail,
    secret: string
  ) {
    this.key = directKey(secret)
  }

  /** The name a user was last seen with in any room (their id when never seen). */
  private async nameOf(userId: string): Promise<string> {
    const named = (await this.directory.memberships(userId)).filter((m) => m.name !== undefined)
    named.sort((a, b) => b.since - a.since)
    return named[0]?.name ?? userId
  }

  /** The direct room of `user` and `otherId`, made (or joined again) when needed. */
  async open(user: Member, otherId: string): Promise<RoomInfo> {
    if (otherId === user.id) throw new ChatError('INVALID_PAYLOAD', 'A direct room is with someone else')
    if (await this.directory.hasBlocked(otherId, user.id)) {
      throw new ChatError('FORBIDDEN', 'This user takes no direct messages from you')
    }
    const name = directName(this.key, user.id, otherId)
    const now = Date.now()
    const [mine, theirs, otherName] = await Promise.all([
      this.directory.membership(name, user.id),
      this.directory.membership(name, otherId),
      this.nameOf(otherId)
    ])
    // The pair is kept with the room: a block holds even after the blocker left it.
    const made = await this.directory.createRoom({
      name,
      kind: 'direct',
      title: '',
      createdAt: now,
      pair: [user.id, otherId]
    })
    const createdAt = made ? now : ((await this.directory.room(name))?.createdAt ?? now)
    const info = (title: string): RoomInfo => ({ name, kind: 'direct', title, createdAt })
    // Both capped before either is added, so that a refusal leaves nothing half made; the other
    // user's room is one given to them, under the lower cap.
    if (mine === undefined) await requireRoomFor(this.directory, user.id, true)
    if (theirs === undefined) await requireRoomFor(this.directory, otherId, false)
    if (theirs === undefined) {
      await this.directory.setMembership({ room: name, userId: otherId, role: 'member', since: now, name: otherName })
      await this.changes.publish({ kind: 'added', userId: otherId, room: info(user.name), role: 'member' })
    }
    if (mine === undefined) {
      await this.directory.setMembership(withMember({ room: name, userId: user.id, role: 'member', since: now }, user))
      await this.changes.publish({ kind: 'added', userId: user.id, room: info(otherName), role: 'member' })
    }
    if (made) await this.audit.record('direct.opened', { room: name, by: user.id, user: otherId })
    return info(otherName)
  }

  /** `user` blocks `otherId`: no direct room opened by them, and no sends in the one they share. */
  async block(user: Member, otherId: string): Promise<void> {
    if (otherId === user.id) throw new ChatError('INVALID_PAYLOAD', 'Nobody blocks themself')
    await this.directory.block(user.id, otherId)
    await this.tellBlocked(user.id, otherId, true)
  }

  async unblock(user: Member, otherId: string): Promise<void> {
    await this.directory.unblock(user.id, otherId)
    await this.tellBlocked(user.id, otherId, false)
  }

  /** Reaches the blocked user's sockets in the room the two share, if they share one. */
  private async tellBlocked(userId: string, otherId: string, blocked: boolean): Promise<void> {
    const room = directName(this.key, userId, otherId)
    if ((await this.directory.membership(room, otherId)) === undefined) return
    await this.changes.publish({ kind: 'grant', userId: otherId, room, blocked })
  }

  /** A direct room's title as `userId` sees it: the other user's name. */
  async titleFor(room: string, userId: string): Promise<string> {
    const other = (await this.directory.roomMembers(room)).find((m) => m.userId !== userId)
    return other?.name ?? other?.userId ?? room
  }
}
