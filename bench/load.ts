// A load generator process: opens its share of a scenario's clients against one server and
// drives them on command from bench/run.ts (stdin), answering each command with one JSON line
// (stdout). Several of these run side by side so that the clients' own work does not become
// the bottleneck; latency is measured on the machine's clock, comparable across processes.
import { createInterface } from 'node:readline'
import { createSigner } from 'fast-jwt'
import { io, type Socket } from 'socket.io-client'
import { BUCKETS, bucketOf } from './histogram.js'

export interface LoadConfig {
  kind: 'baseline' | 'service'
  /** One URL per server node; clients are spread over them round-robin. */
  urls: string[]
  rooms: number
  roomSize: number
  /** Senders per room (the first members of each room). */
  senders: number
  secret: string
  /** The members (by index over all rooms) this process opens: [first, end). */
  members?: [number, number]
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
  p90: number
  p99: number
  /** p99.9: the tail beyond p99, for reading a run (not in the report's table). */
  p999: number
  max: number
}

const config = JSON.parse(process.argv[2] ?? '{}') as LoadConfig
const [first, end] = config.members ?? [0, config.rooms * config.roomSize]
const sign = createSigner({ key: config.secret, expiresIn: 3600_000 })
const clients: Socket[] = []
const senders: Array<{ socket: Socket; room: string; index: number }> = []
const now = () => performance.timeOrigin + performance.now()

let histogram = new Uint32Array(BUCKETS)
let received = 0
let max = 0

function record(text: string): void {
  const latency = now() - Number(text.slice(0, text.indexOf(':')))
  histogram[bucketOf(latency)]!++
  if (latency > max) max = latency
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
  const answer = await socket
    .timeout(30_000)
    .emitWithAck(config.kind === 'baseline' ? 'join' : 'room:join', config.kind === 'baseline' ? room : { room })
  if (config.kind === 'service' && !answer.ok) throw new Error(`join failed: ${JSON.stringify(answer)}`)
}

async function connectAll(): Promise<{ connections: number }> {
  const batch = 100
  for (let start = first; start < end; start += batch) {
    const count = Math.min(batch, end - start)
    const opened = await Promise.all(Array.from({ length: count }, (_, i) => open(start + i)))
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

/**
 * Sends `rate` messages per second from this process's senders for `ms`. Each sender is an
 * independent person: its messages are a Poisson process (exponential gaps), so the room sees
 * the chance bursts and lulls of real senders rather than a metronome.
 */
async function send(
  rate: number,
  ms: number
): Promise<{ sent: number; sentByRoom: Record<string, number>; seconds: number }> {
  let sent = 0
  const sentByRoom: Record<string, number> = {}
  const started = performance.now()
  // The senders together are one Poisson process of `rate`; each message goes to a sender
  // chosen at random, which leaves each sender a Poisson process of its own share.
  const gap = () => (-Math.log(1 - Math.random()) * 1000) / rate
  if (senders.length > 0 && rate > 0) {
    let nextAt = gap()
    await new Promise<void>((resolve) => {
      const tick = () => {
        const elapsed = performance.now() - started
        if (elapsed >= ms) {
          resolve()
          return
        }
        while (nextAt <= elapsed) {
          const sender = senders[Math.floor(Math.random() * senders.length)]!
          const text = `${now()}:${sender.index}:${sent}`
          if (config.kind === 'baseline') sender.socket.emit('msg', sender.room, text)
          else sender.socket.emit('message:send', { room: sender.room, text }, () => {})
          sent++
          sentByRoom[sender.room] = (sentByRoom[sender.room] ?? 0) + 1
          nextAt += gap()
        }
        setTimeout(tick, Math.max(0, Math.min(nextAt, ms) - (performance.now() - started)))
      }
      tick()
    })
  }
  return { sent, sentByRoom, seconds: (performance.now() - started) / 1000 }
}

/** Waits until `expected` messages arrived here, or nothing arrived for `quietMs`. */
async function collect(expected: number, quietMs: number) {
  let last = received
  let quietSince = Date.now()
  while (received < expected && Date.now() - quietSince < quietMs) {
    await new Promise((r) => setTimeout(r, 50))
    if (received !== last) {
      last = received
      quietSince = Date.now()
    }
  }
  const result = { received, max, histogram: Array.from(histogram) }
  return result
}

function reset(): { reset: true } {
  histogram = new Uint32Array(BUCKETS)
  received = 0
  max = 0
  return { reset: true }
}

const lines = createInterface({ input: process.stdin })
// The controller went away (bench/run.ts ended or was killed): stop, rather than load the machine on.
lines.on('close', () => process.exit(0))
lines.on('line', (line) => {
  const [command, ...args] = line.trim().split(' ')
  const answer = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`)
  const fail = (err: Error) => answer({ error: err.message })
  if (command === 'connect') connectAll().then(answer, fail)
  else if (command === 'reset') answer(reset())
  else if (command === 'send') send(Number(args[0]), Number(args[1])).then(answer, fail)
  else if (command === 'collect') collect(Number(args[0]), Number(args[1])).then(answer, fail)
  else if (command === 'stop') {
    for (const socket of clients) socket.disconnect()
    answer({ stopped: true })
    setTimeout(() => process.exit(0), 100)
  }
})
