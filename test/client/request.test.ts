// The web client's request helper against a real service (and, for a server that stays
// silent, a bare Socket.IO server), in Node: the same socket.io-client the page bundles.
import { once } from 'node:events'
import { createServer } from 'node:http'
import { Server } from 'socket.io'
import { io } from 'socket.io-client'
import t, { type Test } from 'tap'
import { request } from '../../client/src/request.js'
import { ROOM_RETRY, SEND_RETRY } from '../../client/src/retry.js'
import { type ClientSocket, connect, guest, startApp } from '../helpers.js'

t.test('an answer is returned; a refusal not worth trying again is returned at once', async (t) => {
  const { url } = await startApp(t)
  const ada = await guest(t, url, 'Ada')
  const joined = await request(ada.socket, 'room:join', { room: 'general' }, { policy: ROOM_RETRY })
  t.match(joined, { status: 'ok', answer: { ok: true, room: 'general', members: [ada.user] } })
  const retries: unknown[] = []
  const refused = await request(
    ada.socket,
    'room:history',
    { room: 'elsewhere' },
    { policy: ROOM_RETRY, onRetry: (failure) => retries.push(failure) }
  )
  t.match(refused, { status: 'refused', error: { code: 'NOT_IN_ROOM' } })
  t.same(retries, [], 'NOT_IN_ROOM is not tried again')
})

t.test('a rate limit is waited out, for at least as long as the server says, and tried again', async (t) => {
  const { url } = await startApp(t, { ROOM_RATE_PER_SEC: '1', ROOM_BURST: '1' })
  const ada = await guest(t, url, 'Ada')
  await request(ada.socket, 'room:join', { room: 'first' })
  const waits: Array<{ code: string; retryAfterMs?: number; waitMs: number }> = []
  const outcome = await request(
    ada.socket,
    'room:join',
    { room: 'second' },
    {
      policy: ROOM_RETRY,
      onRetry: (failure, waitMs) => {
        if ('error' in failure)
          waits.push({ code: failure.error.code, retryAfterMs: failure.error.retryAfterMs, waitMs })
      }
    }
  )
  t.equal(outcome.status, 'ok', 'joined once the limit allowed it')
  t.ok(waits.length >= 1)
  for (const wait of waits) {
    t.equal(wait.code, 'RATE_LIMITED')
    t.ok(wait.waitMs >= wait.retryAfterMs!, 'never before the server said')
  }
})

t.test('cancelled by its signal during a wait, or when no longer wanted after it', async (t) => {
  const { url } = await startApp(t, { ROOM_RATE_PER_SEC: '1', ROOM_BURST: '1' })
  const ada = await guest(t, url, 'Ada')
  await request(ada.socket, 'room:join', { room: 'first' })
  const controller = new AbortController()
  const aborted = await request(
    ada.socket,
    'room:join',
    { room: 'second' },
    { policy: ROOM_RETRY, signal: controller.signal, onRetry: () => controller.abort() }
  )
  t.same(aborted, { status: 'cancelled' }, 'the room was left during the wait: no try after it')
  const bob = await guest(t, url, 'Bob')
  await request(bob.socket, 'room:join', { room: 'first' })
  let resumed = 0
  const unwanted = await request(
    bob.socket,
    'room:join',
    { room: 'second' },
    { policy: ROOM_RETRY, wanted: () => false, onResume: () => resumed++ }
  )
  t.same(unwanted, { status: 'cancelled' }, 'joined some other way meanwhile: not asked again')
  t.equal(resumed, 1, 'after the wait')
})

t.test('offline: asked while disconnected', async (t) => {
  const { url } = await startApp(t)
  const ada = await guest(t, url, 'Ada')
  ada.socket.disconnect()
  t.same(await request(ada.socket, 'room:join', { room: 'general' }, { policy: ROOM_RETRY }), {
    status: 'offline',
    dropped: false
  })
})

/** A bare Socket.IO server that leaves `silent` tries of each event unanswered, then answers ok. */
async function silentServer(t: Test, silent: number): Promise<{ socket: ClientSocket; tries: () => number }> {
  const http = createServer()
  const server = new Server(http)
  let tries = 0
  server.on('connection', (socket) => {
    socket.on('message:send', (payload, ack) => {
      tries++
      if (tries > silent)
        ack({ ok: true, message: { ...payload, id: 'm1', seq: 1, user: { id: 'u', name: 'U' }, ts: 1 } })
      if (payload.text === 'drop') socket.disconnect(true)
    })
  })
  http.listen(0, '127.0.0.1')
  await once(http, 'listening')
  t.teardown(() => server.close())
  const { port } = http.address() as { port: number }
  const socket: ClientSocket = io(`http://127.0.0.1:${port}`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    autoConnect: false
  })
  t.teardown(() => socket.disconnect())
  await connect(socket)
  return { socket, tries: () => tries }
}

t.test('a send left unanswered is sent again at once; one whose connection drops is offline', async (t) => {
  const { socket, tries } = await silentServer(t, 2)
  const unanswered: unknown[] = []
  const sent = await request(
    socket,
    'message:send',
    { room: 'r', text: 'hi', clientId: 'c1' },
    { policy: SEND_RETRY, timeoutMs: 100, onRetry: (failure, waitMs) => unanswered.push([failure, waitMs]) }
  )
  t.equal(sent.status, 'ok')
  t.equal(tries(), 3, 'two tries went unanswered, the third was answered')
  t.same(unanswered, [
    [{ unanswered: true }, 0],
    [{ unanswered: true }, 0]
  ])
  const once = await request(socket, 'message:send', { room: 'r', text: 'hi', clientId: 'c2' }, { timeoutMs: 100 })
  t.equal(once.status, 'ok', 'without a policy: one try')

  const dropping = await silentServer(t, 1)
  const dropped = await request(
    dropping.socket,
    'message:send',
    { room: 'r', text: 'drop', clientId: 'c3' },
    { policy: SEND_RETRY }
  )
  t.same(dropped, { status: 'offline', dropped: true })
})
