// The single-node message log: every room's history in this process's memory, lost on restart.
import { randomUUID } from 'node:crypto'
import { ChatError } from '../../errors.js'
import { DEFAULT_PAGE_SIZE } from '../limits.js'
import type { DeletionEntry, Entry, Message } from '../protocol.js'
import type {
  AppendInput,
  AppendResult,
  DeleteInput,
  DeleteResult,
  MessageLog,
  MessageLogOptions,
  PageRange,
  SinceResult
} from './parts.js'

interface RoomLog {
  seq: number
  /** Retained history, oldest first, one entry per seq; at most `historyLimit` long once trimmed. */
  entries: Entry[]
  /** `${userId}\n${clientId}` → the message it produced, while that message is retained. */
  byClientId: Map<string, Message>
  /** A retained message's id → its seq (deletion entries are not in it: they cannot be deleted). */
  seqById: Map<string, number>
}

const dedupKey = (userId: string, clientId: string) => `${userId}\n${clientId}`

export interface MemoryLogOptions extends MessageLogOptions {
  /**
   * Rooms with history kept at most; past it, the room written to least recently that nobody is
   * in loses its history. Without a cap, anyone could grow memory by writing into endless rooms.
   */
  maxRooms?: number
  /** Whether anyone is in a room now (such a room is never evicted). */
  occupied: (room: string) => boolean
  /** Called with each new entry, before `append` or `delete` resolves: the room feed. */
  published: (entry: Entry, trace: Record<string, string> | undefined) => void
}

export class MemoryLog implements MessageLog {
  private readonly rooms = new Map<string, RoomLog>()
  private readonly maxRooms: number
  private readonly budget: SendBudget | undefined

  constructor(private readonly options: MemoryLogOptions) {
    this.maxRooms = options.maxRooms ?? 10_000
    const perMin = options.userRoomMessagesPerMin ?? 0
    this.budget = perMin > 0 ? new SendBudget(perMin) : undefined
  }

  async append(input: AppendInput): Promise<AppendResult> {
    const state = this.touch(input.room)
    const key = input.clientId === undefined ? undefined : dedupKey(input.user.id, input.clientId)
    const first = key === undefined ? undefined : state.byClientId.get(key)
    if (first !== undefined) return { message: first, duplicate: true }
    const wait = this.budget?.take(`${input.room}\n${input.user.id}`, Date.now()) ?? 0
    if (wait > 0) throw budgetSpent(wait)
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
    state.seqById.set(message.id, message.seq)
    this.add(state, message, input.trace)
    return { message, duplicate: false }
  }

  async delete(input: DeleteInput): Promise<DeleteResult> {
    const state = this.rooms.get(input.room)
    const seq = state?.seqById.get(input.target)
    // Past the retained window (the array may hold a few more until the next batch trim).
    if (state === undefined || seq === undefined || seq <= state.seq - this.options.historyLimit) throw notFound()
    const at = seq - state.entries[0]!.seq
    const message = state.entries[at] as Message
    if (input.may === 'own' && message.user.id !== input.user.id) throw forbidden()
    if (message.deleted) return { entry: undefined, author: message.user }
    this.touch(input.room)
    // A new object in every place that kept the old one: nothing here holds the text after this.
    const tombstone: Message = { ...message, text: '', deleted: true }
    state.entries[at] = tombstone
    if (message.clientId !== undefined) state.byClientId.set(dedupKey(message.user.id, message.clientId), tombstone)
    const entry: DeletionEntry = {
      id: randomUUID(),
      room: input.room,
      seq: ++state.seq,
      type: 'deletion',
      target: message.id,
      user: input.user,
      ts: input.ts
    }
    this.add(state, entry, input.trace)
    return { entry, author: message.user }
  }

  /** The room's log, made the most recently written (Map order: evicted from the front). */
  private touch(room: string): RoomLog {
    const state: RoomLog = this.rooms.get(room) ?? { seq: 0, entries: [], byClientId: new Map(), seqById: new Map() }
    this.rooms.delete(room)
    this.rooms.set(room, state)
    if (this.rooms.size > this.maxRooms) this.evictIdleRoom(room)
    return state
  }

  private add(state: RoomLog, entry: Entry, trace: Record<string, string> | undefined): void {
    state.entries.push(entry)
    this.trim(state)
    this.options.published(entry, trace)
  }

  /** Trims in batches, which keeps append O(1) amortised instead of shifting the array each time. */
  private trim(state: RoomLog): void {
    const { historyLimit } = this.options
    if (state.entries.length < historyLimit * 2 && state.entries.length <= historyLimit + 1024) return
    for (const old of state.entries.splice(0, state.entries.length - historyLimit)) {
      if ('type' in old) continue
      state.seqById.delete(old.id)
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

  /** The retained window: the last `historyLimit` entries (the array may hold a few more). */
  private retained(state: RoomLog): Entry[] {
    const extra = state.entries.length - this.options.historyLimit
    return extra > 0 ? state.entries.slice(extra) : state.entries
  }

  async latest(room: string, limit: number): Promise<Entry[]> {
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

  async page(room: string, range: PageRange): Promise<Entry[]> {
    const state = this.rooms.get(room)
    if (state === undefined) return []
    const { before = Infinity, after = 0, limit } = range
    const inRange = this.retained(state).filter((m) => m.seq > after && m.seq < before)
    return range.after !== undefined && range.before === undefined ? inRange.slice(0, limit) : inRange.slice(-limit)
  }

  clear(): void {
    this.rooms.clear()
    this.budget?.clear()
  }
}

/**
 * A bucket of `perMin` sends per user and room, refilled at `perMin` a minute: one number per
 * key, the time its bucket is full again (GCRA, as the Redis append keeps it). Bounded: past
 * `maxKeys` the key that sent least recently is forgotten (its bucket most likely full again).
 */
class SendBudget {
  private readonly fullAt = new Map<string, number>()
  private readonly interval: number

  constructor(
    perMin: number,
    private readonly maxKeys = 100_000
  ) {
    this.interval = WINDOW_MS / perMin
  }

  /** Takes one send: 0, or how long (ms) until one is there (and nothing taken). */
  take(key: string, now: number): number {
    const next = Math.max(this.fullAt.get(key) ?? 0, now) + this.interval
    if (next - now > WINDOW_MS) return Math.ceil(next - now - WINDOW_MS)
    this.fullAt.delete(key)
    this.fullAt.set(key, next)
    if (this.fullAt.size > this.maxKeys) this.fullAt.delete(this.fullAt.keys().next().value!)
    return 0
  }

  clear(): void {
    this.fullAt.clear()
  }
}

const WINDOW_MS = 60_000

/** What both logs answer: the memory log's and the Redis log's refusals are the same. */
export const notFound = () => new ChatError('NOT_FOUND', "No such message in the room's history")
export const forbidden = () =>
  new ChatError('FORBIDDEN', "Only its author or the room's moderators may delete this message")
export const budgetSpent = (wait: number) =>
  new ChatError('RATE_LIMITED', `Too many messages in this room; retry in ${wait} ms`, wait)
