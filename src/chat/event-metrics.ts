// The chat metrics kept from the event wrapper's hooks; exemplars link a slow send to its trace.
import type { ChatMetrics } from '../metrics.js'
import { CLIENT_EVENTS } from './protocol.js'
import type { HandlerHooks } from './socket-handlers.js'

/** The error codes that are the service's own failures (the error-ratio alert counts these). */
const SERVER_FAILURES = ['INTERNAL', 'UNAVAILABLE'] as const

export function metricHooks(metrics: ChatMetrics): Pick<HandlerHooks, 'onEventDone' | 'onUnknownEvent'> {
  const noExemplar = {}
  const noLabels = {}
  const errors = new Map<string, { inc(): void }>()
  const events = new Map<string, { inc(): void }>()
  // The series the error-ratio alert reads exist from the start at 0: a series born at 1 would
  // hide its first failure from rate().
  for (const event of CLIENT_EVENTS) {
    metrics.events.inc({ event }, 0)
    for (const code of SERVER_FAILURES) metrics.eventErrors.inc({ event, code }, 0)
  }
  return {
    onEventDone({ event, seconds, code, span }) {
      let handled = events.get(event)
      if (handled === undefined) {
        handled = metrics.events.labels(event)
        events.set(event, handled)
      }
      handled.inc()
      if (event === 'message:send') {
        metrics.messagesReceived.inc()
        const exemplarLabels = span.isRecording()
          ? { trace_id: span.spanContext().traceId, span_id: span.spanContext().spanId }
          : noExemplar
        metrics.messageProcessing.observe({ value: seconds, labels: noLabels, exemplarLabels } as never)
      }
      if (code !== undefined) {
        const key = `${event} ${code}`
        let child = errors.get(key)
        if (child === undefined) {
          child = metrics.eventErrors.labels(event, code)
          errors.set(key, child)
        }
        child.inc()
      }
    },
    onUnknownEvent() {
      metrics.unknownEvents.inc()
    }
  }
}
