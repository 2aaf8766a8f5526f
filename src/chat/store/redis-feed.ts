// The room feed in a cluster: the whole contract of how a room's entries travel between nodes.
// The writer is a line of the log's append script: it publishes the entry on the room's sharded
// channel (the same hash tag as the room's other keys, so Redis Cluster serves it from the
// room's slot). The reader subscribes to the rooms this node has sockets in, anchors each at
// the room's last seq, and checks every entry's seq: a gap (the node paused, the subscription
// lost with its connection) is filled from the log before the feed goes on.
import type { Redis } from 'ioredis'
import { ChatError } from '../../errors.js'
import { type CursorOptions, RoomCursor } from './feed-cursor.js'
import type { FeedEntry, MessageLog, RoomFeed } from './parts.js'

/**
 * A room's feed channel. Pub/sub channels are one namespace for all of a Redis server's
 * databases: the database's number keeps deployments that share a server apart.
 */
export const feedChannel = (room: string, db: number): string => `${CHANNEL_PREFIX}${room}${channelSuffix(db)}`

const CHANNEL_PREFIX = 'chat:{'
const channelSuffix = (db: number) => `}:feed:${db}`

/**
 * The append script's last step: `channel`, `seq`, `id`, `trace` (JSON or '') and `json` are
 * Lua expressions. The payload is "seq\nid\ntrace\njson" (no part holds a raw newline), so
 * that a reader finds what it checks without parsing the entry.
 */
export const publishEntryLua = (channel: string, seq: string, id: string, trace: string, json: string): string =>
  `redis.call('SPUBLISH', ${channel}, ${seq} .. '\\n' .. ${id} .. '\\n' .. ${trace} .. '\\n' .. ${json})`

export function decodeEntry(channel: string, suffix: string, payload: string): FeedEntry | undefined {
  if (!channel.startsWith(CHANNEL_PREFIX) || !channel.endsWith(suffix)) return undefined
  const first = payload.indexOf('\n')
  const second = payload.indexOf('\n', first + 1)
  const third = payload.indexOf('\n', second + 1)
  if (first < 0 || second < 0 || third < 0) return undefined
  const trace =
    third > second + 1 ? (JSON.parse(payload.slice(second + 1, third)) as Record<string, string>) : undefined
  return {
    room: channel.slice(CHANNEL_PREFIX.length, -suffix.length),
    seq: Number(payload.slice(0, first)),
    id: payload.slice(first + 1, second),
    json: payload.slice(third + 1),
    trace
  }
}

interface Followed {
  cursor: RoomCursor
  ready: Promise<void>
}

export class RedisFeed implements RoomFeed {
  private readonly followed = new Map<string, Followed>()
  private readonly listeners: Array<(entry: FeedEntry) => void> = []
  /** Rooms whose unsubscription failed (the connection away): ioredis would subscribe them again. */
  private readonly unsubscribeLater = new Set<string>()
  private connectedBefore = false
  private closed = false
  private readonly db: number
  private readonly suffix: string

  /** @param subscriber a connection of its own (subscribing takes it over), with auto-resubscribe */
  constructor(
    private readonly subscriber: Redis,
    private readonly log: MessageLog,
    private readonly options: CursorOptions = {}
  ) {
    this.db = subscriber.options.db ?? 0
    this.suffix = channelSuffix(this.db)
    subscriber.on('smessage', (channel: string, payload: string) => {
      const entry = decodeEntry(channel, this.suffix, payload)
      if (entry !== undefined) this.followed.get(entry.room)?.cursor.arrive(entry)
    })
    subscriber.on('ready', () => {
      for (const room of this.unsubscribeLater) this.unsubscribe(room)
      // Entries published while the subscription was away were lost with it: read them back.
      if (this.connectedBefore) void this.resync()
      this.connectedBefore = true
    })
  }

  onEntry(listener: (entry: FeedEntry) => void): void {
    this.listeners.push(listener)
  }

  follow(room: string): Promise<void> {
    const known = this.followed.get(room)
    if (known !== undefined) return known.ready
    this.unsubscribeLater.delete(room)
    const cursor = new RoomCursor(room, this.log, (entry) => this.handOn(entry), this.options)
    const followed: Followed = { cursor, ready: Promise.resolve() }
    this.followed.set(room, followed)
    followed.ready = this.subscribe(room, cursor).catch((err: unknown) => {
      if (this.followed.get(room) === followed) this.unfollow(room)
      this.options.onError?.(err, 'follow')
      throw new ChatError('UNAVAILABLE', 'The chat store is unavailable; retry later')
    })
    return followed.ready
  }

  /** Subscribes, then anchors: what the room had is in the joiner's history, what follows arrives. */
  private async subscribe(room: string, cursor: RoomCursor): Promise<void> {
    if (this.subscriber.status !== 'ready') throw new Error('the feed connection is not ready')
    await this.subscriber.ssubscribe(feedChannel(room, this.db))
    await cursor.anchor()
  }

  unfollow(room: string): void {
    const followed = this.followed.get(room)
    if (followed === undefined) return
    this.followed.delete(room)
    followed.cursor.close()
    if (!this.closed) this.unsubscribe(room)
  }

  private unsubscribe(room: string): void {
    this.unsubscribeLater.delete(room)
    if (this.followed.has(room)) return
    this.subscriber.sunsubscribe(feedChannel(room, this.db)).catch(() => this.unsubscribeLater.add(room))
  }

  private handOn(entry: FeedEntry): void {
    for (const listener of this.listeners) listener(entry)
  }

  /** After the subscription came back: every followed room reads what it missed meanwhile. */
  private async resync(): Promise<void> {
    try {
      // Answered after the resubscriptions sent before it: from here on, nothing more is missed.
      await this.subscriber.ping()
    } catch {
      return // gone again: the next 'ready' tries again
    }
    for (const { cursor } of this.followed.values()) cursor.catchUp()
  }

  close(): void {
    this.closed = true
    for (const { cursor } of this.followed.values()) cursor.close()
    this.followed.clear()
  }
}
