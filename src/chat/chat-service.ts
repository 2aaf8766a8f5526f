// The chat domain: what joining, leaving, sending, paging history and typing mean. It knows
// Socket.IO (rooms and broadcasts are the chat's own vocabulary) but nothing of Fastify.
import type { Server, Socket } from 'socket.io'
import { ChatError } from '../errors.js'
import type { Identity } from '../plugins/auth.js'
import { RoomAccess, type RoomGrant, requireVoice } from './access.js'
import { AnswerQueue } from './answers.js'
import { type AuditHooks, AuditTrail } from './audit.js'
import { deleteMessage } from './deletion.js'
import type { Deliverer } from './delivery/coalescer.js'
import { bufferedBytes } from './delivery/engine-internals.js'
import { captureTrace } from './delivery/room-writer.js'
import { DEFAULT_PAGE_SIZE, MAX_ROOMS_PER_CONNECTION } from './limits.js'
import type {
  ClientToServerEvents,
  DeletePayload,
  EmptyResult,
  HistoryPayload,
  HistoryResult,
  InterServerEvents,
  JoinPayload,
  JoinResult,
  LeavePayload,
  Member,
  MembershipChange,
  SendPayload,
  SendResult,
  ServerToClientEvents,
  TypingPayload
} from './protocol.js'
import { TokenBucket } from './rate-limiter.js'
import { chatRoom, userRoom } from './socket-rooms.js'
import type { ChatStore, PresenceChange, Role } from './store/parts.js'

export interface SocketData {
  user: Member
  /** What the socket's token said: its expiry, its id (set by admission, changed by auth:refresh). */
  identity: Identity
  /** What revoking the socket's token names (token-lifetimes.ts). */
  tokenKey: string
  /** Chat rooms this socket joined (Socket.IO's own `socket.rooms` is gone by `disconnect`). */
  rooms: Set<string>
  /** Rate limit of `message:send` and `typing`. */
  bucket: TokenBucket
  /** Rate limit of `room:join` and `room:history`. */
  roomBucket: TokenBucket
  /** Rooms where this socket's last word was `typing: true`. */
  typingIn: Set<string>
  /** What this socket may do in each room it was let into (role, mute): set at the join, changed by moderation. */
  grants: Map<string, RoomGrant>
  /** Counts membership changes applied to this socket: a join that read its grant meanwhile reads again. */
  changes: number
  /** Joins not yet in the room's broadcast: events for the room wait for them. */
  entering: Map<string, Promise<void>>
  /** Answers that carry messages, made in turn within the socket's output bound. */
  answers: AnswerQueue
}

export type ChatServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>
export type ChatSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>

export type RateLimit = 'messages' | 'rooms'

export interface ChatServiceOptions {
  messageRatePerSec: number
  messageBurst: number
  /** Joins and history pages per second per connection (0: no limit), and the burst. */
  roomRatePerSec: number
  roomBurst: number
  maxConnectionsPerUser: number
  maxRoomsPerConnection?: number
}

export class ChatService {
  private readonly connectionsByUser = new Map<string, number>()
  private readonly maxRooms: number
  readonly access: RoomAccess
  readonly audit: AuditTrail

  constructor(
    private readonly io: ChatServer,
    readonly store: ChatStore,
    private readonly deliverer: Deliverer,
    private readonly options: ChatServiceOptions,
    hooks: AuditHooks = {}
  ) {
    this.maxRooms = options.maxRoomsPerConnection ?? MAX_ROOMS_PER_CONNECTION
    this.access = new RoomAccess(store.directory)
    this.audit = new AuditTrail(store.directory, hooks)
    // What presence upkeep found (a dead node's users left, this node's came back) is news too.
    store.presence.onChange(({ room, user, status }: PresenceChange) => {
      this.io.to(chatRoom(room)).emit('presence', { room, user, status })
    })
  }

  /** Whether `user` may open one more connection on this node. */
  hasConnectionRoom(userId: string): boolean {
    return (this.connectionsByUser.get(userId) ?? 0) < this.options.maxConnectionsPerUser
  }

  private connectionsOf(userId: string): number {
    return this.connectionsByUser.get(userId) ?? 0
  }

  /** Sets up a socket that passed authentication; `socket.data.user` is set. */
  connected(socket: ChatSocket): void {
    const { user } = socket.data
    socket.data.rooms = new Set()
    socket.data.typingIn = new Set()
    socket.data.entering = new Map()
    socket.data.grants = new Map()
    socket.data.changes = 0
    socket.data.answers = new AnswerQueue(() => bufferedBytes(socket.conn))
    socket.data.bucket = new TokenBucket(this.options.messageRatePerSec, this.options.messageBurst)
    socket.data.roomBucket = new TokenBucket(this.options.roomRatePerSec, this.options.roomBurst)
    this.connectionsByUser.set(user.id, this.connectionsOf(user.id) + 1)
    void socket.join(userRoom(user.id))
  }

  async disconnected(socket: ChatSocket): Promise<void> {
    const { user, rooms } = socket.data
    socket.data.answers.close()
    const left = this.connectionsOf(user.id) - 1
    if (left > 0) this.connectionsByUser.set(user.id, left)
    else this.connectionsByUser.delete(user.id)
    for (const room of socket.data.typingIn) this.stopTyping(socket, room)
    await Promise.all([...rooms].map((room) => this.forget(socket, room)))
  }

  /**
   * Rate limits: `messages` for `message:send` and `typing`, `rooms` for joins and history
   * pages (a join can cost a presence broadcast to the whole room, and a page of history).
   * Throws RATE_LIMITED when the bucket is empty.
   */
  throttle(socket: ChatSocket, limit: RateLimit): void {
    const wait = (limit === 'messages' ? socket.data.bucket : socket.data.roomBucket).take()
    if (wait > 0)
      throw new ChatError(
        'RATE_LIMITED',
        `Too many ${limit === 'messages' ? 'messages' : 'room requests'}; retry in ${wait} ms`,
        wait
      )
  }

  async join(socket: ChatSocket, { room, since }: JoinPayload): Promise<JoinResult> {
    const { rooms } = socket.data
    if (!rooms.has(room) && rooms.size >= this.maxRooms) {
      throw new ChatError('INVALID_PAYLOAD', `A connection may join at most ${this.maxRooms} rooms`)
    }
    // Counted at once, and an event sent right after the join waits until the socket is in the
    // room's broadcast (or refused), so that it is handled as in the room.
    const rejoin = rooms.has(room)
    rooms.add(room)
    let entered!: () => void
    const entering = new Promise<void>((resolve) => (entered = resolve))
    // A rejoin of a room the socket is in holds nothing up: it is in the broadcast already (and
    // a first join still under way keeps its own wait).
    if (!rejoin) socket.data.entering.set(room, entering)
    let turn = false
    // The rest in its turn (see AnswerQueue): a join refused for waiting too long has done no more.
    return socket.data.answers
      .run(async (fit) => {
        turn = true
        // Left while this join waited its turn: the leave, sent later, has the last word.
        if (!rooms.has(room)) throw new ChatError('NOT_IN_ROOM', `${room} was left before this join went through`)
        await this.admit(socket, room, rejoin)
        await this.enter(socket, room, rejoin)
        entered()
        // The socket may have gone while the store answered; its cleanup may have run already.
        if (!socket.connected) {
          await this.forget(socket, room)
          this.unfollowIfEmpty(room)
          throw new ChatError('UNAVAILABLE', 'The connection closed during the join')
        }
        const [members, history] = await Promise.all([
          this.store.presence.members(room),
          since === undefined
            ? this.store.log.latest(room, DEFAULT_PAGE_SIZE).then((messages) => ({ messages, recovered: true }))
            : this.store.log.since(room, since)
        ])
        // Removed while the store answered: nothing read since may reach them.
        if (!rooms.has(room)) throw new ChatError('NOT_IN_ROOM', `${room} was left before this join went through`)
        // A catch-up too big for one answer: the newest that fit, and the client knows it is not whole.
        const messages = fit(history.messages, 'newest')
        return { room, members, messages, recovered: history.recovered && messages.length === history.messages.length }
      })
      .catch((err: unknown) => {
        if (!turn && !rejoin) rooms.delete(room)
        throw err
      })
      .finally(() => {
        entered()
        if (socket.data.entering.get(room) === entering) socket.data.entering.delete(room)
      })
  }

  /**
   * Joins the broadcast, follows the room's feed and records presence, before the history is
   * read, so nothing falls between the two: an entry stored meanwhile arrives both ways and
   * clients de-duplicate by seq. Undone when a step fails, or when the room was left meanwhile
   * (the leave has the last word).
   */
  private async enter(socket: ChatSocket, room: string, rejoin: boolean): Promise<void> {
    const { user, rooms } = socket.data
    const stillIn = () => {
      if (!rooms.has(room)) throw new ChatError('NOT_IN_ROOM', `${room} was left before this join went through`)
    }
    let added = false
    try {
      await socket.join(chatRoom(room))
      await this.store.feed.follow(room)
      stillIn()
      added = true
      const first = await this.store.presence.add(room, user, socket.id)
      stillIn()
      if (first) socket.to(chatRoom(room)).emit('presence', { room, user, status: 'joined' })
    } catch (err) {
      if (!rejoin || !rooms.has(room)) {
        rooms.delete(room)
        await socket.leave(chatRoom(room))
        this.unfollowIfEmpty(room)
        // The store may have recorded the presence before failing to answer (a removal that
        // fails too is kept and retried by presence upkeep).
        if (added) this.forget(socket, room).catch(() => {})
      }
      throw err
    }
  }

  /** The access policy's word on this join; a socket refused is in the room in no way at all. */
  private async admit(socket: ChatSocket, room: string, rejoin: boolean): Promise<void> {
    try {
      // A change to the user's memberships that arrived during the read may not be in it: again.
      for (let attempt = 0; ; attempt++) {
        const before = socket.data.changes
        const grant = await this.access.admit(socket.data.user, room, socket.data.identity?.roles)
        if (socket.data.changes === before) {
          socket.data.grants.set(room, grant)
          break
        }
        // Never a grant known to be out of date: after three, the client retries.
        if (attempt === 2) throw new ChatError('UNAVAILABLE', 'Your memberships are changing; retry the join')
      }
    } catch (err) {
      socket.data.rooms.delete(room)
      socket.data.grants.delete(room)
      if (rejoin) {
        await socket.leave(chatRoom(room))
        this.unfollowIfEmpty(room)
        await this.forget(socket, room).catch(() => {})
      }
      throw err
    }
  }

  /** Stops following a room nobody here is in (its last socket may have left before the follow). */
  private unfollowIfEmpty(room: string): void {
    if (!this.io.of('/').adapter.rooms.has(chatRoom(room))) this.store.feed.unfollow(room)
  }

  async leave(socket: ChatSocket, { room }: LeavePayload): Promise<EmptyResult> {
    if (socket.data.rooms.has(room)) {
      socket.data.rooms.delete(room)
      socket.data.grants.delete(room)
      this.stopTyping(socket, room)
      await socket.leave(chatRoom(room))
      await this.forget(socket, room)
    }
    return {}
  }

  private async forget(socket: ChatSocket, room: string): Promise<void> {
    const { user } = socket.data
    if (await this.store.presence.remove(room, user, socket.id))
      this.io.to(chatRoom(room)).emit('presence', { room, user, status: 'left' })
  }

  /** Waits for a join of the room still under way, then requires the room joined. */
  private async joined(socket: ChatSocket, room: string): Promise<void> {
    const entering = socket.data.entering.get(room)
    if (entering !== undefined) await entering
    this.requireJoined(socket, room)
  }

  private requireJoined(socket: ChatSocket, room: string): void {
    if (!socket.data.rooms.has(room)) throw new ChatError('NOT_IN_ROOM', `Join ${room} first`)
  }

  async send(socket: ChatSocket, { room, text, clientId }: SendPayload): Promise<SendResult> {
    // Inline rather than through joined(): no extra promise on every send.
    const entering = socket.data.entering.get(room)
    if (entering !== undefined) await entering
    this.requireJoined(socket, room)
    requireVoice(socket.data.grants.get(room))
    const trace = captureTrace()
    // The message comes back through the room's feed: the acknowledgement waits to leave with it.
    const release = this.deliverer.holdUntilPacket(room, socket.conn)
    const { message, duplicate } = await this.store.log
      .append({ room, user: socket.data.user, text, clientId, ts: Date.now(), trace })
      .catch((err: unknown) => {
        release()
        throw err
      })
    if (duplicate) release()
    return { message }
  }

  async history(socket: ChatSocket, { room, before, after, limit }: HistoryPayload): Promise<HistoryResult> {
    await this.joined(socket, room)
    return socket.data.answers.run(async (fit) => {
      const messages = await this.store.log.page(room, { before, after, limit: limit ?? DEFAULT_PAGE_SIZE })
      // Removed (or left) while the store answered: the page is no longer theirs.
      this.requireJoined(socket, room)
      // Paging forward (`after`) keeps the oldest, so the next page follows on; otherwise the newest.
      return { messages: fit(messages, after !== undefined && before === undefined ? 'oldest' : 'newest') }
    })
  }

  async typing(socket: ChatSocket, { room, typing }: TypingPayload): Promise<EmptyResult> {
    await this.joined(socket, room)
    // Kept even when refused below: a tab that stopped is not counted as typing on.
    const { user, typingIn } = socket.data
    if (typing) typingIn.add(room)
    else typingIn.delete(room)
    if (typing) requireVoice(socket.data.grants.get(room))
    // In a cluster a typing event goes through Redis; while it is away it would wait in a queue
    // that grows with the outage, and arrive stale. It is not worth keeping: refused instead.
    if (!this.store.available)
      throw new ChatError('UNAVAILABLE', 'The chat store is unavailable; typing is not shown meanwhile')
    socket.to(chatRoom(room)).except(userRoom(user.id)).emit('typing', { room, user, typing })
    return {}
  }

  /** The user's sockets on this node. */
  private socketsOf(userId: string): ChatSocket[] {
    const nsp = this.io.of('/')
    const sockets: ChatSocket[] = []
    for (const id of nsp.adapter.rooms.get(userRoom(userId)) ?? []) {
      const socket = nsp.sockets.get(id) as ChatSocket | undefined
      if (socket !== undefined) sockets.push(socket)
    }
    return sockets
  }

  /**
   * A membership change made on any node, applied to this node's sockets of the user: a removed
   * user's sockets leave the room's broadcast (and presence) and hear `room:removed`; a new
   * member's hear `room:added`; a role or mute reaches the grant that send and typing read.
   */
  async applyChange(change: MembershipChange): Promise<void> {
    const sockets = this.socketsOf(change.userId)
    for (const socket of sockets) socket.data.changes++
    if (change.kind === 'added') {
      for (const socket of sockets) socket.emit('room:added', { room: change.room, role: change.role })
      this.tellMembers(change.room.name, change.userId, change.role)
      return
    }
    const { room } = change
    if (change.kind === 'grant') {
      if (change.role !== undefined) this.tellMembers(room, change.userId, change.role)
      for (const socket of sockets) {
        const grant = socket.data.grants.get(room)
        if (grant === undefined) continue
        if (change.role !== undefined) grant.role = change.role
        if (change.mutedUntil !== undefined) grant.mutedUntil = change.mutedUntil ?? undefined
        if (change.blocked !== undefined) grant.blocked = change.blocked
      }
      return
    }
    await Promise.all(
      sockets.map(async (socket) => {
        if (socket.data.rooms.delete(room)) {
          socket.data.grants.delete(room)
          this.stopTyping(socket, room)
          await socket.leave(chatRoom(room))
          await this.forget(socket, room).catch(() => {})
        }
        socket.emit('room:removed', { room, reason: change.reason })
      })
    )
    this.tellMembers(room, change.userId, null)
    this.unfollowIfEmpty(room)
  }

  /**
   * Keeps member lists live: this node's sockets in the room, and the user's own, hear of a
   * role given or a membership begun or ended. Each node tells its own sockets (the change
   * reaches every node), so nothing crosses the cluster twice.
   */
  private tellMembers(room: string, userId: string, role: Role | null): void {
    this.io.local.to(chatRoom(room)).to(userRoom(userId)).emit('room:member', { room, userId, role })
  }

  async deleteMessage(socket: ChatSocket, { room, id }: DeletePayload): Promise<EmptyResult> {
    await this.joined(socket, room)
    const { user, grants } = socket.data
    // As a send's: the answer leaves with the entry's packet, so the deleter's view never lags it.
    const release = this.deliverer.holdUntilPacket(room, socket.conn)
    const stored = await deleteMessage(this.store.log, this.audit, {
      room,
      id,
      by: user,
      role: grants.get(room)?.role
    }).catch((err: unknown) => {
      release()
      throw err
    })
    if (!stored) release()
    return {}
  }

  /**
   * A socket that was typing in a room leaves it or closes (a closed tab never says it stopped):
   * the room hears that its user stopped, unless another of the user's sockets here is still
   * typing there. When the user's last socket leaves, `presence` tells the same; this covers
   * the user's other tabs staying on. Skipped while the store is away (as typing is): clients
   * stop showing typing after a few seconds by themselves.
   */
  private stopTyping(socket: ChatSocket, room: string): void {
    const { user, typingIn } = socket.data
    if (!typingIn.delete(room) || !this.store.available) return
    const nsp = this.io.of('/')
    for (const id of nsp.adapter.rooms.get(userRoom(user.id)) ?? []) {
      if (id !== socket.id && (nsp.sockets.get(id) as ChatSocket | undefined)?.data.typingIn?.has(room)) return
    }
    this.io.to(chatRoom(room)).except(userRoom(user.id)).emit('typing', { room, user, typing: false })
  }
}
