// The rooms of one sign-in and the one that is open, kept in step with the server's list of the
// user's rooms (GET /api/me/rooms, the same on every device) and with what is saved for the next
// page. A room left and joined again is a new RoomState: what was under way for the old one asks
// `holds` and finds it gone.
import { isRoomName } from '../../src/chat/limits.js'
import type { RoleName, RoomInfo } from '../../src/chat/protocol.js'
import { RoomState } from './room-state.js'
import { forgetRoom, rememberActive, rememberRoom, savedRooms } from './session.js'

/** A room as the server lists it for the user. */
export type ListedRoom = Pick<RoomInfo, 'name' | 'title'> & Partial<RoomInfo> & { role?: RoleName }

export class Rooms {
  private byName = new Map<string, RoomState>()
  active: string | undefined

  /** The rooms saved by the last page, or #general for a first visit. */
  static restore(): Rooms {
    const rooms = new Rooms()
    const saved = savedRooms()
    for (const name of saved.rooms) {
      if (!isRoomName(name)) continue
      const room = new RoomState(name)
      room.title = saved.titles?.[name] ?? name
      rooms.byName.set(name, room)
    }
    if (rooms.byName.size === 0) rooms.add('general')
    rooms.active = saved.active !== undefined && rooms.byName.has(saved.active) ? saved.active : rooms.first()
    return rooms
  }

  get(name: string): RoomState | undefined {
    return this.byName.get(name)
  }

  /** Whether `room` is still one of ours (not left, nor left and joined again). */
  holds(room: RoomState): boolean {
    return this.byName.get(room.name) === room
  }

  all(): RoomState[] {
    return [...this.byName.values()]
  }

  open(): RoomState | undefined {
    return this.active === undefined ? undefined : this.byName.get(this.active)
  }

  /**
   * The room of that name, made and saved if it is new (first in the list when `first`), with
   * what the server said of it.
   */
  add(name: string, info?: ListedRoom, first = false): RoomState {
    let room = this.byName.get(name)
    if (room === undefined) {
      room = new RoomState(name)
      if (first) this.byName = new Map([[name, room], ...this.byName])
      else this.byName.set(name, room)
    }
    if (info !== undefined) {
      room.title = info.title
      if (info.kind !== undefined) room.kind = info.kind
      if (info.role !== undefined) room.role = info.role
    }
    rememberRoom(name, room.title)
    return room
  }

  /**
   * The server's list of the user's rooms, latest activity first, is what this page holds: the
   * rooms it names are added (and returned, to be joined), in its order; a room held here that
   * it does not name is dropped (returned too), unless the user asked for it on this page and no
   * join confirmed it yet (`chosen`). An empty list is a user the server does not know yet (a
   * first visit, a new guest after a refused session): the public rooms this browser had are
   * carried over and joined, which makes them the user's.
   */
  fromServer(listed: ListedRoom[]): { added: RoomState[]; gone: RoomState[] } {
    const held = new Map(this.byName)
    const added: RoomState[] = []
    const gone: RoomState[] = []
    const next = new Map<string, RoomState>()
    for (const info of listed) {
      if (!isRoomName(info.name)) continue
      const known = held.get(info.name)
      held.delete(info.name)
      const room = known ?? new RoomState(info.name)
      next.set(info.name, room)
      if (known === undefined) added.push(room)
    }
    for (const room of held.values()) {
      if (room.chosen || (listed.length === 0 && room.kind === 'public')) next.set(room.name, room)
      else gone.push(room)
    }
    this.byName = next
    for (const info of listed) if (next.has(info.name)) this.add(info.name, info)
    for (const room of gone) forgetRoom(room.name)
    if (this.active === undefined || !next.has(this.active)) {
      this.active = this.first()
      rememberActive(this.active)
    }
    return { added, gone }
  }

  /** Opens a room: its messages are read now. */
  show(name: string): void {
    this.active = name
    const room = this.byName.get(name)
    if (room !== undefined) room.unread = 0
    rememberActive(name)
  }

  /** Forgets a room here and in what is saved; returns it, if it was ours. */
  drop(name: string): RoomState | undefined {
    const room = this.byName.get(name)
    this.byName.delete(name)
    forgetRoom(name)
    if (this.active === name) {
      this.active = this.first()
      rememberActive(this.active)
    }
    return room
  }

  private first(): string | undefined {
    return this.byName.keys().next().value
  }
}
