// The store in parts, each behind an interface with a memory and a Redis implementation that
// pass one contract suite: the message log, presence, the directory and the room feed. The chat
// service never asks which implementation it has.
import type { RoomKind } from '../limits.js'
import type { DeletionEntry, Entry, Member, Message } from '../protocol.js'

export type { RoomKind }

export interface AppendInput {
  room: string
  user: Member
  text: string
  clientId?: string
  ts: number
  /** W3C trace context of the send, carried to every delivering node when tracing is on. */
  trace?: Record<string, string>
}

export interface AppendResult {
  /** The message as stored: a tombstone (`text: ""`, `deleted: true`) for a retry of a deleted one. */
  message: Message
  /** True when `clientId` was already used by this user in this room: nothing new was stored. */
  duplicate: boolean
}

export interface SinceResult {
  messages: Entry[]
  /** False when entries after `since` were already trimmed, or `since` is unknown to the room. */
  recovered: boolean
}

export interface PageRange {
  before?: number
  after?: number
  limit: number
}

export interface DeleteInput {
  room: string
  /** The message's id. */
  target: string
  /** Who deletes. */
  user: Member
  /** `any`: anyone's message (the room's owner and moderators); `own`: only the user's own. */
  may: 'any' | 'own'
  ts: number
  trace?: Record<string, string>
}

export interface DeleteResult {
  /** The deletion entry; undefined when the message was deleted before (nothing new stored). */
  entry: DeletionEntry | undefined
  /** The deleted message's author. */
  author: Member
}

export interface MessageLogOptions {
  historyLimit: number
  /**
   * Messages one user may add to one room per minute, across all connections and nodes: a
   * bucket of that many, refilled at that rate (0 or absent: no budget).
   */
  userRoomMessagesPerMin?: number
}

/** A room's entries (messages and deletions): numbered, kept, de-duplicated. Every entry reaches the room's feed. */
export interface MessageLog {
  /**
   * One atomic step: de-duplication of a retried `clientId` (per user and room, while the
   * first message is kept), the user's send budget in the room (RATE_LIMITED, nothing stored),
   * the room's next `seq`, the history append and trim, and the feed.
   */
  append(input: AppendInput): Promise<AppendResult>
  /**
   * One atomic step: the check (`may`), the message's text erased where it was kept (history,
   * its retry record), and a deletion entry at the room's next seq, through the feed. NOT_FOUND
   * when the id is no message in the retained history (unknown, trimmed, or a deletion entry);
   * FORBIDDEN when `may` is `own` and the message is someone else's. A message deleted before
   * answers again with no new entry.
   */
  delete(input: DeleteInput): Promise<DeleteResult>
  /** The newest `limit` entries, in seq order; deleted messages as tombstones in their place. */
  latest(room: string, limit: number): Promise<Entry[]>
  /** Every retained entry with seq > `since`, in seq order. */
  since(room: string, since: number): Promise<SinceResult>
  /** Entries with after < seq < before, in seq order: the `limit` oldest when only `after` is
   * given, otherwise the `limit` newest. */
  page(room: string, range: PageRange): Promise<Entry[]>
}

export interface RoomSummary {
  name: string
  members: number
}

/** The order of a room list: busiest first, then by name (by UTF-16 code unit, as Redis orders equal scores). */
export function busiestFirst(a: RoomSummary, b: RoomSummary): number {
  return b.members - a.members || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
}

/** A presence change that upkeep found, rather than a join or leave on this node. */
export interface PresenceChange {
  room: string
  user: Member
  status: 'joined' | 'left'
}

/**
 * Who has a socket in which room, across nodes: a user counts once however many sockets. The
 * part owns its upkeep (a cluster's heartbeats, dead nodes' sweeps, removals that failed while
 * the store was away, recording this node again after the store forgot it) and tells what
 * that changed through `onChange`.
 */
export interface Presence {
  /** Counts a socket of `user` in `room`; true when it is the user's first there. */
  add(room: string, user: Member, socketId: string): Promise<boolean>
  /**
   * Forgets a socket of `user` in `room`; true when it was the user's last there. When the store
   * cannot be reached the removal is kept and retried by upkeep (told through `onChange`).
   */
  remove(room: string, user: Member, socketId: string): Promise<boolean>
  members(room: string): Promise<Member[]>
  /** The `limit` busiest rooms with members, busiest first (ties by name). */
  rooms(limit: number): Promise<RoomSummary[]>
  onChange(listener: (change: PresenceChange) => void): void
}

export type Role = 'owner' | 'moderator' | 'member'

export interface RoomRecord {
  name: string
  kind: RoomKind
  title: string
  createdAt: number
  /** A direct room's two users, whoever of them is still a member. */
  pair?: [string, string]
}

export interface Membership {
  room: string
  userId: string
  role: Role
  since: number
  /** The member's display name when last seen (joining, accepting), for member lists. */
  name?: string
  /** Set for a guest (a self-declared name). */
  guest?: true
}

/** A ban (may not join, for good or until `until`) or a mute (stays and reads, may not send). */
export type RestrictionKind = 'ban' | 'mute'

export interface Restriction {
  room: string
  userId: string
  /** When it ends (ms since the epoch); absent: for good. */
  until?: number
  reason?: string
  /** Who set it: a user id. */
  by: string
  at: number
}

export interface Invite {
  /** At least 128 random bits, URL-safe. */
  code: string
  room: string
  /** Who made it: a user id. */
  by: string
  createdAt: number
  expiresAt: number
  /** Absent: any number of uses until it expires. */
  maxUses?: number
  uses: number
}

export type AuditAction =
  | 'room.created'
  | 'direct.opened'
  | 'member.added'
  | 'member.removed'
  | 'member.left'
  | 'role.changed'
  | 'invite.created'
  | 'invite.accepted'
  | 'ban'
  | 'unban'
  | 'mute'
  | 'unmute'
  | 'message.deleted'

/** One line of a room's audit trail: who did what to whom. */
export interface AuditEntry {
  at: number
  action: AuditAction
  room: string
  /** Who acted: a user id. */
  by: string
  /** Whom it was done to: a user id. */
  user?: string
  /** The role given, the reason, the deleted message's id. */
  detail?: string
}

/** Rooms and memberships: what a room is, and who belongs to it with which role. */
export interface Directory {
  room(name: string): Promise<RoomRecord | undefined>
  /** Records a new room; false (and nothing changed) when the name is taken. */
  createRoom(record: RoomRecord): Promise<boolean>
  membership(room: string, userId: string): Promise<Membership | undefined>
  /** Adds a member or changes the role of one. */
  setMembership(membership: Membership): Promise<void>
  /** Ends a membership; false when there was none. */
  removeMembership(room: string, userId: string): Promise<boolean>
  /** The user's memberships, any order. */
  memberships(userId: string): Promise<Membership[]>
  /** How many rooms the user is a member of. */
  membershipCount(userId: string): Promise<number>
  /** The room's memberships, any order. */
  roomMembers(room: string): Promise<Membership[]>
  /** Sets (or replaces) a ban or mute of `userId` in `room`. */
  restrict(kind: RestrictionKind, restriction: Restriction): Promise<void>
  /** Lifts a ban or mute; false when there was none. */
  lift(kind: RestrictionKind, room: string, userId: string): Promise<boolean>
  /** The ban or mute in force at `now`; one whose `until` has passed counts as none. */
  restriction(kind: RestrictionKind, room: string, userId: string, now: number): Promise<Restriction | undefined>
  /** `userId` blocks `other`: no direct room opened, no sends in one they share. */
  block(userId: string, other: string): Promise<void>
  /** False when there was no such block. */
  unblock(userId: string, other: string): Promise<boolean>
  hasBlocked(userId: string, other: string): Promise<boolean>
  createInvite(invite: Invite): Promise<void>
  /** The invite as it stands, without using it; undefined for an unknown, expired or used-up code. */
  invite(code: string, now: number): Promise<Invite | undefined>
  /**
   * Uses an invite once for `userId`, atomically: the invite after the use, or undefined for an
   * unknown, expired or used-up code (nothing counted then). A user who used it before is
   * answered with the invite and counted once.
   */
  redeemInvite(code: string, now: number, userId: string): Promise<Invite | undefined>
  /** Revokes an invite; false when there was none. */
  deleteInvite(code: string): Promise<boolean>
  /** Appends to the room's audit trail (the newest `AUDIT_KEPT` are kept). */
  record(entry: AuditEntry): Promise<void>
  /** The room's audit trail, newest first. */
  auditTrail(room: string, limit: number): Promise<AuditEntry[]>
}

/** Audit entries kept per room. */
export const AUDIT_KEPT = 1000

/** One of a room's entries as the feed carries it: its JSON as stored, delivered without parsing. */
export interface FeedEntry {
  room: string
  seq: number
  /** The entry's id (the message's), to tell a room that started over from a late copy. */
  id: string
  json: string
  trace: Record<string, string> | undefined
}

/**
 * Each room's entries in seq order, each once, for the rooms this node follows: what delivery,
 * and later webhooks and read state, read. A gap (a node paused, a subscription lost) is filled
 * from the log before the feed goes on.
 */
export interface RoomFeed {
  onEntry(listener: (entry: FeedEntry) => void): void
  /** Resolves once every entry appended from now on will arrive here. */
  follow(room: string): Promise<void>
  unfollow(room: string): void
}

/** Tokens and users' tokens refused before their time (signing out, revoking a user). */
export interface RevocationList {
  /** Refuses the token named `key` until `expiresAt`, when it would have expired anyway. */
  revokeToken(key: string, expiresAt: number): Promise<void>
  /** Refuses the user's tokens issued before `before`. */
  revokeUser(userId: string, before: number): Promise<void>
  /** Everything revoked that still matters at `now`. */
  all(now: number): Promise<{
    tokens: Array<{ key: string; expiresAt: number }>
    users: Array<{ userId: string; before: number }>
  }>
}

/** The parts together, and the health of what holds them. */
export interface ChatStore {
  readonly log: MessageLog
  readonly presence: Presence
  readonly directory: Directory
  readonly feed: RoomFeed
  readonly revocations: RevocationList
  /**
   * Whether the store seems to answer right now (connected, and its last command went through),
   * without asking it: for what is not worth queueing while it is away (typing).
   */
  readonly available: boolean
  /** Resolves when the store can serve; rejects when it cannot (readiness). */
  ping(): Promise<void>
  close(): Promise<void>
}
