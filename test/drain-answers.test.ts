// Every send that reached a draining node is answered before its connection closes.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import type { Socket as NetSocket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { freePort, guest, request, until } from './helpers.js'
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

t.test('sends that reached the node before its drain began are all answered, ok or UNAVAILABLE', async (t) => {
  if (process.platform !== 'linux') return t.plan(0, 'reads /proc/net/tcp')
  const dir = mkdtempSync(join(tmpdir(), 'drain-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const fifo = join(dir, 'hold')
  execFileSync('mkfifo', [fifo])
  const port = await freePort()
  const node = await startNode(t, port, { MESSAGE_RATE_PER_SEC: '0', HOLD_FIFO: fifo }, [
    '--import',
    `data:text/javascript,${encodeURIComponent(HOLD_ON_SIGTERM)}`
  ])
  const alice = await guest(t, node.url, 'Alice')
  const socket = alice.socket
  t.match(await request(socket, 'room:join', { room: 'general' }), { ok: true })
  t.match(await request(socket, 'message:send', { room: 'general', text: 'before' }), { ok: true })

  node.proc.kill('SIGTERM')
  await until(() => node.logs.some((l) => l.event === 'held'), 10_000, 'the node to hold on SIGTERM')
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
  writeFileSync(fifo, 'go')

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
