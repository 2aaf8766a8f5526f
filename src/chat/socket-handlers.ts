// Every client event goes through one wrapper: schema check, rate limit, the chat service, then
// exactly one answer (the acknowledgement, or `chat:error` when the client gave no callback).
// Metrics and tracing hang on the hooks here rather than in each handler.
import { context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { ChatError } from '../errors.js'
import type { ChatService, ChatSocket, RateLimit } from './chat-service.js'
import {
  CLIENT_EVENTS,
  type ClientEventName,
  DeletePayload,
  type ErrorBody,
  type ErrorCode,
  HistoryPayload,
  JoinPayload,
  LeavePayload,
  RefreshPayload,
  type RefreshResult,
  sendPayloadSchema,
  TypingPayload
} from './protocol.js'

export interface EventOutcome {
  event: ClientEventName
  /** Seconds from the event arriving to its answer. */
  seconds: number
  /** The error code when it failed. */
  code: ErrorCode | undefined
  /** The event's span, recording only when tracing is on. */
  span: Span
}

export interface HandlerHooks {
  /** Once per handled event, right after it was answered. */
  onEventDone?(outcome: EventOutcome): void
  onUnknownEvent?(event: string): void
  /** An unexpected failure: logged by the caller, answered to the client as INTERNAL. */
  onInternalError(event: ClientEventName, err: unknown): void
}

/** Counts events being handled, so a drain can wait for their acknowledgements. */
export class InflightGate {
  private count = 0
  private waiters: Array<() => void> = []
  draining = false

  get inflight(): number {
    return this.count
  }

  enter(): void {
    this.count++
  }

  leave(): void {
    if (--this.count === 0) for (const wake of this.waiters.splice(0)) wake()
  }

  /** Refuses new events from now on; resolves once the in-flight ones are answered or after
   * `timeoutMs`, whichever comes first. */
  drain(timeoutMs: number): Promise<void> {
    this.draining = true
    if (this.count === 0) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs)
      timer.unref()
      this.waiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }
}

const MAX_ERROR_DETAIL = 200

const tracer = trace.getTracer('chat-service')

const spanAttributes = Object.fromEntries(
  CLIENT_EVENTS.map((event) => [
    event,
    {
      'messaging.system': 'socket.io',
      'messaging.operation.name': event,
      'messaging.operation.type': event === 'message:send' ? 'send' : 'process'
    }
  ])
) as Record<string, Record<string, string>>

type Handler = (socket: ChatSocket, payload: never) => Promise<object>

interface Route {
  check: (value: unknown) => boolean
  describe: (value: unknown) => string
  limit: RateLimit | undefined
  run: Handler
}

function route(schema: TSchema, run: Handler, limit: RateLimit | undefined): Route {
  const validator = Compile(schema)
  return {
    check: (value) => validator.Check(value),
    describe(value) {
      const [first] = validator.Errors(value)
      const detail = first ? `${first.instancePath || 'payload'} ${first.message}` : 'payload is invalid'
      return detail.length > MAX_ERROR_DETAIL ? `${detail.slice(0, MAX_ERROR_DETAIL)}…` : detail
    },
    limit,
    run
  }
}

/** The answer's error: a ChatError's code and words; anything else is INTERNAL (and told). */
function errorBody(err: unknown, onInternal: () => void): ErrorBody {
  if (err instanceof ChatError) {
    const body: ErrorBody = { code: err.code as ErrorCode, message: err.message }
    if (err.retryAfterMs !== undefined) body.retryAfterMs = err.retryAfterMs
    return body
  }
  onInternal()
  return { code: 'INTERNAL', message: 'Internal server error' }
}

function markFailed(span: Span, code: ErrorCode): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: code })
  span.setAttribute('error.type', code)
}

export function createSocketHandlers(
  service: ChatService,
  options: {
    maxMessageLength: number
    gate: InflightGate
    hooks: HandlerHooks
    /** `auth:refresh`: the socket's token replaced by a fresh one (token-lifetimes.ts). */
    refresh: (socket: ChatSocket, payload: RefreshPayload) => Promise<RefreshResult>
  }
): (socket: ChatSocket) => void {
  const { gate, hooks } = options
  const routes: Record<ClientEventName, Route> = {
    'room:join': route(JoinPayload, (s, p) => service.join(s, p), 'rooms'),
    // Leaving is not limited: a leave that broadcasts needs a join before it, which is.
    'room:leave': route(LeavePayload, (s, p) => service.leave(s, p), undefined),
    'message:send': route(sendPayloadSchema(options.maxMessageLength), (s, p) => service.send(s, p), 'messages'),
    'room:history': route(HistoryPayload, (s, p) => service.history(s, p), 'rooms'),
    typing: route(TypingPayload, (s, p) => service.typing(s, p), 'messages'),
    'message:delete': route(DeletePayload, (s, p) => service.deleteMessage(s, p), 'messages'),
    'auth:refresh': route(RefreshPayload, (s, p) => options.refresh(s, p), 'rooms')
  }
  const known = new Set<string>(Object.keys(routes))

  async function dispatch(socket: ChatSocket, r: Route, payload: unknown, span: Span): Promise<object> {
    if (gate.draining) throw new ChatError('UNAVAILABLE', 'The server is restarting; retry shortly')
    // Limited before the payload is checked: a stream of malformed events costs its sender the
    // same tokens as well-formed ones, and each still gets an answer only while tokens last.
    if (r.limit !== undefined) service.throttle(socket, r.limit)
    if (!r.check(payload)) throw new ChatError('INVALID_PAYLOAD', r.describe(payload))
    if (span.isRecording()) span.setAttribute('messaging.destination.name', (payload as { room: string }).room)
    return r.run(socket, payload as never)
  }

  function listen(socket: ChatSocket, event: ClientEventName, r: Route): void {
    const spanName = `chat ${event}`
    const listener = (...args: unknown[]): void => {
      const startedAt = performance.now()
      const last = args[args.length - 1]
      let ack = typeof last === 'function' ? (last as (response: unknown) => void) : undefined
      const payload = ack !== undefined && args.length === 1 ? undefined : args[0]
      // One span per handled event, named by the event alone (low cardinality), with attributes
      // after OpenTelemetry's messaging conventions. A no-op when tracing is off.
      const span = tracer.startSpan(spanName, { kind: SpanKind.CONSUMER, attributes: spanAttributes[event] })
      const finish = (code: ErrorCode | undefined) => {
        if (code !== undefined) markFailed(span, code)
        hooks.onEventDone?.({ event, seconds: (performance.now() - startedAt) / 1000, code, span })
        span.end()
      }
      gate.enter()
      context
        .with(trace.setSpan(context.active(), span), () => dispatch(socket, r, payload, span))
        .then(
          (result) => {
            const id = (result as { message?: { id: string } }).message?.id
            if (id !== undefined && span.isRecording()) span.setAttribute('messaging.message.id', id)
            ack?.({ ok: true, ...result })
            ack = undefined
            finish(undefined)
          },
          (err: unknown) => {
            const error = errorBody(err, () => hooks.onInternalError(event, err))
            if (ack !== undefined) ack({ ok: false, error })
            else socket.emit('chat:error', { event, ...error })
            ack = undefined
            finish(error.code)
          }
        )
        // A throwing hook must never become an unhandled rejection that takes the process down.
        .catch((err: unknown) => hooks.onInternalError(event, err))
        .finally(() => gate.leave())
    }
    ;(socket as unknown as NodeJS.EventEmitter).on(event, listener)
  }

  return function attach(socket: ChatSocket): void {
    for (const [event, r] of Object.entries(routes) as Array<[ClientEventName, Route]>) listen(socket, event, r)
    socket.onAny(function unknownEvent(event: unknown, ...args: unknown[]) {
      if (typeof event === 'string' && known.has(event)) return
      hooks.onUnknownEvent?.(String(event))
      // Answered when the client waits for an answer, so its callback does not wait in vain.
      const ack = args[args.length - 1]
      if (typeof ack === 'function') ack({ ok: false, error: { code: 'UNKNOWN_EVENT', message: 'No such event' } })
    })
  }
}
