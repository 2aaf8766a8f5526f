// The chat domain: what joining, leaving, sending, paging history and typing mean. It knows
// Socket.IO (rooms and broadcasts are the chat's own vocabulary) but nothing of Fastify.
import type { Server, Socket } from 'socket.io'
import { ChatError } from '../errors.js'
import type {
  ClientToServerEvents,
  EmptyResult,
  HistoryPayload,
  HistoryResult,
  InterServerEvents,
  JoinPayload,
  JoinResult,
  LeavePayload,
  Member,
  SendPayload,
  SendResult,
  ServerToClientEvents,
  TypingPayload
} from './protocol.js'
import { AnswerQueue } from './answers.js'
import { bufferedBytes, captureTrace, type Deliverer } from './delivery.js'
import { DEFAULT_PAGE_SIZE } from './protocol.js'
import { TokenBucket } from './rate-limiter.js'
import { chatRoom, userRoom } from './socket-rooms.js'
import type { ChatStore } from './store.js'

export interface SocketData {
  user: Member
  /** Chat rooms this socket joined (Socket.IO's own `socket.rooms` is gone by `disconnect`). */
  rooms: Set<string>
  /** Rate limit of `message:send` and `typing`. */
  bucket: TokenBucket
  /** Rate limit of `room:join` and `room:history`. */
  roomBucket: TokenBucket
  /** Rooms where this socket's last word was `typing: true`. */
  typingIn: Set<string>
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
  /** Presence removals the store refused (Redis away); retried by `maintain`. */
  private readonly unfinished = new Set<{ room: string; user: Member; socketId: string }>()
  /** The store forgot this node's presence, and it is not yet all written again. */
  private presenceLost = false
  private readonly maxRooms: number

  constructor(
    private readonly io: ChatServer,
    readonly store: ChatStore,
    private readonly deliverer: Deliverer,
    private readonly options: ChatServiceOptions
  ) {
    this.maxRooms = options.maxRoomsPerConnection ?? 100
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
    if (wait > 0) throw new ChatError('RATE_LIMITED', `Too many ${limit === 'messages' ? 'messages' : 'room requests'}; retry in ${wait} ms`, wait)
  }

  async join(socket: ChatSocket, { room, since }: JoinPayload): Promise<JoinResult> {
    const { user, rooms } = socket.data
    if (!rooms.has(room) && rooms.size >= this.maxRooms) {
      throw new ChatError('INVALID_PAYLOAD', `A connection may join at most ${this.maxRooms} rooms`)
    }
    // Counted at once, so that an event sent right after the join is handled as in the room.
    const rejoin = rooms.has(room)
    rooms.add(room)
    // A removal still queued from an outage must not undo this join.
    for (const entry of this.unfinished) {
      if (entry.room === room && entry.socketId === socket.id) this.unfinished.delete(entry)
    }
    let turn = false
    // The rest in its turn (see AnswerQueue): a join refused for waiting too long has done no more.
    return socket.data.answers.run(async (fit) => {
      turn = true
      // Left while this join waited its turn: the leave, sent later, has the last word.
      if (!rooms.has(room)) throw new ChatError('NOT_IN_ROOM', `${room} was left before this join went through`)
      // Join the broadcast before reading history, so nothing falls between the two: a message
      // stored meanwhile arrives both ways and clients de-duplicate by seq.
      try {
        await socket.join(chatRoom(room))
        const first = await this.store.addPresence(room, user, socket.id)
        if (first) socket.to(chatRoom(room)).emit('presence', { room, user, status: 'joined' })
      } catch (err) {
        if (!rejoin) {
          rooms.delete(room)
          await socket.leave(chatRoom(room))
          // The store may have recorded the presence before failing to answer: clean up later.
          this.unfinished.add({ room, user, socketId: socket.id })
        }
        throw err
      }
      // The socket may have gone while the store answered; its cleanup may have run already.
      if (!socket.connected) {
        await this.forget(socket, room)
        throw new ChatError('UNAVAILABLE', 'The connection closed during the join')
      }
      const [members, history] = await Promise.all([
        this.store.members(room),
        since === undefined
          ? this.store.latest(room, DEFAULT_PAGE_SIZE).then((messages) => ({ messages, recovered: true }))
          : this.store.since(room, since)
      ])
      // A catch-up too big for one answer: the newest that fit, and the client knows it is not whole.
      const messages = fit(history.messages, 'newest')
      return { room, members, messages, recovered: history.recovered && messages.length === history.messages.length }
    }).catch((err: unknown) => {
      if (!turn && !rejoin) rooms.delete(room)
      throw err
    })
  }

  async leave(socket: ChatSocket, { room }: LeavePayload): Promise<EmptyResult> {
    if (socket.data.rooms.has(room)) {
      socket.data.rooms.delete(room)
      this.stopTyping(socket, room)
      await socket.leave(chatRoom(room))
      await this.forget(socket, room)
    }
    return {}
  }

  private async forget(socket: ChatSocket, room: string): Promise<void> {
    await this.forgetSocket({ room, user: socket.data.user, socketId: socket.id })
  }

  private async forgetSocket(entry: { room: string; user: Member; socketId: string }): Promise<void> {
    const { room, user, socketId } = entry
    let last: boolean
    try {
      last = await this.store.removePresence(room, user.id, socketId)
    } catch (err) {
      // Keep it for later rather than leave a ghost member in the room.
      this.unfinished.add(entry)
      throw err
    }
    if (last) this.io.to(chatRoom(room)).emit('presence', { room, user, status: 'left' })
  }

  /**
   * Periodic upkeep: retries presence removals that failed, and announces the users who left
   * with a node that died (the store tells who).
   */
  async maintain(): Promise<void> {
    for (const entry of [...this.unfinished]) {
      this.unfinished.delete(entry)
      await this.forgetSocket(entry)
    }
    for (const { room, user } of await this.store.sweep()) {
      this.io.to(chatRoom(room)).emit('presence', { room, user, status: 'left' })
    }
    if (this.store.forgotten()) this.presenceLost = true
    if (this.presenceLost) {
      // Until it went through (Redis may go away again meanwhile); adding is idempotent.
      await this.recordPresenceAgain()
      this.presenceLost = false
    }
  }

  /**
   * Writes the presence of every socket of this node again, after the store forgot this node
   * (other nodes swept it as dead while it was cut off): its users are back, and the rooms hear
   * that they joined.
   */
  private async recordPresenceAgain(): Promise<void> {
    for (const socket of this.io.of('/').sockets.values() as Iterable<ChatSocket>) {
      const { user, rooms } = socket.data
      for (const room of [...(rooms ?? [])]) {
        const first = await this.store.addPresence(room, user, socket.id)
        if (!socket.connected || !rooms.has(room)) {
          // It left meanwhile, and its own removal may have run before this addition. (If this
          // removal fails it is kept for the next upkeep, as any other.)
          await this.forgetSocket({ room, user, socketId: socket.id })
          continue
        }
        if (first) this.io.to(chatRoom(room)).emit('presence', { room, user, status: 'joined' })
      }
    }
  }

  private requireJoined(socket: ChatSocket, room: string): void {
    if (!socket.data.rooms.has(room)) throw new ChatError('NOT_IN_ROOM', `Join ${room} first`)
  }

  async send(socket: ChatSocket, { room, text, clientId }: SendPayload): Promise<SendResult> {
    this.requireJoined(socket, room)
    const trace = captureTrace()
    // A store that publishes (Redis) sends the message to every node, this one included, and
    // it comes back through the stream: the sender's acknowledgement waits to leave with it.
    const release = this.store.broadcasts ? this.deliverer.holdUntilPacket(room, socket.conn) : undefined
    const { message, duplicate } = await this.store
      .append({ room, user: socket.data.user, text, clientId, ts: Date.now(), trace })
      .catch((err: unknown) => {
        release?.()
        throw err
      })
    if (duplicate) release?.()
    else if (!this.store.broadcasts) this.deliverer.deliver(message, trace, socket.conn)
    return { message }
  }


  async history(socket: ChatSocket, { room, before, after, limit }: HistoryPayload): Promise<HistoryResult> {
    this.requireJoined(socket, room)
    return socket.data.answers.run(async (fit) => {
      const messages = await this.store.page(room, { before, after, limit: limit ?? DEFAULT_PAGE_SIZE })
      // Paging forward (`after`) keeps the oldest, so the next page follows on; otherwise the newest.
      return { messages: fit(messages, after !== undefined && before === undefined ? 'oldest' : 'newest') }
    })
  }

  async typing(socket: ChatSocket, { room, typing }: TypingPayload): Promise<EmptyResult> {
    this.requireJoined(socket, room)
    // Kept even when refused below: a tab that stopped is not counted as typing on.
    const { user, typingIn } = socket.data
    if (typing) typingIn.add(room)
    else typingIn.delete(room)
    // In a cluster a typing event goes through Redis; while it is away it would wait in a queue
    // that grows with the outage, and arrive stale. It is not worth keeping: refused instead.
    if (!this.store.available) throw new ChatError('UNAVAILABLE', 'The chat store is unavailable; typing is not shown meanwhile')
    socket.to(chatRoom(room)).except(userRoom(user.id)).emit('typing', { room, user, typing })
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
