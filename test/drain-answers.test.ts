// Every send that reached a draining node is answered before its connection closes.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect as connectTcp, type Socket as NetSocket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { freePort, guest, request, signIn, until } from './helpers.js'
import { startNode } from './processes.js'

// Loaded into the node before its own code: on SIGTERM the node stops (its main thread blocks
// reading a FIFO) before the drain begins, until the test writes to the FIFO. What a client sends
// meanwhile waits in the node's socket buffer, unread, as it would behind a busy event loop.
const HOLD_ON_SIGTERM = `
import { closeSync, openSync, readSync, writeSync } from 'node:fs'
process.on('SIGTERM', function holdUntilTold() {
  writeSync(1, JSON.stringify({ event: 'held' }) + '\\n')
  const fd = openSync(process.env.HOLD_FIFO, 'r')
  readSync(fd, Buffer.alloc(1))
  closeSync(fd)
})
`

/** Bytes sent from local port `from` to port `to` that the peer's kernel has not taken yet. */
function unsentBytes(from: number, to: number): number | undefined {
  const hex = (port: number) => `:${port.toString(16).toUpperCase().padStart(4, '0')}`
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const [, local, remote, , queues] = line.trim().split(/\s+/)
    if (local?.endsWith(hex(from)) === true && remote?.endsWith(hex(to)) === true) {
      return Number.parseInt(queues?.split(':')[0] ?? '', 16)
    }
  }
  return undefined
}

/** A real node that holds on SIGTERM until `release()`, and answers every send without a rate limit. */
async function holdingNode(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'drain-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const fifo = join(dir, 'hold')
  execFileSync('mkfifo', [fifo])
  const port = await freePort()
  const node = await startNode(t, port, { MESSAGE_RATE_PER_SEC: '0', HOLD_FIFO: fifo }, [
    '--import',
    `data:text/javascript,${encodeURIComponent(HOLD_ON_SIGTERM)}`
  ])
  const hold = async () => {
    node.proc.kill('SIGTERM')
    await until(() => node.logs.some((l) => l.event === 'held'), 10_000, 'the node to hold on SIGTERM')
  }
  return { node, port, hold, release: () => writeFileSync(fifo, 'go') }
}

t.test('sends that reached the node before its drain began are all answered, ok or UNAVAILABLE', async (t) => {
  if (process.platform !== 'linux') return t.plan(0, 'reads /proc/net/tcp')
  const { node, port, hold, release } = await holdingNode(t)
  const alice = await guest(t, node.url, 'Alice')
  const socket = alice.socket
  t.match(await request(socket, 'room:join', { room: 'general' }), { ok: true })
  t.match(await request(socket, 'message:send', { room: 'general', text: 'before' }), { ok: true })

  await hold()
  const burst = 500
  const answers: Array<string | undefined> = Array.from({ length: burst }, () => undefined)
  for (let i = 0; i < burst; i++) {
    socket.emit('message:send', { room: 'general', text: `burst ${i}`, clientId: `burst-${i}` }, (answer) => {
      answers[i] = answer.ok ? 'ok' : answer.error.code
    })
  }
  const disconnected = new Promise<string>((resolve) => socket.once('disconnect', resolve))
  // Every byte of the burst is in the node's kernel buffer before the node reads any of it.
  const engine = socket.io.engine as unknown as {
    writeBuffer: unknown[]
    transport: { ws: { bufferedAmount: number; _socket: NetSocket } }
  }
  const raw = engine.transport.ws
  const reached = () =>
    engine.writeBuffer.length === 0 && raw.bufferedAmount === 0 && unsentBytes(raw._socket.localPort!, port) === 0
  await until(reached, 10_000, 'the burst to reach the node')
  release()

  t.equal(await disconnected, 'transport close')
  const unanswered = answers.filter((a) => a === undefined).length
  const other = answers.filter((a) => a !== undefined && a !== 'ok' && a !== 'UNAVAILABLE')
  t.equal(
    unanswered,
    0,
    `every send of the burst was answered before the close (${answers.filter((a) => a === 'UNAVAILABLE').length} UNAVAILABLE)`
  )
  t.same(other, [], 'each answer is ok or UNAVAILABLE')
  t.equal(await node.exited, 0, 'a clean exit')
})

/** One HTTP/1.1 keep-alive connection: requests answered in order (Engine.IO answers with Content-Length). */
class RawHttp {
  private buffered = Buffer.alloc(0)
  private readonly waiting: Array<(answer: { status: number; body: string }) => void> = []
  constructor(
    readonly socket: NetSocket,
    private readonly host: string
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk])
      this.parse()
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      for (const wake of this.waiting.splice(0)) wake({ status: 0, body: '' })
    })
  }

  send(method: string, path: string, body = ''): Promise<{ status: number; body: string }> {
    const length = Buffer.byteLength(body)
    this.socket.write(`${method} ${path} HTTP/1.1\r\nHost: ${this.host}\r\nContent-Length: ${length}\r\n\r\n${body}`)
    return new Promise((resolve) => this.waiting.push(resolve))
  }

  private parse(): void {
    for (;;) {
      const end = this.buffered.indexOf('\r\n\r\n')
      if (end < 0) return
      const head = this.buffered.subarray(0, end).toString()
      const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0)
      if (this.buffered.length < end + 4 + length) return
      const body = this.buffered.subarray(end + 4, end + 4 + length).toString()
      this.buffered = this.buffered.subarray(end + 4 + length)
      this.waiting.shift()?.({ status: Number(head.split(' ')[1]), body })
    }
  }
}

async function rawConnection(port: number): Promise<RawHttp> {
  const socket = connectTcp(port, '127.0.0.1')
  await new Promise((resolve) => socket.once('connect', resolve))
  return new RawHttp(socket, `127.0.0.1:${port}`)
}

for (const fresh of [false, true]) {
  const on = fresh ? 'a new connection (still to be accepted)' : 'its kept-alive connection'
  t.test(`a long-polling client gets the answers of sends it POSTed on ${on} before the drain`, async (t) => {
    if (process.platform !== 'linux') return t.plan(0, 'reads /proc/net/tcp')
    const { node, port, hold, release } = await holdingNode(t)
    const { token } = await signIn(node.url, 'Polly')
    // Two connections, as a polling client has: one for the long GET, one for its POSTs.
    const reads = await rawConnection(port)
    const writes = await rawConnection(port)
    t.teardown(() => {
      reads.socket.destroy()
      writes.socket.destroy()
    })
    const handshake = await reads.send('GET', '/socket.io/?EIO=4&transport=polling')
    const { sid } = JSON.parse(handshake.body.slice(1)) as { sid: string }
    const path = `/socket.io/?EIO=4&transport=polling&sid=${sid}`
    t.equal((await writes.send('POST', path, `40${JSON.stringify({ token })}`)).body, 'ok')
    t.match((await reads.send('GET', path)).body, /^40/, 'connected')
    await writes.send('POST', path, '420["room:join",{"room":"general"}]')
    t.match((await reads.send('GET', path)).body, /^430\[\{"ok":true/, 'joined')
    let got = reads.send('GET', path)

    await hold()
    const burst = 300
    const packets = Array.from(
      { length: burst },
      (_, i) => `42${i + 1}["message:send",{"room":"general","text":"p${i}"}]`
    )
    const poster = fresh ? await rawConnection(port) : writes
    t.teardown(() => poster.socket.destroy())
    const posted = poster.send('POST', path, packets.join('\x1e'))
    await until(() => unsentBytes(poster.socket.localPort!, port) === 0, 10_000, 'the POST to reach the node')
    release()

    const answers = new Map<number, string>()
    for (;;) {
      const { status, body } = await got
      if (status !== 200) break
      const frames = body.split('\x1e')
      for (const frame of frames) {
        const ack = /^43(\d+)\[(.*)\]$/.exec(frame)
        if (ack !== null)
          answers.set(Number(ack[1]), (JSON.parse(ack[2]!) as { error?: { code: string } }).error?.code ?? 'ok')
      }
      if (frames.includes('1')) break
      got = reads.send('GET', path)
    }
    t.equal((await posted).body, 'ok', 'the POST was read')
    const codes = [...answers.values()]
    t.equal(
      answers.size,
      burst,
      `every send of the POST was answered (${codes.filter((c) => c === 'UNAVAILABLE').length} UNAVAILABLE)`
    )
    t.same(new Set(codes), new Set(['UNAVAILABLE']), 'refused, as the node drains')
    t.equal(await node.exited, 0)
  })
}
