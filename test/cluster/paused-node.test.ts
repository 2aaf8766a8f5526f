// A node paused (SIGSTOP) under traffic for longer than Redis buffers its feed for it: Redis
// cuts its subscription, and once the node goes on it reads what it missed from the log. Its
// members, plain socket.io-clients with no gap filling of their own, get every seq once, in order.
import { Redis } from 'ioredis'
import t from 'tap'
import { freePort, guest, request } from '../helpers.js'
import { startNode, untilReady } from '../processes.js'
import { startRedis } from '../redis-server.js'

/** The most sent during the pause, in rounds, until Redis cut the paused node's feed. */
const MAX_DURING_PAUSE = 4000
/** Each message about 16 KB: what the kernel's socket buffers take (a few MB) fills quickly. */
const TEXT = 'x'.repeat(16_000)

t.test(
  'a node paused past what Redis buffers for its feed still gives its members every seq once, in order',
  async (t) => {
    const redis = await startRedis(t)
    if (redis === undefined) return
    const admin = new Redis(redis.url)
    t.teardown(() => admin.disconnect())
    // A subscriber more than 256 KB behind is cut at once (the default is 32 MB, or 8 MB for 60 s).
    await admin.config('SET', 'client-output-buffer-limit', 'pubsub 262144 131072 1')
    const env = {
      REDIS_URL: redis.url,
      MESSAGE_RATE_PER_SEC: '0',
      LOG_LEVEL: 'warn',
      HISTORY_LIMIT: '5000',
      MAX_MESSAGE_LENGTH: '16000'
    }
    const [a, b] = await Promise.all([startNode(t, await freePort(), env), startNode(t, await freePort(), env)])
    await Promise.all([untilReady(a.url), untilReady(b.url)])

    const writer = await guest(t, a.url, 'Writer')
    await request(writer.socket, 'room:join', { room: 'r' })
    const members = await Promise.all(['M1', 'M2'].map((name) => guest(t, b.url, name)))
    const seen = members.map(() => [] as number[])
    members.forEach((m, i) => {
      m.socket.on('message', (message) => seen[i]!.push(message.seq))
      m.socket.on('messages', (list) => seen[i]!.push(...list.map((message) => message.seq)))
    })
    for (const m of members) await request(m.socket, 'room:join', { room: 'r' })
    const feedConnections = async () =>
      String(await admin.client('LIST'))
        .split('\n')
        .filter((line) => line.includes('name=chat-feed') && line.includes('ssub=1'))
        .map((line) => /\bid=(\d+)/.exec(line)?.[1])
    let total = 0
    const send = async () => {
      const answer = await request(writer.socket, 'message:send', { room: 'r', text: TEXT, clientId: `c${total + 1}` })
      t.equal(answer.ok, true)
      total++
    }
    for (let i = 0; i < 5; i++) await send()
    const before = await feedConnections()
    t.equal(before.length, 2, "both nodes' feed connections are subscribed")

    b.proc.kill('SIGSTOP')
    let cut = false
    while (!cut && total < MAX_DURING_PAUSE) {
      for (let i = 0; i < 50; i++) await send()
      cut = (await feedConnections()).length < 2
    }
    t.ok(cut, `Redis cut the paused node's subscription (after ${total} messages)`)
    b.proc.kill('SIGCONT')
    for (let i = 0; i < 5; i++) await send()

    const deadline = Date.now() + 20_000
    while (seen.some((list) => list.length < total) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50))
    const expected = Array.from({ length: total }, (_, i) => i + 1)
    for (const [i, list] of seen.entries()) {
      t.same(list, expected, `member ${i + 1} got every seq once, in order (${list.length} of ${total})`)
    }
    const after = await feedConnections()
    t.equal(after.length, 2, 'and the node subscribed again')
    t.not(after.filter((id) => !before.includes(id)).length, 0, 'on a new connection')
  }
)
