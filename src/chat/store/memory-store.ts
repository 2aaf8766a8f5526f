// The single-node store: every part in this process's memory, lost on restart. The feed calls
// back at once, inside the append, so a room's entries arrive in seq order by construction.
import type { Entry } from '../protocol.js'
import { MemoryDirectory } from './memory-directory.js'
import { MemoryLog } from './memory-log.js'
import { MemoryPresence } from './memory-presence.js'
import { MemoryRevocations } from './memory-revocations.js'
import type { ChatStore, FeedEntry, RoomFeed } from './parts.js'

class MemoryFeed implements RoomFeed {
  private readonly listeners: Array<(entry: FeedEntry) => void> = []

  publish(entry: Entry, trace: Record<string, string> | undefined): void {
    if (this.listeners.length === 0) return
    const fed: FeedEntry = { room: entry.room, seq: entry.seq, id: entry.id, json: JSON.stringify(entry), trace }
    for (const listener of this.listeners) listener(fed)
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
  readonly revocations = new MemoryRevocations()
  readonly feed = new MemoryFeed()
  readonly log: MemoryLog
  readonly available = true

  /**
   * @param maxRooms rooms with history kept at most (see MemoryLog)
   * @param userRoomMessagesPerMin the send budget of a user in a room (0 or absent: none)
   */
  constructor(historyLimit: number, maxRooms?: number, userRoomMessagesPerMin?: number) {
    this.log = new MemoryLog({
      historyLimit,
      maxRooms,
      userRoomMessagesPerMin,
      occupied: (room) => this.presence.occupied(room),
      published: (entry, trace) => this.feed.publish(entry, trace)
    })
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.log.clear()
    this.presence.clear()
    this.directory.clear()
    this.revocations.clear()
  }
}
