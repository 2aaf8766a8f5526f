// The seam that turns one node into many: the chat service talks to this interface only, and the
// memory store (one node) and the Redis store (a cluster) both pass one contract test suite.
import type { Member, Message } from './protocol.js'

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
  message: Message
  /** True when `clientId` was already used by this user in this room: nothing new was stored. */
  duplicate: boolean
}

export interface SinceResult {
  messages: Message[]
  /** False when messages after `since` were already trimmed, or `since` is unknown to the room. */
  recovered: boolean
}

/** A user whose last socket in a room went away with a dead node. */
export interface Departure {
  room: string
  user: Member
}

export interface RoomSummary {
  name: string
  members: number
}

/** The order of a room list: busiest first, then by name (by UTF-16 code unit, as Redis orders equal scores). */
export function busiestFirst(a: RoomSummary, b: RoomSummary): number {
  return b.members - a.members || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
}

export interface ChatStore {
  /**
   * True when `append` itself publishes each new message to every node (in seq order); false
   * when the chat service broadcasts it from this node.
   */
  readonly broadcasts: boolean

  /**
   * One atomic step: the room's next `seq`, the history append and trim, and de-duplication of
   * a retried `clientId` (per user and room, for as long as the first message is in history).
   */
  append(input: AppendInput): Promise<AppendResult>
  /** The newest `limit` messages, in seq order. */
  latest(room: string, limit: number): Promise<Message[]>
  /** Every retained message with seq > `since`, in seq order. */
  since(room: string, since: number): Promise<SinceResult>
  /** Messages with after < seq < before, in seq order: the `limit` oldest when only `after` is
   * given, otherwise the `limit` newest. */
  page(room: string, range: { before?: number; after?: number; limit: number }): Promise<Message[]>

  /** Counts a socket of `user` in `room`; true when it is the user's first there. */
  addPresence(room: string, user: Member, socketId: string): Promise<boolean>
  /** Forgets a socket of `user` in `room`; true when it was the user's last there. */
  removePresence(room: string, userId: string, socketId: string): Promise<boolean>
  members(room: string): Promise<Member[]>
  /** The `limit` busiest rooms with members, busiest first (ties by name). */
  rooms(limit: number): Promise<RoomSummary[]>

  /** Forgets the presence of nodes that died without saying goodbye; returns who left. */
  sweep(): Promise<Departure[]>
  /**
   * True (once) when this node found that it was itself forgotten: swept as dead while it was
   * cut off from the store, or the store lost its data. The presence of its sockets is gone and
   * must be recorded again.
   */
  forgotten(): boolean

  /**
   * Whether the store seems to answer right now (connected, and its last command went through),
   * without asking it: for what is not worth queueing while it is away (typing).
   */
  readonly available: boolean
  /** Resolves when the store can serve; rejects when it cannot (readiness). */
  ping(): Promise<void>
  close(): Promise<void>
}
