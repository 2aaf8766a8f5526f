// Where delivery stands in one followed room: every entry that arrives is checked against the
// last one handed on, and whatever is missing is read from the message log first, so that the
// room's entries go on once each, in seq order, whatever the transport lost or repeated.
import type { FeedEntry, MessageLog } from './parts.js'

/** Entries one gap-filling read asks the log for. */
const FILL_PAGE = 200
/** Entries kept while a fill is under way; past that they are read from the log instead. */
const MAX_WAITING = 10_000

export interface CursorOptions {
  /** How long a fill that failed (the store away) waits before it is tried again. */
  retryMs?: number
  onError?: (err: unknown, operation: string) => void
  /** Told when entries of a gap could not be filled (trimmed from history meanwhile). */
  onLost?: (room: string, count: number) => void
}

export class RoomCursor {
  /** The last seq handed on, and its entry's id; undefined until anchored. */
  private last: number | undefined
  private lastId: string | undefined
  /** Entries that arrived while the cursor anchors or fills; undefined when it does neither. */
  private waiting: FeedEntry[] | undefined = []
  /** Something may be missing that the fill under way has already read past: read again. */
  private stale = false
  private closed = false

  constructor(
    private readonly room: string,
    private readonly log: MessageLog,
    private readonly handOn: (entry: FeedEntry) => void,
    private readonly options: CursorOptions
  ) {}

  /** Takes the room's last entry as where delivery stands: what follows comes by the feed. */
  async anchor(): Promise<void> {
    const [newest] = await this.log.latest(this.room, 1)
    if (this.closed) return
    this.last = newest?.seq ?? 0
    this.lastId = newest?.id
    if (this.stale) return this.fill(false)
    this.handOnWaiting()
  }

  arrive(entry: FeedEntry): void {
    if (this.waiting !== undefined) {
      // Past the bound the entry is dropped: it is in the log, which the fill reads to its end.
      if (this.waiting.length < MAX_WAITING) this.waiting.push(entry)
      else this.stale = true
      return
    }
    if (entry.seq === this.last! + 1) {
      this.accept(entry)
      return
    }
    // A gap, or a seq already handed on: a late copy after a fill, or the room started over.
    this.waiting = [entry]
    void this.fill(entry.seq <= this.last!)
  }

  /** What arrived while the transport was away is read from the log (it may have lost data too). */
  catchUp(): void {
    if (this.closed) return
    if (this.waiting !== undefined) {
      this.stale = true
      return
    }
    this.waiting = []
    void this.fill(true)
  }

  close(): void {
    this.closed = true
  }

  private accept(entry: FeedEntry): void {
    if (entry.seq > this.last! + 1) this.options.onLost?.(this.room, entry.seq - this.last! - 1)
    this.last = entry.seq
    this.lastId = entry.id
    this.handOn(entry)
  }

  /** Hands on, in seq order, what arrived while the cursor waited, skipping what it already has. */
  private handOnWaiting(): void {
    const waiting = this.waiting ?? []
    this.waiting = undefined
    waiting.sort((a, b) => a.seq - b.seq)
    for (const entry of waiting) if (entry.seq > this.last!) this.accept(entry)
  }

  /**
   * Reads the entries after the cursor from the log and hands them on, then what waited. With
   * `checkReset`, first asks whether the room started over (its history lost or expired): the
   * entry at the last seq handed on is then another one, or none, and the cursor starts at 0.
   */
  private async fill(checkReset: boolean): Promise<void> {
    try {
      if (checkReset && (await this.startedOver())) this.last = 0
      if (this.closed) return
      do {
        this.stale = false
        for (;;) {
          const page = await this.log.page(this.room, { after: this.last!, limit: FILL_PAGE })
          if (this.closed) return
          for (const message of page) {
            this.accept({
              room: this.room,
              seq: message.seq,
              id: message.id,
              json: JSON.stringify(message),
              trace: undefined
            })
          }
          if (page.length < FILL_PAGE) break
        }
      } while (this.stale)
      this.handOnWaiting()
    } catch (err) {
      this.options.onError?.(err, 'fill')
      const retry = setTimeout(() => {
        if (!this.closed) void this.fill(checkReset)
      }, this.options.retryMs ?? 500)
      retry.unref()
    }
  }

  private async startedOver(): Promise<boolean> {
    const last = this.last!
    if (last === 0) return false
    const [atLast] = await this.log.page(this.room, { after: last - 1, before: last + 1, limit: 1 })
    // Trimmed (a long way behind) is no reset: the newest seq then is still past it.
    if (atLast === undefined) return ((await this.log.latest(this.room, 1))[0]?.seq ?? 0) < last
    return atLast.id !== this.lastId
  }
}
