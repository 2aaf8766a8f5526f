// Telling a room that the user is typing: at most every 2 s while keys come, and that it
// stopped after 3 s without one, on a send, or on a switch to another room.
import type { ChatSocket } from './request.js'
import type { RoomState } from './room-state.js'
import type { Rooms } from './rooms.js'

const SENT_EVERY_MS = 2000
const IDLE_MS = 3000

export class Typing {
  private sentAt = 0
  /** The room the indicator was sent for (the user may switch rooms meanwhile). */
  private room: string | undefined
  private idle: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly socket: ChatSocket,
    private readonly rooms: Rooms
  ) {}

  typed(room: RoomState | undefined): void {
    if (room?.joined !== true || !this.socket.connected) return
    if (this.room !== undefined && this.room !== room.name) this.stop()
    if (Date.now() - this.sentAt > SENT_EVERY_MS) {
      this.sentAt = Date.now()
      this.room = room.name
      this.socket.emit('typing', { room: room.name, typing: true })
    }
    clearTimeout(this.idle)
    this.idle = setTimeout(() => this.stop(), IDLE_MS)
  }

  stop(): void {
    clearTimeout(this.idle)
    const room = this.room
    this.sentAt = 0
    this.room = undefined
    // Not buffered while disconnected: the indicator expires on the other side anyway.
    if (room !== undefined && this.socket.connected && this.rooms.get(room)?.joined === true) {
      this.socket.emit('typing', { room, typing: false })
    }
  }
}
