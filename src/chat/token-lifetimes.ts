// Tokens keep counting on live sockets: a socket is told TOKEN_EXPIRED and disconnected at its
// token's `exp` unless it sent a fresh token (`auth:refresh`) before; a revoked token (or every
// token of a user issued before a time) is refused on every node from the moment the revoking
// call answers, and the sockets that used it are disconnected with TOKEN_REVOKED.
import { createHash } from 'node:crypto'
import { ChatError } from '../errors.js'
import type { Identity } from '../plugins/auth.js'
import type { ChatServer, ChatSocket } from './chat-service.js'
import type { ErrorCode, RefreshPayload, RefreshResult, Revocation } from './protocol.js'
import { userRoom } from './socket-rooms.js'
import type { RevocationList } from './store/parts.js'

/** What revoking one token names: its `jti`, else a digest of the token itself. */
export function tokenKey(identity: Identity, raw: string): string {
  return identity.tokenId ?? `sha256:${createHash('sha256').update(raw).digest('base64url')}`
}

/** How often the list is read again from the store (a node that started meanwhile catches up). */
const RELOAD_MS = 10_000
/** How soon a first read that failed (the store not reached yet) is tried again. */
const FIRST_LOAD_RETRY_MS = 250

/**
 * The sockets' expiries, one set per second: a tick each second cuts those whose second came.
 * O(1) per socket and per second, whatever the number of sockets.
 */
class ExpiryClock {
  private readonly due = new Map<number, Set<ChatSocket>>()
  private readonly at = new WeakMap<ChatSocket, number>()
  private last = Math.floor(Date.now() / 1000)
  private readonly timer: NodeJS.Timeout

  constructor(private readonly expired: (socket: ChatSocket) => void) {
    this.timer = setInterval(() => this.tick(), 1000)
    this.timer.unref()
  }

  watch(socket: ChatSocket, expiresAt: number): void {
    this.unwatch(socket)
    const second = Math.ceil(expiresAt / 1000)
    const set = this.due.get(second) ?? new Set<ChatSocket>()
    this.due.set(second, set)
    set.add(socket)
    this.at.set(socket, second)
  }

  unwatch(socket: ChatSocket): void {
    const second = this.at.get(socket)
    if (second === undefined) return
    this.at.delete(socket)
    const set = this.due.get(second)
    set?.delete(socket)
    if (set?.size === 0) this.due.delete(second)
  }

  private tick(): void {
    const now = Math.floor(Date.now() / 1000)
    for (let second = this.last + 1; second <= now; second++) {
      const set = this.due.get(second)
      if (set === undefined) continue
      this.due.delete(second)
      for (const socket of set) {
        this.at.delete(socket)
        this.expired(socket)
      }
    }
    this.last = now
  }

  close(): void {
    clearInterval(this.timer)
  }
}

export interface TokenLifetimeDeps {
  io: ChatServer
  list: RevocationList
  verify(token: unknown): Promise<Identity>
  /** Whether other nodes share this chat (a cluster adapter). */
  clustered: boolean
  log: { info(details: object, message: string): void; warn(details: object, message: string): void }
}

export class TokenLifetimes {
  private readonly clock: ExpiryClock
  /** Revoked token keys → when the token would have expired. */
  private readonly tokens = new Map<string, number>()
  /** User id → tokens issued before this time are refused. */
  private readonly users = new Map<string, number>()
  private reloader: NodeJS.Timeout | undefined
  private loaded!: () => void
  /** Resolves once the list was read from the store: until then the node is not ready. */
  readonly ready: Promise<void> = new Promise((resolve) => (this.loaded = resolve))
  private closed = false

  constructor(private readonly deps: TokenLifetimeDeps) {
    this.clock = new ExpiryClock((socket) => this.cut(socket, 'TOKEN_EXPIRED', 'Your access token has expired'))
    if (deps.clustered) {
      deps.io.on('revocation', (revocation, ack) => {
        this.apply(revocation)
        ack('ok')
      })
    }
  }

  /**
   * Reads the revocations kept in the store, tried again until it answers (readiness waits for
   * it: a node that has not read the list serves nobody), then again every few seconds.
   */
  start(): void {
    const first = async () => {
      if (this.closed) return
      if (await this.load()) {
        this.loaded()
        this.reloader = setInterval(() => void this.load(), RELOAD_MS)
        this.reloader.unref()
        return
      }
      this.reloader = setTimeout(first, FIRST_LOAD_RETRY_MS)
      this.reloader.unref()
    }
    void first()
  }

  /** Reads the list once; false when the store could not be read (what this node knows stands). */
  private async load(): Promise<boolean> {
    let read = false
    try {
      const kept = await this.deps.list.all(Date.now())
      for (const { key, expiresAt } of kept.tokens) this.tokens.set(key, expiresAt)
      for (const { userId, before } of kept.users) {
        if ((this.users.get(userId) ?? 0) < before) this.users.set(userId, before)
      }
      read = true
    } catch {
      // The store is away: the next read tries again.
    }
    const now = Date.now()
    for (const [key, expiresAt] of this.tokens) if (expiresAt <= now) this.tokens.delete(key)
    return read
  }

  /** Refuses (UNAUTHORIZED) a token revoked by itself or by its user's revocation. */
  require(identity: Identity, raw: string): void {
    if (this.revoked(identity, tokenKey(identity, raw))) {
      throw new ChatError('UNAUTHORIZED', 'The access token was revoked')
    }
  }

  private revoked(identity: Identity, key: string): boolean {
    if (this.tokens.has(key)) return true
    const before = this.users.get(identity.user.id)
    // A token that says nothing of when it was issued is as old as can be.
    return before !== undefined && (identity.issuedAt ?? 0) < before
  }

  /** A socket passed admission: its token's clock starts. */
  connected(socket: ChatSocket): void {
    this.clock.watch(socket, socket.data.identity.expiresAt)
  }

  disconnected(socket: ChatSocket): void {
    this.clock.unwatch(socket)
  }

  /** `auth:refresh`: a new token for the same user replaces the socket's, and its clock. */
  async refresh(socket: ChatSocket, { token }: RefreshPayload): Promise<RefreshResult> {
    const identity = await this.deps.verify(token)
    if (identity.user.id !== socket.data.user.id) {
      throw new ChatError('UNAUTHORIZED', 'The new token is for another user')
    }
    this.require(identity, token)
    socket.data.identity = identity
    socket.data.tokenKey = tokenKey(identity, token)
    this.clock.watch(socket, identity.expiresAt)
    return { expiresAt: identity.expiresAt }
  }

  /** Refuses this token from now on, on every node, and disconnects the sockets that use it. */
  async revokeToken(identity: Identity, raw: string): Promise<void> {
    const key = tokenKey(identity, raw)
    await this.deps.list.revokeToken(key, identity.expiresAt)
    await this.publish({ kind: 'token', key, userId: identity.user.id, expiresAt: identity.expiresAt })
  }

  /** Refuses the user's tokens issued before `before`, on every node, and disconnects their sockets. */
  async revokeUser(userId: string, before = Date.now()): Promise<void> {
    await this.deps.list.revokeUser(userId, before)
    await this.publish({ kind: 'user', userId, before })
  }

  private async publish(revocation: Revocation): Promise<void> {
    this.apply(revocation)
    if (!this.deps.clustered) return
    let results: Array<'ok' | 'failed'>
    try {
      results = await this.deps.io.serverSideEmitWithAck('revocation', revocation)
    } catch {
      results = ['failed']
    }
    if (results.some((r) => r !== 'ok')) {
      throw new ChatError('UNAVAILABLE', 'The revocation was recorded, but not every node confirmed it in time; retry')
    }
  }

  /** This node's part: the revocation known, the sockets that used what it names cut. */
  private apply(revocation: Revocation): void {
    if (revocation.kind === 'token') this.tokens.set(revocation.key, revocation.expiresAt)
    else if ((this.users.get(revocation.userId) ?? 0) < revocation.before) {
      this.users.set(revocation.userId, revocation.before)
    }
    const nsp = this.deps.io.of('/')
    for (const id of nsp.adapter.rooms.get(userRoom(revocation.userId)) ?? []) {
      const socket = nsp.sockets.get(id) as ChatSocket | undefined
      if (socket === undefined) continue
      const hit =
        revocation.kind === 'token'
          ? socket.data.tokenKey === revocation.key
          : (socket.data.identity.issuedAt ?? 0) < revocation.before
      if (hit) this.cut(socket, 'TOKEN_REVOKED', 'Your access token was revoked')
    }
  }

  private cut(socket: ChatSocket, code: ErrorCode, message: string): void {
    this.clock.unwatch(socket)
    socket.emit('chat:error', { event: 'auth', code, message })
    this.deps.log.info({ event: 'token_ended', code, userId: socket.data.user.id, socketId: socket.id }, message)
    // The namespace's DISCONNECT: a stock client does not reconnect by itself with the old token.
    socket.disconnect()
  }

  close(): void {
    this.closed = true
    this.clock.close()
    clearTimeout(this.reloader)
  }
}
