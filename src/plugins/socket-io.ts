// Socket.IO on the Fastify server, as wiring: admission (transport checks and the handshake),
// the chat event handlers and their metrics, delivery, slow consumers and the drain on close.
import type { FastifyBaseLogger, FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import socketIoModule, { type FastifySocketioOptions } from 'fastify-socket.io'
import { Admission, REJECTION_REASONS } from '../chat/admission.js'
import { MembershipChanges } from '../chat/changes.js'
import { type ChatServer, ChatService, type ChatSocket } from '../chat/chat-service.js'
import { Deliverer } from '../chat/delivery/coalescer.js'
import { DirectRooms } from '../chat/direct.js'
import { drain } from '../chat/drain.js'
import { metricHooks } from '../chat/event-metrics.js'
import { Moderation } from '../chat/moderation.js'
import { watchSlowConsumers } from '../chat/slow-consumers.js'
import { createSocketHandlers, type HandlerHooks, InflightGate } from '../chat/socket-handlers.js'
import { chatRoomName, isChatRoom } from '../chat/socket-rooms.js'
import type { ChatStore } from '../chat/store/parts.js'
import { TokenLifetimes, tokenKey } from '../chat/token-lifetimes.js'
import type { Config } from '../config.js'
import type { ChatMetrics } from '../metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    // fastify-socket.io decorates `io` without declaring it.
    io: ChatServer
    chat: ChatService
    moderation: Moderation
    direct: DirectRooms
    lifetimes: TokenLifetimes
  }
}

/** Socket.IO's path; the HTTP edge answers upgrades anywhere else. */
export const SOCKET_PATH = '/socket.io'

export interface SocketOptions {
  config: SocketConfig
  store: ChatStore
  /** A cluster adapter factory; the in-memory adapter when absent. */
  adapter?: Parameters<ChatServer['adapter']>[0]
  /** Extra handler hooks (tests observe events through them). */
  hooks?: Partial<HandlerHooks>
}

export type SocketConfig = Pick<
  Config,
  | 'corsOrigins'
  | 'maxFrameBytes'
  | 'maxMessageLength'
  | 'messageRatePerSec'
  | 'messageBurst'
  | 'roomRatePerSec'
  | 'roomBurst'
  | 'maxConnectionsPerUser'
  | 'maxConnectionsPerAddress'
  | 'trustProxy'
  | 'coalesceWindowMs'
  | 'coalesceMinSockets'
  | 'maxBufferedBytes'
  | 'drainTimeoutMs'
  | 'jwtSecret'
>

// fastify-socket.io is CommonJS with `exports.default`; seen from ESM that is one level down.
const fastifySocketIO =
  (socketIoModule as unknown as { default?: FastifyPluginAsync<FastifySocketioOptions> }).default ??
  (socketIoModule as unknown as FastifyPluginAsync<FastifySocketioOptions>)

export default fp(
  async function socketPlugin(fastify: FastifyInstance, options: SocketOptions) {
    const { config } = options
    const log = fastify.log.child({ component: 'socket' })
    const { metrics } = fastify
    for (const reason of REJECTION_REASONS) metrics.connectionRejections.inc({ reason }, 0)
    const gate = new InflightGate()

    await fastify.register(fastifySocketIO, {
      path: SOCKET_PATH,
      serveClient: false,
      // Upgrades outside Socket.IO's path are the HTTP edge's; Engine.IO would end them after 1 s.
      destroyUpgrade: false,
      maxHttpBufferSize: config.maxFrameBytes,
      cors: config.corsOrigins === undefined ? undefined : { origin: config.corsOrigins },
      // Admission and delivery are made below, once Socket.IO is; neither is called before.
      allowRequest: (req, callback) => admission.allowRequest(req, callback),
      preClose(done) {
        fastify.lifecycle.phase = 'draining'
        drain(fastify.io, { gate, flush: () => deliverer.flush(), timeoutMs: config.drainTimeoutMs, log }).then(
          () => done(),
          (err: unknown) => done(err)
        )
      }
    })

    const io = fastify.io
    if (options.adapter !== undefined) io.adapter(options.adapter)
    const deliverer = new Deliverer(io.of('/').adapter, {
      windowMs: config.coalesceWindowMs,
      minSockets: config.coalesceMinSockets,
      onDelivered: (deliveries) => metrics.messagesDelivered.inc(deliveries)
    })
    // Every node delivers from the room feed, following the rooms it has sockets in.
    const { feed } = options.store
    feed.onEntry((entry) => deliverer.deliverJson(entry.room, entry.json, entry.trace))
    io.of('/').adapter.on('delete-room', function unfollow(room: string) {
      if (isChatRoom(room)) feed.unfollow(chatRoomName(room))
    })
    const stopWatching = watchSlowConsumers(io, {
      maxBufferedBytes: config.maxBufferedBytes,
      onCut(socket, bufferedBytes) {
        metrics.slowConsumers.inc()
        log.warn(
          { event: 'slow_consumer', userId: socket.data.user?.id, socketId: socket.id, bufferedBytes },
          'client stopped reading: connection cut'
        )
      }
    })
    fastify.addHook('onClose', async function stopDelivery() {
      stopWatching()
      deliverer.close()
    })
    const chat = new ChatService(io, options.store, deliverer, config, {
      onAudit({ action, by, user }) {
        metrics.moderationActions.inc({ action })
        // The room stays out of the log (as from metrics): the trail in the store names it.
        log.info({ event: 'audit', action, by, user }, 'membership or moderation change')
      }
    })
    const changes = new MembershipChanges(io, (change) => chat.applyChange(change), options.adapter !== undefined)
    fastify.decorate('moderation', new Moderation(options.store.directory, changes, chat.audit))
    fastify.decorate('direct', new DirectRooms(options.store.directory, changes, chat.audit, config.jwtSecret))
    metrics.countRoomsWith(function countRooms() {
      // Socket.IO rooms that are chat rooms: not a socket's own room, not a user's room.
      let count = 0
      for (const room of io.of('/').adapter.rooms.keys()) if (isChatRoom(room)) count++
      return count
    })
    fastify.decorate('chat', chat)

    const lifetimes = new TokenLifetimes({
      io,
      list: options.store.revocations,
      verify: (token) => fastify.tokens.verify(token),
      clustered: options.adapter !== undefined,
      log
    })
    lifetimes.start()
    fastify.decorate('lifetimes', lifetimes)
    fastify.addHook('onClose', async function stopTokenClocks() {
      lifetimes.close()
    })

    const hooks = handlerHooks(log, metrics, options.hooks)
    const attach = createSocketHandlers(chat, {
      maxMessageLength: config.maxMessageLength,
      gate,
      hooks,
      refresh: (socket, payload) => lifetimes.refresh(socket, payload)
    })

    const admission = new Admission(config, {
      log,
      onRejected: (reason) => metrics.connectionRejections.inc({ reason }),
      draining: () => fastify.lifecycle.phase === 'draining',
      async verify(token, use) {
        const identity = await fastify.tokens.verify(token, use)
        // A revoked token (signed out, its user revoked) is refused like a bad one.
        lifetimes.require(identity, token as string)
        return identity
      },
      hasRoomFor: (userId) => chat.hasConnectionRoom(userId)
    })
    io.engine.on('connection', admission.countConnection)
    io.use(admission.authenticate)
    const parts = { chat, attach, admission, metrics, log, lifetimes }
    io.on('connection', (socket: ChatSocket) => connected(socket, parts))
  },
  { name: 'socket-io', dependencies: ['auth', 'health', 'metrics'] }
)

/** The event wrapper's hooks: failures and unknown events logged, the chat metrics kept. */
function handlerHooks(log: FastifyBaseLogger, metrics: ChatMetrics, extra?: Partial<HandlerHooks>): HandlerHooks {
  return {
    onInternalError(event, err) {
      log.error({ err, event: 'handler_error', chatEvent: event }, 'chat event failed')
    },
    onUnknownEvent(event) {
      log.debug({ event: 'unknown_event', chatEvent: event.slice(0, 64) }, 'unknown event ignored')
    },
    ...metricHooks(metrics),
    ...extra
  }
}

/** A socket passed admission: set up, handled, counted, and undone when it disconnects. */
function connected(socket: ChatSocket, parts: ConnectionParts): void {
  const { chat, admission, metrics, log, lifetimes } = parts
  chat.connected(socket)
  socket.data.tokenKey = tokenKey(socket.data.identity, String((socket.handshake.auth as { token?: unknown }).token))
  lifetimes.connected(socket)
  parts.attach(socket)
  metrics.connectionsTotal.inc()
  metrics.connectionsActive.inc()
  socket.on('disconnect', function onDisconnect(reason) {
    admission.released(socket)
    lifetimes.disconnected(socket)
    metrics.connectionsActive.dec()
    metrics.disconnections.inc({ reason })
    log.info({ event: 'disconnect', userId: socket.data.user.id, socketId: socket.id, reason }, 'socket disconnected')
    chat.disconnected(socket).catch((err: unknown) => {
      log.error({ err, event: 'disconnect_cleanup_failed', socketId: socket.id }, 'presence cleanup failed')
    })
  })
}

interface ConnectionParts {
  chat: ChatService
  attach: (socket: ChatSocket) => void
  admission: Admission
  lifetimes: TokenLifetimes
  metrics: ChatMetrics
  log: FastifyBaseLogger
}
