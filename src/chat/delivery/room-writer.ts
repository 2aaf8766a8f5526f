// Writing a packet of a room's entries to this node's sockets in the room: encoded and framed
// once, counted, and traced into each sender's trace.
import { context, propagation, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api'
import type { Adapter } from 'socket.io-adapter'
import { chatRoom } from '../socket-rooms.js'
import { type Corkable, packetOf, type Recipient, recipientOf, writePacket } from './engine-internals.js'

const tracer = trace.getTracer('chat-service')

/** The active trace context as W3C headers (a send's, for its deliveries), or undefined when nothing is traced. */
export function captureTrace(): Record<string, string> | undefined {
  if (trace.getActiveSpan()?.isRecording() !== true) return undefined
  const carrier: Record<string, string> = {}
  propagation.inject(context.active(), carrier)
  return carrier
}
const NO_SPANS: never[] = []

export class RoomWriter {
  /** Each room's recipients on this node (by Socket.IO room), looked up once until its membership changes. */
  private readonly recipients = new Map<string, Recipient[]>()

  constructor(
    private readonly adapter: Adapter,
    /** Told how many socket writes of an entry happened (entries × sockets). */
    private readonly onDelivered: (deliveries: number) => void
  ) {
    adapter.on('join-room', this.forget)
    adapter.on('leave-room', this.forget)
  }

  /** How many of this node's sockets are in a room. */
  socketsIn(room: string): number {
    return this.adapter.rooms.get(chatRoom(room))?.size ?? 0
  }

  /**
   * Writes `messages` (JSON) as one packet to the room's sockets here. A socket in `held` is
   * let go through `unhold` as soon as its copy is written.
   */
  write(
    room: string,
    messages: string[],
    traces: Array<Record<string, string>>,
    held?: Set<Corkable>,
    unhold?: (socket: Corkable) => void
  ): void {
    const key = chatRoom(room)
    const ids = this.adapter.rooms.get(key)
    const sockets = ids?.size ?? 0
    const spans =
      traces.length === 0 ? NO_SPANS : traces.map((carrier) => deliverSpan(room, messages.length, sockets, carrier))
    if (ids !== undefined && sockets > 0)
      this.onDelivered(this.writeAll(key, ids, messages, held, unhold) * messages.length)
    for (const span of spans) span.end()
  }

  private writeAll(
    key: string,
    ids: Set<string>,
    messages: string[],
    held?: Set<Corkable>,
    unhold?: (socket: Corkable) => void
  ): number {
    const packet = packetOf(this.adapter.nsp.name, messages)
    let written = 0
    for (const r of this.recipientsOf(key, ids)) {
      const how = writePacket(r, packet)
      if (how === 'closed') continue
      if (how === 'stale') this.recipients.delete(key)
      if (held !== undefined && held.size > 0 && r.corkable !== undefined && held.delete(r.corkable))
        unhold?.(r.corkable)
      written++
    }
    return written
  }

  /**
   * This node's sockets in a room, looked up once and kept until a socket joins or leaves the
   * room or changes transport: a few objects per socket instead of a dozen lookups (about 5% of
   * a delivery's CPU).
   */
  private recipientsOf(key: string, ids: Set<string>): Recipient[] {
    let list = this.recipients.get(key)
    if (list !== undefined) return list
    list = []
    const sockets = this.adapter.nsp.sockets
    let complete = true
    for (const id of ids) {
      const socket = sockets.get(id)
      // In the room before its connection is complete: it gets nothing yet, and no list is kept
      // (no join event will come when it is).
      if (socket === undefined) complete = false
      else list.push(recipientOf(socket))
    }
    if (complete) this.recipients.set(key, list)
    return list
  }

  /** Forgets a room's recipients (its sockets went quiet here). */
  forgetRoom(room: string): void {
    this.recipients.delete(chatRoom(room))
  }

  private readonly forget = (room: string): void => {
    this.recipients.delete(room)
  }

  close(): void {
    this.adapter.off('join-room', this.forget)
    this.adapter.off('leave-room', this.forget)
  }
}

function deliverSpan(room: string, count: number, recipients: number, carrier: Record<string, string>) {
  return tracer.startSpan(
    'chat deliver',
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': 'socket.io',
        'messaging.operation.type': 'deliver',
        'messaging.destination.name': room,
        'messaging.batch.message_count': count,
        'chat.recipients': recipients
      }
    },
    propagation.extract(ROOT_CONTEXT, carrier)
  )
}
