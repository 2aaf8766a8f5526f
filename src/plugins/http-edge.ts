// The HTTP edge: every request the API cannot take (not valid HTTP, too slow, a broken URL, no
// Host, a body in another charset or encoding, an unknown route, an upgrade outside Socket.IO)
// is answered in the API's one error shape. Part of it are Fastify server options, built here.
import { type IncomingMessage, type Server, ServerResponse, STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyHttpOptions, FastifyInstance, FastifyReply, FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { ChatError, errorReply, errorTable, type HttpErrorCode } from '../errors.js'

export interface HttpEdgeOptions {
  /** Socket.IO's path: upgrades there are its own, any other is answered as a plain request. */
  socketPath: string
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

/** The longest path parameter routed (beyond it: 404). */
export const MAX_PARAM_LENGTH = 1024

/** The Fastify server options that shape the edge: limits, timeouts and the early errors. */
export function edgeServerOptions(config: Pick<Config, 'requestTimeoutMs' | 'trustProxy'>): FastifyHttpOptions<Server> {
  return {
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
      // A request without Host is refused by requireHost in the API's shape (Node's own 400 is bare).
      requireHostHeader: false,
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(config.requestTimeoutMs / 4)))
    },
    // Behind a load balancer: which hops' X-Forwarded-For names the client (per-address limits).
    trustProxy: config.trustProxy,
    // A path parameter may be a user id as long as a token's `sub` (256), %-escaped.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    clientErrorHandler: clientError,
    frameworkErrors
  }
}

/**
 * A request Node's HTTP parser refuses (a malformed request line, headers over the size limit, a
 * request too slow to arrive) never reaches Fastify's error handler: answered here in the same
 * shape, then the connection is closed.
 */
export function clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  // A response already under way on this connection: another can only garble it.
  if ((socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true) {
    socket.destroy()
    return
  }
  const code: HttpErrorCode =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? 'REQUEST_TIMEOUT'
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? 'HEADERS_TOO_LARGE'
        : 'INVALID_PAYLOAD'
  const { status } = errorTable[code]
  const body = JSON.stringify(
    errorReply(status, code, code === 'INVALID_PAYLOAD' ? 'The request is not valid HTTP' : errorTable[code].message)
  )
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
    )
  }
  socket.destroy()
}

/** A URL Fastify cannot decode (a broken %-escape) is refused before any route: same shape. */
export const frameworkErrors: NonNullable<FastifyServerOptions['frameworkErrors']> = function frameworkErrors(
  err,
  request,
  reply
) {
  const answer = reply as unknown as FastifyReply
  if (err.code === 'FST_ERR_BAD_URL')
    return void answer.code(400).send(errorReply(400, 'INVALID_PAYLOAD', 'The URL is not valid'))
  // A path part longer than any id or code: nothing is there.
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH')
    return void answer.code(404).send(errorReply(404, 'NOT_FOUND', errorTable.NOT_FOUND.message))
  request.log.error({ err }, 'request failed')
  void answer.code(500).send(errorReply(500, 'INTERNAL', errorTable.INTERNAL.message))
}

export default fp(
  async function httpEdge(fastify: FastifyInstance, options: HttpEdgeOptions) {
    // JSON is the only body the API takes: anything else is 415, not a body that fails its schema.
    fastify.removeContentTypeParser('text/plain')
    // The JSON parser reads every body as UTF-8, whatever its charset says, and does not inflate
    // a compressed one: such a body is refused for what it is, not misread.
    fastify.addHook('preParsing', async function plainJsonOnly(request, _reply, payload) {
      const { headers } = request
      if (headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) return payload
      const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(headers['content-type'] ?? '')?.[1]
      const encoding = headers['content-encoding']?.trim().toLowerCase()
      if (
        (charset !== undefined && !/^utf-?8$/i.test(charset)) ||
        (encoding !== undefined && encoding !== 'identity')
      ) {
        throw new ChatError(
          'UNSUPPORTED_MEDIA_TYPE',
          'Send the body as application/json in UTF-8, without Content-Encoding'
        )
      }
      return payload
    })
    fastify.setErrorHandler(function handleError(err: FastifyError | ChatError, request, reply) {
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
    fastify.addHook('onRequest', async function requireHost(request, reply) {
      if (request.raw.headers.host === undefined && request.raw.httpVersion === '1.1') {
        return reply.code(400).send(errorReply(400, 'INVALID_PAYLOAD', 'An HTTP/1.1 request needs a Host header'))
      }
    })
    // An Expect header other than 100-continue: Node would answer a bare 417.
    fastify.server.on('checkExpectation', function refuseExpectation(_req, res) {
      const body = JSON.stringify(errorReply(417, 'INVALID_PAYLOAD', 'Only Expect: 100-continue is supported'))
      res
        .writeHead(417, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          connection: 'close'
        })
        .end(body)
    })
    fastify.setNotFoundHandler(function notFound(request, reply) {
      return reply
        .code(404)
        .send(errorReply(404, 'NOT_FOUND', `Route ${request.method}:${request.url.slice(0, 200)} not found`))
    })
    const socketPath = `${options.socketPath.replace(/\/$/, '')}/`
    fastify.server.on('upgrade', function answerOtherUpgrades(req: IncomingMessage, socket: Socket) {
      if (req.url?.startsWith(socketPath) !== true) answerAsPlainRequest(fastify, req, socket)
    })
  },
  { name: 'http-edge' }
)

/**
 * Requests with an Upgrade header all go to `upgrade` listeners once any exists. One outside
 * Socket.IO's path is answered as a plain request (the server does not switch: h2c from `curl
 * --http2` included), which for a WebSocket anywhere else means 404.
 */
function answerAsPlainRequest(fastify: FastifyInstance, req: IncomingMessage, socket: Socket): void {
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
  // Node reads no body on a request that asks to upgrade: one that has a body is refused rather
  // than seen empty.
  if (
    (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') ||
    req.headers['transfer-encoding'] !== undefined
  ) {
    const body = JSON.stringify(
      errorReply(400, 'INVALID_PAYLOAD', 'A request that asks to upgrade cannot carry a body here')
    )
    res.writeHead(400, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
    return
  }
  fastify.routing(req, res)
}
