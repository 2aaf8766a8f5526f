// The rooms of one sign-in and the one that is open, kept in step with what is saved for the
// next page. A room left and joined again is a new RoomState: what was under way for the old
// one asks `holds` and finds it gone.
import { isRoomName } from '../../src/chat/limits.js'
import { RoomState } from './room-state.js'
import { forgetRoom, rememberActive, rememberRoom, savedRooms } from './session.js'

export class Rooms {
  private readonly byName = new Map<string, RoomState>()
  active: string | undefined

  /** The rooms saved by the last page, or #general for a first visit. */
  static restore(): Rooms {
    const rooms = new Rooms()
    const saved = savedRooms()
    for (const name of saved.rooms) if (isRoomName(name)) rooms.byName.set(name, new RoomState(name))
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

  /** The room of that name, made and saved if it is new. */
  add(name: string): RoomState {
    let room = this.byName.get(name)
    if (room === undefined) {
      room = new RoomState(name)
      this.byName.set(name, room)
    }
    rememberRoom(name)
    return room
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
