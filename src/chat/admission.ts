// Who may open a socket: the transport-level checks (draining, Host, Origin, connections per
// client address) and the Socket.IO handshake (token, connections per user, one chat socket per
// Engine.IO connection), each refusal counted and logged.
import type { IncomingMessage } from 'node:http'
import type { Socket as EngineSocket } from 'engine.io'
import { addressKey, clientAddressResolver, trustedPeerResolver } from '../client-address.js'
import type { Config } from '../config.js'
import { ChatError } from '../errors.js'
import type { Identity, TokenUse } from '../plugins/auth.js'
import type { ChatSocket } from './chat-service.js'
import type { ErrorCode } from './protocol.js'

/** Why a handshake was refused: the `reason` label of chat_connection_rejections_total. */
export const REJECTION_REASONS = [
  'UNAUTHORIZED',
  'TOO_MANY_CONNECTIONS',
  'ADDRESS_LIMIT',
  'ORIGIN',
  'DRAINING'
] as const
export type RejectionReason = (typeof REJECTION_REASONS)[number]

/** Handshakes one Engine.IO connection may have refused before it is closed. */
export const REFUSALS_PER_CONNECTION = 3

export type AdmissionOptions = Pick<
  Config,
  'corsOrigins' | 'trustProxy' | 'maxConnectionsPerAddress' | 'maxConnectionsPerUser'
>

export interface AdmissionLog {
  info(details: object, message: string): void
  warn(details: object, message: string): void
}

export interface AdmissionDeps {
  log: AdmissionLog
  /** Counts a refusal (chat_connection_rejections_total). */
  onRejected(reason: RejectionReason): void
  /** Whether the node drains: every new connection is refused then. */
  draining(): boolean
  /** Who a token stands for; rejects UNAUTHORIZED (a ChatError) otherwise. */
  verify(token: unknown, use: TokenUse): Promise<Identity>
  /** Whether the user may have one more socket on this node. */
  hasRoomFor(userId: string): boolean
}

/** Engine.IO's answer to `allowRequest`: an error message, or success. */
type AllowCallback = (err: string | null | undefined, success: boolean) => void

/** Per Engine.IO connection: whether its one chat socket is made or being made, and its refusals. */
interface Handshakes {
  held: boolean
  refused: number
  /** The handshake being checked: the next on the connection waits for it, so they go in turn. */
  turn: Promise<void>
}

export class Admission {
  private readonly allowedOrigins: Set<string>
  private readonly clientAddress: (req: IncomingMessage) => string
  private readonly fromTrustedProxy: (req: IncomingMessage) => boolean
  /** Engine.IO connections open per client address key, counted from the handshake to the close. */
  private readonly byAddress = new Map<string, number>()
  /** Handshakes let through and counted, whose connection has not been made yet. */
  private readonly reserved = new WeakSet<IncomingMessage>()
  // Socket.IO would make a socket for every CONNECT packet of one connection, even pipelined
  // before the first is made: the caps count sockets per user and connections per address.
  private readonly handshakes = new WeakMap<object, Handshakes>()

  constructor(
    private readonly options: AdmissionOptions,
    private readonly deps: AdmissionDeps
  ) {
    this.allowedOrigins = new Set(options.corsOrigins ?? [])
    this.clientAddress = clientAddressResolver(options.trustProxy)
    this.fromTrustedProxy = trustedPeerResolver(options.trustProxy)
  }

  /** Engine.IO connections open from the address key `key` (an IPv6 /64 counts as one). */
  openFrom(key: string): number {
    return this.byAddress.get(key) ?? 0
  }

  /**
   * Engine.IO's `allowRequest`, for each handshake. Refusing at the transport level (not in a
   * namespace middleware) makes a stock client retry by itself, as it should while a node drains.
   */
  readonly allowRequest = (req: IncomingMessage, callback: AllowCallback): void => {
    const refused = this.transportRefusal(req)
    callback(refused ?? null, refused === undefined)
  }

  /** Why a handshake is refused at the transport level, or undefined when it may go on. */
  private transportRefusal(req: IncomingMessage): string | undefined {
    const { log } = this.deps
    const remoteAddress = req.socket.remoteAddress
    if (this.deps.draining()) {
      this.deps.onRejected('DRAINING')
      return 'The server is restarting'
    }
    // Fastify's routes refuse an HTTP/1.1 request without Host; so does this.
    if (req.headers.host === undefined && req.httpVersion === '1.1') return 'A Host header is required'
    if (!this.originAllowed(req)) {
      this.deps.onRejected('ORIGIN')
      log.warn(
        { event: 'connect_refused', reason: 'ORIGIN', origin: req.headers.origin, remoteAddress },
        'socket refused: origin not allowed'
      )
      return 'Origin not allowed'
    }
    // Before anything is allocated for the connection, and whether or not it will ever send a
    // token: a stock client meets the refusal as a failed attempt and tries again later.
    const limit = this.options.maxConnectionsPerAddress
    if (limit <= 0) return undefined
    const key = addressKey(this.clientAddress(req))
    const open = this.openFrom(key)
    if (open >= limit) {
      this.deps.onRejected('ADDRESS_LIMIT')
      const detail = { event: 'connect_refused', reason: 'ADDRESS_LIMIT', address: key, remoteAddress }
      log.warn(detail, 'socket refused: too many connections from one address')
      return 'Too many connections from your address'
    }
    // Counted now, not when the connection is made (a few microtasks on): handshakes pipelined
    // in one write are all let through before any connection is made. Given back at the end of
    // this turn if none was (the handshake failed).
    this.byAddress.set(key, open + 1)
    this.reserved.add(req)
    setImmediate(() => {
      if (this.reserved.delete(req)) this.release(key)
    })
    return undefined
  }

  /** Engine.IO's `connection`: the connection counts under its address until it closes. */
  readonly countConnection = (conn: EngineSocket): void => {
    if (this.options.maxConnectionsPerAddress <= 0) return
    const req = conn.request as IncomingMessage | undefined
    if (req === undefined) return // WebTransport (not enabled): no request to count by
    const key = addressKey(this.clientAddress(req))
    if (!this.reserved.delete(req)) this.byAddress.set(key, this.openFrom(key) + 1)
    conn.once('close', () => this.release(key))
  }

  /** Socket.IO middleware: a valid token, room under the user's cap, one socket per connection. */
  readonly authenticate = async (socket: ChatSocket, next: (err?: Error) => void): Promise<void> => {
    const audit = {
      remoteAddress: socket.handshake.address,
      forwardedFor: forwardedFor(socket.request),
      transport: socket.conn.transport.name
    }
    const handshake = this.handshakes.get(socket.conn) ?? { held: false, refused: 0, turn: Promise.resolve() }
    this.handshakes.set(socket.conn, handshake)
    const previous = handshake.turn
    let done!: () => void
    handshake.turn = new Promise((resolve) => (done = resolve))
    await previous
    try {
      await this.admit(socket, handshake, audit, next)
    } finally {
      done()
    }
  }

  private async admit(
    socket: ChatSocket,
    handshake: Handshakes,
    audit: Record<string, unknown>,
    next: (err?: Error) => void
  ): Promise<void> {
    const refuse = (reason: 'UNAUTHORIZED' | 'TOO_MANY_CONNECTIONS', message: string, detail: object): void => {
      this.deps.onRejected(reason)
      next(refusal(reason, message))
      // A stock client tries again on its connection after a refusal only when told to. One that
      // keeps trying there is logged three times, then closed (once its refusals are out:
      // Socket.IO sends them on the next tick, and only on an open connection).
      handshake.refused++
      if (handshake.refused <= REFUSALS_PER_CONNECTION)
        this.deps.log.warn({ event: 'connect_refused', reason, ...detail, ...audit }, 'socket refused')
      if (handshake.refused === REFUSALS_PER_CONNECTION) setImmediate(() => socket.conn.close())
    }
    if (handshake.held) {
      refuse('TOO_MANY_CONNECTIONS', 'One chat socket per connection', { detail: 'second socket on one connection' })
      return
    }
    let identity: Identity
    try {
      const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token
      identity = await this.deps.verify(token, { address: socket.handshake.address })
    } catch (err) {
      const message = err instanceof ChatError ? err.message : 'The access token is not valid'
      refuse('UNAUTHORIZED', message, { detail: message })
      return
    }
    const { user } = identity
    if (!this.deps.hasRoomFor(user.id)) {
      const message = `At most ${this.options.maxConnectionsPerUser} connections per user`
      refuse('TOO_MANY_CONNECTIONS', message, { userId: user.id })
      return
    }
    handshake.held = true
    socket.data.user = user
    socket.data.identity = identity
    this.deps.log.info({ event: 'connect', userId: user.id, socketId: socket.id, ...audit }, 'socket connected')
    next()
  }

  /** A socket disconnected: its Engine.IO connection may carry another. */
  released(socket: ChatSocket): void {
    const handshake = this.handshakes.get(socket.conn)
    if (handshake !== undefined) handshake.held = false
  }

  /** Browsers always send Origin; other clients may not, and are not subject to CORS. */
  private originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin
    if (origin === undefined || this.allowedOrigins.has(origin)) return true
    let host: string
    try {
      host = new URL(origin).host
    } catch {
      return false
    }
    // The page's own host; behind a trusted proxy, the host the proxy says the page came from.
    return host === req.headers.host || (host === req.headers['x-forwarded-host'] && this.fromTrustedProxy(req))
  }

  private release(key: string): void {
    const left = this.openFrom(key) - 1
    if (left > 0) this.byAddress.set(key, left)
    else this.byAddress.delete(key)
  }
}

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
