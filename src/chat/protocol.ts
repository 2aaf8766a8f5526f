// The Socket.IO contract in one place: payload schemas (TypeBox, so the TypeScript types are
// derived from the same source as the runtime checks), shapes and the typed event maps shared
// by the server, the web client, the tests and the benchmark.
import Type, { type Static } from 'typebox'
import { CLIENT_ID_PATTERN, MAX_PAGE_SIZE, ROOM_NAME_PATTERN, VISIBLE_TEXT_PATTERN } from './limits.js'

export { CLIENT_ID_PATTERN, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ROOM_NAME_PATTERN } from './limits.js'

export const ErrorCode = {
  INVALID_PAYLOAD: 'INVALID_PAYLOAD',
  NOT_IN_ROOM: 'NOT_IN_ROOM',
  RATE_LIMITED: 'RATE_LIMITED',
  UNAVAILABLE: 'UNAVAILABLE',
  INTERNAL: 'INTERNAL',
  UNAUTHORIZED: 'UNAUTHORIZED',
  TOO_MANY_CONNECTIONS: 'TOO_MANY_CONNECTIONS',
  UNKNOWN_EVENT: 'UNKNOWN_EVENT',
  FORBIDDEN: 'FORBIDDEN',
  CONFLICT: 'CONFLICT',
  NOT_FOUND: 'NOT_FOUND',
  TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  TOKEN_REVOKED: 'TOKEN_REVOKED'
} as const
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

const RoomName = Type.String({ pattern: ROOM_NAME_PATTERN })
const Seq = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })
const strict = { additionalProperties: false } as const

export const JoinPayload = Type.Object({ room: RoomName, since: Type.Optional(Seq) }, strict)
export const LeavePayload = Type.Object({ room: RoomName }, strict)
export const HistoryPayload = Type.Object(
  {
    room: RoomName,
    before: Type.Optional(Seq),
    after: Type.Optional(Seq),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE }))
  },
  strict
)
export const TypingPayload = Type.Object({ room: RoomName, typing: Type.Boolean() }, strict)
/** A message's id, as the server makes them (a UUID). */
export const DeletePayload = Type.Object({ room: RoomName, id: Type.String({ minLength: 1, maxLength: 64 }) }, strict)

/** The text limit is configuration, so this schema is built at boot. */
export function sendPayloadSchema(maxMessageLength: number) {
  return Type.Object(
    {
      room: RoomName,
      // maxLength counts Unicode code points: an emoji is one character, as a person counts it.
      // Something that shows, not only white space or invisible characters (limits.ts).
      text: Type.String({ minLength: 1, maxLength: maxMessageLength, pattern: VISIBLE_TEXT_PATTERN }),
      clientId: Type.Optional(Type.String({ pattern: CLIENT_ID_PATTERN }))
    },
    strict
  )
}

export type JoinPayload = Static<typeof JoinPayload>
export type LeavePayload = Static<typeof LeavePayload>
export type HistoryPayload = Static<typeof HistoryPayload>
export type TypingPayload = Static<typeof TypingPayload>
export type DeletePayload = Static<typeof DeletePayload>
export const RefreshPayload = Type.Object({ token: Type.String({ minLength: 1, maxLength: 4096 }) }, strict)
export type RefreshPayload = Static<typeof RefreshPayload>
export interface RefreshResult {
  /** When the new token expires (ms since the epoch). */
  expiresAt: number
}
export type SendPayload = Static<ReturnType<typeof sendPayloadSchema>>

export interface Member {
  id: string
  name: string
  /** A guest: a name picked at sign-in (POST /api/session), vouched for by nobody. */
  guest?: true
}

export interface Message {
  id: string
  room: string
  seq: number
  user: Member
  text: string
  ts: number
  clientId?: string
  /** Set (with `text: ""`) when the message was deleted: its place in history, with no text left. */
  deleted?: true
}

/** A room entry that records a deletion: `target` is the deleted message's id, `user` who deleted it. */
export interface DeletionEntry {
  id: string
  room: string
  seq: number
  type: 'deletion'
  target: string
  user: Member
  ts: number
}

/** One of a room's entries, numbered by its seq: a message (no `type`), or a change to one. */
export type Entry = Message | DeletionEntry

export type RoomKindName = 'public' | 'private' | 'direct'
export type RoleName = 'owner' | 'moderator' | 'member'

export interface RoomInfo {
  name: string
  kind: RoomKindName
  title: string
  createdAt: number
}

export interface RoomAddedEvent {
  room: RoomInfo
  role: RoleName
}

export interface RoomRemovedEvent {
  room: string
  reason: 'removed' | 'banned' | 'left'
}

/** A member's role changed, or someone became or stopped being a member (`role` null). */
export interface RoomMemberEvent {
  room: string
  userId: string
  role: RoleName | null
}

export interface ErrorBody {
  code: ErrorCode
  message: string
  retryAfterMs?: number
}

export type Ack<T> = (response: ({ ok: true } & T) | { ok: false; error: ErrorBody }) => void

export interface JoinResult {
  room: string
  members: Member[]
  messages: Entry[]
  recovered: boolean
}
// biome-ignore lint/complexity/noBannedTypes: an answer with nothing but `ok` (Record<string, never> would forbid `ok`)
export type EmptyResult = {}
export interface SendResult {
  message: Message
}
export interface HistoryResult {
  messages: Entry[]
}

export interface ClientToServerEvents {
  'room:join': (payload: JoinPayload, ack?: Ack<JoinResult>) => void
  'room:leave': (payload: LeavePayload, ack?: Ack<EmptyResult>) => void
  'message:send': (payload: SendPayload, ack?: Ack<SendResult>) => void
  'room:history': (payload: HistoryPayload, ack?: Ack<HistoryResult>) => void
  typing: (payload: TypingPayload, ack?: Ack<EmptyResult>) => void
  'message:delete': (payload: DeletePayload, ack?: Ack<EmptyResult>) => void
  'auth:refresh': (payload: RefreshPayload, ack?: Ack<RefreshResult>) => void
}

export interface PresenceEvent {
  room: string
  user: Member
  status: 'joined' | 'left'
}
export interface TypingEvent {
  room: string
  user: Member
  typing: boolean
}
export interface ChatErrorEvent {
  event: string
  code: ErrorCode
  message: string
  retryAfterMs?: number
}

export interface ServerToClientEvents {
  message: (message: Entry) => void
  messages: (messages: Entry[]) => void
  presence: (event: PresenceEvent) => void
  typing: (event: TypingEvent) => void
  'chat:error': (event: ChatErrorEvent) => void
  'room:added': (event: RoomAddedEvent) => void
  'room:removed': (event: RoomRemovedEvent) => void
  'room:member': (event: RoomMemberEvent) => void
}

/**
 * A membership change, told to every node so that each applies it to its own sockets of the
 * user before the call that made it answers (see chat/changes.ts).
 */
export type MembershipChange =
  | { kind: 'added'; userId: string; room: RoomInfo; role: RoleName }
  | { kind: 'removed'; userId: string; room: string; reason: RoomRemovedEvent['reason'] }
  /**
   * A new role, a mute set or lifted (`mutedUntil` null: not muted), or the other user of a
   * direct room blocking or unblocking this one.
   */
  | { kind: 'grant'; userId: string; room: string; role?: RoleName; mutedUntil?: number | null; blocked?: boolean }

/** A revocation, told to every node (see chat/token-lifetimes.ts). */
export type Revocation =
  | { kind: 'token'; key: string; userId: string; expiresAt: number }
  | { kind: 'user'; userId: string; before: number }

export interface InterServerEvents {
  membership: (change: MembershipChange, ack: (result: 'ok' | 'failed') => void) => void
  revocation: (revocation: Revocation, ack: (result: 'ok' | 'failed') => void) => void
}

export type ClientEventName = keyof ClientToServerEvents

/** Every client event the server handles (a record, so that none can be left out). */
export const CLIENT_EVENTS = Object.keys({
  'room:join': true,
  'room:leave': true,
  'message:send': true,
  'room:history': true,
  typing: true,
  'message:delete': true,
  'auth:refresh': true
} satisfies Record<ClientEventName, true>) as ClientEventName[]
