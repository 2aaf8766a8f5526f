import t from 'tap'
import { client, connect, guest, request, scrape, signIn, startApp, until } from '../helpers.js'

t.test('N messages to a room of M sockets move received by N and delivered by N*M', async (t) => {
  const { url } = await startApp(t, { MESSAGE_RATE_PER_SEC: '0' })
  const members = [await guest(t, url, 'A'), await guest(t, url, 'B'), await guest(t, url, 'C')]
  const tab = await connect(client(t, url, members[0]!.token))
  const sockets = [...members.map((m) => m.socket), tab]
  for (const s of sockets) await request(s, 'room:join', { room: 'counted' })
  const before = await scrape(url)
  const N = 25
  const M = sockets.length
  const received = sockets.map(() => 0)
  sockets.forEach((s, i) => {
    s.on('message', () => received[i]!++)
    s.on('messages', (list) => (received[i]! += list.length))
  })
  for (let i = 0; i < N; i++) await request(members[i % 3]!.socket, 'message:send', { room: 'counted', text: `m${i}` })
  await until(() => received.every((n) => n === N), 5000, 'deliveries')
  const after = await scrape(url)
  const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0)
  t.equal(delta('chat_messages_received_total'), N)
  t.equal(delta('chat_messages_delivered_total'), N * M)
  t.equal(delta('chat_message_processing_seconds_count'), N)
  t.equal(after.get('chat_connections_active'), 4)
  t.equal(after.get('chat_connections_total'), 4)
  t.equal(after.get('chat_rooms_active'), 1)
})

t.test('connections, refusals, disconnects, errors and unknown events are counted', async (t) => {
  const { url } = await startApp(t, { MAX_CONNECTIONS_PER_USER: '1', MESSAGE_RATE_PER_SEC: '1', MESSAGE_BURST: '2' })
  const alice = await guest(t, url, 'Alice')
  await connect(client(t, url, 'bad-token')).catch(() => undefined)
  await connect(client(t, url, alice.token)).catch(() => undefined)
  await request(alice.socket, 'room:join', { room: 'r' })
  await request(alice.socket, 'message:send', { room: 'nope', text: 'x' })
  await request(alice.socket, 'message:send', { room: 'r', text: 'ok' })
  await request(alice.socket, 'message:send', { room: 'r', text: 'limited' })
  await request(alice.socket, 'room:history', { room: 'r', limit: 0 })
  ;(alice.socket as any).emit('no:such-event', {})
  await request(alice.socket, 'room:leave', { room: 'r' })
  let m = await scrape(url)
  t.equal(m.get('chat_connection_rejections_total{reason="UNAUTHORIZED"}'), 1)
  t.equal(m.get('chat_connection_rejections_total{reason="TOO_MANY_CONNECTIONS"}'), 1)
  t.equal(m.get('chat_connection_rejections_total{reason="ORIGIN"}'), 0, 'known reasons start at zero')
  t.equal(m.get('chat_event_errors_total{event="message:send",code="RATE_LIMITED"}'), 1)
  t.equal(m.get('chat_event_errors_total{event="message:send",code="NOT_IN_ROOM"}'), 1)
  t.equal(m.get('chat_event_errors_total{event="room:history",code="INVALID_PAYLOAD"}'), 1)
  t.equal(
    m.get('chat_event_errors_total{event="typing",code="UNAVAILABLE"}'),
    0,
    "the service's own failures start at zero"
  )
  t.equal(m.get('chat_event_errors_total{event="room:join",code="INTERNAL"}'), 0)
  t.equal(m.get('chat_events_total{event="typing"}'), 0)
  t.equal(m.get('chat_unknown_events_total'), 1)
  t.equal(m.get('chat_messages_received_total'), 3, 'every message:send that arrived')
  t.equal(m.get('chat_rooms_active'), 0)
  alice.socket.disconnect()
  await until(() => false === alice.socket.connected)
  for (let i = 0; i < 200 && (m.get('chat_connections_active') ?? 1) !== 0; i++) m = await scrape(url)
  t.equal(m.get('chat_connections_active'), 0)
  t.equal(m.get('chat_disconnections_total{reason="client namespace disconnect"}'), 1)
})

t.test('HTTP requests are timed by route pattern; no label carries a user, room or text', async (t) => {
  const { url } = await startApp(t)
  const { token, user } = await signIn(url, 'Secretive')
  const s = await guest(t, url, 'Other')
  await request(s.socket, 'room:join', { room: 'private-room-name' })
  await request(s.socket, 'message:send', { room: 'private-room-name', text: 'confidential words' })
  await (await fetch(`${url}/api/rooms`, { headers: { authorization: `Bearer ${token}` } })).arrayBuffer()
  await (await fetch(`${url}/no/such/path/${user.id}`)).arrayBuffer()
  const res = await fetch(`${url}/metrics`)
  t.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
  const text = await res.text()
  t.match(text, /http_request_duration_seconds_count\{method="POST",route="\/api\/session",status_code="201"\} 2/)
  t.match(text, /http_request_duration_seconds_count\{method="GET",route="\/api\/rooms",status_code="200"\} 1/)
  t.match(text, /http_request_duration_seconds_count\{method="GET",route="unmatched",status_code="404"\} 1/)
  for (const secret of [user.id, s.user.id, 'Secretive', 'private-room-name', 'confidential']) {
    t.notOk(text.includes(secret), `no metric mentions ${secret}`)
  }
  t.match(text, /^process_cpu_seconds_total /m, "prom-client's default metrics")
  t.match(text, /^nodejs_eventloop_lag_p99_seconds /m)
  t.match(text, /^# TYPE chat_messages_received_total counter$/m)
  t.notMatch(text, /# EOF/)
})

t.test('OpenMetrics for a scraper that asks for it', async (t) => {
  const { url } = await startApp(t)
  const res = await fetch(`${url}/metrics`, {
    headers: { accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' }
  })
  t.equal(res.headers.get('content-type'), 'application/openmetrics-text; version=1.0.0; charset=utf-8')
  const text = await res.text()
  t.match(text, /^# TYPE chat_messages_received counter$/m)
  t.match(text, /^chat_messages_received_total 0$/m)
  t.match(text, /# EOF\n$/)
  const again = await (await fetch(`${url}/metrics`)).text()
  t.match(
    again,
    /^# TYPE chat_messages_received_total counter$/m,
    'the text format is intact after an OpenMetrics scrape'
  )
})

t.test('METRICS_TOKEN protects /metrics', async (t) => {
  const { url } = await startApp(t, { METRICS_TOKEN: 'scrape-me' })
  for (const authorization of [undefined, 'Bearer wrong', 'Bearer scrape-m', 'scrape-me']) {
    const res = await fetch(`${url}/metrics`, { headers: authorization ? { authorization } : {} })
    t.equal(res.status, 401)
    t.match(await res.json(), { code: 'UNAUTHORIZED' })
  }
  const ok = await scrape(url, { authorization: 'Bearer scrape-me' })
  t.ok(ok.has('chat_connections_active'))
})
