// The only module that touches private parts of Socket.IO, Engine.IO and ws: the same ones
// Socket.IO's own broadcast uses for its pre-encoded WebSocket frame (socket.io issue #3573,
// "preEncoded" packets). test/chat/engine-internals.test.ts fails loudly if an upgrade of those
// packages changes any of them.
import type { Server } from 'socket.io'
import * as wsModule from 'ws'

/** The TCP socket under a WebSocket: writes made between `cork` and `uncork` leave as one. */
export interface Corkable {
  cork(): void
  uncork(): void
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

interface DirectWebSocket {
  readyState: number
  _sender: { sendFrame(frame: Buffer[]): void }
  _socket: Corkable
}

interface PacketOptions {
  preEncoded: true
  wsPreEncodedFrame: Buffer[]
}

interface EngineClient {
  writeToEngine(encoded: string[], options: PacketOptions): void
}

export interface EngineConnection {
  readyState: string
  writeBuffer: unknown[]
  transport: {
    name: string
    opts?: { perMessageDeflate?: unknown }
    socket?: WebSocketTransportSocket
  }
  close(discard?: boolean): void
}

const WS_OPEN = 1
const WS_CLOSED = 3

/** The `ws` socket under an Engine.IO connection, when its transport is WebSocket. */
export function webSocketOf(conn: unknown): WebSocketTransportSocket | undefined {
  const { transport } = conn as EngineConnection
  return transport.name === 'websocket' ? transport.socket : undefined
}

/**
 * A connection's WebSocket when frames may be written to it directly: an open WebSocket
 * transport without per-message compression (which would queue frames inside ws).
 */
function directSocketOf(conn: unknown): DirectWebSocket | undefined {
  if ((conn as EngineConnection).transport.opts?.perMessageDeflate) return undefined
  const raw = webSocketOf(conn)
  return raw?._sender !== undefined && raw._socket !== undefined && raw.readyState === WS_OPEN
    ? (raw as DirectWebSocket)
    : undefined
}

/** The TCP socket under a connection that frames are written to directly, to hold (cork) it. */
export function corkableOf(conn: unknown): Corkable | undefined {
  return directSocketOf(conn)?._socket
}

/**
 * Bytes written to a connection that its client has not taken yet: what waits in Node's
 * socket buffer (ws), plus packets Engine.IO holds back meanwhile (strings counted by length).
 */
export function bufferedBytes(conn: unknown): number {
  const engine = conn as EngineConnection
  let bytes = webSocketOf(engine)?.bufferedAmount ?? 0
  for (const packet of engine.writeBuffer as Array<{ data?: unknown }>) {
    if (typeof packet.data === 'string') bytes += packet.data.length
    else if (Buffer.isBuffer(packet.data)) bytes += packet.data.length
  }
  return bytes
}

/** Cuts a connection at once, without a goodbye (a client that stopped reading). */
export function cutConnection(conn: unknown): void {
  const raw = webSocketOf(conn)
  if (raw !== undefined) raw.terminate()
  else (conn as EngineConnection).close(true)
}

/** Whether a connection's WebSocket is closed (or it has none). */
export function webSocketClosed(ws: WebSocketTransportSocket): boolean {
  return ws.readyState === WS_CLOSED
}

/** Every Engine.IO connection of the server, including those still in their Socket.IO handshake. */
export function engineConnections(io: Server): EngineConnection[] {
  return Object.values((io.engine as unknown as { clients: Record<string, EngineConnection> }).clients)
}

/** ws's framing of a message (what socket.io's broadcast uses for its pre-encoded frame). */
const frameOf = (wsModule as unknown as { Sender: { frame(data: Buffer, options: object): Buffer[] } }).Sender.frame
const FRAME_OPTIONS = { readOnly: false, mask: false, rsv1: false, opcode: 1, fin: true }

/** One Socket.IO packet of messages, encoded and framed once for every recipient. */
export interface Packet {
  frame: Buffer[]
  encoded: string[]
  options: PacketOptions
}

/** Socket.IO's encoding of a `message` or `messages` event, built from the entries' JSON. */
export function packetOf(nsp: string, messages: string[]): Packet {
  const body = messages.length === 1 ? `["message",${messages[0]}]` : `["messages",[${messages.join(',')}]]`
  const encoded = nsp === '/' ? `2${body}` : `2${nsp},${body}`
  // "4" is Engine.IO's message packet. One buffer (header and payload together) makes each
  // socket's write a single write(2).
  const frame = [Buffer.concat(frameOf(Buffer.from(`4${encoded}`), FRAME_OPTIONS))]
  return { frame, encoded: [encoded], options: { preEncoded: true, wsPreEncodedFrame: frame } }
}

/** A socket of a room, with what a write to it needs. */
export interface Recipient {
  conn: EngineConnection
  client: EngineClient
  /** The transport when this was looked up. */
  transport: unknown
  /** Its WebSocket, if frames may go to it directly. */
  raw: DirectWebSocket | undefined
  /** The TCP socket under that WebSocket (what a held sender's hold corks). */
  corkable: Corkable | undefined
}

export function recipientOf(socket: { conn: unknown; client: unknown }): Recipient {
  const conn = socket.conn as EngineConnection
  const raw = directSocketOf(conn)
  return { conn, client: socket.client as EngineClient, transport: conn.transport, raw, corkable: raw?._socket }
}

/**
 * What writing a packet to a recipient did; `stale`: through Engine.IO because the transport
 * changed since the lookup (look it up again).
 */
export type Written = 'closed' | 'direct' | 'engine' | 'stale'

/**
 * Writes a packet to one recipient. Where its WebSocket has nothing waiting in Engine.IO's
 * buffer, the frame goes straight to it, skipping Engine.IO's per-packet bookkeeping (events,
 * send callbacks, the flush cycle), about a fifth of a delivery's CPU; everything else
 * (long-polling, an upgrade under way, packets already queued) goes through Engine.IO as any
 * broadcast would, so each socket's order holds. Like Socket.IO's own pre-encoded path, it
 * calls no `onAnyOutgoing` listener and stores nothing for connection state recovery.
 */
export function writePacket(r: Recipient, packet: Packet): Written {
  const { conn, raw } = r
  if (conn.readyState !== 'open') return 'closed'
  if (conn.transport !== r.transport) {
    r.client.writeToEngine(packet.encoded, packet.options)
    return 'stale'
  }
  if (raw !== undefined && conn.writeBuffer.length === 0 && raw.readyState === WS_OPEN) {
    raw._sender.sendFrame(packet.frame)
    return 'direct'
  }
  r.client.writeToEngine(packet.encoded, packet.options)
  return 'engine'
}
