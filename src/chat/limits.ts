// The numbers and rules the server and the web client share. No imports, so that the client
// bundles this file as it is and the two cannot drift apart.

/** Room names, as a JSON Schema pattern (the server's schemas test it with the `u` flag). */
export const ROOM_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'
/** A sender's retry key for `message:send`. */
export const CLIENT_ID_PATTERN = '^[A-Za-z0-9_-]{1,64}$'
/** Messages returned by `room:join` without `since`, and `room:history` without `limit`. */
export const DEFAULT_PAGE_SIZE = 50
/** The most `room:history` returns in one page (its `limit` is 1 to this). */
export const MAX_PAGE_SIZE = 200
/** Rooms one connection may be in at once; a join past it is refused INVALID_PAYLOAD. */
export const MAX_ROOMS_PER_CONNECTION = 100

/**
 * A message text must hold at least one character that shows: one that is not white space
 * (Unicode White_Space, so U+0085 and U+3000 too), not invisible (Default_Ignorable_Code_Point:
 * U+200B, U+FEFF, U+00AD, variation selectors, the Hangul fillers; or a format character, Cf)
 * and not U+2800 BRAILLE PATTERN BLANK. JavaScript's \s is not used: it counts U+FEFF as white
 * space, which Unicode does not, and leaves out U+0085, which Unicode counts.
 */
export const VISIBLE_TEXT_PATTERN = '[^\\p{White_Space}\\p{Default_Ignorable_Code_Point}\\p{Cf}\\u2800]'
const VISIBLE_TEXT = new RegExp(VISIBLE_TEXT_PATTERN, 'u')

export function hasVisibleText(text: string): boolean {
  return VISIBLE_TEXT.test(text)
}

const ROOM_NAME = new RegExp(ROOM_NAME_PATTERN, 'u')

export function isRoomName(name: string): boolean {
  return ROOM_NAME.test(name)
}

/** Names of private rooms start so, then at least 22 random URL-safe characters; direct rooms with `dm.`. */
export const PRIVATE_PREFIX = 'p.'
export const DIRECT_PREFIX = 'dm.'

export type RoomKind = 'public' | 'private' | 'direct'

/** A room's kind, read from its name: the server makes private and direct names, nobody else. */
export function roomKind(name: string): RoomKind {
  if (name.startsWith(PRIVATE_PREFIX)) return 'private'
  if (name.startsWith(DIRECT_PREFIX)) return 'direct'
  return 'public'
}

/** Rooms one user may be a member of (a public join records a membership). */
export const MAX_MEMBERSHIPS_PER_USER = 1000
/** Of those, how many others may give them (adding them, opening a direct room with them). */
export const MAX_MEMBERSHIPS_GIVEN = 900
