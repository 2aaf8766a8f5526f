// The single-node message log: every room's history in this process's memory, lost on restart.
import { randomUUID } from 'node:crypto'
import { DEFAULT_PAGE_SIZE } from '../limits.js'
import type { Message } from '../protocol.js'
import type { AppendInput, AppendResult, MessageLog, PageRange, SinceResult } from './parts.js'

interface RoomLog {
  seq: number
  /** Retained history, oldest first; at most `historyLimit` long once trimmed. */
  messages: Message[]
  /** `${userId}\n${clientId}` → the message it produced, while that message is retained. */
  byClientId: Map<string, Message>
}

const dedupKey = (userId: string, clientId: string) => `${userId}\n${clientId}`

export interface MemoryLogOptions {
  historyLimit: number
  /**
   * Rooms with history kept at most; past it, the room written to least recently that nobody is
   * in loses its history. Without a cap, anyone could grow memory by writing into endless rooms.
   */
  maxRooms?: number
  /** Whether anyone is in a room now (such a room is never evicted). */
  occupied: (room: string) => boolean
  /** Called with each new message, before `append` resolves: the room feed. */
  published: (message: Message, trace: Record<string, string> | undefined) => void
}

export class MemoryLog implements MessageLog {
  private readonly rooms = new Map<string, RoomLog>()
  private readonly maxRooms: number

  constructor(private readonly options: MemoryLogOptions) {
    this.maxRooms = options.maxRooms ?? 10_000
  }

  async append(input: AppendInput): Promise<AppendResult> {
    const state: RoomLog = this.rooms.get(input.room) ?? { seq: 0, messages: [], byClientId: new Map() }
    // Map order is recency of writing: move this room to the end, evict from the front.
    this.rooms.delete(input.room)
    this.rooms.set(input.room, state)
    if (this.rooms.size > this.maxRooms) this.evictIdleRoom(input.room)
    const key = input.clientId === undefined ? undefined : dedupKey(input.user.id, input.clientId)
    const first = key === undefined ? undefined : state.byClientId.get(key)
    if (first !== undefined) return { message: first, duplicate: true }
    const message: Message = {
      id: randomUUID(),
      room: input.room,
      seq: ++state.seq,
      user: input.user,
      text: input.text,
      ts: input.ts
    }
    if (key !== undefined) {
      message.clientId = input.clientId
      state.byClientId.set(key, message)
    }
    state.messages.push(message)
    this.trim(state)
    this.options.published(message, input.trace)
    return { message, duplicate: false }
  }

  /** Trims in batches, which keeps append O(1) amortised instead of shifting the array each time. */
  private trim(state: RoomLog): void {
    const { historyLimit } = this.options
    if (state.messages.length < historyLimit * 2 && state.messages.length <= historyLimit + 1024) return
    for (const old of state.messages.splice(0, state.messages.length - historyLimit)) {
      if (old.clientId !== undefined) state.byClientId.delete(dedupKey(old.user.id, old.clientId))
    }
  }

  private evictIdleRoom(keep: string): void {
    for (const name of this.rooms.keys()) {
      if (name !== keep && !this.options.occupied(name)) {
        this.rooms.delete(name)
        return
      }
    }
  }

  /** The retained window: the last `historyLimit` messages (the array may hold a few more). */
  private retained(state: RoomLog): Message[] {
    const extra = state.messages.length - this.options.historyLimit
    return extra > 0 ? state.messages.slice(extra) : state.messages
  }

  async latest(room: string, limit: number): Promise<Message[]> {
    const state = this.rooms.get(room)
    return state === undefined ? [] : this.retained(state).slice(-limit)
  }

  async since(room: string, since: number): Promise<SinceResult> {
    const state = this.rooms.get(room)
    const seq = state?.seq ?? 0
    // The client saw a history this room no longer has (the store was reset): start over.
    if (since > seq) return { messages: await this.latest(room, DEFAULT_PAGE_SIZE), recovered: false }
    if (state === undefined || since === seq) return { messages: [], recovered: true }
    const kept = this.retained(state)
    const oldest = kept[0]?.seq ?? seq + 1
    return { messages: kept.filter((m) => m.seq > since), recovered: oldest <= since + 1 }
  }

  async page(room: string, range: PageRange): Promise<Message[]> {
    const state = this.rooms.get(room)
    if (state === undefined) return []
    const { before = Infinity, after = 0, limit } = range
    const inRange = this.retained(state).filter((m) => m.seq > after && m.seq < before)
    return range.after !== undefined && range.before === undefined ? inRange.slice(0, limit) : inRange.slice(-limit)
  }

  clear(): void {
    this.rooms.clear()
  }
}
