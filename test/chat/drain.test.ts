import { once } from 'node:events'
import { createServer } from 'node:http'
import type { Socket as NetSocket } from 'node:net'
import { Server } from 'socket.io'
import { type Socket as ClientSocket, io as connectClient } from 'socket.io-client'
import t, { type Test } from 'tap'
import type { ChatServer } from '../../src/chat/chat-service.js'
import { drain } from '../../src/chat/drain.js'
import { InflightGate } from '../../src/chat/socket-handlers.js'

/** A bare Socket.IO server (no Fastify) whose `slow` event stays in flight until released. */
async function setup(t: Test) {
  const http = createServer()
  const io = new Server(http) as unknown as ChatServer
  const gate = new InflightGate()
  const releases: Array<() => void> = []
  io.on('connection', (socket) => {
    ;(socket as unknown as NodeJS.EventEmitter).on('slow', (ack: (answer: string) => void) => {
      if (gate.draining) return ack('UNAVAILABLE')
      gate.enter()
      releases.push(() => {
        ack('done')
        gate.leave()
      })
    })
  })
  http.listen(0, '127.0.0.1')
  await once(http, 'listening')
  t.teardown(() => {
    io.close()
    http.close()
  })
  const { port } = http.address() as { port: number }
  const clients: ClientSocket[] = []
  t.teardown(() => {
    for (const c of clients) c.disconnect()
  })
  async function client(): Promise<ClientSocket> {
    const socket = connectClient(`http://127.0.0.1:${port}`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true
    })
    clients.push(socket)
    await new Promise((resolve) => socket.once('connect', () => resolve(null)))
    return socket
  }
  return { io, gate, releases, client }
}

t.test('the drain answers what is in flight, refuses what comes meanwhile, flushes, then closes', async (t) => {
  const { io, gate, releases, client } = await setup(t)
  const socket = await client()
  const steps: string[] = []
  socket.on('disconnect', (reason) => steps.push(`disconnect: ${reason}`))
  const inFlight = socket.emitWithAck('slow').then((answer: string) => steps.push(`in flight: ${answer}`))
  while (releases.length === 0) await new Promise((resolve) => setImmediate(resolve))
  const log: object[] = []
  const drained = drain(io, {
    gate,
    timeoutMs: 10_000,
    flush: () => steps.push('flush'),
    log: { info: (details) => log.push(details) }
  })
  const late = socket.emitWithAck('slow').then((answer: string) => steps.push(`late: ${answer}`))
  await late
  t.same(steps, ['late: UNAVAILABLE'], 'an event during the drain is refused; the drain waits for the one in flight')
  releases[0]?.()
  await Promise.all([inFlight, drained])
  while (!steps.some((s) => s.startsWith('disconnect'))) await new Promise((resolve) => setImmediate(resolve))
  t.same(steps, ['late: UNAVAILABLE', 'in flight: done', 'flush', 'disconnect: transport close'])
  t.match(log, [{ event: 'drain', connections: 1, inflight: 0 }])
})

t.test('a client that stops reading is cut after timeoutMs', async (t) => {
  const { io, gate, client } = await setup(t)
  const reader = await client()
  const frozen = await client()
  ;(frozen.io.engine.transport as unknown as { ws: { _socket: NetSocket } }).ws._socket.pause()
  const reasons: string[] = []
  reader.on('disconnect', (reason) => reasons.push(reason))
  await drain(io, { gate, timeoutMs: 200, flush() {}, log: { info() {} } })
  t.same(reasons, ['transport close'], 'the reader saw its transport close')
  const engine = io.engine as unknown as { clientsCount: number }
  while (engine.clientsCount > 0) await new Promise((resolve) => setImmediate(resolve))
  t.pass('the frozen connection was cut: the drain did not wait for it')
})

t.test(
  'an answer that never comes holds the drain once: the second wait uses what is left of the budget',
  async (t) => {
    const { io, gate, releases, client } = await setup(t)
    const socket = await client()
    socket.emit('slow', () => {})
    while (releases.length === 0) await new Promise((resolve) => setImmediate(resolve))
    const waits: number[] = []
    const wait = gate.drain.bind(gate)
    gate.drain = (timeoutMs: number) => {
      waits.push(timeoutMs)
      return wait(timeoutMs)
    }
    await drain(io, { gate, timeoutMs: 100, flush() {}, log: { info() {} } })
    t.same(waits, [100, 0], 'the stuck answer used up the budget at the first wait')
  }
)
