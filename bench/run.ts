// npm run bench [-- --quick | --tiny] [--out DIR]: the service against a bare Socket.IO server,
// side by side in one run, on 127.0.0.1 only, every scenario bounded in time.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface, type Interface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { BUCKETS, bucketValue } from './histogram.js'
import type { LoadConfig, StepResult } from './load.js'
import { markdownTable, type Report, type Row, svgChart } from './report.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const argv = process.argv.slice(2)
const mode = argv.includes('--tiny') ? 'tiny' : argv.includes('--quick') ? 'quick' : 'full'
const outDir = argv.includes('--out') ? argv[argv.indexOf('--out') + 1]! : join(root, 'bench/results')
/** --only fanout | redis: run that scenario alone (for profiling); no report is written. */
const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined
/** --only fanout --versus DIR: the fan-out of the baseline, of another built checkout of the
 * service and of this one, in turns, for comparing two versions of the service side by side. */
const versus = argv.includes('--versus') ? argv[argv.indexOf('--versus') + 1] : undefined
const SECRET = 'bench-secret-that-is-at-least-32-bytes-long'

/** Sizes per mode: full as the issue states them; quick under two minutes; tiny for the test. */
const plan = {
  full: {
    fanoutMembers: 200,
    fanoutSenders: 10,
    fanoutRate: 200,
    seconds: 16,
    fanoutRounds: 4,
    steps: [
      200, 400, 600, 800, 1000, 1200, 1600, 2400, 3200, 4000, 4800, 5600, 6400, 7200, 8000, 8800, 9600, 10400, 11200,
      12000, 12800
    ],
    stepSeconds: 4,
    rooms: 200,
    idle: 5000
  },
  quick: {
    fanoutMembers: 200,
    fanoutSenders: 10,
    fanoutRate: 200,
    seconds: 6,
    fanoutRounds: 2,
    steps: [400, 600, 800, 1000, 1600, 2400, 3200, 4800],
    stepSeconds: 2,
    rooms: 100,
    idle: 2000
  },
  tiny: {
    fanoutMembers: 10,
    fanoutSenders: 2,
    fanoutRate: 20,
    seconds: 1,
    fanoutRounds: 1,
    steps: [20, 40],
    stepSeconds: 1,
    rooms: 3,
    idle: 20
  }
}[mode]

const say = (line: string) => process.stderr.write(`${line}\n`)

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const { port } = server.address() as { port: number }
  await new Promise((r) => server.close(r))
  return port
}

interface Server {
  name: string
  urls: string[]
  pids: number[]
  stop(): Promise<void>
}

const children = new Set<ChildProcess>()
/** Temporary directories to remove however the run ends. */
const scratch = new Set<string>()
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true })
})
// Interrupted (Ctrl-C, or a SIGTERM sent to this process alone): exit, which stops every
// server and load generator above rather than leaving them running.
process.once('SIGINT', () => process.exit(130))
process.once('SIGTERM', () => process.exit(143))

function launch(args: string[], env: Record<string, string>, cwd = root): ChildProcess {
  const child = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

async function untilUp(url: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (
      await fetch(`${url}/socket.io/?EIO=4&transport=polling`).then(
        (r) => r.status < 500,
        () => false
      )
    )
      return
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`${url} did not start`)
}

/** BENCH_NODE_ARGS (e.g. --cpu-prof --cpu-prof-dir=DIR) goes to every server's node, for profiling a run. */
function nodeArgs(): string[] {
  return process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []
}

async function startBaseline(): Promise<Server> {
  const port = await freePort()
  const child = launch([...nodeArgs(), '--import', 'tsx', 'bench/baseline-server.ts'], { PORT: String(port) })
  const url = `http://127.0.0.1:${port}`
  await untilUp(url)
  return { name: 'baseline', urls: [url], pids: [child.pid!], stop: () => stop(child) }
}

async function startService(count = 1, redisUrl?: string, dir = root): Promise<Server> {
  const nodes = await Promise.all(
    Array.from({ length: count }, async () => {
      const port = await freePort()
      const env: Record<string, string> = {
        PORT: String(port),
        HOST: '127.0.0.1',
        JWT_SECRET: SECRET,
        LOG_LEVEL: 'warn',
        MESSAGE_RATE_PER_SEC: '0',
        // Each load sender sends far past a person's budget in its room.
        USER_ROOM_MESSAGES_PER_MIN: '0',
        MAX_CONNECTIONS_PER_USER: '10000',
        // Every load generator connects from 127.0.0.1 (the idle scenario opens 5,000).
        MAX_CONNECTIONS_PER_ADDRESS: '0'
      }
      if (redisUrl !== undefined) env.REDIS_URL = redisUrl
      const child = launch([...nodeArgs(), 'dist/server/server.js'], env, dir)
      const url = `http://127.0.0.1:${port}`
      await untilUp(url)
      return { child, url }
    })
  )
  return {
    name: redisUrl === undefined ? 'service' : 'service+redis',
    urls: nodes.map((n) => n.url),
    pids: nodes.map((n) => n.child.pid!),
    stop: async () => {
      await Promise.all(nodes.map((n) => stop(n.child)))
    }
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  await exited
  clearTimeout(timer)
}

/** CPU seconds used so far by the processes, user and system (kernel), from /proc. */
function cpuTimes(pids: number[]): { user: number; system: number } {
  return pids.reduce(
    (sum, pid) => {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
      return { user: sum.user + Number(fields[11]) / 100, system: sum.system + Number(fields[12]) / 100 }
    },
    { user: 0, system: 0 }
  )
}

function rssBytes(pids: number[]): number {
  return pids.reduce((sum, pid) => {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return sum + Number(match?.[1] ?? 0) * 1024
  }, 0)
}

class Load {
  private readonly child: ChildProcess
  private readonly lines: Interface
  private readonly waiting: Array<(value: any) => void> = []

  constructor(readonly config: LoadConfig) {
    this.child = spawn(process.execPath, ['--import', 'tsx', 'bench/load.ts', JSON.stringify(config)], {
      cwd: root,
      stdio: ['pipe', 'pipe', 'inherit']
    })
    children.add(this.child)
    this.lines = createInterface({ input: this.child.stdout! })
    this.lines.on('line', (line) => this.waiting.shift()?.(JSON.parse(line)))
  }

  ask<T>(command: string): Promise<T> {
    return new Promise((resolve, reject) => {
      this.waiting.push((value) => (value?.error ? reject(new Error(value.error)) : resolve(value)))
      this.child.stdin!.write(`${command}\n`)
    })
  }

  async stop(): Promise<void> {
    await this.ask('stop')
    await new Promise((r) => (this.child.exitCode !== null ? r(null) : this.child.once('exit', r)))
    children.delete(this.child)
  }
}

interface Collected {
  received: number
  max: number
  histogram: number[]
}

/** One or more measured runs of the same load, before percentiles are taken. */
interface Measured {
  offered: number
  sent: number
  expected: number
  received: number
  seconds: number
  max: number
  histogram: number[]
}

/** Adds runs up (counts, time and latency histograms) into one step's figures. */
function summarize(runs: Measured[]): StepResult {
  const histogram = new Array<number>(BUCKETS).fill(0)
  for (const run of runs) for (const [i, count] of run.histogram.entries()) histogram[i]! += count
  const total = (key: 'sent' | 'expected' | 'received' | 'seconds') => runs.reduce((n, r) => n + r[key], 0)
  const received = total('received')
  const slowest = Math.max(0, ...runs.map((r) => r.max))
  // The bucket's upper bound (0.1 ms resolution below 100 ms), never above the slowest seen.
  const quantile = (q: number) => {
    const target = Math.ceil(q * received)
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += histogram[i]!
      if (seen >= target && seen > 0) return Math.min(bucketValue(i), slowest)
    }
    return 0
  }
  return {
    offered: runs[0]?.offered ?? 0,
    sent: total('sent'),
    expected: total('expected'),
    received,
    lost: Math.max(0, total('expected') - received),
    seconds: total('seconds'),
    deliveredPerSec: received / Math.max(total('seconds'), 1e-9),
    p50: quantile(0.5),
    p90: quantile(0.9),
    p99: quantile(0.99),
    p999: quantile(0.999),
    max: slowest
  }
}

/**
 * A scenario's clients, spread over several load-generator processes: whole rooms per process
 * when there are enough rooms, otherwise the members of the room split between them.
 */
class LoadGroup {
  private readonly loads: Load[]

  constructor(
    readonly server: Server,
    readonly shape: Omit<LoadConfig, 'kind' | 'urls' | 'secret' | 'members'>,
    processes = 2
  ) {
    const total = shape.rooms * shape.roomSize
    const perRoom = shape.rooms >= processes
    const n = Math.max(1, Math.min(processes, perRoom ? shape.rooms : shape.roomSize))
    this.loads = Array.from({ length: n }, (_, i) => {
      const members: [number, number] = perRoom
        ? [Math.floor((shape.rooms * i) / n) * shape.roomSize, Math.floor((shape.rooms * (i + 1)) / n) * shape.roomSize]
        : [Math.floor((total * i) / n), Math.floor((total * (i + 1)) / n)]
      return new Load({
        kind: server.name === 'baseline' ? 'baseline' : 'service',
        urls: server.urls,
        secret: SECRET,
        ...shape,
        members
      })
    })
  }

  async connect(): Promise<number> {
    const opened = await Promise.all(this.loads.map((l) => l.ask<{ connections: number }>('connect')))
    return opened.reduce((n, o) => n + o.connections, 0)
  }

  /** One measured step: every process sends its share of `rate`, then all deliveries are counted. */
  async run(rate: number, seconds: number): Promise<StepResult> {
    return summarize([await this.measure(rate, seconds)])
  }

  /** Like `run`, with the raw latency histogram, so that several rounds can be merged. */
  async measure(rate: number, seconds: number): Promise<Measured> {
    await Promise.all(this.loads.map((l) => l.ask('reset')))
    // Each process sends its senders' share of the rate.
    const sendersIn = (load: Load) => {
      const [first, end] = load.config.members!
      let n = 0
      for (let i = first; i < end; i++) if (i % this.shape.roomSize < this.shape.senders) n++
      return n
    }
    const allSenders = this.loads.reduce((n, l) => n + sendersIn(l), 0)
    const sent = await Promise.all(
      this.loads.map((l) =>
        l.ask<{ sent: number; sentByRoom: Record<string, number>; seconds: number }>(
          `send ${allSenders === 0 ? 0 : (rate * sendersIn(l)) / allSenders} ${Math.round(seconds * 1000)}`
        )
      )
    )
    const sentByRoom: Record<string, number> = {}
    for (const s of sent)
      for (const [room, n] of Object.entries(s.sentByRoom)) sentByRoom[room] = (sentByRoom[room] ?? 0) + n
    const members = (load: Load, room: number) => {
      const [first, end] = load.config.members!
      return Math.max(0, Math.min(end, (room + 1) * this.shape.roomSize) - Math.max(first, room * this.shape.roomSize))
    }
    const expectedOf = (load: Load) =>
      Object.entries(sentByRoom).reduce(
        (n, [room, count]) => n + count * members(load, Number(room.slice('bench-'.length))),
        0
      )
    const collected = await Promise.all(this.loads.map((l) => l.ask<Collected>(`collect ${expectedOf(l)} 2000`)))
    const histogram = new Array<number>(BUCKETS).fill(0)
    for (const c of collected) for (const [i, count] of c.histogram.entries()) histogram[i]! += count
    return {
      offered: rate,
      sent: sent.reduce((n, s) => n + s.sent, 0),
      expected: this.loads.reduce((n, l) => n + expectedOf(l), 0),
      received: collected.reduce((n, c) => n + c.received, 0),
      seconds: Math.max(...sent.map((s) => s.seconds)),
      max: Math.max(0, ...collected.map((c) => c.max)),
      histogram
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.loads.map((l) => l.stop()))
  }
}

function loadFor(
  server: Server,
  shape: Omit<LoadConfig, 'kind' | 'urls' | 'secret' | 'members'>,
  processes = 2
): LoadGroup {
  return new LoadGroup(server, shape, processes)
}

const ms = (seconds: number) => Math.round(seconds * 10) / 10

// --- Scenarios -----------------------------------------------------------------------------------

/**
 * Fan-out, both servers loaded at once but measured in turns: several short rounds that
 * alternate between them, so that a noisy stretch of the shared machine falls on both. Latency
 * histograms and CPU are added up over the rounds.
 */
async function fanout(servers: Server[]) {
  const loads = servers.map((server) =>
    loadFor(server, { rooms: 1, roomSize: plan.fanoutMembers, senders: plan.fanoutSenders })
  )
  for (const load of loads) await load.connect()
  for (const load of loads) await load.run(plan.fanoutRate, Math.min(1, plan.seconds)) // warm-up
  const runs: Measured[][] = servers.map(() => [])
  const cpu = servers.map(() => 0)
  const kernel = servers.map(() => 0)
  for (let round = 0; round < plan.fanoutRounds; round++) {
    for (let i = 0; i < servers.length; i++) {
      const before = cpuTimes(servers[i]!.pids)
      runs[i]!.push(await loads[i]!.measure(plan.fanoutRate, plan.seconds / plan.fanoutRounds))
      const after = cpuTimes(servers[i]!.pids)
      cpu[i]! += after.user + after.system - before.user - before.system
      kernel[i]! += after.system - before.system
    }
  }
  await Promise.all(loads.map((l) => l.stop()))
  return servers.map((server, i) => {
    const step = summarize(runs[i]!)
    const cpuPer100k = step.received > 0 ? (cpu[i]! / step.received) * 100_000 : 0
    say(
      `  fan-out ${server.name}: ${Math.round(step.deliveredPerSec)} delivered/s, p50 ${ms(step.p50)} ms, p90 ${ms(step.p90)} ms, p99 ${ms(step.p99)} ms, p99.9 ${ms(step.p999)} ms, lost ${step.lost}, ${cpuPer100k.toFixed(2)} CPU s/100k (${Math.round((100 * kernel[i]!) / Math.max(cpu[i]!, 1e-9))}% in the kernel)`
    )
    return { ...step, rounds: plan.fanoutRounds, cpuSeconds: cpu[i]!, cpuPer100k }
  })
}

async function saturation(servers: Server[]) {
  const loads = servers.map((server) =>
    loadFor(server, { rooms: 1, roomSize: plan.fanoutMembers, senders: plan.fanoutSenders })
  )
  await Promise.all(loads.map((l) => l.connect()))
  const steps: StepResult[][] = servers.map(() => [])
  const done = servers.map(() => false)
  for (const rate of plan.steps) {
    // Alternate the servers at each step, so both see the same machine noise.
    for (let i = 0; i < servers.length; i++) {
      if (done[i]) continue
      // A step whose p99 is over the limit is run once more: the limit is where it fails twice
      // in a row, not where a moment of noise on the shared machine happened to fall. A loss
      // ends the run at once.
      for (let attempt = 1; attempt <= 2; attempt++) {
        const step = await loads[i]!.run(rate, plan.stepSeconds)
        const failed = step.p99 > 500 || step.lost > 0
        const last = !failed || step.lost > 0 || attempt === 2
        if (last) steps[i]!.push(step)
        say(
          `  saturation ${servers[i]!.name} @ ${rate * plan.fanoutMembers} offered/s: ${Math.round(step.deliveredPerSec)} delivered/s, p99 ${ms(step.p99)} ms, lost ${step.lost}${failed ? (last ? '  (limit)' : '  (again)') : ''}`
        )
        if (failed && last) done[i] = true
        if (last) break
      }
    }
    if (done.every(Boolean)) break
  }
  await Promise.all(loads.map((l) => l.stop()))
  return steps.map((list) => ({
    steps: list,
    held: Math.max(0, ...list.filter((s) => s.p99 <= 500 && s.lost === 0).map((s) => s.deliveredPerSec))
  }))
}

async function manyRooms(server: Server) {
  const load = loadFor(server, { rooms: plan.rooms, roomSize: 10, senders: 1 })
  await load.connect()
  const step = await load.run(plan.rooms * 5, plan.seconds)
  await load.stop()
  say(
    `  many rooms ${server.name}: ${plan.rooms * 10} connections, ${Math.round(step.deliveredPerSec)} delivered/s, p99 ${ms(step.p99)} ms, lost ${step.lost}`
  )
  return step
}

async function idle(server: Server) {
  const before = rssBytes(server.pids)
  const load = loadFor(server, { rooms: 1, roomSize: plan.idle, senders: 0, idle: true }, 1)
  const connections = await load.connect()
  await new Promise((r) => setTimeout(r, 2000))
  const after = rssBytes(server.pids)
  await load.stop()
  const perConnection = (after - before) / connections
  say(`  idle ${server.name}: ${connections} connections, ${Math.round(perConnection / 1024)} KiB RSS each`)
  return { connections, rssBefore: before, rssAfter: after, bytesPerConnection: perConnection }
}

async function withRedis<T>(fn: (url: string) => Promise<T>): Promise<T | undefined> {
  const binary = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim()
  if (binary === '') {
    say('  redis-server not found: the Redis scenario is skipped')
    return undefined
  }
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'))
  scratch.add(dir)
  const redis = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' }
  )
  children.add(redis)
  await new Promise((r) => setTimeout(r, 300))
  try {
    return await fn(`redis://127.0.0.1:${port}`)
  } finally {
    redis.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
    scratch.delete(dir)
  }
}

// --- Main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (!existsSync(join(root, 'dist/server/server.js'))) {
    say('building the service first (npm run build)…')
    spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' })
  }
  const started = Date.now()
  say(`bench (${mode}) on ${cpus().length} cores, Node ${process.version}`)

  if (only === 'redis') {
    // Two nodes on Redis against one node in memory, saturation only (for profiling).
    const memory = await startService()
    await saturation([memory])
    await memory.stop()
    await withRedis(async (url) => {
      const nodes = await startService(2, url)
      await saturation([nodes]).finally(() => nodes.stop())
    })
    return
  }
  if (only === 'fanout' && versus !== undefined) {
    const baseline = await startBaseline()
    const other = { ...(await startService(1, undefined, versus)), name: `service at ${versus}` }
    const service = await startService()
    await fanout([baseline, other, service])
    await Promise.all([baseline.stop(), other.stop(), service.stop()])
    return
  }
  let baseline = await startBaseline()
  let service = await startService()
  if (only === 'fanout') {
    await fanout([baseline, service])
    await Promise.all([baseline.stop(), service.stop()])
    return
  }
  say('fan-out: one room of 200, 10 senders at 20 messages/s')
  const fan = await fanout([baseline, service])
  const fanBaseline = fan[0]!
  const fanService = fan[1]!
  say('saturation: offered load stepped up until p99 > 500 ms or a loss')
  const [satBaseline, satService] = await saturation([baseline, service])
  say(`many rooms: ${plan.rooms * 10} connections in rooms of 10, 5 messages/s each`)
  const roomsBaseline = await manyRooms(baseline)
  const roomsService = await manyRooms(service)
  await Promise.all([baseline.stop(), service.stop()])

  say(`idle: ${plan.idle} connections on fresh servers`)
  baseline = await startBaseline()
  service = await startService()
  const idleBaseline = await idle(baseline)
  const idleService = await idle(service)
  await Promise.all([baseline.stop(), service.stop()])

  say('Redis, two nodes: saturation')
  const cluster = await withRedis(async (url) => {
    const nodes = await startService(2, url)
    try {
      return (await saturation([nodes]))[0]!
    } finally {
      await nodes.stop()
    }
  })

  const ratio = (service: number, baseline: number) => (baseline === 0 ? 0 : service / baseline)
  const rows: Row[] = [
    {
      figure: 'fan-out delivered/s',
      unit: '/s',
      baseline: fanBaseline.deliveredPerSec,
      service: fanService.deliveredPerSec
    },
    { figure: 'fan-out p50 latency', unit: 'ms', baseline: fanBaseline.p50, service: fanService.p50 },
    {
      figure: 'fan-out p99 latency',
      unit: 'ms',
      baseline: fanBaseline.p99,
      service: fanService.p99,
      target: '≤ 1.0x',
      pass: fanService.p99 <= fanBaseline.p99
    },
    {
      figure: 'fan-out lost',
      unit: '',
      baseline: fanBaseline.lost,
      service: fanService.lost,
      target: '0 lost',
      pass: fanService.lost === 0
    },
    {
      figure: 'saturation delivered/s held',
      unit: '/s',
      baseline: satBaseline!.held,
      service: satService!.held,
      target: '≥ 2.0x',
      pass: satService!.held >= 2 * satBaseline!.held
    },
    {
      figure: 'CPU seconds per 100k deliveries',
      unit: 's',
      baseline: fanBaseline.cpuPer100k,
      service: fanService.cpuPer100k,
      target: '≤ 0.7x',
      pass: fanService.cpuPer100k <= 0.7 * fanBaseline.cpuPer100k
    },
    {
      figure: 'many rooms delivered/s',
      unit: '/s',
      baseline: roomsBaseline.deliveredPerSec,
      service: roomsService.deliveredPerSec
    },
    { figure: 'many rooms p99 latency', unit: 'ms', baseline: roomsBaseline.p99, service: roomsService.p99 },
    { figure: 'many rooms lost', unit: '', baseline: roomsBaseline.lost, service: roomsService.lost },
    {
      figure: 'idle RSS per connection',
      unit: 'KiB',
      baseline: idleBaseline.bytesPerConnection / 1024,
      service: idleService.bytesPerConnection / 1024,
      target: '≤ 1.0x',
      pass: idleService.bytesPerConnection <= idleBaseline.bytesPerConnection
    }
  ]
  if (cluster !== undefined) {
    rows.push({
      figure: 'Redis 2 nodes saturation delivered/s (vs 1 node in memory)',
      unit: '/s',
      baseline: satService!.held,
      service: cluster.held,
      target: '≥ 0.8x',
      pass: cluster.held >= 0.8 * satService!.held
    })
  }
  for (const row of rows) row.ratio = ratio(row.service, row.baseline)

  const report: Report = {
    date: new Date().toISOString(),
    mode,
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
    seconds: Math.round((Date.now() - started) / 1000),
    rows,
    scenarios: {
      fanout: { baseline: fanBaseline, service: fanService },
      saturation: { baseline: satBaseline, service: satService, ...(cluster ? { cluster } : {}) },
      manyRooms: { baseline: roomsBaseline, service: roomsService },
      idle: { baseline: idleBaseline, service: idleService }
    }
  }
  mkdirSync(outDir, { recursive: true })
  writeFileSync(join(outDir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`)
  const table = markdownTable(report)
  writeFileSync(join(outDir, 'latest.md'), table)
  writeFileSync(join(outDir, 'latency.svg'), svgChart(report, plan.fanoutMembers))
  process.stdout.write(`\n${table}\n`)
  say(`written to ${outDir}/latest.{json,md} and latency.svg in ${report.seconds} s`)
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    say(`bench failed: ${(err as Error).stack ?? String(err)}`)
    process.exit(1)
  }
)
