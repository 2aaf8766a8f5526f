// Guest sign-in, kept in localStorage until the token expires.
import type { Member } from '../../src/chat/protocol.js'

export interface Session {
  token: string
  user: Member
  expiresAt: number
}

const KEY = 'chat.session'
const ROOMS_KEY = 'chat.rooms'

export function savedSession(now = Date.now()): Session | undefined {
  try {
    const session = JSON.parse(localStorage.getItem(KEY) ?? 'null') as Session | null
    // A minute of margin: a token about to expire would be refused mid-connect.
    if (session && typeof session.token === 'string' && session.expiresAt > now + 60_000) return session
  } catch {
    // A damaged entry is as good as none.
  }
  forgetSession()
  return undefined
}

export function forgetSession(): void {
  localStorage.removeItem(KEY)
  localStorage.removeItem(ROOMS_KEY)
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
  localStorage.setItem(KEY, JSON.stringify(session))
  return session
}

export function savedRooms(): { rooms: string[]; active?: string } {
  try {
    const saved = JSON.parse(localStorage.getItem(ROOMS_KEY) ?? 'null') as { rooms: string[]; active?: string } | null
    if (saved && Array.isArray(saved.rooms)) return saved
  } catch {
    // ignore
  }
  return { rooms: [] }
}

export function saveRooms(rooms: string[], active: string | undefined): void {
  localStorage.setItem(ROOMS_KEY, JSON.stringify({ rooms, active }))
}

export async function fetchRooms(token: string): Promise<Array<{ name: string; members: number }>> {
  const res = await fetch('/api/rooms', { headers: { authorization: `Bearer ${token}` } })
  if (!res.ok) return []
  return ((await res.json()) as { rooms: Array<{ name: string; members: number }> }).rooms
}
