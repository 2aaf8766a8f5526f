// buildApp(config) assembles the service from its plugins, in order. Importing this module does
// nothing; only server.ts listens.
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify'
import type { HandlerHooks } from './chat/socket-handlers.js'
import type { ChatStore } from './chat/store/parts.js'
import type { Config } from './config.js'
import { ChatError, errorReply, errorTable, type HttpErrorCode } from './errors.js'
import authPlugin from './plugins/auth.js'
import healthPlugin from './plugins/health.js'
import metricsPlugin from './plugins/metrics.js'
import securityPlugin from './plugins/security.js'
import socketPlugin from './plugins/socket-io.js'
import staticClientPlugin from './plugins/static-client.js'
import storePlugin from './plugins/store.js'
import roomRoutes from './routes/rooms.js'
import sessionRoutes from './routes/session.js'

export interface BuildOptions {
  /** Fastify's logger option; defaults to pino at the configured level. */
  logger?: FastifyServerOptions['logger']
  /** Extra handler hooks (tests observe events through them). */
  hooks?: Partial<HandlerHooks>
  store?: ChatStore
}

/** The HTTP status of a Fastify or library error, mapped to the service's own codes. */
const codeByStatus: Record<number, HttpErrorCode> = {
  400: 'INVALID_PAYLOAD',
  401: 'UNAUTHORIZED',
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  503: 'UNAVAILABLE'
}

/**
 * A request Node's HTTP parser refuses (a malformed request line, headers over the size limit, a
 * request too slow to arrive) never reaches Fastify's error handler: answered here in the same
 * shape, then the connection is closed.
 */
function clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  // A response already under way on this connection: another can only garble it.
  if ((socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true) {
    socket.destroy()
    return
  }
  const code: HttpErrorCode =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'REQUEST_TIMEOUT' : err.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : 'INVALID_PAYLOAD'
  const { status } = errorTable[code]
  const body = JSON.stringify(errorReply(status, code, code === 'INVALID_PAYLOAD' ? 'The request is not valid HTTP' : errorTable[code].message))
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
  }
  socket.destroy()
}

export function loggerOptions(config: Config): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', '*.token'], censor: '[redacted]' }
  }
}

export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? loggerOptions(config),
    // Readiness and the Socket.IO drain say "closing" in their own words; routes keep answering.
    return503OnClosing: false,
    // Once the drain is done, nothing (a stalled upload, an unread response) may hold the exit.
    forceCloseConnections: true,
    bodyLimit: 16 * 1024,
    // A request (a body above all) that never finishes arriving is answered 408 and closed,
    // instead of holding its connection for good (Fastify's default is no limit). Long-polling
    // and WebSocket upgrades are whole requests at once: not affected. Node 20 and 22 cut a
    // stalled body only at headersTimeout (60 s by default), whatever requestTimeout says: both
    // are set. Node checks them at connectionsCheckingInterval (30 s by default).
    requestTimeout: config.requestTimeoutMs,
    http: {
      headersTimeout: config.requestTimeoutMs,
      // A request without Host is refused below in the API's shape (Node's own 400 is bare).
      requireHostHeader: false,
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(config.requestTimeoutMs / 4)))
    },
    // Behind a load balancer: which hops' X-Forwarded-For names the client (per-address limits).
    trustProxy: config.trustProxy,
    clientErrorHandler: clientError,
    // A URL Fastify cannot decode (a broken %-escape) is refused before any route: same shape.
    frameworkErrors(err, request, reply) {
      const answer = reply as unknown as FastifyReply
      if (err.code === 'FST_ERR_BAD_URL') return void answer.code(400).send(errorReply(400, 'INVALID_PAYLOAD', 'The URL is not valid'))
      request.log.error({ err }, 'request failed')
      void answer.code(500).send(errorReply(500, 'INTERNAL', errorTable.INTERNAL.message))
    }
  })
  app.setValidatorCompiler(TypeBoxValidatorCompiler)
  // JSON is the only body the API takes: anything else is 415, not a body that fails its schema.
  app.removeContentTypeParser('text/plain')
  // The JSON parser reads every body as UTF-8, whatever its charset says, and does not inflate
  // a compressed one: such a body is refused for what it is, not misread.
  app.addHook('preParsing', async function plainJsonOnly(request, _reply, payload) {
    const { headers } = request
    if (headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) return payload
    const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(headers['content-type'] ?? '')?.[1]
    const encoding = headers['content-encoding']?.trim().toLowerCase()
    if ((charset !== undefined && !/^utf-?8$/i.test(charset)) || (encoding !== undefined && encoding !== 'identity')) {
      throw new ChatError('UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json in UTF-8, without Content-Encoding')
    }
    return payload
  })

  app.setErrorHandler(function handleError(err: FastifyError | ChatError, request, reply) {
    if (err instanceof ChatError) {
      return reply.code(err.statusCode).send(errorReply(err.statusCode, err.code, err.message))
    }
    const status = err.validation ? 400 : (err.statusCode ?? 500)
    if (status >= 500 || status < 400) {
      request.log.error({ err }, 'request failed')
      return reply.code(500).send(errorReply(500, 'INTERNAL', errorTable.INTERNAL.message))
    }
    // Every 4xx has one of the documented codes (a static file's 412 or 416 included).
    const code = codeByStatus[status] ?? 'INVALID_PAYLOAD'
    // Fastify says only "Unsupported Media Type"; say what to send instead.
    const message = status === 415 ? errorTable.UNSUPPORTED_MEDIA_TYPE.message : err.message
    return reply.code(status).send(errorReply(status, code, message))
  })
  app.addHook('onRequest', async function requireHost(request, reply) {
    if (request.raw.headers.host === undefined && request.raw.httpVersion === '1.1') {
      return reply.code(400).send(errorReply(400, 'INVALID_PAYLOAD', 'An HTTP/1.1 request needs a Host header'))
    }
  })
  // An Expect header other than 100-continue: Node would answer a bare 417.
  app.server.on('checkExpectation', function refuseExpectation(_req, res) {
    const body = JSON.stringify(errorReply(417, 'INVALID_PAYLOAD', 'Only Expect: 100-continue is supported'))
    res.writeHead(417, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' }).end(body)
  })
  app.setNotFoundHandler(function notFound(request, reply) {
    return reply.code(404).send(errorReply(404, 'NOT_FOUND', `Route ${request.method}:${request.url.slice(0, 200)} not found`))
  })

  if (config.jwtSecretGenerated) {
    app.log.warn('JWT_SECRET is not set: using a random secret for this process (fine for one node, wrong for several)')
  }
  await app.register(securityPlugin, { corsOrigins: config.corsOrigins })
  await app.register(authPlugin, { secret: config.jwtSecret, ttlSeconds: config.tokenTtlSeconds })
  await app.register(metricsPlugin, { token: config.metricsToken, redis: config.redisUrl !== undefined })
  await app.register(storePlugin, {
    redisUrl: config.redisUrl,
    historyLimit: config.historyLimit,
    store: options.store
  })
  await app.register(healthPlugin, { pingStore: () => app.store.ping() })
  await app.register(socketPlugin, {
    store: app.store,
    adapter: app.clusterAdapter,
    corsOrigins: config.corsOrigins,
    maxFrameBytes: config.maxFrameBytes,
    maxMessageLength: config.maxMessageLength,
    messageRatePerSec: config.messageRatePerSec,
    messageBurst: config.messageBurst,
    roomRatePerSec: config.roomRatePerSec,
    roomBurst: config.roomBurst,
    maxConnectionsPerUser: config.maxConnectionsPerUser,
    maxConnectionsPerAddress: config.maxConnectionsPerAddress,
    trustProxy: config.trustProxy,
    coalesceWindowMs: config.coalesceWindowMs,
    coalesceMinSockets: config.coalesceMinSockets,
    maxBufferedBytes: config.maxBufferedBytes,
    // The drain waits twice (acknowledgements, then closing connections), each at most 40% of
    // the grace period, which leaves a fifth of it for closing the rest and exiting.
    drainTimeoutMs: Math.floor(config.shutdownGraceMs * 0.4),
    hooks: options.hooks
  })
  await app.register(sessionRoutes, { guestSessions: config.guestSessions, ratePerMin: config.sessionRatePerMin, redis: app.redisClient })
  await app.register(roomRoutes)
  await app.register(staticClientPlugin)
  return app
}
