// The cluster store: every part in Redis, so any number of nodes serve one chat. The parts share
// one command connection and know, together, whether Redis answers; the feed has a subscriber
// connection of its own.
import type { Redis } from 'ioredis'
import type { ChatStore } from './parts.js'
import { RedisCalls } from './redis-calls.js'
import { RedisDirectory } from './redis-directory.js'
import { RedisFeed } from './redis-feed.js'
import { migrateLegacyKeys } from './redis-legacy.js'
import { RedisLog } from './redis-log.js'
import { RedisPresence, type RedisPresenceOptions } from './redis-presence.js'
import { RedisRevocations } from './redis-revocations.js'

export interface RedisStoreOptions extends RedisPresenceOptions {
  historyLimit: number
  /** How long a room's history outlives its last message (default 30 days). */
  roomTtlSeconds?: number
  /** The send budget of a user in a room, per minute (0 or absent: none). */
  userRoomMessagesPerMin?: number
  /** Called when an operation fails because Redis cannot be reached. */
  onError?: (err: unknown, operation: string) => void
  /** Told when a gap in a room's feed could not be filled from history (trimmed meanwhile). */
  onFeedLost?: (room: string, count: number) => void
  /** Told how many rooms' history was moved from the key names of earlier versions. */
  onMigrated?: (rooms: number) => void
}

export class RedisStore implements ChatStore {
  readonly log: RedisLog
  readonly presence: RedisPresence
  readonly directory: RedisDirectory
  readonly revocations: RedisRevocations
  readonly feed: RedisFeed
  private readonly calls: RedisCalls
  /** Moving earlier versions' keys: readiness waits for it (undefined: not started, or failed). */
  private migration: Promise<void> | undefined
  private migrated = false
  private started = false

  /**
   * @param redis the command connection
   * @param subscriber a connection for the feed alone (subscribing takes it over)
   */
  constructor(
    redis: Redis,
    subscriber: Redis,
    private readonly options: RedisStoreOptions
  ) {
    this.calls = new RedisCalls(redis, options.onError)
    this.log = new RedisLog(this.calls, { ...options, writesWait: () => (this.migrated ? undefined : this.migration) })
    this.presence = new RedisPresence(this.calls, options)
    this.directory = new RedisDirectory(this.calls)
    this.revocations = new RedisRevocations(this.calls)
    this.feed = new RedisFeed(subscriber, this.log, { onError: options.onError, onLost: options.onFeedLost })
  }

  /** Announces this node once connected, and again after every reconnection. */
  start(): void {
    this.presence.start()
    this.started = true
    if (this.migrated || this.migration !== undefined) return
    this.migration = migrateLegacyKeys(this.calls.redis).then(
      (rooms) => {
        this.migrated = true
        if (rooms > 0) this.options.onMigrated?.(rooms)
      },
      (err: unknown) => {
        this.migration = undefined // tried again at the next connection
        this.calls.failed(err, 'migrate')
      }
    )
  }

  get available(): boolean {
    return this.calls.available
  }

  async ping(): Promise<void> {
    // Not ready until history of earlier versions is moved (a send meanwhile would start its
    // room afresh under the new names); once connected, a failed move is tried again.
    if (!this.migrated) await this.migration
    if (this.started && !this.migrated) throw new Error('the keys of earlier versions are not moved yet')
    try {
      await this.calls.redis.ping()
    } catch (err) {
      this.calls.failed(err, 'ping', true)
      throw err
    }
    // Readiness asks often: typing need not wait for the next heartbeat after an outage.
    this.calls.succeeded()
  }

  async close(): Promise<void> {
    this.feed.close()
    await this.presence.close()
  }
}
