// What the deletion tests share: a private room with every role, and a search of a store's insides.
import type { Test } from 'tap'
import type { Role } from '../../src/chat/store/parts.js'
import { api, guest, request, type TestApp } from '../helpers.js'

/** The text a deletion must leave nowhere. */
export const SECRET = 'my PIN is 1204, zebra-umbrella'

/** Every string reachable from `root` (objects, arrays, Maps, Sets), for a search of the store's insides. */
export function strings(root: unknown): string[] {
  const found: string[] = []
  const seen = new Set<unknown>()
  const visit = (value: unknown): void => {
    if (typeof value === 'string') found.push(value)
    if (value === null || typeof value !== 'object' || seen.has(value)) return
    seen.add(value)
    if (value instanceof Map) {
      for (const [k, v] of value) {
        visit(k)
        visit(v)
      }
    } else if (value instanceof Set || Array.isArray(value)) for (const v of value) visit(v)
    else for (const v of Object.values(value)) visit(v)
  }
  visit(root)
  return found
}

/**
 * A private room made by Alice (its owner) on `a`, with Bob a member and Carol a moderator, both
 * on `b`, and Mallory, a guest who is in no way in it; everyone but Mallory joined.
 */
export async function privateRoom(t: Test, a: TestApp, b: TestApp = a) {
  const alice = await guest(t, a.url, 'Alice')
  const made = await api(a.url, alice.token, 'POST', '/api/rooms', { kind: 'private', title: 'Plans' })
  t.equal(made.status, 201)
  const room = made.body.room.name as string
  const bob = await guest(t, b.url, 'Bob')
  const carol = await guest(t, b.url, 'Carol')
  const mallory = await guest(t, b.url, 'Mallory')
  const member = (userId: string, role: Role) =>
    a.app.store.directory.setMembership({ room, userId, role, since: Date.now() })
  await member(bob.user.id, 'member')
  await member(carol.user.id, 'moderator')
  for (const who of [alice, bob, carol]) t.equal((await request(who.socket, 'room:join', { room })).ok, true)
  return { room, alice, bob, carol, mallory, member }
}
