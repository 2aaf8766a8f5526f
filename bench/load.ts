// A load generator process: opens the clients of one scenario against one server, drives it,
// and prints one JSON result line on stdout. Driven by bench/run.ts over stdin/stdout:
// it reads commands ("connect", "run <rate>", "stop") and answers each with a JSON line.
import { createInterface } from 'node:readline'
import { createSigner } from 'fast-jwt'
import { io, type Socket } from 'socket.io-client'

export interface LoadConfig {
  kind: 'baseline' | 'service'
  /** One URL per server node; clients are spread over them round-robin. */
  urls: string[]
  rooms: number
  roomSize: number
  /** Senders per room (the first members of each room). */
  senders: number
  secret: string
  /** No rooms, no traffic: connections only. */
  idle?: boolean
}

export interface StepResult {
  /** Messages sent per second, offered. */
  offered: number
  sent: number
  expected: number
  received: number
  lost: number
  seconds: number
  deliveredPerSec: number
  p50: number
  p99: number
  max: number
}

const config = JSON.parse(process.argv[2] ?? '{}') as LoadConfig
const sign = createSigner({ key: config.secret, expiresIn: 3600_000 })
const clients: Socket[] = []
const senders: Array<{ socket: Socket; room: string; index: number }> = []

let latencies = new Float64Array(1 << 16)
let count = 0
let received = 0
let counting = false

function record(text: string): void {
  if (!counting) return
  const sentAt = Number(text.slice(0, text.indexOf(':')))
  const latency = performance.now() - sentAt
  if (count === latencies.length) {
    const bigger = new Float64Array(latencies.length * 2)
    bigger.set(latencies)
    latencies = bigger
  }
  latencies[count++] = latency
  received++
}

function open(index: number): Promise<Socket> {
  const url = config.urls[index % config.urls.length]!
  const token = sign({ sub: `load-${index}`, name: `load ${index}` })
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { token } })
  if (config.kind === 'baseline') socket.on('msg', (text: string) => record(text))
  else {
    socket.on('message', (m: { text: string }) => record(m.text))
    socket.on('messages', (list: Array<{ text: string }>) => {
      for (const m of list) record(m.text)
    })
  }
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket))
    socket.once('connect_error', reject)
  })
}

async function join(socket: Socket, room: string): Promise<void> {
  if (config.kind === 'baseline') {
    await socket.timeout(30_000).emitWithAck('join', room)
    return
  }
  const answer = await socket.timeout(30_000).emitWithAck('room:join', { room })
  if (!answer.ok) throw new Error(`join failed: ${JSON.stringify(answer)}`)
}

async function connectAll(): Promise<{ connections: number }> {
  const total = config.rooms * config.roomSize
  const batch = 100
  for (let start = 0; start < total; start += batch) {
    const opened = await Promise.all(Array.from({ length: Math.min(batch, total - start) }, (_, i) => open(start + i)))
    clients.push(...opened)
    if (!config.idle) {
      await Promise.all(
        opened.map((socket, i) => {
          const index = start + i
          const room = `bench-${Math.floor(index / config.roomSize)}`
          if (index % config.roomSize < config.senders) senders.push({ socket, room, index })
          return join(socket, room)
        })
      )
    }
  }
  return { connections: clients.length }
}

/** Sends `rate` messages per second in total for `ms`, then waits for stragglers. */
async function run(rate: number, ms: number): Promise<StepResult> {
  count = 0
  received = 0
  counting = true
  let sent = 0
  let expected = 0
  let seq = 0
  const started = performance.now()
  const tickMs = 5
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - started
      if (elapsed >= ms) {
        clearInterval(timer)
        resolve()
        return
      }
      const due = Math.floor((elapsed / 1000) * rate) - sent
      for (let i = 0; i < due; i++) {
        const sender = senders[seq++ % senders.length]!
        const text = `${performance.now()}:${sender.index}:${seq}`
        if (config.kind === 'baseline') sender.socket.emit('msg', sender.room, text)
        else sender.socket.emit('message:send', { room: sender.room, text }, () => {})
        sent++
        expected += config.roomSize
      }
    }, tickMs)
  })
  const sendingSeconds = (performance.now() - started) / 1000
  // Stragglers: wait until all arrived, or until nothing arrived for a while.
  let last = received
  let quiet = 0
  while (received < expected && quiet < 40) {
    await new Promise((r) => setTimeout(r, 50))
    quiet = received === last ? quiet + 1 : 0
    last = received
  }
  counting = false
  const sorted = latencies.subarray(0, count).sort()
  const at = (q: number) => (count === 0 ? 0 : sorted[Math.min(count - 1, Math.floor(q * count))]!)
  return {
    offered: rate,
    sent,
    expected,
    received,
    lost: Math.max(0, expected - received),
    seconds: sendingSeconds,
    deliveredPerSec: received / sendingSeconds,
    p50: at(0.5),
    p99: at(0.99),
    max: at(1)
  }
}

const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  const [command, ...args] = line.trim().split(' ')
  const answer = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`)
  if (command === 'connect') connectAll().then(answer, (err: Error) => answer({ error: err.message }))
  else if (command === 'run') run(Number(args[0]), Number(args[1])).then(answer, (err: Error) => answer({ error: err.message }))
  else if (command === 'stop') {
    for (const socket of clients) socket.disconnect()
    answer({ stopped: true })
    setTimeout(() => process.exit(0), 100)
  }
})
