import t from 'tap'
import { collect, guest, next, request, scrape, startApp, until } from '../helpers.js'

t.test('a client that stops reading is cut off past MAX_BUFFERED_BYTES; the room goes on', async (t) => {
  const { url } = await startApp(t, { MESSAGE_RATE_PER_SEC: '0', MAX_BUFFERED_BYTES: String(64 * 1024) })
  const alice = await guest(t, url, 'Alice')
  const bob = await guest(t, url, 'Bob')
  const carol = await guest(t, url, 'Carol')
  for (const s of [alice, bob, carol]) await request(s.socket, 'room:join', { room: 'r' })
  const bobGot = collect(bob.socket)
  // Carol's tab freezes: her client stops reading from its TCP socket.
  const raw = (carol.socket.io.engine.transport as unknown as { ws: { _socket: import('node:net').Socket } }).ws._socket
  raw.pause()
  const carolLeft = next(alice.socket, 'presence', (p) => p.user.name === 'Carol' && p.status === 'left')
  let left = false
  void carolLeft.then(() => (left = true))

  // Fill the kernel's buffers, then Node's (at most 60 MB for Carol), until the server cuts her.
  const text = 'x'.repeat(2000)
  let sent = 0
  while (!left && sent < 30_000) {
    await Promise.all(Array.from({ length: 100 }, () => request(alice.socket, 'message:send', { room: 'r', text })))
    sent += 100
  }
  t.ok(left, `Carol was cut off (after ${sent} messages) and the room saw her leave`)
  const metrics = await scrape(url)
  t.equal(metrics.get('chat_slow_consumers_total'), 1, 'counted once')
  await until(() => bobGot.length === sent, 20_000, 'Bob got every message')
  t.same(
    bobGot.map((m) => m.seq),
    Array.from({ length: sent }, (_, i) => i + 1),
    'Bob, who reads, missed nothing, in order'
  )
  const reason = next(carol.socket as never, 'disconnect' as never)
  raw.resume()
  t.equal(
    await reason,
    'transport close',
    'Carol sees the connection close once she reads again (a stock client reconnects)'
  )
})
