import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { io } from 'socket.io-client'
import t from 'tap'
import { MemoryStore } from '../src/chat/store/memory-store.js'
import type { AppendInput } from '../src/chat/store/parts.js'
import { type ClientSocket, client, connect, freePort, guest, request, signIn, startApp, until } from './helpers.js'
import { serverEntry, startNode } from './processes.js'

t.test(
  'a drain turns readiness off, refuses new sockets, answers in-flight events, then lets clients reconnect',
  async (t) => {
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    const store = new MemoryStore(100)
    const append = store.log.append.bind(store.log)
    let appending!: () => void
    const appendStarted = new Promise<void>((resolve) => (appending = resolve))
    store.log.append = async (input: AppendInput) => {
      appending()
      await held
      return append(input)
    }
    const { app, url } = await startApp(t, {}, { store })
    const alice = await guest(t, url, 'Alice')
    await request(alice.socket, 'room:join', { room: 'general' })
    const { token } = await signIn(url, 'Late')

    const ack = request(alice.socket, 'message:send', { room: 'general', text: 'in flight' })
    await appendStarted
    const disconnected = new Promise((resolve) => alice.socket.once('disconnect', resolve))
    const closing = app.close()

    const ready = await fetch(`${url}/readyz`)
    t.equal(ready.status, 503, 'readiness flips as soon as the drain starts')
    t.same(await ready.json(), { status: 'not_ready', checks: { server: 'draining', store: 'ok' } })
    const health = await fetch(`${url}/healthz`)
    t.equal(health.status, 200, 'liveness is unaffected')
    await health.arrayBuffer()
    const late = await connect(client(t, url, token)).then(
      () => 'connected',
      (err: Error) => err.message
    )
    t.not(late, 'connected', 'no new connection is taken while draining')
    const refused = await request(alice.socket, 'room:history', { room: 'general' })
    t.match(refused, { ok: false, error: { code: 'UNAVAILABLE' } }, 'a new event during the drain is refused, not lost')

    release()
    const answer = await ack
    t.match(answer, { ok: true, message: { seq: 1, text: 'in flight' } }, 'the in-flight send is acknowledged')
    t.equal(await disconnected, 'transport close', 'closed so that the client reconnects by itself')
    await closing
  }
)

t.test(
  'SIGTERM on the real process: exit 0, and a stock client reconnects to the restarted server by itself',
  async (t) => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const first = await startNode(t, port)
    const { token } = await signIn(url, 'Stays')
    // A stock client with default options: long-polling first, then the WebSocket upgrade.
    const socket: ClientSocket = io(url, { auth: { token } })
    t.teardown(() => socket.disconnect())
    await new Promise((resolve) => socket.once('connect', () => resolve(null)))
    const joined = await request(socket, 'room:join', { room: 'general' })
    t.equal(joined.ok, true)
    const reasons: string[] = []
    socket.on('disconnect', (reason) => reasons.push(reason))

    first.proc.kill('SIGTERM')
    t.equal(await first.exited, 0, 'exit code 0')
    t.ok(
      first.logs.some((l) => l.event === 'drain'),
      'the drain is logged'
    )
    t.ok(
      first.logs.some((l) => l.event === 'disconnect' && l.userId),
      'every disconnect is in the audit trail'
    )
    t.same(reasons, ['transport close'], 'the client saw its transport close, not a server disconnect')

    const second = await startNode(t, port)
    await new Promise((resolve) => socket.once('connect', () => resolve(null)))
    t.ok(socket.connected, 'the client reconnected with no help')
    const rejoined = await request(socket, 'room:join', { room: 'general', since: 0 })
    t.equal(rejoined.ok, true)
    const sent = await request(socket, 'message:send', { room: 'general', text: 'back again' })
    t.equal(sent.ok, true)
    second.proc.kill('SIGTERM')
    t.equal(await second.exited, 0)
  }
)

t.test('a client that stops reading does not hold the exit; a second signal exits at once', async (t) => {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const server = await startNode(t, port, { SHUTDOWN_GRACE_MS: '3000' })
  const frozen = await guest(t, url, 'Frozen')
  // Stop reading the WebSocket: the server's close frame is never answered.
  ;(frozen.socket.io.engine.transport as any).ws._socket.pause()
  server.proc.kill('SIGTERM')
  t.equal(await server.exited, 0, 'still a clean exit within SHUTDOWN_GRACE_MS')

  const again = await startNode(t, port, { SHUTDOWN_GRACE_MS: '60000' })
  const stuck = await guest(t, url, 'Stuck')
  ;(stuck.socket.io.engine.transport as any).ws._socket.pause()
  again.proc.kill('SIGTERM')
  await until(() => again.logs.some((l) => l.event === 'drain'), 10_000, 'the drain to start')
  // The drain is held by the frozen client: the real process reports itself not ready meanwhile.
  const ready = await fetch(`${url}/readyz`)
  t.equal(ready.status, 503, 'readiness is 503 while the process drains')
  t.match(await ready.json(), { status: 'not_ready', checks: { server: 'draining' } })
  again.proc.kill('SIGTERM')
  t.equal(await again.exited, 1, 'the second signal ends the process at once')
  t.notOk(
    again.logs.some((l) => l.msg === 'closed'),
    'without finishing the drain'
  )
})

t.test('a bad configuration stops the boot with one line naming the variable', async (t) => {
  for (const [env, variable] of [
    [{ PORT: 'abc' }, 'PORT'],
    [{ MESSAGE_BURST: '-1' }, 'MESSAGE_BURST'],
    [{ JWT_SECRET: 'short' }, 'JWT_SECRET'],
    [{ GUEST_SESSIONS: 'maybe' }, 'GUEST_SESSIONS']
  ] as const) {
    const proc = spawn(process.execPath, [serverEntry], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let stderr = ''
    let stdout = ''
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    const [code] = await once(proc, 'exit')
    t.equal(code, 1, `${variable}: exit code 1`)
    const lines = stderr.trim().split('\n')
    t.equal(lines.length, 1, `${variable}: one line`)
    t.match(lines[0], new RegExp(`^invalid configuration: ${variable} `), `${variable}: names the variable`)
    t.notMatch(stderr, /at .*:\d+:\d+/, `${variable}: no stack trace`)
    t.equal(stdout, '')
  }
})
