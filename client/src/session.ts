// Guest sign-in, kept in localStorage (shared by the browser's tabs) until the token expires or
// the user signs out; see docs/client-security.md for why there and what that exposes.
import type { Member } from '../../src/chat/protocol.js'
import { type ApiOutcome, api } from './api.js'

export interface Session {
  token: string
  user: Member
  /** When the token expires, by the server's clock. */
  expiresAt: number
  /** When to refresh it and when it ends, by this browser's clock (set when it was received). */
  renewAt?: number
  endsAt?: number
}

/** Where the session is kept (other tabs watch it). */
export const SESSION_KEY = 'chat.session'
const ROOMS_KEY = 'chat.rooms'
/** A signed-out token the server has not confirmed as revoked yet (no answer at the time). */
const SIGN_OUT_KEY = 'chat.sign-out-pending'

/**
 * How long after receiving a token of `lifeMs` to refresh it: at 80% of its life, or a minute
 * before it ends when that is sooner, but not before half of it (a 60 s token at 30 s).
 */
export function renewDelay(lifeMs: number): number {
  const lead = Math.max(lifeMs * 0.2, Math.min(60_000, lifeMs * 0.5))
  return Math.max(0, Math.round(lifeMs - lead))
}

/** The token's life as its issuer counted it (exp - iat), so that this clock's error does not matter. */
function lifeOf(token: string, expiresAt: number, now: number): number {
  try {
    const claims = JSON.parse(atob((token.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/'))) as {
      iat?: unknown
      exp?: unknown
    }
    if (typeof claims.iat === 'number' && typeof claims.exp === 'number' && claims.exp > claims.iat) {
      return (claims.exp - claims.iat) * 1000
    }
  } catch {
    // Not a JWT this page can read: the server's expiresAt against this clock.
  }
  return Math.max(0, expiresAt - now)
}

/** A session as the server answered it, with its times on this browser's clock. */
export function received(answer: Pick<Session, 'token' | 'user' | 'expiresAt'>, now = Date.now()): Session {
  const life = lifeOf(answer.token, answer.expiresAt, now)
  return {
    token: answer.token,
    user: answer.user,
    expiresAt: answer.expiresAt,
    renewAt: now + renewDelay(life),
    endsAt: now + life
  }
}

/** When a session ends by this browser's clock (older saved sessions: the server's time). */
export const endsAt = (session: Session) => session.endsAt ?? session.expiresAt

function isSession(value: unknown): value is Session {
  const s = value as Session | null
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.token === 'string' &&
    typeof s.expiresAt === 'number' &&
    typeof s.user?.id === 'string' &&
    typeof s.user.name === 'string'
  )
}

/** The session saved by this or another tab, if any and not about to end. */
export function storedSession(now = Date.now()): Session | undefined {
  try {
    const session: unknown = JSON.parse(localStorage.getItem(SESSION_KEY) ?? 'null')
    // A few seconds of margin: a token about to expire would be refused mid-connect.
    if (isSession(session) && endsAt(session) > now + 5_000) return session
  } catch {
    // A damaged entry is as good as none.
  }
  return undefined
}

export function savedSession(now = Date.now()): Session | undefined {
  const session = storedSession(now)
  if (session === undefined) forgetSession()
  return session
}

export function saveSession(session: Session): void {
  localStorage.setItem(SESSION_KEY, JSON.stringify(session))
}

/** Forgets the session, and the rooms too unless `keepRooms` (the same person signs in again). */
export function forgetSession(keepRooms = false): void {
  localStorage.removeItem(SESSION_KEY)
  if (!keepRooms) localStorage.removeItem(ROOMS_KEY)
}

export async function signIn(name: string): Promise<Session> {
  const res = await fetch('/api/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name })
  })
  const body = (await res.json().catch(() => ({}))) as Partial<Session> & { message?: string }
  if (res.status === 404) throw new Error('Guest sign-in is turned off on this server.')
  if (!res.ok || !isSession(body)) throw new Error(body.message ?? `Sign-in failed (${res.status}).`)
  const session = received(body)
  saveSession(session)
  return session
}

/** A new token for the same user, for a token still good (guests only: 403 for others). */
export function refreshSession(token: string): Promise<ApiOutcome<Session>> {
  return api<Session>(token, 'POST', '/api/session/refresh')
}

/**
 * Ends the session on the server: the token is refused from then on, everywhere. Tried a few
 * times; a token the server could not be told of is kept, to be told at the next page load.
 */
export async function endSession(token: string, expiresAt: number): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const outcome = await api(token, 'DELETE', '/api/session')
    // Refused as no longer good (expired, revoked already): nothing left to end.
    if (outcome.ok || outcome.status === 401) {
      forgetPendingSignOut(token)
      return true
    }
    if (outcome.status !== 0 && outcome.status < 500 && outcome.status !== 429) break
    await new Promise((resolve) => setTimeout(resolve, 1000 * 2 ** attempt))
  }
  try {
    const pending = pendingSignOuts().filter((p) => p.token !== token)
    localStorage.setItem(SIGN_OUT_KEY, JSON.stringify([...pending, { token, expiresAt }]))
  } catch {
    // Not kept: the token ends at its expiry.
  }
  return false
}

function pendingSignOuts(now = Date.now()): Array<{ token: string; expiresAt: number }> {
  try {
    const pending: unknown = JSON.parse(localStorage.getItem(SIGN_OUT_KEY) ?? '[]')
    if (Array.isArray(pending)) {
      return pending.filter(
        (p): p is { token: string; expiresAt: number } =>
          typeof p?.token === 'string' && typeof p.expiresAt === 'number' && p.expiresAt > now
      )
    }
  } catch {
    // ignore
  }
  return []
}

function forgetPendingSignOut(token: string): void {
  const left = pendingSignOuts().filter((p) => p.token !== token)
  if (left.length === 0) localStorage.removeItem(SIGN_OUT_KEY)
  else localStorage.setItem(SIGN_OUT_KEY, JSON.stringify(left))
}

/** Sign-outs the server was not told of when they happened: told now. */
export function finishSignOuts(): void {
  for (const { token, expiresAt } of pendingSignOuts()) void endSession(token, expiresAt)
}

/** The rooms this browser showed last, and their titles (a private room's name says nothing). */
export interface SavedRooms {
  rooms: string[]
  active?: string
  titles?: Record<string, string>
}

export function savedRooms(): SavedRooms {
  try {
    const saved = JSON.parse(localStorage.getItem(ROOMS_KEY) ?? 'null') as SavedRooms | null
    if (saved && Array.isArray(saved.rooms)) return saved
  } catch {
    // ignore
  }
  return { rooms: [] }
}

// The saved rooms are shared by every tab of the browser: each change is made to what is saved
// now (read, changed, written), so that a tab never writes back its own older list over rooms
// another tab joined meanwhile.
function changeRooms(change: (saved: SavedRooms) => void): void {
  const saved = savedRooms()
  change(saved)
  localStorage.setItem(ROOMS_KEY, JSON.stringify(saved))
}

export function rememberRoom(name: string, title?: string): void {
  changeRooms((saved) => {
    if (!saved.rooms.includes(name)) saved.rooms.push(name)
    if (title !== undefined && title !== name) saved.titles = { ...saved.titles, [name]: title }
  })
}

export function forgetRoom(name: string): void {
  changeRooms((saved) => {
    saved.rooms = saved.rooms.filter((room) => room !== name)
    if (saved.titles !== undefined) delete saved.titles[name]
    if (saved.active === name) delete saved.active
  })
}

/** The room a reload opens. */
export function rememberActive(name: string | undefined): void {
  changeRooms((saved) => {
    if (name === undefined) delete saved.active
    else saved.active = name
  })
}

export async function fetchRooms(token: string): Promise<Array<{ name: string; members: number }>> {
  const outcome = await api<{ rooms: Array<{ name: string; members: number }> }>(token, 'GET', '/api/rooms')
  return outcome.ok && Array.isArray(outcome.body?.rooms) ? outcome.body.rooms : []
}
