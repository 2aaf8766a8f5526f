// The service's Prometheus metrics: names (imported by the Grafana dashboard and the alert tests,
// so panels cannot drift from the code), definitions, and the exposition in both formats.
import { Counter, collectDefaultMetrics, Gauge, Histogram, type OpenMetricsContentType, Registry } from 'prom-client'

/** Every metric name the dashboards and alerts use, in one place. */
export const METRIC = {
  connectionsActive: 'chat_connections_active',
  connectionsTotal: 'chat_connections_total',
  connectionRejections: 'chat_connection_rejections_total',
  tokenRefusals: 'chat_token_refusals_total',
  disconnections: 'chat_disconnections_total',
  messagesReceived: 'chat_messages_received_total',
  messagesDelivered: 'chat_messages_delivered_total',
  messageProcessing: 'chat_message_processing_seconds',
  events: 'chat_events_total',
  eventErrors: 'chat_event_errors_total',
  unknownEvents: 'chat_unknown_events_total',
  slowConsumers: 'chat_slow_consumers_total',
  moderationActions: 'chat_moderation_actions_total',
  roomsActive: 'chat_rooms_active',
  redisUp: 'chat_redis_up',
  logLinesDropped: 'chat_log_lines_dropped_total',
  httpDuration: 'http_request_duration_seconds',
  // From prom-client's default metrics.
  cpuSeconds: 'process_cpu_seconds_total',
  residentMemory: 'process_resident_memory_bytes',
  heapUsed: 'nodejs_heap_size_used_bytes',
  eventLoopLagP99: 'nodejs_eventloop_lag_p99_seconds',
  up: 'up'
} as const

export interface ChatMetrics {
  registry: Registry<OpenMetricsContentType>
  connectionsActive: Gauge
  connectionsTotal: Counter
  connectionRejections: Counter<'reason'>
  tokenRefusals: Counter<'reason'>
  disconnections: Counter<'reason'>
  messagesReceived: Counter
  messagesDelivered: Counter
  messageProcessing: Histogram
  events: Counter<'event'>
  eventErrors: Counter<'event' | 'code'>
  unknownEvents: Counter
  slowConsumers: Counter
  moderationActions: Counter<'action'>
  roomsActive: Gauge
  /** Sets how chat_rooms_active is counted at each scrape. */
  countRoomsWith(count: () => number): void
  /** Sets how chat_redis_up is read at each scrape (whether Redis answers right now). */
  redisUpWith(answers: () => boolean): void
  /** Sets how chat_log_lines_dropped_total is read at each scrape (the log destination's count). */
  logLinesDroppedWith(count: () => number): void
  httpDuration: Histogram<'method' | 'route' | 'status_code'>
}

// prom-client's typings omit the constructor's content type and the per-metric renderer.
const OpenMetricsRegistry = Registry as unknown as new (contentType: string) => Registry<OpenMetricsContentType>
interface Renderer {
  getMetricsAsString(source: { getForPromString(): Promise<MetricData> }): Promise<string>
}

/**
 * How often the event loop's delay is sampled, in seconds. Node's monitor records the whole
 * interval between samples, so nodejs_eventloop_lag_*_seconds read this much above the real
 * lag (an idle node shows 0.02): the dashboard and the alert subtract it.
 */
export const EVENT_LOOP_SAMPLE_S = 0.02

/** Without the `_total` suffix, as counters are named in OpenMetrics. */
const withoutTotal = (name: string) => name.replace(/_total$/, '')

export function createMetrics(options: { redis: boolean }): ChatMetrics {
  // An OpenMetrics registry, because only those accept exemplars; `render` below also writes
  // the classic text format from it, for scrapers and tools that ask for that.
  const registry = new OpenMetricsRegistry(Registry.OPENMETRICS_CONTENT_TYPE)
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_S * 1000 })
  // Gauges named like counters (promtool rejects them); the same counts remain by type in
  // nodejs_active_handles, nodejs_active_requests and nodejs_active_resources.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name)
  }
  const registers = [registry as unknown as Registry]
  let countRooms = () => 0
  let redisAnswers = () => false
  let logLinesDropped = () => 0
  let droppedReported = 0
  if (options.redis) {
    new Gauge({
      name: METRIC.redisUp,
      help: '1 while Redis answers, 0 while it does not',
      registers,
      collect() {
        this.set(redisAnswers() ? 1 : 0)
      }
    })
  }
  new Counter({
    name: METRIC.logLinesDropped,
    help: 'Log lines dropped because stdout was not being read (its reader stuck or gone)',
    registers,
    collect() {
      const dropped = logLinesDropped()
      this.inc(dropped - droppedReported)
      droppedReported = dropped
    }
  })
  return {
    countRoomsWith(count) {
      countRooms = count
    },
    registry,
    ...plainMetrics(registers),
    roomsActive: new Gauge({
      name: METRIC.roomsActive,
      help: 'Chat rooms with members on this node',
      registers,
      collect() {
        this.set(countRooms())
      }
    }),
    redisUpWith(answers) {
      redisAnswers = answers
    },
    logLinesDroppedWith(count) {
      logLinesDropped = count
    }
  }
}

/** The metrics that are counted where things happen (no collect callback). */
function plainMetrics(registers: Registry[]) {
  return {
    connectionsActive: new Gauge({
      name: METRIC.connectionsActive,
      help: 'Socket.IO connections open on this node',
      registers
    }),
    connectionsTotal: new Counter({ name: METRIC.connectionsTotal, help: 'Socket.IO connections accepted', registers }),
    connectionRejections: new Counter({
      name: METRIC.connectionRejections,
      help: 'Connection attempts refused, by reason (UNAUTHORIZED, TOO_MANY_CONNECTIONS, ADDRESS_LIMIT, ORIGIN, DRAINING)',
      labelNames: ['reason'],
      registers
    }),
    tokenRefusals: new Counter({
      name: METRIC.tokenRefusals,
      help: 'Access tokens refused, on sockets and HTTP, by reason (expired, bad_signature, wrong_issuer, unknown_kid, ...)',
      labelNames: ['reason'],
      registers
    }),
    disconnections: new Counter({
      name: METRIC.disconnections,
      help: "Socket.IO disconnections, by Socket.IO's disconnect reason",
      labelNames: ['reason'],
      registers
    }),
    messagesReceived: new Counter({ name: METRIC.messagesReceived, help: 'message:send events received', registers }),
    messagesDelivered: new Counter({
      name: METRIC.messagesDelivered,
      help: 'Messages written to sockets on this node (one per message per socket)',
      registers
    }),
    messageProcessing: new Histogram({
      name: METRIC.messageProcessing,
      help: 'Time from a message:send arriving to its acknowledgement',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      enableExemplars: true,
      registers
    }),
    events: new Counter({
      name: METRIC.events,
      help: 'Client events handled, by event (the denominator of the error ratio)',
      labelNames: ['event'],
      registers
    }),
    eventErrors: new Counter({
      name: METRIC.eventErrors,
      help: 'Client events answered with an error, by event and error code',
      labelNames: ['event', 'code'],
      registers
    }),
    unknownEvents: new Counter({
      name: METRIC.unknownEvents,
      help: 'Client events with no handler, ignored',
      registers
    }),
    slowConsumers: new Counter({
      name: METRIC.slowConsumers,
      help: 'Connections cut off because their client stopped reading (MAX_BUFFERED_BYTES waiting)',
      registers
    }),
    moderationActions: new Counter({
      name: METRIC.moderationActions,
      help: 'Membership and moderation actions (the audit trail), by action',
      labelNames: ['action'],
      registers
    }),
    httpDuration: new Histogram({
      name: METRIC.httpDuration,
      help: 'HTTP request duration by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers
    })
  }
}

export const CONTENT_TYPE = {
  text: Registry.PROMETHEUS_CONTENT_TYPE,
  openMetrics: Registry.OPENMETRICS_CONTENT_TYPE
} as const

const textRenderer = new Registry() as unknown as Renderer

interface MetricData {
  name: string
  type: string
}
type Renderable = { getForPromString?: () => Promise<MetricData>; get: () => Promise<MetricData> }

/**
 * The exposition in either format. prom-client renders by its registry's content type and, when
 * rendering OpenMetrics, renames counters in place, which would break the next text scrape; so
 * each metric's data is rendered here without touching the metric itself.
 */
export async function render(registry: Registry<OpenMetricsContentType>, openMetrics: boolean): Promise<string> {
  const renderer = openMetrics ? (registry as unknown as Renderer) : textRenderer
  const parts = await Promise.all(
    registry.getMetricsAsArray().map(async (metric) => {
      const source = metric as unknown as Renderable
      const data = await (source.getForPromString ?? source.get).call(metric)
      const view = openMetrics && data.type === 'counter' ? { ...data, name: withoutTotal(data.name) } : data
      return renderer.getMetricsAsString({ getForPromString: async () => view })
    })
  )
  return openMetrics ? `${parts.join('\n')}\n# EOF\n` : `${parts.join('\n\n')}\n`
}
