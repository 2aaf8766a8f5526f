// Guest sign-in, kept in localStorage until the token expires.
import type { Member } from '../../src/chat/protocol.js'

export interface Session {
  token: string
  user: Member
  expiresAt: number
}

/** Where the session is kept (other tabs watch it). */
export const SESSION_KEY = 'chat.session'
const ROOMS_KEY = 'chat.rooms'

export function savedSession(now = Date.now()): Session | undefined {
  try {
    const session = JSON.parse(localStorage.getItem(SESSION_KEY) ?? 'null') as Session | null
    // A minute of margin: a token about to expire would be refused mid-connect.
    if (session && typeof session.token === 'string' && session.expiresAt > now + 60_000) return session
  } catch {
    // A damaged entry is as good as none.
  }
  forgetSession()
  return undefined
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
  if (!res.ok || body.token === undefined) throw new Error(body.message ?? `Sign-in failed (${res.status}).`)
  const session = body as Session
  localStorage.setItem(SESSION_KEY, JSON.stringify(session))
  return session
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
  const res = await fetch('/api/rooms', { headers: { authorization: `Bearer ${token}` } })
  if (!res.ok) return []
  return ((await res.json()) as { rooms: Array<{ name: string; members: number }> }).rooms
}
