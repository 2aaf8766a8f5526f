import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:http'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { otelServiceName, tracingEnabled } from '../src/config.js'
import { freePort, guest, request, signIn, startApp, TEST_SECRET } from './helpers.js'
import { inMemoryTracing } from './tracing.js'

const root = fileURLToPath(new URL('..', import.meta.url))

t.test('tracing is on only when the OTEL_* variables ask for an exporter', async (t) => {
  t.equal(tracingEnabled({}), false, 'no variables: no SDK, no exporter noise')
  t.equal(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), true)
  t.equal(tracingEnabled({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }), true)
  t.equal(tracingEnabled({ OTEL_TRACES_EXPORTER: 'console' }), true)
  t.equal(tracingEnabled({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), false)
  t.equal(tracingEnabled({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), false)
  // The service's name is chat-service unless the standard variables give one.
  t.equal(otelServiceName({}), 'chat-service')
  t.equal(otelServiceName({ OTEL_SERVICE_NAME: 'mine' }), undefined, 'the SDK reads OTEL_SERVICE_NAME itself')
  t.equal(otelServiceName({ OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod, service.name=mine' }), undefined)
  t.equal(otelServiceName({ OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod' }), 'chat-service')
})

t.test(
  'spans for join, send and history carry messaging attributes; the processing exemplar is the send trace',
  async (t) => {
    const exporter = inMemoryTracing(t)
    const { url } = await startApp(t)
    const alice = await guest(t, url, 'Alice')
    await request(alice.socket, 'room:join', { room: 'traced' })
    const sent = await request(alice.socket, 'message:send', { room: 'traced', text: 'hello' })
    await request(alice.socket, 'room:history', { room: 'traced' })
    await request(alice.socket, 'message:send', { room: 'elsewhere', text: 'refused' })

    const spans = exporter.getFinishedSpans()
    const byName = (name: string) => spans.filter((s) => s.name === name)
    const [join] = byName('chat room:join')
    const [send, refused] = byName('chat message:send')
    const [history] = byName('chat room:history')
    t.ok(join && send && history && refused, 'one span per handled event')
    t.match(join!.attributes, {
      'messaging.system': 'socket.io',
      'messaging.operation.name': 'room:join',
      'messaging.destination.name': 'traced'
    })
    t.match(send!.attributes, {
      'messaging.system': 'socket.io',
      'messaging.operation.type': 'send',
      'messaging.destination.name': 'traced',
      'messaging.message.id': sent.message.id
    })
    t.match(history!.attributes, { 'messaging.destination.name': 'traced' })
    t.equal(send!.status.code, 0, 'a successful send is not an error')
    t.equal(refused!.status.code, 2, 'a refused send is an error span')
    t.equal(refused!.attributes['error.type'], 'NOT_IN_ROOM')
    t.notOk(
      spans.some((s) => JSON.stringify(s.attributes).includes('hello')),
      'no message text in spans'
    )

    const metrics = await (
      await fetch(`${url}/metrics`, { headers: { accept: 'application/openmetrics-text' } })
    ).text()
    const exemplars = [
      ...metrics.matchAll(
        /^chat_message_processing_seconds_bucket\{[^}]*\} \d+ # \{trace_id="(\w+)",span_id="(\w+)"\}/gm
      )
    ]
    t.ok(exemplars.length > 0, 'the processing histogram carries exemplars')
    const traceIds = exemplars.map((m) => m[1])
    t.ok(
      traceIds.includes(send!.spanContext().traceId) || traceIds.includes(refused!.spanContext().traceId),
      'an exemplar trace id is a send span trace id'
    )
    t.ok(
      exemplars.every((m) => [send, refused].some((s) => s!.spanContext().spanId === m[2])),
      'exemplars point at send spans'
    )
  }
)

t.test('the real process exports spans over OTLP when told to, through node --import', async (t) => {
  const received: any[] = []
  const others: string[] = []
  const collector = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      if (req.url === '/v1/traces') received.push(JSON.parse(body))
      else others.push(req.url ?? '')
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  collector.listen(0, '127.0.0.1')
  await once(collector, 'listening')
  t.teardown(() => collector.close())
  const { port: collectorPort } = collector.address() as { port: number }
  const port = await freePort()
  const proc = spawn(process.execPath, ['--import', './dist/server/telemetry.js', 'dist/server/server.js'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      JWT_SECRET: TEST_SECRET,
      LOG_LEVEL: 'warn',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collectorPort}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'chat-test',
      // Were metrics exported over OTLP too, several exports would come within the test.
      OTEL_METRIC_EXPORT_INTERVAL: '100'
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  t.teardown(() => proc.kill('SIGKILL'))
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 200; i++) {
    const up = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false
    )
    if (up) break
    await new Promise((r) => setTimeout(r, 50))
  }
  const alice = await guest(t, url, 'Alice')
  await request(alice.socket, 'room:join', { room: 'otlp' })
  await request(alice.socket, 'message:send', { room: 'otlp', text: 'over the wire' })
  await signIn(url, 'Bob')
  proc.kill('SIGTERM')
  const [code] = await once(proc, 'exit')
  t.equal(code, 0)
  t.equal(stderr, '', 'no exporter noise')
  const spans = received.flatMap((r) =>
    r.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans))
  )
  const names = spans.map((s: any) => s.name)
  t.ok(names.includes('chat message:send'), 'the chat event span was exported')
  t.ok(names.includes('POST /api/session'), 'HTTP server spans were exported')
  const service = received[0].resourceSpans[0].resource.attributes.find((a: any) => a.key === 'service.name')
  t.equal(service.value.stringValue, 'chat-test')
  t.same(others, [], 'traces only: no OTLP metrics')
})
