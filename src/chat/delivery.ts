// Delivering a room's entries from its feed to this node's sockets, memory store or Redis:
// counted, traced into the sender's trace, and coalesced. A message to a quiet room goes out at once as `message`. In a
// busy room (another message within the last few windows) a message waits at most one window
// for company, and what gathered goes together as one `messages` packet: one WebSocket frame
// per socket instead of one per message. Every wait has company, so the CPU saved per
// millisecond of added latency is about twice that of a fixed window after each send. A small
// room never waits: a frame saved there is a few writes, less than the message's own cost.
// The sender's own connection is held (corked) until its message's packet is written, so that
// the acknowledgement and the packet leave in one write instead of two: the hold lasts until
// the room's next packet here, and never longer than HOLD_MAX_MS.
import { context, propagation, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api'
import type { Adapter } from 'socket.io-adapter'
import * as wsModule from 'ws'
import { chatRoom } from './socket-rooms.js'

/** The active trace context as W3C headers, or undefined when nothing is being traced. */
export function captureTrace(): Record<string, string> | undefined {
  if (trace.getActiveSpan()?.isRecording() !== true) return undefined
  const carrier: Record<string, string> = {}
  propagation.inject(context.active(), carrier)
  return carrier
}

const tracer = trace.getTracer('chat-service')

/** A room that had a message lately: when, and what waits for the next packet. */
interface RoomState {
  lastAt: number
  /** The room's messages lately, each counted less as it ages (by e after QUIET_WINDOWS windows). */
  recent: number
  /** The waiting messages, as JSON. */
  messages: string[]
  traces: Array<Record<string, string>>
  timer: NodeJS.Timeout | undefined
  /** Set when a burst sends the waiting messages at the end of this turn, before the window ends. */
  soon: NodeJS.Immediate | undefined
  /** Senders' connections held until this packet is written (their acks wait with it). */
  held: Set<Corkable>
  /** Lets go of `held` if no packet comes in time. */
  holdTimer: NodeJS.Timeout | undefined
}

/** A room is quiet, and its next message goes at once, after this many windows without one. */
export const QUIET_WINDOWS = 10

/**
 * A burst: when this many times the messages a window usually brings the room are waiting (and
 * at least this many), they go at the end of the turn rather than at the window's end. Waiting
 * on would hold all of them back to save one frame per socket per newcomer, the same saving a
 * lone waiting message gets for much less delay; and the packets of a burst, the largest and
 * slowest for clients to take in, would be the ones that waited longest. The usual rate comes
 * from `recent`, so a room that is busy all the time (dozens of messages per window) is no
 * burst: its packets keep the whole window.
 */
export const BURST = 3

/** The longest a sender's connection is held for its packet. */
export const HOLD_MAX_MS = 50

const NO_SPANS: never[] = []

export interface DelivererOptions {
  /** The longest a message in a busy room waits to go out with others; 0 sends each alone. */
  windowMs: number
  /** Rooms with fewer of their sockets on this node never wait (default 1: every room may). */
  minSockets?: number
  /** Told how many socket writes of a message happened (messages × sockets). */
  onDelivered: (deliveries: number) => void
}

export class Deliverer {
  private readonly rooms = new Map<string, RoomState>()
  private readonly quietMs: number
  private readonly minSockets: number
  private readonly sweeper: NodeJS.Timeout | undefined
  /** Connections held until the current turn of the event loop has written their acks. */
  private heldForTurn: Corkable[] = []
  /**
   * How many holds each connection is under. It is corked once while any is open, and every
   * release lets out what was written so far, even while other holds remain: a sender that
   * never stops sending still has its acknowledgements and packets out at every packet.
   */
  private readonly holds = new Map<Corkable, number>()
  /** Each room's recipients on this node (by Socket.IO room), looked up once until the room's membership changes. */
  private readonly recipients = new Map<string, Recipient[]>()

  constructor(
    private readonly adapter: Adapter,
    private readonly options: DelivererOptions
  ) {
    this.quietMs = options.windowMs * QUIET_WINDOWS
    this.minSockets = options.minSockets ?? 1
    adapter.on('join-room', this.forgetRecipients)
    adapter.on('leave-room', this.forgetRecipients)
    if (options.windowMs > 0) {
      // Forget the rooms that went quiet, so the map holds only the rooms active right now.
      this.sweeper = setInterval(() => this.forgetQuiet(), Math.max(1000, this.quietMs))
      this.sweeper.unref()
    }
  }

  /** Sends an entry (its JSON) to this node's sockets in its room: now, or within one window. */
  deliverJson(room: string, json: string, carrier: Record<string, string> | undefined): void {
    const now = performance.now()
    const state = this.options.windowMs <= 0 ? undefined : this.rooms.get(room)
    if (state !== undefined) state.recent = state.recent * Math.exp((state.lastAt - now) / this.quietMs) + 1
    if (
      state === undefined ||
      (state.timer === undefined && (now - state.lastAt >= this.quietMs || (this.adapter.rooms.get(chatRoom(room))?.size ?? 0) < this.minSockets))
    ) {
      // Written at once; held senders are let go once this turn, which writes their acks, is over.
      this.write(room, [json], carrier === undefined ? NO_SPANS : [carrier])
      if (this.options.windowMs <= 0) return
      if (state === undefined) this.rooms.set(room, newRoomState(now, 1))
      else {
        state.lastAt = now
        this.release(state)
      }
      return
    }
    state.lastAt = now
    state.messages.push(json)
    if (carrier !== undefined) state.traces.push(carrier)
    if (state.timer === undefined) {
      state.timer = setTimeout(() => this.send(room, state), this.options.windowMs)
      state.timer.unref()
      // The packet is on its way: every sender held for the room goes with it.
      clearTimeout(state.holdTimer)
      state.holdTimer = undefined
    }
    if (state.soon === undefined && state.messages.length >= BURST * Math.max(1, state.recent / QUIET_WINDOWS)) {
      // At the end of the turn, so the acknowledgements written in it leave with the packet
      // (all but in one rare case: a sender whose earlier message of this turn went at once, to
      // a quiet room, is let go by that message's release, which runs first).
      state.soon = setImmediate(() => this.send(room, state))
    }
  }

  /**
   * Holds the sender's connection until this node writes the room's next packet, which is
   * normally the one that carries the message back from the feed, so that the acknowledgement
   * written meanwhile leaves with it; at most HOLD_MAX_MS. Returns a release for when no packet
   * will come (the send failed, or was a duplicate).
   */
  holdUntilPacket(room: string, sender: unknown): () => void {
    const socket = directSocketOf(sender)?._socket
    if (socket === undefined) return NO_RELEASE
    if (this.options.windowMs <= 0) {
      // No room state without coalescing: held for this turn, which writes the packet and the ack.
      this.holdForTurn(socket)
      return NO_RELEASE
    }
    let state = this.rooms.get(room)
    if (state === undefined) {
      // A room that had no message lately is quiet, and stays so.
      state = newRoomState(-Infinity, 0)
      this.rooms.set(room, state)
    }
    this.holdFor(state, socket)
    const held = state
    // A packet already waiting for its window lets the held go; otherwise at most HOLD_MAX_MS.
    if (held.holdTimer === undefined && held.timer === undefined) {
      held.holdTimer = setTimeout(() => this.release(held), HOLD_MAX_MS)
      held.holdTimer.unref()
    }
    return () => {
      if (held.held.delete(socket)) this.unhold(socket)
    }
  }

  /**
   * Lets go of the senders' connections held for a room's packet once this turn of the event
   * loop is over, so that an acknowledgement that arrives in the same turn (in a cluster, the
   * store's answer can come just after the feed's) still leaves with the packet.
   */
  private release(state: RoomState): void {
    if (state.holdTimer !== undefined) {
      clearTimeout(state.holdTimer)
      state.holdTimer = undefined
    }
    if (state.held.size === 0) return
    for (const socket of state.held) this.releaseAfterTurn(socket)
    state.held.clear()
  }

  /** Holds `socket` until the room's packet is written (once, however many sends wait in it). */
  private holdFor(state: RoomState, socket: Corkable): void {
    if (state.held.has(socket)) return
    this.hold(socket)
    state.held.add(socket)
  }

  private holdForTurn(socket: Corkable): void {
    this.hold(socket)
    this.releaseAfterTurn(socket)
  }

  private releaseAfterTurn(socket: Corkable): void {
    if (this.heldForTurn.push(socket) === 1) setImmediate(this.releaseTurn)
  }

  private readonly releaseTurn = (): void => {
    const sockets = this.heldForTurn
    this.heldForTurn = []
    for (const socket of sockets) this.unhold(socket)
  }

  private hold(socket: Corkable): void {
    const open = this.holds.get(socket) ?? 0
    this.holds.set(socket, open + 1)
    if (open === 0) socket.cork()
  }

  /** Ends one hold: what was written meanwhile leaves now; the others keep the socket corked. */
  private unhold(socket: Corkable): void {
    const open = this.holds.get(socket)
    if (open === undefined) return
    socket.uncork()
    if (open > 1) {
      this.holds.set(socket, open - 1)
      socket.cork()
    } else this.holds.delete(socket)
  }

  /**
   * Sends what waits in a room, as one packet, and lets go of the senders held for it: each
   * right as its own copy is written, in its place among the room's sockets; any not among them
   * once this turn is over.
   */
  private send(room: string, state: RoomState): void {
    clearTimeout(state.timer)
    state.timer = undefined
    clearImmediate(state.soon)
    state.soon = undefined
    const { messages, traces } = state
    state.messages = []
    state.traces = []
    if (messages.length > 0) this.write(room, messages, traces, state.held)
    this.release(state)
  }

  private forgetQuiet(): void {
    const now = performance.now()
    for (const [room, state] of this.rooms) {
      if (state.timer === undefined && state.held.size === 0 && now - state.lastAt >= this.quietMs) {
        this.rooms.delete(room)
        this.recipients.delete(chatRoom(room))
      }
    }
  }

  /** Sends whatever is waiting, now (before a drain closes the connections). */
  flush(): void {
    for (const [room, state] of this.rooms) this.send(room, state)
    this.rooms.clear()
    this.releaseTurn()
  }

  /** Sends what waits and stops the upkeep timer (the server is closing). */
  close(): void {
    this.flush()
    clearInterval(this.sweeper)
    this.adapter.off('join-room', this.forgetRecipients)
    this.adapter.off('leave-room', this.forgetRecipients)
  }

  private readonly forgetRecipients = (room: string): void => {
    this.recipients.delete(room)
  }

  private write(room: string, messages: string[], traces: Array<Record<string, string>>, held?: Set<Corkable>): void {
    const key = chatRoom(room)
    const ids = this.adapter.rooms.get(key)
    const sockets = ids?.size ?? 0
    const spans = traces.length === 0 ? NO_SPANS : traces.map((carrier) =>
      tracer.startSpan(
        'chat deliver',
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            'messaging.system': 'socket.io',
            'messaging.operation.type': 'deliver',
            'messaging.destination.name': room,
            'messaging.batch.message_count': messages.length,
            'chat.recipients': sockets
          }
        },
        propagation.extract(ROOT_CONTEXT, carrier)
      )
    )
    if (ids !== undefined && sockets > 0) this.options.onDelivered(this.writePacket(key, ids, messages, held) * messages.length)
    for (const span of spans) span.end()
  }

  /**
   * Writes one packet to every socket of this node in a room (`ids`); returns how many it was written
   * to. The packet is encoded and framed once. Where a socket's WebSocket has nothing waiting
   * in Engine.IO's buffer, the frame goes straight to it, skipping Engine.IO's per-packet
   * bookkeeping (events, send callbacks, the flush cycle), which measured about a fifth of the
   * CPU of a delivery. Everything else (long-polling, an upgrade under way, packets already
   * queued) goes through Engine.IO as any broadcast would, so each socket's order holds.
   * The direct write is taken under the same condition as Engine.IO's own pre-encoded path
   * (no per-message compression, which would queue frames inside ws). Like that path, it does
   * not call `onAnyOutgoing` listeners nor store packets for connection state recovery; the
   * service uses neither. A socket in `held` is let go (uncorked) as soon as its packet is
   * written.
   */
  private writePacket(key: string, ids: Set<string>, messages: string[], held?: Set<Corkable>): number {
    // Socket.IO's encoding of an event without binary parts, built from the messages' JSON.
    const nsp = this.adapter.nsp.name
    const body = messages.length === 1 ? `["message",${messages[0]}]` : `["messages",[${messages.join(',')}]]`
    const encoded = nsp === '/' ? `2${body}` : `2${nsp},${body}`
    // "4" is Engine.IO's message packet. One buffer (header and payload together) makes each
    // socket's write a single write(2).
    const frame = [Buffer.concat(frameOf(Buffer.from(`4${encoded}`), FRAME_OPTIONS))]
    const options: PacketOptions = { preEncoded: true, wsPreEncodedFrame: frame }
    const packets = [encoded]
    let written = 0
    for (const r of this.recipientsOf(key, ids)) {
      const conn = r.conn
      if (conn.readyState !== 'open') continue
      const raw = r.raw
      if (conn.transport !== r.transport) {
        // Upgraded since it was looked up: through Engine.IO this time, looked up again next.
        this.recipients.delete(key)
        r.client.writeToEngine(packets, options)
      } else if (raw !== undefined && conn.writeBuffer.length === 0 && raw.readyState === WS_OPEN) {
        raw._sender.sendFrame(frame)
      } else {
        r.client.writeToEngine(packets, options)
      }
      if (held !== undefined && held.size > 0 && raw !== undefined && held.delete(raw._socket)) this.unhold(raw._socket)
      written++
    }
    return written
  }

  /**
   * This node's sockets in a room, with what a write to each needs, looked up once and kept
   * until a socket joins or leaves the room or changes transport. Going through them touches
   * a few objects per socket instead of a dozen (the lookups by id, Socket.IO's socket, the
   * transport's options), which measured about 5% of a delivery's CPU.
   */
  private recipientsOf(key: string, ids: Set<string>): Recipient[] {
    let list = this.recipients.get(key)
    if (list !== undefined) return list
    list = []
    const sockets = this.adapter.nsp.sockets
    let complete = true
    for (const id of ids) {
      const socket = sockets.get(id)
      if (socket === undefined) {
        // In the room before its connection is complete (a middleware that joins): it gets
        // nothing yet, and no list is kept, because no join event will come when it does.
        complete = false
        continue
      }
      const conn = socket.conn as unknown as EngineSocket
      list.push({ conn, client: socket.client as unknown as EngineClient, transport: conn.transport, raw: directSocketOf(conn) })
    }
    if (complete) this.recipients.set(key, list)
    return list
  }
}

interface Recipient {
  conn: EngineSocket
  client: EngineClient
  /** The transport when this was looked up. */
  transport: unknown
  /** Its WebSocket, if frames may go to it directly. */
  raw: DirectWebSocket | undefined
}

/**
 * A connection's WebSocket when frames may be written to it directly: an open WebSocket
 * transport without per-message compression (which would queue frames inside ws).
 */
function directSocketOf(conn: unknown): DirectWebSocket | undefined {
  if ((conn as EngineSocket).transport.opts?.perMessageDeflate) return undefined
  const raw = webSocketOf(conn)
  return raw?._sender !== undefined && raw._socket !== undefined && raw.readyState === WS_OPEN ? (raw as DirectWebSocket) : undefined
}

/** The `ws` socket under an Engine.IO connection, when its transport is WebSocket. */
export function webSocketOf(conn: unknown): WebSocketTransportSocket | undefined {
  const { transport } = conn as EngineSocket
  return transport.name === 'websocket' ? transport.socket : undefined
}

function newRoomState(lastAt: number, recent: number): RoomState {
  return { lastAt, recent, messages: [], traces: [], timer: undefined, soon: undefined, held: new Set(), holdTimer: undefined }
}

const NO_RELEASE = (): void => {}

/** ws's framing of a message (what socket.io's broadcast uses for its pre-encoded frame). */
const frameOf = (wsModule as unknown as { Sender: { frame(data: Buffer, options: object): Buffer[] } }).Sender.frame
const FRAME_OPTIONS = { readOnly: false, mask: false, rsv1: false, opcode: 1, fin: true }

/**
 * Bytes written to a connection that its client has not taken yet: what waits in Node's
 * socket buffer (ws), plus packets Engine.IO holds back meanwhile (strings counted by length).
 */
export function bufferedBytes(conn: unknown): number {
  const engine = conn as EngineSocket
  let bytes = webSocketOf(engine)?.bufferedAmount ?? 0
  for (const packet of engine.writeBuffer as Array<{ data?: unknown }>) {
    if (typeof packet.data === 'string') bytes += packet.data.length
    else if (Buffer.isBuffer(packet.data)) bytes += packet.data.length
  }
  return bytes
}

// The parts of Socket.IO, Engine.IO and ws that the direct write relies on: the same ones
// socket.io's own broadcast uses for its pre-encoded WebSocket frame.
interface PacketOptions {
  preEncoded: true
  wsPreEncodedFrame: Buffer[]
}
interface EngineClient {
  writeToEngine(encoded: string[], options: PacketOptions): void
}
interface EngineSocket {
  readyState: string
  writeBuffer: unknown[]
  transport: {
    name: string
    opts?: { perMessageDeflate?: unknown }
    socket?: WebSocketTransportSocket
  }
}
/** What the service uses of the `ws` socket under a WebSocket transport. */
export interface WebSocketTransportSocket {
  readyState: number
  bufferedAmount: number
  _sender?: { sendFrame(frame: Buffer[]): void }
  _socket?: Corkable
  once(event: 'close', listener: () => void): void
  terminate(): void
}
/** The TCP socket under a WebSocket: writes made between `cork` and `uncork` leave as one. */
interface Corkable {
  cork(): void
  uncork(): void
}
interface DirectWebSocket {
  readyState: number
  _sender: { sendFrame(frame: Buffer[]): void }
  _socket: Corkable
}
const WS_OPEN = 1
