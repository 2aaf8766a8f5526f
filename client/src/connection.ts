// The socket of one sign-in: which transport goes first, the recovery from an upgrade that
// broke, a refused connection tried again. Says what happens through handlers; no DOM here.
import { io } from 'socket.io-client'
import type { ErrorCode } from '../../src/chat/protocol.js'
import type { ChatSocket } from './request.js'
import { CONNECT_RETRY, retryDelay } from './retry.js'

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline'

export interface ConnectionHandlers {
  /** Each connect, the first and every reconnect: the rooms are joined again. */
  connected(): void
  /** The connection went; the rooms are no longer joined. `byServer`: the server cut it (its token ended). */
  disconnected(byServer: boolean): void
  /** What the connection line says. */
  status(state: ConnectionState, detail?: string): void
  /** The server refused the token (expired, or signed by another secret). */
  unauthorized(): void
}

/** Until when this browser starts with long-polling: a WebSocket did not open here. */
const POLLING_FIRST_KEY = 'chat.polling-first-until'
const POLLING_FIRST_FOR_MS = 24 * 60 * 60 * 1000

type Transports = Array<'websocket' | 'polling'>
const WEBSOCKET_FIRST: Transports = ['websocket', 'polling']
const POLLING_FIRST: Transports = ['polling', 'websocket']

export class Connection {
  readonly socket: ChatSocket
  private closed = false
  /** Set while this page drops a stuck connection to open a new one at once. */
  private restarting = false
  /** The WebSocket timed out on this page: long-polling is tried first. */
  private fellBack = false
  private retry: ReturnType<typeof setTimeout> | undefined
  /** The token this socket connected with, or last gave the server by auth:refresh. */
  sentToken: string | undefined

  constructor(
    token: () => string,
    private readonly handlers: ConnectionHandlers
  ) {
    // A WebSocket first: no long-polling round trips before it and no upgrade from long-polling
    // (which can stall, see watchUpgrade). A WebSocket that fails falls back to long-polling at
    // once (tryAllTransports); one that never opens (a proxy holding it) ends in the 20 s
    // connect timeout, after which this page tries long-polling first, and if that connects,
    // this browser starts with long-polling for a day (an upgrade that works ends that).
    // The token is read at each connect: a reconnect uses the latest one (renewal.ts).
    const auth = (send: (data: object) => void) => {
      this.sentToken = token()
      send({ token: this.sentToken })
    }
    this.socket = io({ auth, transports: transportOrder(), tryAllTransports: true })
    this.socket.io.on('open', () => this.watchUpgrade())
    this.socket.on('connect', () => this.onConnect())
    this.socket.on('disconnect', (reason) => {
      handlers.disconnected(reason === 'io server disconnect')
      // Cut by the server (its token ended, said by chat:error before): no reconnect by itself;
      // whoever handles that error connects again with a good token, or ends the sign-in.
      const over = (reason === 'io client disconnect' && !this.restarting) || reason === 'io server disconnect'
      handlers.status(over ? 'offline' : 'reconnecting')
    })
    this.socket.io.on('reconnect_attempt', (attempt) => handlers.status('reconnecting', `(attempt ${attempt})`))
    this.socket.on('connect_error', (err: Error & { data?: { code?: string } }) => this.onConnectError(err))
  }

  get connected(): boolean {
    return this.socket.connected
  }

  /** Connects again after the server cut this socket (with the token read at connect). */
  reconnect(): void {
    if (!this.closed && !this.socket.connected) this.socket.connect()
  }

  /** Ends this connection for good (signed out): nothing of it runs again. */
  close(): void {
    this.closed = true
    clearTimeout(this.retry)
    this.socket.disconnect()
  }

  private onConnect(): void {
    this.restarting = false
    if (this.socket.io.engine.transport.name === 'websocket') preferWebSocket()
    else if (this.fellBack) preferPolling()
    this.handlers.status('connected')
    this.handlers.connected()
  }

  private onConnectError(err: Error & { data?: { code?: string } }): void {
    const own = this.socket
    if (err.message === 'timeout' && own.io.opts.transports?.[0] === 'websocket') {
      this.fellBack = true
      own.io.opts.transports = [...POLLING_FIRST]
    }
    const code = err.data?.code
    // Expired, or the server no longer knows its signature (restarted without a fixed JWT_SECRET).
    if (code === 'UNAUTHORIZED') {
      this.handlers.unauthorized()
      return
    }
    const wait =
      code === undefined
        ? undefined
        : retryDelay(CONNECT_RETRY, { error: { code: code as ErrorCode, message: err.message } }, 0)
    if (wait !== undefined) {
      // The Manager does not reconnect after a refusal from the server's middleware.
      this.handlers.status('offline', '— too many tabs open; close one and this one retries.')
      clearTimeout(this.retry)
      this.retry = setTimeout(() => {
        if (!this.closed) own.connect()
      }, wait)
      return
    }
    this.handlers.status('reconnecting')
  }

  private watchUpgrade(): void {
    const own = this.socket
    const engine = own.io.engine
    let upgrading = false
    engine.on('upgrading', () => {
      upgrading = true
    })
    engine.on('upgrade', () => {
      upgrading = false
      preferWebSocket()
    })
    engine.on('upgradeError', () => {
      if (!upgrading || this.closed || engine !== own.io.engine || engine.readyState !== 'open') return
      // engine.io-client (6.6) leaves long-polling paused when the WebSocket fails after it
      // answered the upgrade probe (a server stalled past its upgrade timeout, a proxy dropping
      // it): nothing would go either way until the ping timeout. A new connection now instead,
      // staying on long-polling for this page so that it cannot happen twice.
      own.io.opts.upgrade = false
      this.restarting = true
      const stuck = engine.id
      own.disconnect().connect()
      // The stuck engine cannot say goodbye itself: its close packet (Engine.IO's "1") over
      // long-polling, so that the server does not keep its session until the ping timeout.
      const path = `${(own.io.opts.path ?? '/socket.io').replace(/\/$/, '')}/`
      void fetch(`${path}?EIO=4&transport=polling&sid=${encodeURIComponent(stuck)}`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
        body: '1'
      }).catch(() => undefined)
    })
  }
}

// Storage may refuse (full, or blocked): the choice is then made again on each page.

/** The transports to try, in order: a WebSocket first unless one lately did not open here. */
function transportOrder(now = Date.now()): Transports {
  try {
    if (Number(localStorage.getItem(POLLING_FIRST_KEY)) > now) return [...POLLING_FIRST]
  } catch {
    // as if unset
  }
  return [...WEBSOCKET_FIRST]
}

/** A WebSocket did not open, long-polling did: long-polling first here for a day. */
function preferPolling(now = Date.now()): void {
  try {
    localStorage.setItem(POLLING_FIRST_KEY, String(now + POLLING_FIRST_FOR_MS))
  } catch {
    // not remembered
  }
}

/** A WebSocket works here. */
function preferWebSocket(): void {
  try {
    localStorage.removeItem(POLLING_FIRST_KEY)
  } catch {
    // nothing to forget
  }
}
