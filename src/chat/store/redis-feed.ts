// The room feed in a cluster: the whole contract of how a room's entries travel between nodes.
// The writer is a line of the log's append script: it publishes the entry on the room's sharded
// channel (the same hash tag as the room's other keys, so Redis Cluster serves it from the
// room's slot). The reader subscribes to the rooms this node has sockets in, anchors each at
// the room's last seq, and checks every entry's seq: a gap (the node paused, the subscription
// lost with its connection) is filled from the log before the feed goes on.
import type { Redis } from 'ioredis'
import { ChatError } from '../../errors.js'
import type { FeedEntry, MessageLog, RoomFeed } from './parts.js'

/** A room's feed channel. */
export const feedChannel = (room: string): string => `chat:{${room}}:feed`

const CHANNEL_PREFIX = 'chat:{'
const CHANNEL_SUFFIX = '}:feed'

/**
 * The append script's last step: `channel`, `seq`, `trace` (JSON or '') and `json` are Lua
 * expressions. The payload is "seq\ntrace\njson" (neither JSON holds a raw newline), so that a
 * reader finds the seq without parsing the entry.
 */
export const publishEntryLua = (channel: string, seq: string, trace: string, json: string): string =>
  `redis.call('SPUBLISH', ${channel}, ${seq} .. '\\n' .. ${trace} .. '\\n' .. ${json})`

export function decodeEntry(channel: string, payload: string): FeedEntry | undefined {
  if (!channel.startsWith(CHANNEL_PREFIX) || !channel.endsWith(CHANNEL_SUFFIX)) return undefined
  const first = payload.indexOf('\n')
  const second = payload.indexOf('\n', first + 1)
  if (first < 0 || second < 0) return undefined
  const trace =
    second > first + 1 ? (JSON.parse(payload.slice(first + 1, second)) as Record<string, string>) : undefined
  return {
    room: channel.slice(CHANNEL_PREFIX.length, -CHANNEL_SUFFIX.length),
    seq: Number(payload.slice(0, first)),
    json: payload.slice(second + 1),
    trace
  }
}

/** Where delivery stands in one followed room. */
interface Cursor {
  /** The last seq handed on (or the anchor); undefined until anchored. */
  last: number | undefined
  /** Entries that arrived while the cursor was anchoring or filling a gap, handed on after. */
  waiting: FeedEntry[] | undefined
  ready: Promise<void>
}

/** Entries one gap-filling read asks the log for. */
const FILL_PAGE = 200

export interface RedisFeedOptions {
  /** How long a gap fill that failed (the store away) waits before it is tried again. */
  retryMs?: number
  onError?: (err: unknown, operation: string) => void
  /** Told when entries of a gap could not be filled (trimmed from history meanwhile). */
  onLost?: (room: string, count: number) => void
}

export class RedisFeed implements RoomFeed {
  private readonly cursors = new Map<string, Cursor>()
  private readonly listeners: Array<(entry: FeedEntry) => void> = []
  private connectedBefore = false
  private closed = false

  /** @param subscriber a connection of its own (subscribing takes it over), with auto-resubscribe */
  constructor(
    private readonly subscriber: Redis,
    private readonly log: MessageLog,
    private readonly options: RedisFeedOptions = {}
  ) {
    subscriber.on('smessage', (channel: string, payload: string) => {
      const entry = decodeEntry(channel, payload)
      if (entry !== undefined) this.arrive(entry)
    })
    subscriber.on('ready', () => {
      // Entries published while the subscription was away were lost with it: read them back.
      if (this.connectedBefore) void this.resync()
      this.connectedBefore = true
    })
  }

  onEntry(listener: (entry: FeedEntry) => void): void {
    this.listeners.push(listener)
  }

  follow(room: string): Promise<void> {
    const known = this.cursors.get(room)
    if (known !== undefined) return known.ready
    const cursor: Cursor = { last: undefined, waiting: [], ready: Promise.resolve() }
    this.cursors.set(room, cursor)
    cursor.ready = this.anchor(room, cursor).catch((err: unknown) => {
      if (this.cursors.get(room) === cursor) this.unfollow(room)
      this.options.onError?.(err, 'follow')
      throw new ChatError('UNAVAILABLE', 'The chat store is unavailable; retry later')
    })
    return cursor.ready
  }

  /** Subscribes, then takes the room's last seq as where delivery stands: what follows comes by the feed. */
  private async anchor(room: string, cursor: Cursor): Promise<void> {
    if (this.subscriber.status !== 'ready') throw new Error('the feed connection is not ready')
    await this.subscriber.ssubscribe(feedChannel(room))
    const [newest] = await this.log.latest(room, 1)
    if (this.cursors.get(room) !== cursor) return
    cursor.last = newest?.seq ?? 0
    this.handOnWaiting(cursor)
  }

  unfollow(room: string): void {
    if (!this.cursors.delete(room) || this.closed) return
    this.subscriber.sunsubscribe(feedChannel(room)).catch(() => {})
  }

  private arrive(entry: FeedEntry): void {
    const cursor = this.cursors.get(entry.room)
    if (cursor === undefined) return
    if (cursor.waiting !== undefined) {
      cursor.waiting.push(entry)
      return
    }
    const last = cursor.last!
    if (entry.seq === last + 1) {
      this.handOn(cursor, entry)
      return
    }
    // A gap, or a seq already handed on: a late copy after a fill, or the room started over.
    cursor.waiting = [entry]
    void this.fill(entry.room, cursor, entry.seq <= last)
  }

  private handOn(cursor: Cursor, entry: FeedEntry): void {
    if (entry.seq > cursor.last! + 1) this.options.onLost?.(entry.room, entry.seq - cursor.last! - 1)
    cursor.last = entry.seq
    for (const listener of this.listeners) listener(entry)
  }

  /** Hands on, in seq order, what arrived while the cursor waited, skipping what it already has. */
  private handOnWaiting(cursor: Cursor): void {
    const waiting = cursor.waiting ?? []
    cursor.waiting = undefined
    waiting.sort((a, b) => a.seq - b.seq)
    for (const entry of waiting) if (entry.seq > cursor.last!) this.handOn(cursor, entry)
  }

  /**
   * Reads the entries after the cursor from the log and hands them on, then what waited. With
   * `checkReset`, first asks whether the room started over (its history lost, as when Redis
   * loses its data, or expired): its seqs then count from 1 again, and so does the cursor.
   */
  private async fill(room: string, cursor: Cursor, checkReset = false): Promise<void> {
    try {
      if (checkReset) {
        const [newest] = await this.log.latest(room, 1)
        if (this.cursors.get(room) !== cursor) return
        if ((newest?.seq ?? 0) < cursor.last!) cursor.last = 0
      }
      for (;;) {
        const page = await this.log.page(room, { after: cursor.last!, limit: FILL_PAGE })
        if (this.cursors.get(room) !== cursor) return
        for (const message of page)
          this.handOn(cursor, { room, seq: message.seq, json: JSON.stringify(message), trace: undefined })
        if (page.length < FILL_PAGE) break
      }
      this.handOnWaiting(cursor)
    } catch (err) {
      this.options.onError?.(err, 'fill')
      const retry = setTimeout(() => {
        if (this.cursors.get(room) === cursor) void this.fill(room, cursor, checkReset)
      }, this.options.retryMs ?? 500)
      retry.unref()
    }
  }

  /** After the subscription came back: every anchored room reads what it missed meanwhile. */
  private async resync(): Promise<void> {
    try {
      // Answered after the resubscriptions sent before it: from here on, nothing more is missed.
      await this.subscriber.ping()
    } catch {
      return // gone again: the next 'ready' tries again
    }
    for (const [room, cursor] of this.cursors) {
      if (cursor.last === undefined || cursor.waiting !== undefined) continue
      cursor.waiting = []
      // A Redis that restarted may have lost the room's history too.
      void this.fill(room, cursor, true)
    }
  }

  close(): void {
    this.closed = true
    this.cursors.clear()
  }
}
