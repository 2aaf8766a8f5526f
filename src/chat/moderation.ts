// Membership and moderation: who may add, remove, ban, mute and invite whom, in which room. Each
// change is recorded in the directory first, then applied on every node (changes.ts), then
// audited; the call answers after all three. The server API (later) acts with every right.
import { randomBytes } from 'node:crypto'
import { ChatError } from '../errors.js'
import { effectiveRole, FOR_GOOD, joinUnlessBanned, NOT_YOURS, requireRoomFor, withMember } from './access.js'
import type { AuditTrail } from './audit.js'
import type { MembershipChanges } from './changes.js'
import { roomKind } from './limits.js'
import type { Member, RoomInfo, RoomRemovedEvent } from './protocol.js'
import type { Directory, Invite, Membership, RestrictionKind, Role, RoomRecord } from './store/parts.js'

/** Who acts: a user with the rights of their role in the room, or the server with every right. */
/** Who acts: a user (with their token's roles) with the rights of their role in the room, or the server with every right. */
export type Actor = { user: Member; roles?: readonly string[] } | { server: true }

export interface InviteOptions {
  maxUses?: number
  expiresInSeconds?: number
}

export interface RestrictOptions {
  /** When it ends (ms since the epoch); absent: for good. */
  until?: number
  reason?: string
}

export const INVITE_DEFAULT_SECONDS = 7 * 24 * 3600
export const INVITE_MAX_SECONDS = 30 * 24 * 3600
export const INVITE_MAX_USES = 1000
/** Members a member list returns at most (owner and moderators first). */
export const MEMBERS_LISTED = 1000

const SERVER_ID = 'server'
const RANK: Record<Role, number> = { owner: 0, moderator: 1, member: 2 }

function actorId(actor: Actor): string {
  return 'server' in actor ? SERVER_ID : actor.user.id
}

/** A room's description for its members: the record when there is one, else from its name. */
export function describeRoom(name: string, record: RoomRecord | undefined, since: number): RoomInfo {
  if (record === undefined) return { name, kind: roomKind(name), title: name, createdAt: since }
  return { name, kind: record.kind, title: record.title, createdAt: record.createdAt }
}

export class Moderation {
  constructor(
    private readonly directory: Directory,
    private readonly changes: MembershipChanges,
    private readonly audit: AuditTrail
  ) {}

  /** The actor's role in the room, or FORBIDDEN (alike whether the room exists or not). */
  private async roleOf(actor: Actor, room: string): Promise<Role | 'server'> {
    if ('server' in actor) return 'server'
    const membership = await this.directory.membership(room, actor.user.id)
    // A token moderator moderates every public room, member of it or not.
    const role = effectiveRole(room, membership?.role, actor.roles)
    if (role === undefined) throw new ChatError('FORBIDDEN', NOT_YOURS)
    return role
  }

  /**
   * Whether `actor` may act on `target` (remove, ban, mute, change the role of): the server
   * always; an owner on anyone but themself; a moderator on members and non-members only.
   */
  private async requireOver(actor: Actor, room: string, target: string): Promise<Membership | undefined> {
    const [role, membership] = await Promise.all([this.roleOf(actor, room), this.directory.membership(room, target)])
    if (role === 'server') return membership
    if ('user' in actor && actor.user.id === target) {
      throw new ChatError('FORBIDDEN', 'Not on yourself: leave the room instead')
    }
    const targetRank = membership === undefined ? RANK.member : RANK[membership.role]
    if (role === 'member' || RANK[role] >= targetRank) {
      throw new ChatError('FORBIDDEN', 'Your role in this room does not allow this')
    }
    return membership
  }

  private async record(
    action: Parameters<AuditTrail['record']>[0],
    room: string,
    actor: Actor,
    user?: string,
    detail?: string
  ) {
    await this.audit.record(action, { room, by: actorId(actor), user, detail })
  }

  private async roomInfo(room: string, since: number): Promise<RoomInfo> {
    return describeRoom(room, await this.directory.room(room), since)
  }

  /** Adds `userId` to the room, or changes their role. */
  async setMember(actor: Actor, room: string, userId: string, role: Role): Promise<Membership> {
    if (roomKind(room) === 'direct') throw new ChatError('FORBIDDEN', 'A direct room has its two members only')
    const actorRole = await this.roleOf(actor, room)
    const current = await this.directory.membership(room, userId)
    if (role === 'owner' && actorRole !== 'server') {
      throw new ChatError('FORBIDDEN', 'A room has one owner, made when the room is made')
    }
    if (current !== undefined) {
      if (current.role === role) return current
      await this.requireOver(actor, room, userId)
    }
    if (actorRole !== 'server' && actorRole !== 'owner' && (actorRole !== 'moderator' || role !== 'member')) {
      throw new ChatError('FORBIDDEN', 'Your role in this room does not allow this')
    }
    if (current === undefined) return this.add(actor, room, userId, role)
    const changed: Membership = { ...current, role }
    await this.directory.setMembership(changed)
    await this.changes.publish({ kind: 'grant', userId, room, role })
    await this.record('role.changed', room, actor, userId, role)
    return changed
  }

  private async add(actor: Actor, room: string, userId: string, role: Role, member?: Member): Promise<Membership> {
    const now = Date.now()
    const byThemself = 'user' in actor && actor.user.id === userId
    if ((await this.directory.restriction('ban', room, userId, now)) !== undefined) {
      throw new ChatError('CONFLICT', 'This user is banned from the room: lift the ban first')
    }
    if ('user' in actor && !byThemself && (await this.directory.hasBlocked(userId, actor.user.id))) {
      throw new ChatError('FORBIDDEN', 'This user does not take being added by you')
    }
    await requireRoomFor(this.directory, userId, byThemself)
    const added: Membership = { room, userId, role, since: now }
    if (member !== undefined) withMember(added, member)
    await joinUnlessBanned(this.directory, added)
    await this.changes.publish({ kind: 'added', userId, room: await this.roomInfo(room, now), role })
    await this.record('member.added', room, actor, userId, role)
    return added
  }

  /** Ends `userId`'s membership and takes their sockets out of the room on every node. */
  async removeMember(actor: Actor, room: string, userId: string): Promise<void> {
    await this.requireOver(actor, room, userId)
    await this.end(room, userId, 'removed')
    await this.record('member.removed', room, actor, userId)
  }

  private async end(room: string, userId: string, reason: RoomRemovedEvent['reason']): Promise<void> {
    await this.directory.removeMembership(room, userId)
    await this.changes.publish({ kind: 'removed', userId, room, reason })
  }

  /** The user leaves the room for good (all devices). An owner's room passes to the next in line. */
  async leave(user: Member, room: string): Promise<void> {
    const membership = await this.directory.membership(room, user.id)
    if (membership === undefined) return
    if (membership.role === 'owner') await this.passOwnership(room, user.id)
    await this.end(room, user.id, 'left')
    await this.record('member.left', room, { user }, user.id)
  }

  /**
   * The owner leaves: the longest-standing moderator becomes owner, else the longest-standing
   * member. A room left by everyone stays closed: nobody may join a private room without a member
   * to add them.
   */
  private async passOwnership(room: string, ownerId: string): Promise<void> {
    const others = (await this.directory.roomMembers(room)).filter((m) => m.userId !== ownerId)
    others.sort((a, b) => RANK[a.role] - RANK[b.role] || a.since - b.since)
    const heir = others[0]
    if (heir === undefined) return
    await this.directory.setMembership({ ...heir, role: 'owner' })
    await this.changes.publish({ kind: 'grant', userId: heir.userId, room, role: 'owner' })
    await this.record('role.changed', room, { server: true }, heir.userId, 'owner')
  }

  async ban(actor: Actor, room: string, userId: string, options: RestrictOptions): Promise<void> {
    await this.restrict('ban', actor, room, userId, options)
    // Banned first, then removed: a join between the two steps is refused.
    await this.end(room, userId, 'banned')
    await this.record('ban', room, actor, userId, options.reason)
  }

  async mute(actor: Actor, room: string, userId: string, options: RestrictOptions): Promise<void> {
    await this.restrict('mute', actor, room, userId, options)
    await this.changes.publish({ kind: 'grant', userId, room, mutedUntil: options.until ?? FOR_GOOD })
    await this.record('mute', room, actor, userId, options.reason)
  }

  private async restrict(
    kind: RestrictionKind,
    actor: Actor,
    room: string,
    userId: string,
    { until, reason }: RestrictOptions
  ): Promise<void> {
    if (roomKind(room) === 'direct') throw new ChatError('FORBIDDEN', 'Block the user instead')
    await this.requireOver(actor, room, userId)
    const at = Date.now()
    if (until !== undefined && until <= at) throw new ChatError('INVALID_PAYLOAD', 'until must be in the future')
    await this.directory.restrict(kind, { room, userId, until, reason, by: actorId(actor), at })
  }

  async unban(actor: Actor, room: string, userId: string): Promise<void> {
    await this.lift('ban', actor, room, userId)
    await this.record('unban', room, actor, userId)
  }

  async unmute(actor: Actor, room: string, userId: string): Promise<void> {
    await this.lift('mute', actor, room, userId)
    await this.changes.publish({ kind: 'grant', userId, room, mutedUntil: null })
    await this.record('unmute', room, actor, userId)
  }

  /**
   * Lifts a ban or mute: the same rights as setting it (nobody lifts their own; a moderator none
   * on the owner or another moderator), and a moderator none that the owner set.
   */
  private async lift(kind: RestrictionKind, actor: Actor, room: string, userId: string): Promise<void> {
    await this.requireOver(actor, room, userId)
    const role = await this.roleOf(actor, room)
    if (role === 'moderator') {
      const set = await this.directory.restriction(kind, room, userId, Date.now())
      const setter = set === undefined ? undefined : await this.directory.membership(room, set.by)
      if (setter?.role === 'owner') throw new ChatError('FORBIDDEN', 'The owner set this; only the owner lifts it')
    }
    await this.directory.lift(kind, room, userId)
  }

  async createInvite(actor: Actor, room: string, options: InviteOptions): Promise<Invite> {
    const role = await this.roleOf(actor, room)
    if (roomKind(room) === 'direct') throw new ChatError('FORBIDDEN', 'A direct room has its two members only')
    if (role === 'member') throw new ChatError('FORBIDDEN', 'Only the owner and moderators invite')
    const createdAt = Date.now()
    const seconds = options.expiresInSeconds ?? INVITE_DEFAULT_SECONDS
    const invite: Invite = {
      code: randomBytes(18).toString('base64url'),
      room,
      by: actorId(actor),
      createdAt,
      expiresAt: createdAt + seconds * 1000,
      uses: 0
    }
    if (options.maxUses !== undefined) invite.maxUses = options.maxUses
    await this.directory.createInvite(invite)
    await this.record('invite.created', room, actor, undefined, String(invite.maxUses ?? ''))
    return invite
  }

  /** Revokes an invite of the room: its owner and moderators. Unknown codes answer alike. */
  async revokeInvite(actor: Actor, room: string, code: string): Promise<void> {
    const role = await this.roleOf(actor, room)
    if (role === 'member') throw new ChatError('FORBIDDEN', 'Only the owner and moderators revoke invites')
    const invite = await this.directory.invite(code, Date.now())
    if (invite?.room === room) await this.directory.deleteInvite(code)
  }

  /**
   * The caller becomes a member of the invite's room; NOT_FOUND for a code that does not work,
   * including one whose maker no longer owns or moderates the room (a removed moderator's links
   * stop working with their rights).
   */
  async acceptInvite(user: Member, code: string): Promise<RoomInfo> {
    const gone = () => new ChatError('NOT_FOUND', 'This invite is unknown, expired or used up')
    const now = Date.now()
    const seen = await this.directory.invite(code, now)
    if (seen === undefined) throw gone()
    const { room } = seen
    const [membership, ban, maker] = await Promise.all([
      this.directory.membership(room, user.id),
      this.directory.restriction('ban', room, user.id, now),
      seen.by === SERVER_ID ? undefined : this.directory.membership(room, seen.by)
    ])
    if (seen.by !== SERVER_ID && (maker === undefined || maker.role === 'member')) throw gone()
    if (ban !== undefined) throw new ChatError('FORBIDDEN', NOT_YOURS)
    // A member who opens the link again uses none of it.
    if (membership === undefined) {
      // Refused before the use is counted: a user who cannot join spends nobody's invite.
      await requireRoomFor(this.directory, user.id, true)
      const used = await this.directory.redeemInvite(code, now, user.id)
      if (used === undefined) throw gone()
      await this.add({ user }, room, user.id, 'member', user)
      await this.record('invite.accepted', room, { user }, user.id, used.by)
    }
    return this.roomInfo(room, now)
  }

  /** The room's members, owner and moderators first: for its members, or anyone for a public room. */
  async members(user: Member, room: string): Promise<Membership[]> {
    if (roomKind(room) !== 'public') await this.roleOf({ user }, room)
    else if ((await this.directory.restriction('ban', room, user.id, Date.now())) !== undefined) {
      throw new ChatError('FORBIDDEN', NOT_YOURS)
    }
    const members = await this.directory.roomMembers(room)
    members.sort((a, b) => RANK[a.role] - RANK[b.role] || a.since - b.since)
    return members.slice(0, MEMBERS_LISTED)
  }

  /** The room's audit trail, for its owner and moderators. */
  async auditTrail(actor: Actor, room: string, limit: number) {
    const role = await this.roleOf(actor, room)
    if (role === 'member') throw new ChatError('FORBIDDEN', 'Only the owner and moderators read the audit trail')
    return this.audit.trail(room, limit)
  }
}
