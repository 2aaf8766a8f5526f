// Bounds on the answers that carry messages (room:join, room:history). One answer carries at
// most ANSWER_BYTES of them: a room's whole history of long messages would be megabytes (a lone
// surrogate or a control character takes 6 bytes once escaped). And a socket's answers being
// made, with its output not yet gone out, stay within OUTPUT_BYTES: requests pipelined in one
// read would otherwise all be answered in one turn, whatever the client reads. The ones past it
// wait their turn (a reconnect rejoining a hundred rooms at once is answered in full, in a few
// turns); a client that stops reading has them refused RATE_LIMITED.
import { ChatError } from '../errors.js'
import type { Entry } from './protocol.js'

export const ANSWER_BYTES = 1024 * 1024
const OUTPUT_BYTES = 2 * ANSWER_BYTES

/** `messages` cut to an answer's size, keeping the newest or the oldest of them. */
export type Fit = <T extends Entry>(messages: T[], keep: 'newest' | 'oldest') => T[]

/** An entry's size as JSON, at most (every UTF-16 unit escaped as \uXXXX), with its envelope. */
const mostBytes = (m: Entry) =>
  (('type' in m ? m.target.length : m.text.length + (m.clientId?.length ?? 0)) +
    m.user.name.length +
    m.user.id.length +
    m.room.length +
    m.id.length) *
    6 +
  100

/**
 * `messages` (in seq order) cut to `budget` bytes of JSON, keeping the newest or the oldest;
 * never fewer than one. Also their size: exact when cut, otherwise at most that.
 */
export function fit<T extends Entry>(
  messages: T[],
  budget: number,
  keep: 'newest' | 'oldest'
): { messages: T[]; bytes: number } {
  let bound = 0
  for (const m of messages) bound += mostBytes(m)
  if (bound <= budget) return { messages, bytes: bound }
  let bytes = 0
  let count = 0
  for (; count < messages.length; count++) {
    const size =
      Buffer.byteLength(JSON.stringify(messages[keep === 'newest' ? messages.length - 1 - count : count])) + 1
    if (bytes + size > budget && count > 0) break
    bytes += size
  }
  return { messages: keep === 'newest' ? messages.slice(messages.length - count) : messages.slice(0, count), bytes }
}

/** One socket's answers: each made in its turn, within the socket's output bound. */
export class AnswerQueue {
  /** Bytes held by answers being made (ANSWER_BYTES each until fitted) or just written. */
  private reserved = 0
  private readonly waiting: Array<{ admit(): void; refuse(err: Error): void }> = []
  private recheck: ReturnType<typeof setTimeout> | undefined
  /** When an answer was last let in, or the output last went down, while answers waited. */
  private progressAt = 0
  private lastBuffered = 0
  private closed = false

  /**
   * `buffered`: the socket's output not yet gone out. Answers that wait `waitMs` without any
   * progress (no answer let in, the output not going down) are refused: the client stopped
   * reading. Shorter than a client's usual acknowledgement timeout (10 s), so that it hears why.
   */
  constructor(
    private readonly buffered: () => number,
    private readonly waitMs = 5000,
    private readonly recheckMs = 50
  ) {}

  /**
   * Makes an answer in its turn; `make` cuts its messages with the `Fit` it is given. When the
   * turn is now, `make` starts at once (in the caller's turn, before any event after it).
   */
  run<R>(make: (fit: Fit) => Promise<R>): Promise<R> {
    if (!this.closed && this.waiting.length === 0 && this.fits(this.buffered())) {
      this.reserved += ANSWER_BYTES
      return this.make(make)
    }
    return this.turn().then(() => this.make(make))
  }

  private async make<R>(make: (fit: Fit) => Promise<R>): Promise<R> {
    let held = ANSWER_BYTES
    const fitter: Fit = (messages, keep) => {
      const fitted = fit(messages, ANSWER_BYTES, keep)
      this.reserved += fitted.bytes - held
      held = fitted.bytes
      this.pump()
      return fitted.messages
    }
    try {
      return await make(fitter)
    } finally {
      // The acknowledgement is written as this settles: by the next turn, what has not gone out
      // of it is in `buffered`.
      setImmediate(() => {
        this.reserved -= held
        this.pump()
      })
    }
  }

  /** The socket closed, or the node drains: answers still waiting are refused, and any later. */
  close(): void {
    this.closed = true
    clearTimeout(this.recheck)
    this.recheck = undefined
    for (const entry of this.waiting.splice(0)) entry.refuse(new ChatError('UNAVAILABLE', 'The connection is closing'))
  }

  private fits(buffered: number): boolean {
    return this.reserved + buffered + ANSWER_BYTES <= OUTPUT_BYTES
  }

  /** Waits for room for one more answer (the fast path is in `run`). */
  private turn(): Promise<void> {
    if (this.closed) return Promise.reject(new ChatError('UNAVAILABLE', 'The connection is closing'))
    if (this.waiting.length === 0) {
      this.progressAt = Date.now()
      this.lastBuffered = this.buffered()
    }
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({
        admit: () => {
          this.reserved += ANSWER_BYTES
          resolve()
        },
        refuse: reject
      })
      this.pump()
    })
  }

  /** Lets waiting answers in while they fit; while output is what holds them, looks again soon. */
  private pump(): void {
    if (this.waiting.length === 0) return
    const buffered = this.buffered()
    if (buffered < this.lastBuffered) this.progressAt = Date.now()
    this.lastBuffered = buffered
    while (this.waiting.length > 0 && this.fits(buffered)) {
      this.progressAt = Date.now()
      this.waiting.shift()!.admit()
    }
    if (this.waiting.length === 0) return
    if (Date.now() - this.progressAt >= this.waitMs) {
      const err = new ChatError('RATE_LIMITED', 'Earlier answers have not gone out; retry in 1000 ms', 1000)
      for (const entry of this.waiting.splice(0)) entry.refuse(err)
      return
    }
    if (this.recheck === undefined && !this.closed) {
      this.recheck = setTimeout(() => {
        this.recheck = undefined
        this.pump()
      }, this.recheckMs)
    }
  }
}
