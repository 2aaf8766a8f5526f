// Single-node directory: rooms and memberships in this process's memory.
import {
  AUDIT_KEPT,
  type AuditEntry,
  type Directory,
  type Invite,
  type Membership,
  type Restriction,
  type RestrictionKind,
  type RoomRecord
} from './parts.js'

/** Invites kept at most before the expired ones are swept out. */
const INVITES_BEFORE_SWEEP = 10_000

function usable(invite: Invite, now: number): boolean {
  return invite.expiresAt > now && (invite.maxUses === undefined || invite.uses < invite.maxUses)
}

export class MemoryDirectory implements Directory {
  private readonly rooms = new Map<string, RoomRecord>()
  /** room → userId → membership */
  private readonly members = new Map<string, Map<string, Membership>>()
  /** userId → rooms */
  private readonly byUser = new Map<string, Set<string>>()
  /** kind → `${room}\n${userId}` → restriction */
  private readonly restrictions = { ban: new Map<string, Restriction>(), mute: new Map<string, Restriction>() }
  /** userId → the users they blocked */
  private readonly blocks = new Map<string, Set<string>>()
  private readonly invites = new Map<string, Invite>()
  /** code → the users who used it */
  private readonly inviteUsers = new Map<string, Set<string>>()
  /** room → audit entries, oldest first */
  private readonly audits = new Map<string, AuditEntry[]>()

  async room(name: string): Promise<RoomRecord | undefined> {
    const record = this.rooms.get(name)
    return record === undefined ? undefined : { ...record }
  }

  async createRoom(record: RoomRecord): Promise<boolean> {
    if (this.rooms.has(record.name)) return false
    this.rooms.set(record.name, { ...record })
    return true
  }

  async membership(room: string, userId: string): Promise<Membership | undefined> {
    const found = this.members.get(room)?.get(userId)
    return found === undefined ? undefined : { ...found }
  }

  async setMembership(membership: Membership): Promise<void> {
    const members = this.members.get(membership.room) ?? new Map<string, Membership>()
    this.members.set(membership.room, members)
    members.set(membership.userId, { ...membership })
    const rooms = this.byUser.get(membership.userId) ?? new Set<string>()
    this.byUser.set(membership.userId, rooms)
    rooms.add(membership.room)
  }

  async removeMembership(room: string, userId: string): Promise<boolean> {
    const members = this.members.get(room)
    if (members?.delete(userId) !== true) return false
    if (members.size === 0) this.members.delete(room)
    const rooms = this.byUser.get(userId)
    rooms?.delete(room)
    if (rooms?.size === 0) this.byUser.delete(userId)
    return true
  }

  async memberships(userId: string): Promise<Membership[]> {
    const list: Membership[] = []
    for (const room of this.byUser.get(userId) ?? []) {
      const found = this.members.get(room)?.get(userId)
      if (found !== undefined) list.push({ ...found })
    }
    return list
  }

  async membershipCount(userId: string): Promise<number> {
    return this.byUser.get(userId)?.size ?? 0
  }

  async roomMembers(room: string): Promise<Membership[]> {
    return [...(this.members.get(room)?.values() ?? [])].map((m) => ({ ...m }))
  }

  async restrict(kind: RestrictionKind, restriction: Restriction): Promise<void> {
    this.restrictions[kind].set(`${restriction.room}\n${restriction.userId}`, { ...restriction })
  }

  async lift(kind: RestrictionKind, room: string, userId: string): Promise<boolean> {
    return this.restrictions[kind].delete(`${room}\n${userId}`)
  }

  async restriction(
    kind: RestrictionKind,
    room: string,
    userId: string,
    now: number
  ): Promise<Restriction | undefined> {
    const key = `${room}\n${userId}`
    const found = this.restrictions[kind].get(key)
    if (found === undefined) return undefined
    if (found.until !== undefined && found.until <= now) {
      this.restrictions[kind].delete(key)
      return undefined
    }
    return { ...found }
  }

  async block(userId: string, other: string): Promise<void> {
    const blocked = this.blocks.get(userId) ?? new Set<string>()
    this.blocks.set(userId, blocked)
    blocked.add(other)
  }

  async unblock(userId: string, other: string): Promise<boolean> {
    const blocked = this.blocks.get(userId)
    if (blocked?.delete(other) !== true) return false
    if (blocked.size === 0) this.blocks.delete(userId)
    return true
  }

  async hasBlocked(userId: string, other: string): Promise<boolean> {
    return this.blocks.get(userId)?.has(other) ?? false
  }

  async createInvite(invite: Invite): Promise<void> {
    if (this.invites.size >= INVITES_BEFORE_SWEEP) {
      const now = Date.now()
      for (const [code, kept] of this.invites) if (kept.expiresAt <= now) void this.deleteInvite(code)
    }
    this.invites.set(invite.code, { ...invite })
  }

  async invite(code: string, now: number): Promise<Invite | undefined> {
    const invite = this.invites.get(code)
    if (invite === undefined || !usable(invite, now)) return undefined
    return { ...invite }
  }

  async redeemInvite(code: string, now: number, userId: string): Promise<Invite | undefined> {
    const invite = this.invites.get(code)
    if (invite === undefined || invite.expiresAt <= now) return undefined
    const users = this.inviteUsers.get(code) ?? new Set<string>()
    this.inviteUsers.set(code, users)
    if (users.has(userId)) return { ...invite }
    if (!usable(invite, now)) return undefined
    users.add(userId)
    invite.uses++
    return { ...invite }
  }

  async deleteInvite(code: string): Promise<boolean> {
    this.inviteUsers.delete(code)
    return this.invites.delete(code)
  }

  async record(entry: AuditEntry): Promise<void> {
    const trail = this.audits.get(entry.room) ?? []
    this.audits.set(entry.room, trail)
    trail.push({ ...entry })
    // Trimmed in batches: O(1) amortised.
    if (trail.length >= AUDIT_KEPT * 2) trail.splice(0, trail.length - AUDIT_KEPT)
  }

  async auditTrail(room: string, limit: number): Promise<AuditEntry[]> {
    const trail = this.audits.get(room) ?? []
    return trail
      .slice(-Math.min(limit, AUDIT_KEPT))
      .reverse()
      .map((e) => ({ ...e }))
  }

  clear(): void {
    this.rooms.clear()
    this.members.clear()
    this.byUser.clear()
    this.restrictions.ban.clear()
    this.restrictions.mute.clear()
    this.blocks.clear()
    this.invites.clear()
    this.inviteUsers.clear()
    this.audits.clear()
  }
}
