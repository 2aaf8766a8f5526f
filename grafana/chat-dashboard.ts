// The Grafana dashboard, as code: every query is built from the metric names the service itself
// defines (src/metrics.ts), so a renamed metric breaks the build of this file, not a panel in
// production. `npm run dashboards` writes grafana/dashboards/chat-service.json from it; a test
// checks that file is current and runs every query against a real Prometheus.
import {
  LegendDisplayMode,
  LegendPlacement,
  VisibilityMode,
  VizLegendOptionsBuilder
} from '@grafana/grafana-foundation-sdk/common'
import {
  DashboardBuilder,
  DashboardCursorSync,
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  RowBuilder,
  VariableRefresh
} from '@grafana/grafana-foundation-sdk/dashboard'
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus'
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat'
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries'
import { EVENT_LOOP_SAMPLE_S, METRIC } from '../src/metrics.js'

export const DASHBOARD_UID = 'chat-service'

/** One query of a panel, with what the test needs to know about it. */
export interface PanelQuery {
  panel: string
  expr: string
  legend: string
  exemplar?: boolean
}

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own variable syntax, not a template literal
const datasource = { type: 'prometheus', uid: '${datasource}' }
const sel = 'instance=~"$instance"'
const rate = (metric: string, by = '') => `sum${by ? ` by (${by})` : ''} (rate(${metric}{${sel}}[$__rate_interval]))`
const quantile = (q: number, bucket: string, by = '') =>
  `histogram_quantile(${q}, sum by (le${by ? `, ${by}` : ''}) (rate(${bucket}{${sel}}[$__rate_interval])))`

interface PanelSpec {
  title: string
  description: string
  unit: string
  kind?: 'timeseries' | 'stat'
  queries: Array<Omit<PanelQuery, 'panel'>>
}

/** The panels, row by row: per instance and in total. */
export const rows: Array<{ title: string; panels: PanelSpec[] }> = [
  {
    title: 'Connections',
    panels: [
      {
        title: 'Active connections',
        description: 'Socket.IO connections open now, in total and per node.',
        unit: 'short',
        queries: [
          { expr: `sum(${METRIC.connectionsActive}{${sel}})`, legend: 'total' },
          { expr: `sum by (instance) (${METRIC.connectionsActive}{${sel}})`, legend: '{{instance}}' }
        ]
      },
      {
        title: 'Connects and disconnects',
        description:
          "Accepted connections per second, disconnections by Socket.IO's reason, and connections cut because their client stopped reading (MAX_BUFFERED_BYTES).",
        unit: 'ops',
        queries: [
          { expr: rate(METRIC.connectionsTotal), legend: 'connects' },
          { expr: rate(METRIC.disconnections, 'reason'), legend: 'disconnect: {{reason}}' },
          { expr: rate(METRIC.slowConsumers), legend: 'cut: client stopped reading' }
        ]
      },
      {
        title: 'Refused handshakes',
        description:
          'Connection attempts refused per second: bad tokens, per-user caps, foreign origins, draining nodes.',
        unit: 'ops',
        queries: [{ expr: rate(METRIC.connectionRejections, 'reason'), legend: '{{reason}}' }]
      },
      {
        title: 'Active rooms',
        description: 'Chat rooms with members, per node (a room with members on two nodes counts on each).',
        unit: 'short',
        queries: [{ expr: `sum by (instance) (${METRIC.roomsActive}{${sel}})`, legend: '{{instance}}' }]
      }
    ]
  },
  {
    title: 'Messages',
    panels: [
      {
        title: 'Messages received and delivered',
        description:
          'message:send events received per second, and messages written to sockets per second (one per member).',
        unit: 'ops',
        queries: [
          { expr: rate(METRIC.messagesReceived), legend: 'received' },
          { expr: rate(METRIC.messagesDelivered), legend: 'delivered' },
          { expr: rate(METRIC.messagesDelivered, 'instance'), legend: 'delivered {{instance}}' }
        ]
      },
      {
        title: 'Message processing latency',
        description:
          'From message:send arriving to its acknowledgement. Exemplar dots open the trace of a slow message.',
        unit: 's',
        queries: [
          { expr: quantile(0.5, `${METRIC.messageProcessing}_bucket`), legend: 'p50' },
          { expr: quantile(0.95, `${METRIC.messageProcessing}_bucket`), legend: 'p95' },
          { expr: quantile(0.99, `${METRIC.messageProcessing}_bucket`), legend: 'p99', exemplar: true }
        ]
      },
      {
        title: 'Event errors by code',
        description:
          "Client events answered with an error, per second, by event and code. INTERNAL and UNAVAILABLE are the service's; the others are clients'.",
        unit: 'ops',
        queries: [{ expr: rate(METRIC.eventErrors, 'event, code'), legend: '{{event}} {{code}}' }]
      },
      {
        title: 'Membership and moderation',
        description:
          "Audited actions per second, by action: rooms made, members added, removed and leaving, roles, invites, bans, mutes, deletions. Each room's own trail is GET /api/rooms/:room/audit.",
        unit: 'ops',
        queries: [{ expr: rate(METRIC.moderationActions, 'action'), legend: '{{action}}' }]
      },
      {
        title: 'Redis up',
        description: '1 while the node reaches Redis (cluster mode only).',
        unit: 'short',
        kind: 'stat',
        queries: [{ expr: `min by (instance) (${METRIC.redisUp}{${sel}})`, legend: '{{instance}}' }]
      }
    ]
  },
  {
    title: 'Process',
    panels: [
      {
        title: 'Event loop lag (p99)',
        description:
          'How late timers fire: above ~100 ms every socket on the node feels it. (The metric includes its 20 ms sampling interval, taken off here.)',
        unit: 's',
        queries: [
          {
            expr: `max by (instance) (${METRIC.eventLoopLagP99}{${sel}}) - ${EVENT_LOOP_SAMPLE_S}`,
            legend: '{{instance}}'
          }
        ]
      },
      {
        title: 'CPU',
        description: 'CPU seconds per second (1 = one core).',
        unit: 'percentunit',
        queries: [{ expr: rate(METRIC.cpuSeconds, 'instance'), legend: '{{instance}}' }]
      },
      {
        title: 'Memory',
        description: 'Resident memory and V8 heap in use.',
        unit: 'bytes',
        queries: [
          { expr: `sum by (instance) (${METRIC.residentMemory}{${sel}})`, legend: 'rss {{instance}}' },
          { expr: `sum by (instance) (${METRIC.heapUsed}{${sel}})`, legend: 'heap {{instance}}' }
        ]
      },
      {
        title: 'HTTP requests',
        description: 'Requests per second and p99 duration by route pattern.',
        unit: 'reqps',
        queries: [
          { expr: rate(`${METRIC.httpDuration}_count`, 'route, status_code'), legend: '{{route}} {{status_code}}' },
          { expr: quantile(0.99, `${METRIC.httpDuration}_bucket`, 'route'), legend: 'p99 {{route}} (s)' }
        ]
      }
    ]
  }
]

export function panelQueries(): PanelQuery[] {
  return rows.flatMap((row) => row.panels.flatMap((panel) => panel.queries.map((q) => ({ panel: panel.title, ...q }))))
}

function panel(spec: PanelSpec, x: number, y: number) {
  const builder =
    spec.kind === 'stat'
      ? new StatPanel()
      : new TimeseriesPanel()
          .fillOpacity(10)
          .showPoints(VisibilityMode.Never)
          .legend(
            new VizLegendOptionsBuilder()
              .showLegend(true)
              .displayMode(LegendDisplayMode.List)
              .placement(LegendPlacement.Bottom)
          )
  builder
    .title(spec.title)
    .description(spec.description)
    .unit(spec.unit)
    .datasource(datasource)
    .gridPos({ x, y, w: 12, h: 8 })
  spec.queries.forEach((q, i) => {
    const target = new DataqueryBuilder()
      .datasource(datasource)
      .expr(q.expr)
      .legendFormat(q.legend)
      .refId(String.fromCharCode(65 + i))
      .range()
    if (q.exemplar) target.exemplar(true)
    builder.withTarget(target)
  })
  return builder
}

export function buildDashboard() {
  const dashboard = new DashboardBuilder('Chat service')
    .uid(DASHBOARD_UID)
    .description('Connections, messages, latency with trace exemplars, errors, and the process, per node and in total.')
    .tags(['chat', 'socket.io'])
    .refresh('10s')
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser')
    .tooltip(DashboardCursorSync.Crosshair)
    .withVariable(new DatasourceVariableBuilder('datasource').label('Prometheus').type('prometheus'))
    .withVariable(
      new QueryVariableBuilder('instance')
        .label('Instance')
        .datasource(datasource)
        .query(`label_values(${METRIC.connectionsActive}, instance)`)
        .multi(true)
        .includeAll(true)
        .allValue('.*')
        .refresh(VariableRefresh.OnTimeRangeChanged)
    )
  let y = 0
  for (const row of rows) {
    dashboard.withRow(new RowBuilder(row.title).gridPos({ x: 0, y, w: 24, h: 1 }))
    y += 1
    row.panels.forEach((spec, i) => {
      dashboard.withPanel(panel(spec, (i % 2) * 12, y + Math.floor(i / 2) * 8))
    })
    y += Math.ceil(row.panels.length / 2) * 8
  }
  return dashboard.build()
}
