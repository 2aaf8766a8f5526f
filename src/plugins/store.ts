// The chat store: memory for one node, Redis when REDIS_URL is set, with the Socket.IO Redis
// Streams adapter for what is not a room's entry (presence, typing, a user's sockets on every
// node). Whatever this opens, its onClose closes.
import { createAdapter } from '@socket.io/redis-streams-adapter'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import { MemoryStore } from '../chat/store/memory-store.js'
import type { ChatStore } from '../chat/store/parts.js'
import { RedisStore } from '../chat/store/redis-store.js'

declare module 'fastify' {
  interface FastifyInstance {
    store: ChatStore
    /** The Socket.IO adapter factory for cluster mode; undefined on a single node. */
    clusterAdapter: ReturnType<typeof createAdapter> | undefined
    /** The store's Redis connection in cluster mode, for other per-cluster counts (rate limits). */
    redisClient: Redis | undefined
  }
}

export interface StoreOptions {
  redisUrl: string | undefined
  historyLimit: number
  /** Messages one user may add to one room per minute, on every node together (0: no budget). */
  userRoomMessagesPerMin?: number
  /** A ready-made store (tests); REDIS_URL is then ignored. */
  store?: ChatStore
}

type XRead = (...args: unknown[]) => Promise<Array<[string, unknown[]]> | null>

/**
 * Makes a stream reader read after a concrete entry id where it would read from `$`. The adapter
 * reads from `$` ("what is appended after this read arrives") until it has read an entry, and
 * a node in a room where nothing else happens may read none for a long while. When Redis stalls
 * meanwhile, the blocked read times out once Redis resumes, and the next `$` read then starts
 * after the appends that were queued during the stall: those messages would never reach this
 * node's sockets. The stream's last id, taken once at the first read, means the same as `$` then,
 * and keeps meaning it later.
 */
export function readAfterLastEntry(reader: Redis, stream: string): void {
  const xread = reader.xread.bind(reader) as XRead
  let start: Promise<string> | undefined
  ;(reader as unknown as { xread: XRead }).xread = async (...args) => {
    if (args.at(-1) === '$' && args.at(-2) === stream) {
      start ??= reader.xrevrange(stream, '+', '-', 'COUNT', 1).then(
        (last) => last[0]?.[0] ?? '0-0',
        (err: unknown) => {
          start = undefined
          throw err
        }
      )
      args[args.length - 1] = await start
    }
    return xread(...args)
  }
}

/** The adapter's stream: every node reads the others' broadcasts from it. */
const STREAM = { name: 'chat:socket.io', maxLen: 100_000 }
/** Entries one stream read asks for (the adapter's default). */
const READ_COUNT = 100

const retryStrategy = (attempt: number) => Math.min(attempt * 100, 2000)

/** The store's command connection, which says when Redis comes and goes (once per outage). */
function commandConnection(url: string, log: FastifyBaseLogger): { client: Redis; up: () => boolean } {
  // Fails fast while Redis is away (no offline queue): a send is refused with UNAVAILABLE
  // rather than held, and readiness turns 503.
  const client = new Redis(url, {
    connectionName: 'chat-store',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 2000,
    // A command cut off by a disconnect may have run: never send it again behind our back
    // (an append without a clientId would be stored twice).
    autoResendUnfulfilledCommands: false,
    // Commands issued in the same tick (many sends at once) go out in one write.
    enableAutoPipelining: true,
    retryStrategy
  })
  let up = false
  client.on('ready', () => {
    if (!up) log.info({ event: 'redis_up' }, 'Redis is reachable')
    up = true
  })
  client.on('close', () => {
    if (up) log.warn({ event: 'redis_down' }, 'Redis connection lost; reconnecting')
    up = false
  })
  // An error event without a listener would crash the process.
  client.on('error', (err: Error) => {
    if (up) log.warn({ err: { message: err.message } }, 'Redis error')
  })
  return { client, up: () => up }
}

/**
 * The Socket.IO Redis Streams adapter. It makes its own connections from its client (a stream
 * reader, a subscriber); they are closed with the rest, since the adapter lets its reader go
 * only after a read returns, which never happens while Redis is away.
 */
function clusterAdapter(url: string): { adapter: ReturnType<typeof createAdapter>; close: () => void } {
  // Keeps its queue: broadcasts published during a blip go out after it.
  const adapterClient = new Redis(url, { connectionName: 'chat-adapter', maxRetriesPerRequest: null, retryStrategy })
  adapterClient.on('error', () => {})
  const made: Redis[] = []
  const duplicate = adapterClient.duplicate.bind(adapterClient)
  adapterClient.duplicate = ((...args: Parameters<Redis['duplicate']>) => {
    const connection = duplicate(...args)
    made.push(connection)
    readAfterLastEntry(connection, STREAM.name)
    return connection
  }) as Redis['duplicate']
  // A short blocking read, so the reader notices a close within a second.
  const adapter = createAdapter(adapterClient, {
    streamName: STREAM.name,
    maxLen: STREAM.maxLen,
    readCount: READ_COUNT,
    blockTimeInMs: 1000
  })
  return {
    adapter,
    close() {
      adapterClient.disconnect()
      for (const connection of made) connection.disconnect()
    }
  }
}

function redisStore(url: string, options: StoreOptions, log: FastifyBaseLogger) {
  const { client, up } = commandConnection(url, log)
  // The feed's subscriptions come back by themselves after a reconnection (auto-resubscribe);
  // a join does not wait for good on a Redis that hangs (command timeout).
  const subscriber = new Redis(url, {
    connectionName: 'chat-feed',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 2000,
    retryStrategy
  })
  subscriber.on('error', () => {})
  const store = new RedisStore(client, subscriber, {
    historyLimit: options.historyLimit,
    userRoomMessagesPerMin: options.userRoomMessagesPerMin,
    onError(err, operation) {
      // While Redis is known to be away, every refused operation would repeat the same news.
      log[up() ? 'warn' : 'debug'](
        { event: 'redis_failed', operation, err: { message: (err as Error).message } },
        'Redis operation failed'
      )
    },
    onMigrated(rooms) {
      log.info({ event: 'redis_keys_migrated', rooms }, "history of earlier versions moved to today's key names")
    },
    onFeedLost(_room, count) {
      log.warn(
        { event: 'feed_entries_lost', count },
        'entries trimmed from history before this node could deliver them'
      )
    }
  })
  // Announce this node once connected, and again after every reconnection.
  client.on('ready', () => store.start())
  const close = async () => {
    await store.close()
    client.disconnect()
    subscriber.disconnect()
  }
  return { store, client, close }
}

export default fp(
  async function storePlugin(fastify: FastifyInstance, options: StoreOptions) {
    if (options.store !== undefined || options.redisUrl === undefined) {
      const store = options.store ?? new MemoryStore(options.historyLimit, undefined, options.userRoomMessagesPerMin)
      fastify.decorate('store', store)
      fastify.decorate('clusterAdapter', undefined)
      fastify.decorate('redisClient', undefined)
      fastify.addHook('onClose', async function closeStore() {
        await store.close()
      })
      return
    }
    const log = fastify.log.child({ component: 'redis' })
    const redis = redisStore(options.redisUrl, options, log)
    const cluster = clusterAdapter(options.redisUrl)
    // Connected is not answering: a Redis that hangs keeps its connection open while every
    // command times out. The store knows from its heartbeats, readiness pings and commands.
    fastify.metrics.redisUpWith(() => redis.store.available)
    fastify.decorate('store', redis.store)
    fastify.decorate('redisClient', redis.client)
    fastify.decorate('clusterAdapter', cluster.adapter)
    fastify.addHook('onClose', async function closeRedis() {
      await redis.close()
      cluster.close()
    })
  },
  { name: 'store', dependencies: ['metrics'] }
)
