import t from 'tap'
import { guest, next, request, scrape, startApp, until } from '../helpers.js'

t.test("a busy room's messages are coalesced into `messages` packets; a lone one goes as `message`", async (t) => {
  const { url } = await startApp(t, { MESSAGE_RATE_PER_SEC: '0', COALESCE_WINDOW_MS: '50' })
  const alice = await guest(t, url, 'Alice')
  const bob = await guest(t, url, 'Bob')
  for (const s of [alice, bob]) await request(s.socket, 'room:join', { room: 'busy' })
  const packets: Array<{ kind: string; seqs: number[] }> = []
  bob.socket.on('message', (m) => packets.push({ kind: 'message', seqs: [m.seq] }))
  bob.socket.on('messages', (list) => packets.push({ kind: 'messages', seqs: list.map((m) => m.seq) }))

  const lone = next(bob.socket, 'message')
  await request(alice.socket, 'message:send', { room: 'busy', text: 'alone' })
  t.equal((await lone).seq, 1, 'the first message of a quiet room goes out at once, alone')
  await Promise.all(Array.from({ length: 20 }, (_, i) => request(alice.socket, 'message:send', { room: 'busy', text: `burst ${i}` })))
  await until(() => packets.flatMap((p) => p.seqs).length === 21, 5000, 'all 21 messages')
  t.same(packets.flatMap((p) => p.seqs), Array.from({ length: 21 }, (_, i) => i + 1), 'once each, in seq order')
  t.ok(packets.some((p) => p.kind === 'messages' && p.seqs.length > 1), 'the burst travelled in batches')
  t.ok(packets.length < 21, `fewer packets (${packets.length}) than messages`)
  const metrics = await scrape(url)
  t.equal(metrics.get('chat_messages_delivered_total'), 42, 'deliveries still count one per message per socket')
})

t.test('COALESCE_WINDOW_MS=0 sends every message alone', async (t) => {
  const { url } = await startApp(t, { MESSAGE_RATE_PER_SEC: '0', COALESCE_WINDOW_MS: '0' })
  const alice = await guest(t, url, 'Alice')
  await request(alice.socket, 'room:join', { room: 'r' })
  let batches = 0
  let singles = 0
  alice.socket.on('messages', () => batches++)
  alice.socket.on('message', () => singles++)
  await Promise.all(Array.from({ length: 20 }, (_, i) => request(alice.socket, 'message:send', { room: 'r', text: `${i}` })))
  await until(() => singles === 20, 5000, 'twenty single messages')
  t.equal(batches, 0)
})
