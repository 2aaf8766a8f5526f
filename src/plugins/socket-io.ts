// Socket.IO on the Fastify server: handshake authentication, the connection caps per user and
// per client address, the audit trail of connections, the chat event handlers, and the drain on close.
import { type IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { Socket as EngineSocket } from 'engine.io'
import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import socketIoModule, { type FastifySocketioOptions } from 'fastify-socket.io'
import { type ChatServer, ChatService, type ChatSocket } from '../chat/chat-service.js'
import { CLIENT_EVENTS, type ErrorCode } from '../chat/protocol.js'
import { bufferedBytes, Deliverer, webSocketOf, type WebSocketTransportSocket } from '../chat/delivery.js'
import { createSocketHandlers, type HandlerHooks, InflightGate } from '../chat/socket-handlers.js'
import { chatRoomName, isChatRoom } from '../chat/socket-rooms.js'
import type { ChatStore } from '../chat/store/parts.js'
import { addressKey, clientAddressResolver, trustedPeerResolver } from '../client-address.js'
import { ChatError, errorReply } from '../errors.js'
import type { ChatMetrics } from '../metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    // fastify-socket.io decorates `io` without declaring it.
    io: ChatServer
    chat: ChatService
  }
}

export interface SocketOptions {
  store: ChatStore
  corsOrigins: string[] | undefined
  maxFrameBytes: number
  maxMessageLength: number
  messageRatePerSec: number
  messageBurst: number
  roomRatePerSec: number
  roomBurst: number
  maxConnectionsPerUser: number
  /** Connections one client address (an IPv6 /64) may hold on this node, handshakes included (0: no limit). */
  maxConnectionsPerAddress: number
  /** Which proxies' X-Forwarded-For names the client's address (Fastify's `trustProxy`). */
  trustProxy: boolean | string[]
  /** How long the drain waits for in-flight acknowledgements. */
  drainTimeoutMs: number
  hooks?: Partial<HandlerHooks>
  /** The longest a message in a busy room waits to go out with others in one `messages` packet (0: never). */
  coalesceWindowMs: number
  /** Rooms with fewer sockets on this node than this never wait: each message goes at once. */
  coalesceMinSockets?: number
  /** Output waiting for a client beyond which its connection is cut off. */
  maxBufferedBytes: number
  /** A cluster adapter (Redis Streams) factory; the in-memory adapter when absent. */
  adapter?: Parameters<ChatServer['adapter']>[0]
}

/** Why a handshake was refused: the `reason` label of chat_connection_rejections_total. */
const REJECTION_REASONS = ['UNAUTHORIZED', 'TOO_MANY_CONNECTIONS', 'ADDRESS_LIMIT', 'ORIGIN', 'DRAINING'] as const
type RejectionReason = (typeof REJECTION_REASONS)[number]

/** The error codes that are the service's own failures (the error-ratio alert counts these). */
const SERVER_FAILURES = ['INTERNAL', 'UNAVAILABLE'] as const

/** Event hooks that keep the chat metrics; exemplars link a slow send to its trace. */
function metricHooks(metrics: ChatMetrics): Pick<HandlerHooks, 'onEventDone' | 'onUnknownEvent'> {
  const noExemplar = {}
  const noLabels = {}
  const errors = new Map<string, { inc(): void }>()
  const events = new Map<string, { inc(): void }>()
  // The series the error-ratio alert reads exist from the start at 0: a series born at 1 would
  // hide its first failure from rate().
  for (const event of CLIENT_EVENTS) {
    metrics.events.inc({ event }, 0)
    for (const code of SERVER_FAILURES) metrics.eventErrors.inc({ event, code }, 0)
  }
  return {
    onEventDone({ event, seconds, code, span }) {
      let handled = events.get(event)
      if (handled === undefined) events.set(event, (handled = metrics.events.labels(event)))
      handled.inc()
      if (event === 'message:send') {
        metrics.messagesReceived.inc()
        const exemplarLabels = span.isRecording()
          ? { trace_id: span.spanContext().traceId, span_id: span.spanContext().spanId }
          : noExemplar
        metrics.messageProcessing.observe({ value: seconds, labels: noLabels, exemplarLabels } as never)
      }
      if (code !== undefined) {
        const key = `${event} ${code}`
        let child = errors.get(key)
        if (child === undefined) errors.set(key, (child = metrics.eventErrors.labels(event, code)))
        child.inc()
      }
    },
    onUnknownEvent() {
      metrics.unknownEvents.inc()
    }
  }
}

// fastify-socket.io is CommonJS with `exports.default`; seen from ESM that is one level down.
const fastifySocketIO =
  (socketIoModule as unknown as { default?: FastifyPluginAsync<FastifySocketioOptions> }).default ??
  (socketIoModule as unknown as FastifyPluginAsync<FastifySocketioOptions>)

/** A handshake refusal as the client sees it: `connect_error` with `err.data.code`. */
function refusal(code: ErrorCode, message: string): Error & { data: { code: ErrorCode } } {
  return Object.assign(new Error(message), { data: { code } })
}

/** X-Forwarded-For for the audit log, cut short: a client may send kilobytes of it. */
function forwardedFor(req: IncomingMessage): string | undefined {
  const value = req.headers['x-forwarded-for']
  const joined = Array.isArray(value) ? value.join(', ') : value
  return joined !== undefined && joined.length > 200 ? `${joined.slice(0, 200)}…` : joined
}

/** Resolves after a whole poll phase of the event loop, which reads every readable socket. */
function afterNextPoll(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)))
}

/** Handshakes one Engine.IO connection may have refused before it is closed. */
const REFUSALS_PER_CONNECTION = 3

export default fp(
  async function socketPlugin(fastify: FastifyInstance, options: SocketOptions) {
    const log = fastify.log.child({ component: 'socket' })
    const { metrics } = fastify
    for (const reason of REJECTION_REASONS) metrics.connectionRejections.inc({ reason }, 0)
    const reject = (reason: RejectionReason) => metrics.connectionRejections.inc({ reason })
    const allowedOrigins = new Set(options.corsOrigins ?? [])
    const clientAddress = clientAddressResolver(options.trustProxy)
    const fromTrustedProxy = trustedPeerResolver(options.trustProxy)
    /** Engine.IO connections open per client address key, counted from the handshake to the close. */
    const byAddress = new Map<string, number>()
    /** Handshakes let through and counted, whose connection has not been made yet. */
    const reserved = new WeakSet<IncomingMessage>()
    const release = (key: string) => {
      const left = (byAddress.get(key) ?? 1) - 1
      if (left > 0) byAddress.set(key, left)
      else byAddress.delete(key)
    }

    /** Browsers always send Origin; other clients may not, and are not subject to CORS. */
    function originAllowed(req: IncomingMessage): boolean {
      const origin = req.headers.origin
      if (origin === undefined || allowedOrigins.has(origin)) return true
      let host: string
      try {
        host = new URL(origin).host
      } catch {
        return false
      }
      // The page's own host; behind a trusted proxy, the host the proxy says the page came from.
      return host === req.headers.host || (host === req.headers['x-forwarded-host'] && fromTrustedProxy(req))
    }

    await fastify.register(fastifySocketIO, {
      serveClient: false,
      // Upgrades outside Socket.IO's path are answered below; Engine.IO would end them after 1 s.
      destroyUpgrade: false,
      maxHttpBufferSize: options.maxFrameBytes,
      cors: options.corsOrigins === undefined ? undefined : { origin: options.corsOrigins },
      // Refusing at the transport level (not in a namespace middleware) makes a stock client
      // retry by itself, which is what it should do while this node drains.
      allowRequest(req: IncomingMessage, callback: (err: string | null | undefined, success: boolean) => void) {
        if (fastify.lifecycle.phase === 'draining') {
          reject('DRAINING')
          return callback('The server is restarting', false)
        }
        // Fastify's routes refuse an HTTP/1.1 request without Host; so does this.
        if (req.headers.host === undefined && req.httpVersion === '1.1') return callback('A Host header is required', false)
        if (!originAllowed(req)) {
          reject('ORIGIN')
          log.warn({ event: 'connect_refused', reason: 'ORIGIN', origin: req.headers.origin, remoteAddress: req.socket.remoteAddress }, 'socket refused: origin not allowed')
          return callback('Origin not allowed', false)
        }
        // Before anything is allocated for the connection, and whether or not it will ever send
        // a token: a stock client meets the refusal as a failed attempt and tries again later.
        if (options.maxConnectionsPerAddress > 0) {
          const key = addressKey(clientAddress(req))
          const open = byAddress.get(key) ?? 0
          if (open >= options.maxConnectionsPerAddress) {
            reject('ADDRESS_LIMIT')
            log.warn({ event: 'connect_refused', reason: 'ADDRESS_LIMIT', address: key, remoteAddress: req.socket.remoteAddress }, 'socket refused: too many connections from one address')
            return callback('Too many connections from your address', false)
          }
          // Counted now, not when the connection is made (a few microtasks on): handshakes
          // pipelined in one write are all let through before any connection is made. Given
          // back at the end of this turn if none was (the handshake failed).
          byAddress.set(key, open + 1)
          reserved.add(req)
          setImmediate(() => {
            if (reserved.delete(req)) release(key)
          })
        }
        callback(null, true)
      },
      preClose(done: Function) {
        drain().then(
          () => done(),
          (err: unknown) => done(err)
        )
      }
    })

    const io = fastify.io
    // Requests with an Upgrade header all come here once anything listens for upgrades. One
    // outside Socket.IO's path is answered as a plain request (the server does not switch: h2c
    // from `curl --http2` included), which for a WebSocket anywhere else means 404 (Engine.IO
    // would leave it unanswered for a second, then close it).
    const socketPath = `${io.path().replace(/\/$/, '')}/`
    fastify.server.on('upgrade', function answerOtherUpgrades(req: IncomingMessage, socket: Socket) {
      if (req.url?.startsWith(socketPath) === true) return
      socket.on('error', () => {})
      // Out of Node's request timeouts from here: a route that hangs, or a client that keeps its
      // side open after the answer, is not kept.
      socket.setTimeout(30_000, () => socket.destroy())
      const res = new ServerResponse(req)
      res.shouldKeepAlive = false
      res.assignSocket(socket)
      res.once('finish', () => {
        res.detachSocket(socket)
        socket.end()
        socket.setTimeout(5000)
      })
      // Node reads no body on a request that asks to upgrade: one that has a body is refused
      // rather than seen empty.
      if ((req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined) {
        const body = JSON.stringify(errorReply(400, 'INVALID_PAYLOAD', 'A request that asks to upgrade cannot carry a body here'))
        res.writeHead(400, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
        return
      }
      fastify.routing(req, res)
    })
    const gate = new InflightGate()
    if (options.maxConnectionsPerAddress > 0) {
      io.engine.on('connection', function countAddress(conn: EngineSocket) {
        const req = conn.request as IncomingMessage | undefined
        if (req === undefined) return // WebTransport (not enabled): no request to count by
        const key = addressKey(clientAddress(req))
        if (!reserved.delete(req)) byAddress.set(key, (byAddress.get(key) ?? 0) + 1)
        conn.once('close', () => release(key))
      })
    }
    if (options.adapter !== undefined) io.adapter(options.adapter)
    const deliverer = new Deliverer(io.of('/').adapter, {
      windowMs: options.coalesceWindowMs,
      minSockets: options.coalesceMinSockets,
      onDelivered: (deliveries) => metrics.messagesDelivered.inc(deliveries)
    })
    // Every node delivers from the room feed, following the rooms it has sockets in.
    const { feed } = options.store
    feed.onEntry((entry) => deliverer.deliverJson(entry.room, entry.json, entry.trace))
    io.of('/').adapter.on('delete-room', function unfollow(room: string) {
      if (isChatRoom(room)) feed.unfollow(chatRoomName(room))
    })
    // A client that stops reading (a frozen tab, a dead network) must not make the server hold
    // its room's traffic without limit: past MAX_BUFFERED_BYTES waiting, its connection is cut.
    // A stock client reconnects and rejoins with `since`, so it misses nothing it can take.
    const slowConsumers = setInterval(function cutSlowConsumers() {
      for (const socket of io.of('/').sockets.values()) {
        if (socket.conn.readyState !== 'open') continue
        const waiting = bufferedBytes(socket.conn)
        if (waiting <= options.maxBufferedBytes) continue
        metrics.slowConsumers.inc()
        log.warn({ event: 'slow_consumer', userId: socket.data.user?.id, socketId: socket.id, bufferedBytes: waiting }, 'client stopped reading: connection cut')
        const raw = webSocketOf(socket.conn)
        if (raw !== undefined) raw.terminate()
        else (socket.conn as unknown as { close(discard: boolean): void }).close(true)
      }
    }, 1000)
    slowConsumers.unref()
    fastify.addHook('onClose', async function stopDelivery() {
      clearInterval(slowConsumers)
      deliverer.close()
    })
    const chat = new ChatService(io, options.store, deliverer, options)
    metrics.countRoomsWith(function countRooms() {
      // Socket.IO rooms that are chat rooms: not a socket's own room, not a user's room.
      let count = 0
      for (const room of io.of('/').adapter.rooms.keys()) if (isChatRoom(room)) count++
      return count
    })
    fastify.decorate('chat', chat)

    const hooks: HandlerHooks = {
      onInternalError(event, err) {
        log.error({ err, event: 'handler_error', chatEvent: event }, 'chat event failed')
      },
      onUnknownEvent(event) {
        log.debug({ event: 'unknown_event', chatEvent: event.slice(0, 64) }, 'unknown event ignored')
      },
      ...metricHooks(metrics),
      ...options.hooks
    }
    const attach = createSocketHandlers(chat, { maxMessageLength: options.maxMessageLength, gate, hooks })

    /**
     * Per Engine.IO connection: whether its one chat socket is made or being made, and how many
     * handshakes it had refused. Socket.IO would make a socket for every CONNECT packet of one
     * connection, even pipelined before the first is made: the caps count sockets per user and
     * connections per address, so a connection gets one socket.
     */
    const handshakes = new WeakMap<object, { held: boolean; refused: number }>()

    io.use(function authenticate(socket, next) {
      const remoteAddress = socket.handshake.address
      const audit = { remoteAddress, forwardedFor: forwardedFor(socket.request), transport: socket.conn.transport.name }
      let handshake = handshakes.get(socket.conn)
      if (handshake === undefined) handshakes.set(socket.conn, (handshake = { held: false, refused: 0 }))
      const refuse = (reason: 'UNAUTHORIZED' | 'TOO_MANY_CONNECTIONS', message: string, detail: Record<string, unknown>) => {
        reject(reason)
        next(refusal(reason, message))
        // A stock client tries again on its connection after a refusal only when told to. One
        // that keeps trying there is logged three times, then closed (once its refusals are
        // out: Socket.IO sends them on the next tick, and only on an open connection).
        handshake.refused++
        if (handshake.refused <= REFUSALS_PER_CONNECTION) log.warn({ event: 'connect_refused', reason, ...detail, ...audit }, 'socket refused')
        if (handshake.refused === REFUSALS_PER_CONNECTION) setImmediate(() => socket.conn.close())
      }
      if (handshake.held) {
        return refuse('TOO_MANY_CONNECTIONS', 'One chat socket per connection', { detail: 'second socket on one connection' })
      }
      let user
      try {
        user = fastify.tokens.verify((socket.handshake.auth as { token?: unknown } | undefined)?.token)
      } catch (err) {
        const message = err instanceof ChatError ? err.message : 'The access token is not valid'
        return refuse('UNAUTHORIZED', message, { detail: message })
      }
      if (!chat.hasConnectionRoom(user.id)) {
        return refuse('TOO_MANY_CONNECTIONS', `At most ${options.maxConnectionsPerUser} connections per user`, { userId: user.id })
      }
      handshake.held = true
      socket.data.user = user
      log.info({ event: 'connect', userId: user.id, socketId: socket.id, ...audit }, 'socket connected')
      next()
    })

    io.on('connection', function onConnection(socket: ChatSocket) {
      chat.connected(socket)
      attach(socket)
      metrics.connectionsTotal.inc()
      metrics.connectionsActive.inc()
      socket.on('disconnect', function onDisconnect(reason) {
        const handshake = handshakes.get(socket.conn)
        if (handshake !== undefined) handshake.held = false
        metrics.connectionsActive.dec()
        metrics.disconnections.inc({ reason })
        log.info({ event: 'disconnect', userId: socket.data.user.id, socketId: socket.id, reason }, 'socket disconnected')
        chat.disconnected(socket).catch((err: unknown) => {
          log.error({ err, event: 'disconnect_cleanup_failed', socketId: socket.id }, 'presence cleanup failed')
        })
      })
    })

    /**
     * Answer what is in flight, then close every transport without a Socket.IO disconnect packet:
     * the client sees "transport close" and reconnects by itself (to another node, if any).
     */
    async function drain(): Promise<void> {
      fastify.lifecycle.phase = 'draining'
      const started = Date.now()
      // Answers waiting their turn would hold the drain: refused now (the client reconnects).
      for (const socket of io.of('/').sockets.values()) socket.data.answers?.close()
      await gate.drain(options.drainTimeoutMs)
      // What clients sent before the drain may still wait unread in the kernel's buffers, and
      // Engine.IO drops what it reads once a connection is closing: read it now and refuse it.
      await afterNextPoll()
      await gate.drain(options.drainTimeoutMs)
      deliverer.flush()
      // Every engine connection, including any still in their Socket.IO handshake.
      const clients = Object.values((io.engine as unknown as { clients: Record<string, EngineSocket> }).clients)
      log.info({ event: 'drain', connections: clients.length, inflight: gate.inflight, waitedMs: Date.now() - started }, 'closing connections for shutdown')
      const sockets: WebSocketTransportSocket[] = []
      const closed = clients.map((client) => {
        const ws = webSocketOf(client)
        client.close()
        if (ws === undefined || ws.readyState === 3) return Promise.resolve()
        sockets.push(ws)
        return new Promise<void>((resolve) => ws.once('close', () => resolve()))
      })
      // A client that stops reading never answers the WebSocket close: after a while, cut it.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.drainTimeoutMs)
        timer.unref()
        void Promise.all(closed).then(() => {
          clearTimeout(timer)
          resolve()
        })
      })
      for (const ws of sockets) if (ws.readyState !== 3) ws.terminate()
    }
  },
  { name: 'socket-io', dependencies: ['auth', 'health', 'metrics'] }
)
