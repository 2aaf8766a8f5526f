// Delivering chat messages to this node's sockets, counted and traced in one place whether the
// message was sent here (memory store) or arrived from the Redis stream (cluster). Both paths
// end in the adapter's `apply` with the chat flag set, which is where this hooks in.
import { context, propagation, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api'
import type { Adapter, BroadcastOptions } from 'socket.io-adapter'

/** Broadcast flags marking a chat message; they travel with it to every node. */
export interface ChatFlags {
  chat: 1
  /** W3C trace context of the send, when tracing is on. */
  trace?: Record<string, string>
}

const PLAIN: ChatFlags = { chat: 1 }

export function chatFlags(carrier: Record<string, string> | undefined): ChatFlags {
  return carrier === undefined ? PLAIN : { chat: 1, trace: carrier }
}

/** The active trace context as W3C headers, or undefined when nothing is being traced. */
export function captureTrace(): Record<string, string> | undefined {
  if (trace.getActiveSpan()?.isRecording() !== true) return undefined
  const carrier: Record<string, string> = {}
  propagation.inject(context.active(), carrier)
  return carrier
}

const tracer = trace.getTracer('chat-service')

/**
 * Wraps the adapter's `apply` so that every chat message written to local sockets is counted
 * (`onDelivered(sockets)`), and, when the send was traced, recorded as a `chat deliver` span in
 * the sender's trace, on whichever node delivers it.
 */
export function instrumentDeliveries(adapter: Adapter, onDelivered: (sockets: number) => void): void {
  // `apply` is the adapter's own way to reach local sockets; its typings call it private.
  const target = adapter as unknown as { apply: Apply }
  const apply = target.apply.bind(adapter)
  target.apply = function applyCounted(opts, callback) {
    const flags = opts.flags as Partial<ChatFlags> | undefined
    if (flags?.chat !== 1) return apply(opts, callback)
    let sockets = 0
    const count = (socket: never) => {
      sockets++
      callback(socket)
    }
    if (flags.trace === undefined) {
      apply(opts, count)
    } else {
      const parent = propagation.extract(ROOT_CONTEXT, flags.trace)
      const span = tracer.startSpan(
        'chat deliver',
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            'messaging.system': 'socket.io',
            'messaging.operation.type': 'deliver',
            'messaging.destination.name': [...opts.rooms][0] ?? ''
          }
        },
        parent
      )
      apply(opts, count)
      span.setAttribute('chat.recipients', sockets)
      span.end()
    }
    onDelivered(sockets)
  }
}

type Apply = (opts: BroadcastOptions, callback: (socket: never) => void) => void
