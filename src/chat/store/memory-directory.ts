// Single-node directory: rooms and memberships in this process's memory.
import type { Directory, Membership, RoomRecord } from './parts.js'

export class MemoryDirectory implements Directory {
  private readonly rooms = new Map<string, RoomRecord>()
  /** room → userId → membership */
  private readonly members = new Map<string, Map<string, Membership>>()
  /** userId → rooms */
  private readonly byUser = new Map<string, Set<string>>()

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

  clear(): void {
    this.rooms.clear()
    this.members.clear()
    this.byUser.clear()
  }
}
