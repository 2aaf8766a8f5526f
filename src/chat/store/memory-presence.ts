// Single-node presence: who has a socket in which room, in this process's memory. One process
// has no upkeep: no other node can die, nothing can forget it.
import type { Member } from '../protocol.js'
import { busiestFirst, type Presence, type PresenceChange, type RoomSummary } from './parts.js'

export class MemoryPresence implements Presence {
  /** room → userId → the member and the ids of their sockets in the room. */
  private readonly byRoom = new Map<string, Map<string, { member: Member; sockets: Set<string> }>>()

  occupied(room: string): boolean {
    return this.byRoom.has(room)
  }

  async add(room: string, user: Member, socketId: string): Promise<boolean> {
    const users = this.byRoom.get(room) ?? new Map<string, { member: Member; sockets: Set<string> }>()
    this.byRoom.set(room, users)
    const entry = users.get(user.id)
    if (entry !== undefined) {
      entry.sockets.add(socketId)
      return false
    }
    users.set(user.id, { member: user, sockets: new Set([socketId]) })
    return true
  }

  async remove(room: string, user: Member, socketId: string): Promise<boolean> {
    const users = this.byRoom.get(room)
    const entry = users?.get(user.id)
    if (users === undefined || entry === undefined || !entry.sockets.delete(socketId) || entry.sockets.size > 0)
      return false
    users.delete(user.id)
    if (users.size === 0) this.byRoom.delete(room)
    return true
  }

  async members(room: string): Promise<Member[]> {
    return [...(this.byRoom.get(room)?.values() ?? [])].map((entry) => entry.member)
  }

  async rooms(limit: number): Promise<RoomSummary[]> {
    const list: RoomSummary[] = []
    for (const [name, users] of this.byRoom) list.push({ name, members: users.size })
    return list.sort(busiestFirst).slice(0, limit)
  }

  onChange(_listener: (change: PresenceChange) => void): void {}

  clear(): void {
    this.byRoom.clear()
  }
}
