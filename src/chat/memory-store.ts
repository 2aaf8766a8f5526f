// The single-node store: everything in this process's memory, lost on restart.
import { randomUUID } from 'node:crypto'
import type { Member, Message } from './protocol.js'
import { type AppendInput, type AppendResult, busiestFirst, type ChatStore, type Departure, type RoomSummary, type SinceResult } from './store.js'

interface RoomState {
  seq: number
  /** Retained history, oldest first; at most `historyLimit` long. */
  messages: Message[]
  /** `${userId}\n${clientId}` → the message it produced, while that message is retained. */
  byClientId: Map<string, Message>
  /** userId → the member and the ids of their sockets in the room. */
  presence: Map<string, { member: Member; sockets: Set<string> }>
}

function dedupKey(userId: string, clientId: string): string {
  return `${userId}\n${clientId}`
}

export class MemoryStore implements ChatStore {
  readonly broadcasts = false
  private readonly rooms_ = new Map<string, RoomState>()

  /**
   * @param maxRooms rooms with history kept at most; past it, the room written to least
   *   recently that nobody is in loses its history (a joined room is never evicted). Without a
   *   cap, anyone could grow memory by writing one message in each of endless new rooms.
   */
  constructor(
    private readonly historyLimit: number,
    private readonly maxRooms = 10_000
  ) {}

  private room(name: string): RoomState {
    let state = this.rooms_.get(name)
    if (state === undefined) {
      state = { seq: 0, messages: [], byClientId: new Map(), presence: new Map() }
      this.rooms_.set(name, state)
    }
    return state
  }

  async append(input: AppendInput): Promise<AppendResult> {
    const state = this.room(input.room)
    // Map order is recency of writing: move this room to the end, evict from the front.
    this.rooms_.delete(input.room)
    this.rooms_.set(input.room, state)
    if (this.rooms_.size > this.maxRooms) this.evictIdleRoom(input.room)
    if (input.clientId !== undefined) {
      const first = state.byClientId.get(dedupKey(input.user.id, input.clientId))
      if (first !== undefined) return { message: first, duplicate: true }
    }
    const message: Message = {
      id: randomUUID(),
      room: input.room,
      seq: ++state.seq,
      user: input.user,
      text: input.text,
      ts: input.ts
    }
    if (input.clientId !== undefined) {
      message.clientId = input.clientId
      state.byClientId.set(dedupKey(input.user.id, input.clientId), message)
    }
    state.messages.push(message)
    // Trimming in batches keeps append O(1) amortised instead of shifting the array each time.
    if (state.messages.length >= this.historyLimit * 2 || state.messages.length > this.historyLimit + 1024) {
      const dropped = state.messages.splice(0, state.messages.length - this.historyLimit)
      for (const old of dropped) {
        if (old.clientId !== undefined) state.byClientId.delete(dedupKey(old.user.id, old.clientId))
      }
    }
    return { message, duplicate: false }
  }

  private evictIdleRoom(keep: string): void {
    for (const [name, state] of this.rooms_) {
      if (name !== keep && state.presence.size === 0) {
        this.rooms_.delete(name)
        return
      }
    }
  }

  /** The retained window: the last `historyLimit` messages (the array may hold a few more). */
  private retained(state: RoomState): Message[] {
    const extra = state.messages.length - this.historyLimit
    return extra > 0 ? state.messages.slice(extra) : state.messages
  }

  async latest(room: string, limit: number): Promise<Message[]> {
    const state = this.rooms_.get(room)
    if (state === undefined) return []
    return this.retained(state).slice(-limit)
  }

  async since(room: string, since: number): Promise<SinceResult> {
    const state = this.rooms_.get(room)
    const seq = state?.seq ?? 0
    if (since > seq) {
      // The client saw a history this room no longer has (the store was reset): start over.
      return { messages: await this.latest(room, 50), recovered: false }
    }
    if (state === undefined || since === seq) return { messages: [], recovered: true }
    const kept = this.retained(state)
    const oldest = kept[0]?.seq ?? seq + 1
    const messages = kept.filter((m) => m.seq > since)
    return { messages, recovered: oldest <= since + 1 }
  }

  async page(room: string, range: { before?: number; after?: number; limit: number }): Promise<Message[]> {
    const state = this.rooms_.get(room)
    if (state === undefined) return []
    const { before = Infinity, after = 0, limit } = range
    const inRange = this.retained(state).filter((m) => m.seq > after && m.seq < before)
    if (range.after !== undefined && range.before === undefined) return inRange.slice(0, limit)
    return inRange.slice(-limit)
  }

  async addPresence(room: string, user: Member, socketId: string): Promise<boolean> {
    const state = this.room(room)
    let entry = state.presence.get(user.id)
    const first = entry === undefined
    if (entry === undefined) {
      entry = { member: user, sockets: new Set() }
      state.presence.set(user.id, entry)
    }
    entry.sockets.add(socketId)
    return first
  }

  async removePresence(room: string, userId: string, socketId: string): Promise<boolean> {
    const state = this.rooms_.get(room)
    const entry = state?.presence.get(userId)
    if (state === undefined || entry === undefined || !entry.sockets.delete(socketId)) return false
    if (entry.sockets.size > 0) return false
    state.presence.delete(userId)
    // A room nobody wrote in is not worth keeping once empty: joins alone must not grow memory.
    if (state.presence.size === 0 && state.seq === 0) this.rooms_.delete(room)
    return true
  }

  async members(room: string): Promise<Member[]> {
    const state = this.rooms_.get(room)
    if (state === undefined) return []
    return [...state.presence.values()].map((entry) => entry.member)
  }

  async rooms(limit: number): Promise<RoomSummary[]> {
    const list: RoomSummary[] = []
    for (const [name, state] of this.rooms_) {
      if (state.presence.size > 0) list.push({ name, members: state.presence.size })
    }
    return list.sort(busiestFirst).slice(0, limit)
  }

  /** One process: no other node can die. */
  async sweep(): Promise<Departure[]> {
    return []
  }

  readonly available = true

  /** One process: nothing can forget it. */
  forgotten(): boolean {
    return false
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.rooms_.clear()
  }
}
