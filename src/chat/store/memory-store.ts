// The single-node store: every part in this process's memory, lost on restart. The feed calls
// back at once, inside the append, so a room's entries arrive in seq order by construction.
import type { Message } from '../protocol.js'
import { MemoryDirectory } from './memory-directory.js'
import { MemoryLog } from './memory-log.js'
import { MemoryPresence } from './memory-presence.js'
import type { ChatStore, FeedEntry, RoomFeed } from './parts.js'

class MemoryFeed implements RoomFeed {
  private readonly listeners: Array<(entry: FeedEntry) => void> = []

  publish(message: Message, trace: Record<string, string> | undefined): void {
    if (this.listeners.length === 0) return
    const entry: FeedEntry = {
      room: message.room,
      seq: message.seq,
      id: message.id,
      json: JSON.stringify(message),
      trace
    }
    for (const listener of this.listeners) listener(entry)
  }

  onEntry(listener: (entry: FeedEntry) => void): void {
    this.listeners.push(listener)
  }

  async follow(_room: string): Promise<void> {}

  unfollow(_room: string): void {}
}

export class MemoryStore implements ChatStore {
  readonly presence = new MemoryPresence()
  readonly directory = new MemoryDirectory()
  readonly feed = new MemoryFeed()
  readonly log: MemoryLog
  readonly available = true

  /** @param maxRooms rooms with history kept at most (see MemoryLog). */
  constructor(historyLimit: number, maxRooms?: number) {
    this.log = new MemoryLog({
      historyLimit,
      maxRooms,
      occupied: (room) => this.presence.occupied(room),
      published: (message, trace) => this.feed.publish(message, trace)
    })
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.log.clear()
    this.presence.clear()
    this.directory.clear()
  }
}
