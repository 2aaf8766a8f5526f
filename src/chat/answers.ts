// Bounds on the answers that carry messages (room:join, room:history). One answer carries at
// most ANSWER_BYTES of them: a room's whole history of long messages would be megabytes (a lone
// surrogate or a control character takes 6 bytes once escaped). And a socket's answers being
// made, with its output not yet gone out, stay within OUTPUT_BYTES: requests pipelined in one
// read would otherwise all be answered in one turn, whatever the client reads. The ones past it
// wait their turn (a reconnect rejoining a hundred rooms at once is answered in full, in a few
// turns); a client that stops reading has them refused RATE_LIMITED after WAIT_MS.
import { ChatError } from '../errors.js'
import type { Message } from './protocol.js'

export const ANSWER_BYTES = 1024 * 1024
const OUTPUT_BYTES = 2 * ANSWER_BYTES

/** `messages` cut to an answer's size, keeping the newest or the oldest of them. */
export type Fit = (messages: Message[], keep: 'newest' | 'oldest') => Message[]

/** A message's size as JSON, at most (every UTF-16 unit escaped as \uXXXX), with its envelope. */
const mostBytes = (m: Message) => (m.text.length + m.user.name.length + (m.clientId?.length ?? 0)) * 6 + 200

/**
 * `messages` (in seq order) cut to `budget` bytes of JSON, keeping the newest or the oldest;
 * never fewer than one. Also their size: exact when cut, otherwise at most that.
 */
export function fit(messages: Message[], budget: number, keep: 'newest' | 'oldest'): { messages: Message[]; bytes: number } {
  let bound = 0
  for (const m of messages) bound += mostBytes(m)
  if (bound <= budget) return { messages, bytes: bound }
  let bytes = 0
  let count = 0
  for (; count < messages.length; count++) {
    const size = Buffer.byteLength(JSON.stringify(messages[keep === 'newest' ? messages.length - 1 - count : count])) + 1
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
  private closed = false

  /** `buffered`: the socket's output not yet gone out. */
  constructor(
    private readonly buffered: () => number,
    private readonly waitMs = 10_000,
    private readonly recheckMs = 50
  ) {}

  /** Makes an answer in its turn; `make` cuts its messages with the `Fit` it is given. */
  async run<R>(make: (fit: Fit) => Promise<R>): Promise<R> {
    await this.turn()
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

  /** The socket closed: answers still waiting are refused. */
  close(): void {
    this.closed = true
    clearTimeout(this.recheck)
    for (const entry of this.waiting.splice(0)) entry.refuse(new ChatError('UNAVAILABLE', 'The connection closed'))
  }

  private fits(): boolean {
    return this.reserved + this.buffered() + ANSWER_BYTES <= OUTPUT_BYTES
  }

  private turn(): Promise<void> {
    if (this.closed) return Promise.reject(new ChatError('UNAVAILABLE', 'The connection closed'))
    if (this.waiting.length === 0 && this.fits()) {
      this.reserved += ANSWER_BYTES
      return Promise.resolve()
    }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const at = this.waiting.indexOf(entry)
        if (at >= 0) this.waiting.splice(at, 1)
        reject(new ChatError('RATE_LIMITED', 'Earlier answers have not gone out yet; retry in 1000 ms', 1000))
      }, this.waitMs)
      const entry = {
        admit: () => {
          clearTimeout(timer)
          this.reserved += ANSWER_BYTES
          resolve()
        },
        refuse: (err: Error) => {
          clearTimeout(timer)
          reject(err)
        }
      }
      this.waiting.push(entry)
      this.pump()
    })
  }

  /** Lets waiting answers in while they fit; while output is what holds them, looks again soon. */
  private pump(): void {
    while (this.waiting.length > 0 && this.fits()) this.waiting.shift()!.admit()
    if (this.waiting.length > 0 && this.recheck === undefined && !this.closed) {
      this.recheck = setTimeout(() => {
        this.recheck = undefined
        this.pump()
      }, this.recheckMs)
    }
  }
}
