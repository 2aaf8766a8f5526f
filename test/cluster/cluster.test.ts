import { once } from 'node:events'
import { createServer } from 'node:http'
import t, { type Test } from 'tap'
import { freePort, guest, next, request, signIn } from '../helpers.js'
import { startBalancer, startNode, untilReady } from '../processes.js'
import { startRedis } from '../redis-server.js'
import { CountingMember, Sender, tally, untilComplete } from './members.js'

const NODE_ENV = { MESSAGE_RATE_PER_SEC: '0', LOG_LEVEL: 'warn', SHUTDOWN_GRACE_MS: '5000' }

async function members(t: Test, url: string, count: number, room: string): Promise<CountingMember[]> {
  const list: CountingMember[] = []
  for (let i = 0; i < count; i++) {
    const { token } = await signIn(url, `member-${i}`)
    list.push(new CountingMember(t, url, token, room))
  }
  await Promise.all(list.map((m) => m.connected()))
  return list
}

function report(t: Test, scenario: string, counts: ReturnType<typeof tally>): void {
  t.comment(`${scenario}: ${JSON.stringify(counts)}`)
}

/** What every fault scenario promises: nothing acknowledged missing, no hole, no double, in order. */
function intact(t: Test, counts: ReturnType<typeof tally>): void {
  t.equal(counts.lostAcknowledged, 0, 'no acknowledged message is missing on any member')
  t.equal(counts.gaps, 0, "no gap in any member's seqs")
  t.equal(counts.duplicates, 0, 'no seq delivered twice')
  t.equal(counts.outOfOrder, 0, 'in seq order on every member')
}

t.test('two nodes, one room: everything arrives once and in order everywhere; presence and typing cross', async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const env = { ...NODE_ENV, REDIS_URL: redis.url }
  const [a, b] = await Promise.all([startNode(t, await freePort(), env), startNode(t, await freePort(), env)])
  const onA = await members(t, a!.url, 3, 'both')
  const onB = await members(t, b!.url, 3, 'both')
  const everyone = [...onA, ...onB]
  await Promise.all(everyone.map((m) => new Promise((r) => setTimeout(r, 0)).then(() => m.contiguous())))

  // Presence and typing from a user on B reach a member on A.
  const watcher = await guest(t, a!.url, 'Watcher')
  await request(watcher.socket, 'room:join', { room: 'cross' })
  const joined = next(watcher.socket, 'presence')
  const typist = await guest(t, b!.url, 'Typist')
  await request(typist.socket, 'room:join', { room: 'cross' })
  t.match(await joined, { room: 'cross', user: typist.user, status: 'joined' })
  const typing = next(watcher.socket, 'typing')
  await request(typist.socket, 'typing', { room: 'cross', typing: true })
  t.same(await typing, { room: 'cross', user: typist.user, typing: true })
  const members2 = await request(watcher.socket, 'room:join', { room: 'cross' })
  t.equal(members2.members.length, 2, 'members across nodes')
  const left = next(watcher.socket, 'presence')
  typist.socket.disconnect()
  t.match(await left, { room: 'cross', user: typist.user, status: 'left' })

  const senders = everyone.map((m, i) => new Sender(m, `s${i}`))
  const N = 30
  await Promise.all(
    senders.map(async (s) => {
      for (let i = 0; i < N; i++) {
        const answer = await request(s.member.socket, 'message:send', {
          room: 'both',
          text: `${s.name}-${i}`,
          clientId: `${s.name}-${i}`
        })
        s.sent++
        if (answer.ok) s.acked.add(answer.message.seq)
      }
    })
  )
  const counts = tally(senders, everyone)
  await untilComplete(everyone, counts.top)
  const final = tally(senders, everyone)
  report(t, 'two nodes', final)
  t.equal(final.acknowledged, 6 * N)
  t.equal(final.top, 6 * N, 'seq 1..180 with no gap')
  t.equal(final.lostAcknowledged, 0)
  t.equal(final.duplicates, 0)
  t.equal(final.outOfOrder, 0, 'in seq order on every member')
  t.equal(final.reconnects, 0)
  t.ok(everyone.every((m) => m.seqs.size === 6 * N))
})

t.test('kill -9 one of two nodes under traffic: its clients move to the other and miss nothing', async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const env = { ...NODE_ENV, REDIS_URL: redis.url }
  const ports = [await freePort(), await freePort()]
  const [a] = await Promise.all(ports.map((port) => startNode(t, port, env)))
  const lb = await startBalancer(t, ports)
  const everyone = await members(t, lb.url, 8, 'steady')
  const senders = everyone.slice(0, 4).map((m, i) => new Sender(m, `k${i}`))
  for (const s of senders) s.start(25)
  await untilComplete(everyone, 20)
  a!.proc.kill('SIGKILL')
  t.equal(await a!.exited, null, 'killed')
  await untilComplete(everyone, tally(senders, everyone).top + 40)
  await Promise.all(senders.map((s) => s.stop()))
  await untilComplete(everyone, tally(senders, everyone).top)
  const counts = tally(senders, everyone)
  report(t, 'kill -9', counts)
  t.ok(counts.acknowledged > 60, 'traffic kept flowing')
  t.ok(counts.reconnects >= 1, 'the killed node had clients, and they reconnected')
  t.equal(counts.unanswered, 0, 'every send was answered in the end (retried with its clientId)')
  intact(t, counts)
})

t.test('restart Redis under traffic: no process dies, each send is delivered everywhere or refused', async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const env = { ...NODE_ENV, REDIS_URL: redis.url }
  const nodes = await Promise.all([startNode(t, await freePort(), env), startNode(t, await freePort(), env)])
  const everyone = [
    ...(await members(t, nodes[0]!.url, 3, 'outage')),
    ...(await members(t, nodes[1]!.url, 3, 'outage'))
  ]
  const senders = everyone.slice(0, 4).map((m, i) => new Sender(m, `r${i}`))
  for (const s of senders) s.start(25)
  await untilComplete(everyone, 20)
  await redis.stop()
  await Promise.all(nodes.map((n) => untilReady(n.url, 503)))
  const health = await fetch(`${nodes[0]!.url}/healthz`)
  t.equal(health.status, 200, 'liveness stays 200 while Redis is away')
  const downMetric = await (await fetch(`${nodes[0]!.url}/metrics`)).text()
  t.match(downMetric, /^chat_redis_up 0$/m)
  const refusedBefore = senders.reduce((n, s) => n + s.refused, 0)
  while (senders.reduce((n, s) => n + s.refused, 0) < refusedBefore + 5) await new Promise((r) => setTimeout(r, 20))
  await redis.start()
  await Promise.all(nodes.map((n) => untilReady(n.url, 200)))
  t.match(await (await fetch(`${nodes[1]!.url}/metrics`)).text(), /^chat_redis_up 1$/m)
  const afterRestart = tally(senders, everyone).top
  await untilComplete(everyone, afterRestart + 40)
  await Promise.all(senders.map((s) => s.stop()))
  await untilComplete(everyone, tally(senders, everyone).top)
  const counts = tally(senders, everyone)
  report(t, 'Redis restart', counts)
  t.ok(
    nodes.every((n) => n.proc.exitCode === null),
    'no process died'
  )
  t.ok(counts.refused >= 5, 'sends during the outage were answered UNAVAILABLE')
  t.equal(counts.unanswered, 0, 'every send was answered')
  t.equal(counts.acknowledged + counts.refused, counts.sent, 'acknowledged or refused, nothing else')
  // UNAVAILABLE promises nothing was stored; INTERNAL (a command sent, its answer lost) may have been.
  const held = new Set(everyone.flatMap((m) => [...m.texts]))
  const refusals = senders.flatMap((s) => [...s.refusals])
  const codes = new Set(refusals.map(([, code]) => code))
  t.ok(
    [...codes].every((code) => code === 'UNAVAILABLE' || code === 'INTERNAL'),
    `refused with ${[...codes].join(', ')}`
  )
  const storedAnyway = refusals.filter(([clientId, code]) => code === 'UNAVAILABLE' && held.has(clientId))
  t.same(storedAnyway, [], 'no send answered UNAVAILABLE was stored')
  t.comment(
    `refusals: ${refusals.filter(([, c]) => c === 'UNAVAILABLE').length} UNAVAILABLE, ${refusals.filter(([, c]) => c === 'INTERNAL').length} INTERNAL (of which stored: ${refusals.filter(([id, c]) => c === 'INTERNAL' && held.has(id)).length})`
  )
  intact(t, counts)
})

t.test('rolling restart of three nodes under traffic: zero acknowledged messages lost, zero duplicates', async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const env = { ...NODE_ENV, REDIS_URL: redis.url }
  const ports = [await freePort(), await freePort(), await freePort()]
  const nodes = await Promise.all(ports.map((port) => startNode(t, port, env)))
  const lb = await startBalancer(t, ports)
  const everyone = await members(t, lb.url, 9, 'rolling')
  const senders = everyone.slice(0, 4).map((m, i) => new Sender(m, `w${i}`, true))
  for (const s of senders) s.start(25)
  await untilComplete(everyone, 20)
  for (let i = 0; i < nodes.length; i++) {
    nodes[i]!.proc.kill('SIGTERM')
    t.equal(await nodes[i]!.exited, 0, `node ${i + 1} drained and exited 0`)
    nodes[i] = await startNode(t, ports[i]!, env)
    await untilReady(nodes[i]!.url)
    await untilComplete(everyone, tally(senders, everyone).top + 10)
  }
  await Promise.all(senders.map((s) => s.stop()))
  await untilComplete(everyone, tally(senders, everyone).top)
  const counts = tally(senders, everyone)
  report(t, 'rolling restart', counts)
  t.ok(counts.reconnects >= 3, 'clients moved as nodes restarted')
  t.equal(
    counts.acknowledged,
    counts.sent,
    'every send acknowledged (retried with its clientId across the restart, as the web client does)'
  )
  intact(t, counts)
})

t.test('a send traced on one node and its delivery on another share one trace', async (t) => {
  const redis = await startRedis(t)
  if (redis === undefined) return
  const spans: any[] = []
  const collector = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        for (const rs of JSON.parse(body).resourceSpans) {
          const service = rs.resource.attributes.find((a: any) => a.key === 'service.name').value.stringValue
          for (const ss of rs.scopeSpans) for (const span of ss.spans) spans.push({ ...span, service })
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  collector.listen(0, '127.0.0.1')
  await once(collector, 'listening')
  t.teardown(() => collector.close())
  const otel = (name: string) => ({
    ...NODE_ENV,
    REDIS_URL: redis.url,
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as { port: number }).port}`,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_SERVICE_NAME: name
  })
  const [a, b] = await Promise.all([
    startNode(t, await freePort(), otel('node-a'), ['--import', './dist/server/telemetry.js']),
    startNode(t, await freePort(), otel('node-b'), ['--import', './dist/server/telemetry.js'])
  ])
  const sender = await guest(t, a!.url, 'Sender')
  const reader = await guest(t, b!.url, 'Reader')
  await request(sender.socket, 'room:join', { room: 'traced' })
  await request(reader.socket, 'room:join', { room: 'traced' })
  const arrived = next(reader.socket, 'message')
  const sent = await request(sender.socket, 'message:send', { room: 'traced', text: 'across' })
  t.equal((await arrived).id, sent.message.id)
  a!.proc.kill('SIGTERM')
  b!.proc.kill('SIGTERM')
  t.same(await Promise.all([a!.exited, b!.exited]), [0, 0])
  const send = spans.find((s) => s.service === 'node-a' && s.name === 'chat message:send')
  t.ok(send, 'node A exported the send span')
  const deliveries = spans.filter((s) => s.name === 'chat deliver' && s.traceId === send?.traceId)
  t.ok(
    deliveries.some((s) => s.service === 'node-b'),
    "node B's delivery joined the send's trace"
  )
  const redisSpans = spans.filter(
    (s) => s.service === 'node-a' && s.traceId === send?.traceId && /evalsha|eval/i.test(s.name)
  )
  t.ok(redisSpans.length > 0, 'the ioredis call of the append is in the trace')
})
