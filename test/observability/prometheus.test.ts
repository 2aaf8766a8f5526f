import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { buildDashboard, panelQueries } from '../../grafana/chat-dashboard.js'
import { EVENT_LOOP_SAMPLE_S } from '../../src/metrics.js'
import { client, connect, freePort, guest, request, requireTool, startApp } from '../helpers.js'
import { startRedis } from '../redis-server.js'
import { inMemoryTracing } from '../tracing.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

/** What Grafana would put in place of the dashboard's variables. */
function forPrometheus(expr: string): string {
  return expr.replaceAll('$__rate_interval', '30s').replaceAll('$instance', '.*')
}

async function query(
  base: string,
  expr: string
): Promise<{ status: string; data: { result: unknown[] }; error?: string }> {
  const res = await fetch(`${base}/api/v1/query?${new URLSearchParams({ query: expr })}`)
  return (await res.json()) as any
}

t.test(
  'a real Prometheus scrapes the service; every dashboard query returns data and every alert rule runs',
  async (t) => {
    const prometheus = requireTool(t, 'prometheus')
    const promtool = requireTool(t, 'promtool')
    // A cluster-mode node, so that every panel (Redis up included) has data.
    const redis = await startRedis(t)
    if (prometheus === undefined || promtool === undefined || redis === undefined) return

    // Tracing on, so latency observations carry exemplars for Prometheus to store.
    const spans = inMemoryTracing(t)

    const { url } = await startApp(t, {
      MESSAGE_RATE_PER_SEC: '20',
      MESSAGE_BURST: '5',
      MAX_CONNECTIONS_PER_USER: '1',
      REDIS_URL: redis.url
    })
    const dir = mkdtempSync(join(tmpdir(), 'chat-prometheus-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    writeFileSync(
      join(dir, 'prometheus.yml'),
      JSON.stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: [join(root, 'prometheus/alerts.yml')],
        scrape_configs: [{ job_name: 'chat', static_configs: [{ targets: [new URL(url).host] }] }]
      })
    )
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const proc = spawn(
      prometheus,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--enable-feature=exemplar-storage',
        '--log.level=warn'
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] }
    )
    let stderr = ''
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    t.teardown(() => proc.kill('SIGKILL'))
    const deadline = Date.now() + 60_000
    while (
      !(await fetch(`${base}/-/ready`).then(
        (r) => r.ok,
        () => false
      ))
    ) {
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`prometheus did not start: ${stderr}`)
      await new Promise((r) => setTimeout(r, 100))
    }

    // Traffic for every panel: connections, a refused handshake, joins, sends (some rate
    // limited), history reads, HTTP requests; kept going until Prometheus sees rates.
    const people = [await guest(t, url, 'Ann'), await guest(t, url, 'Ben')]
    await connect(client(t, url, people[0]!.token)).catch(() => undefined)
    await connect(client(t, url, 'not-a-token')).catch(() => undefined)
    const passerby = await guest(t, url, 'Passer-by')
    passerby.socket.disconnect()
    for (const p of people) await request(p.socket, 'room:join', { room: 'observed' })
    let sent = 0
    const hasRates = async () =>
      (
        await query(
          base,
          'sum(rate(chat_messages_delivered_total[30s])) > 0 and sum(rate(chat_event_errors_total[30s])) > 0'
        )
      ).data.result.length > 0
    while (!(await hasRates())) {
      if (Date.now() > deadline) throw new Error('Prometheus never saw the traffic')
      for (const p of people) {
        await request(p.socket, 'message:send', { room: 'observed', text: `m${sent++}` })
        await request(p.socket, 'room:history', { room: 'observed', limit: 5 })
      }
      await request(people[0]!.socket, 'message:send', { room: 'nowhere', text: 'refused' })
      await (
        await fetch(`${url}/api/rooms`, { headers: { authorization: `Bearer ${people[1]!.token}` } })
      ).arrayBuffer()
      // An audited action, for the moderation panel.
      await (
        await fetch(`${url}/api/rooms`, {
          method: 'POST',
          headers: { authorization: `Bearer ${people[1]!.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ kind: 'private', title: 'Observed' })
        })
      ).arrayBuffer()
      await new Promise((r) => setTimeout(r, 200))
    }

    for (const q of panelQueries()) {
      const answer = await query(base, forPrometheus(q.expr))
      t.equal(answer.status, 'success', `${q.panel} / ${q.legend}: the query parses (${answer.error ?? 'ok'})`)
      t.ok(answer.data.result.length > 0, `${q.panel} / ${q.legend}: returns data`)
    }

    const rules = (await (await fetch(`${base}/api/v1/rules`)).json()) as any
    const loaded = rules.data.groups.flatMap((g: any) => g.rules)
    t.equal(loaded.length, 7, 'all alert rules are loaded')
    for (const rule of loaded) {
      t.equal(rule.health, 'ok', `${rule.name} evaluates without error`)
      const answer = await query(base, rule.query)
      t.equal(answer.status, 'success', `${rule.name}: the expression runs`)
    }

    const exemplars = (await (
      await fetch(
        `${base}/api/v1/query_exemplars?${new URLSearchParams({ query: 'chat_message_processing_seconds_bucket', start: String(Date.now() / 1000 - 600), end: String(Date.now() / 1000 + 60) })}`
      )
    ).json()) as any
    const traceIds = new Set(spans.getFinishedSpans().map((s) => s.spanContext().traceId))
    const stored = exemplars.data.flatMap((series: any) => series.exemplars.map((e: any) => e.labels.trace_id))
    t.ok(stored.length > 0, 'Prometheus stored exemplars from the OpenMetrics scrape')
    t.ok(
      stored.every((id: string) => traceIds.has(id)),
      'each exemplar names a trace of this run'
    )

    const exposition = await (await fetch(`${url}/metrics`)).text()
    const lint = spawnSync(promtool, ['check', 'metrics'], { input: exposition, encoding: 'utf8' })
    t.equal(lint.status, 0, `promtool check metrics on a real scrape: ${lint.stdout}${lint.stderr}`)
  }
)

t.test('promtool accepts the Prometheus config and rules, and the rule unit tests pass', async (t) => {
  const promtool = requireTool(t, 'promtool')
  if (promtool === undefined) return
  for (const args of [
    ['check', 'config', 'prometheus.yml'],
    ['check', 'rules', 'prometheus/alerts.yml'],
    ['test', 'rules', 'prometheus/alerts.test.yml']
  ]) {
    const run = spawnSync(promtool, args, { cwd: root, encoding: 'utf8' })
    t.equal(run.status, 0, `promtool ${args.join(' ')}: ${run.stdout}${run.stderr}`)
  }
  // The lag alert takes off the sampling interval the service really uses.
  t.match(
    readFileSync(join(root, 'prometheus/alerts.yml'), 'utf8'),
    `nodejs_eventloop_lag_p99_seconds{job="chat"}) - ${EVENT_LOOP_SAMPLE_S} > 0.2`
  )
})

t.test('the committed dashboard is the one grafana/chat-dashboard.ts builds', async (t) => {
  const committed = JSON.parse(readFileSync(join(root, 'grafana/dashboards/chat-service.json'), 'utf8'))
  t.same(
    committed,
    JSON.parse(JSON.stringify(buildDashboard())),
    'run `npm run dashboards` after changing the dashboard code'
  )
  const exprs = JSON.stringify(committed)
  for (const metric of [
    'chat_connections_active',
    'chat_messages_delivered_total',
    'chat_message_processing_seconds_bucket',
    'chat_event_errors_total',
    'chat_rooms_active',
    'chat_redis_up',
    'nodejs_eventloop_lag_p99_seconds',
    'process_cpu_seconds_total',
    'process_resident_memory_bytes',
    'http_request_duration_seconds_bucket',
    'chat_connection_rejections_total',
    'chat_disconnections_total'
  ]) {
    t.ok(exprs.includes(metric), `a panel shows ${metric}`)
  }
  t.ok(
    committed.panels.some((p: any) => p.targets?.some((q: any) => q.exemplar === true)),
    'latency exemplars are on'
  )
})
