// How the Redis parts call Redis: a failure becomes a ChatError (nothing internal reaches a
// client), and whether Redis answers is kept from every command, heartbeat and ping.
import { type Redis, ReplyError } from 'ioredis'
import { ChatError } from '../../errors.js'

/** ioredis's words for a command refused before it was written (no connection, no queue). */
const NOT_SENT = /Stream isn't writeable/

export class RedisCalls {
  /** False from a command that failed (Redis away or stalled) until one goes through again. */
  private answering = true

  constructor(
    readonly redis: Redis,
    private readonly onError?: (err: unknown, operation: string) => void
  ) {}

  get available(): boolean {
    return this.answering && this.redis.status === 'ready'
  }

  succeeded(): void {
    this.answering = true
  }

  /**
   * Notes a failure. Redis answering with an error (full under maxmemory, say) still answers,
   * unlike a timeout or a lost connection.
   */
  failed(err: unknown, operation: string, quiet = false): void {
    this.answering = err instanceof ReplyError
    if (!quiet) this.onError?.(err, operation)
  }

  /**
   * Runs `fn`. UNAVAILABLE promises that nothing was stored, so a write that was sent and then
   * timed out or lost its connection (it may have run) is answered INTERNAL with `mayHaveRun`.
   */
  async call<T>(operation: string, fn: () => Promise<T>, mayHaveRun?: string): Promise<T> {
    try {
      const result = await fn()
      this.answering = true
      return result
    } catch (err) {
      if (err instanceof ChatError) throw err
      this.failed(err, operation)
      if (mayHaveRun !== undefined && !NOT_SENT.test((err as Error).message))
        throw new ChatError('INTERNAL', mayHaveRun)
      throw new ChatError('UNAVAILABLE', 'The chat store is unavailable; nothing was stored, retry later')
    }
  }

  /** Defines a Lua script as a command; returns a caller for it. */
  script(name: string, keys: number, lua: string): (...args: Array<string | number>) => Promise<unknown> {
    this.redis.defineCommand(name, { numberOfKeys: keys, lua })
    const commands = this.redis as unknown as Record<string, (...args: Array<string | number>) => Promise<unknown>>
    return (...args) => commands[name]!(...args)
  }
}
