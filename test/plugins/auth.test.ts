import { createHmac } from 'node:crypto'
import { connect as tcpConnect } from 'node:net'
import t, { type Test } from 'tap'
import { WebSocket } from 'ws'
import { captureLogs, client, connect, scrape, signIn, startApp, TEST_SECRET, until } from '../helpers.js'

function b64(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

/** A JWT made by hand, so the test controls every part a forger could. */
function jwt(payload: object, { alg = 'HS256', secret = TEST_SECRET, header = {} as object } = {}): string {
  const head = b64({ alg, typ: 'JWT', ...header })
  const body = b64(payload)
  if (alg === 'none') return `${head}.${body}.`
  const hash = alg === 'HS512' ? 'sha512' : 'sha256'
  const signature = createHmac(hash, secret).update(`${head}.${body}`).digest('base64url')
  return `${head}.${body}.${signature}`
}

const now = () => Math.floor(Date.now() / 1000)
const claims = () => ({ sub: 'u-1', name: 'Mallory', exp: now() + 600 })

const refused: Array<[string, () => unknown]> = [
  ['no token', () => undefined],
  ['an empty token', () => ''],
  ['a number', () => 42],
  ['an object', () => ({ token: 'x' })],
  ['garbage', () => 'not.a.jwt'],
  ['a bad signature', () => jwt(claims(), { secret: 'another-secret-of-at-least-32-bytes!!' })],
  ['alg none', () => jwt(claims(), { alg: 'none' })],
  ['HS512', () => jwt(claims(), { alg: 'HS512' })],
  ['an expired token', () => jwt({ ...claims(), exp: now() - 10 })],
  ['no sub', () => jwt({ name: 'Mallory', exp: now() + 600 })],
  ['no name', () => jwt({ sub: 'u-1', exp: now() + 600 })],
  ['no exp', () => jwt({ sub: 'u-1', name: 'Mallory' })],
  ['a numeric sub', () => jwt({ ...claims(), sub: 7 })],
  ['an empty name', () => jwt({ ...claims(), name: '' })],
  [
    'a tampered payload',
    () => {
      const [head, , sig] = jwt(claims()).split('.')
      return `${head}.${b64({ ...claims(), sub: 'admin' })}.${sig}`
    }
  ]
]

t.test('every kind of bad token is refused with UNAUTHORIZED', async (t) => {
  const { lines, logger } = captureLogs()
  const { url } = await startApp(t, {}, { logger })
  for (const [name, token] of refused) {
    const value = token()
    const err: any = await connect(client(t, url, value)).then(
      () => undefined,
      (e) => e
    )
    t.equal(err?.data?.code, 'UNAUTHORIZED', `${name} is refused`)
    t.type(err?.message, 'string')
    if (typeof value === 'string' && value.length > 10) {
      t.notOk(
        lines.some((l) => JSON.stringify(l).includes(value)),
        `${name}: the token is never logged`
      )
    }
  }
  const refusals = lines.filter((l) => l.event === 'connect_refused')
  t.equal(refusals.length, refused.length, 'each refusal is in the audit trail')
  t.ok(
    refusals.every((l) => l.reason === 'UNAUTHORIZED' && l.remoteAddress),
    'with reason and address'
  )
})

t.test('a hand-made token with the right secret and claims is accepted', async (t) => {
  const { url } = await startApp(t)
  const socket = await connect(client(t, url, jwt(claims())))
  t.ok(socket.connected)
})

t.test('a user may hold MAX_CONNECTIONS_PER_USER connections, and more once one closes', async (t) => {
  const { lines, logger } = captureLogs()
  const { url } = await startApp(t, { MAX_CONNECTIONS_PER_USER: '2' }, { logger })
  const { token, user } = await signIn(url, 'Tabby')
  const first = await connect(client(t, url, token))
  await connect(client(t, url, token))
  const err: any = await connect(client(t, url, token)).catch((e) => e)
  t.equal(err.data?.code, 'TOO_MANY_CONNECTIONS')
  const other = await signIn(url, 'Other')
  t.ok((await connect(client(t, url, other.token))).connected, 'other users are not affected')
  const gone = new Promise((resolve) => first.once('disconnect', resolve))
  first.disconnect()
  await gone
  // The server sees the close a moment after the client; retry until the slot is free.
  let again: any
  for (let i = 0; i < 100 && !again?.connected; i++) {
    again = await connect(client(t, url, token)).catch(() => undefined)
  }
  t.ok(again?.connected, 'a freed slot can be used again')
  const refusal = lines.find((l) => l.event === 'connect_refused' && l.reason === 'TOO_MANY_CONNECTIONS')
  t.match(refusal, { userId: user.id, remoteAddress: String })
})

t.test(
  'one client address may hold MAX_CONNECTIONS_PER_ADDRESS connections on a node, handshakes without a token included',
  async (t) => {
    const { lines, logger } = captureLogs()
    const { url } = await startApp(t, { MAX_CONNECTIONS_PER_ADDRESS: '3', TRUST_PROXY: 'loopback' }, { logger })
    const from = (address: string) => ({ extraHeaders: { 'x-forwarded-for': address } })
    const refusedAtTransport = (err: any) => err instanceof Error && (err as any).data === undefined
    const [ann, bob] = [await signIn(url, 'Ann'), await signIn(url, 'Bob')]
    // Two users and one Engine.IO handshake that never sends a token, all from one address.
    const first = await connect(client(t, url, ann.token, from('198.51.100.1')))
    await connect(client(t, url, bob.token, from('198.51.100.1')))
    const bare = await fetch(`${url}/socket.io/?EIO=4&transport=polling`, {
      headers: { 'x-forwarded-for': '198.51.100.1' }
    })
    t.equal(bare.status, 200, 'a bare handshake is accepted, and counts')
    await bare.arrayBuffer()
    const err = await connect(client(t, url, ann.token, from('198.51.100.1'))).catch((e) => e)
    t.ok(refusedAtTransport(err), 'the fourth is refused before its token is read, so a stock client retries')
    const polling = await fetch(`${url}/socket.io/?EIO=4&transport=polling`, {
      headers: { 'x-forwarded-for': '198.51.100.1' }
    })
    t.equal(polling.status, 403, 'long-polling handshakes too')
    await polling.arrayBuffer()
    t.ok((await connect(client(t, url, ann.token, from('198.51.100.2')))).connected, 'another address is not affected')

    // An IPv6 client counts as its /64: the addresses in it are one client's to pick from.
    for (const address of ['2001:db8:1:2::a', '2001:db8:1:2::b', '2001:db8:1:2:ffff:ffff:ffff:ffff']) {
      await connect(client(t, url, bob.token, from(address)))
    }
    t.ok(
      refusedAtTransport(await connect(client(t, url, ann.token, from('2001:db8:1:2::c'))).catch((e) => e)),
      'a fourth address of the /64 is refused'
    )
    t.ok((await connect(client(t, url, ann.token, from('2001:db8:1:3::a')))).connected, 'the next /64 is not')

    const gone = new Promise((resolve) => first.once('disconnect', resolve))
    first.disconnect()
    await gone
    // The server sees the close a moment after the client; retry until the slot is free.
    let again: any
    for (let i = 0; i < 100 && !again?.connected; i++) {
      again = await connect(client(t, url, ann.token, from('198.51.100.1'))).catch(() => undefined)
    }
    t.ok(again?.connected, 'a closed connection frees its slot')
    const metrics = await scrape(url)
    t.ok(
      (metrics.get('chat_connection_rejections_total{reason="ADDRESS_LIMIT"}') ?? 0) >= 3,
      'refusals are counted as ADDRESS_LIMIT'
    )
    t.match(
      lines.find((l) => l.event === 'connect_refused' && l.reason === 'ADDRESS_LIMIT'),
      { address: '198.51.100.1', remoteAddress: String }
    )
  }
)

t.test('handshakes pipelined in one write cannot get past the address limit', async (t) => {
  const { app, url } = await startApp(t, { MAX_CONNECTIONS_PER_ADDRESS: '3' })
  const { hostname, port } = new URL(url)
  const socket = tcpConnect(Number(port), hostname)
  const handshake = (last: boolean) =>
    `GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: ${hostname}\r\nConnection: ${last ? 'close' : 'keep-alive'}\r\n\r\n`
  socket.end(Array.from({ length: 20 }, (_, i) => handshake(i === 19)).join(''))
  let answers = ''
  socket.setEncoding('utf8')
  for await (const chunk of socket) answers += chunk
  // A body need not end in a newline: the next status line may follow it on the same line.
  const statuses = [...answers.matchAll(/HTTP\/1\.1 (\d{3}) [A-Z]/g)].map((m) => m[1])
  t.equal(statuses.length, 20, 'every request was answered')
  t.equal(statuses.filter((s) => s === '200').length, 3, 'three sessions, the rest refused')
  t.equal((app.io.engine as unknown as { clientsCount: number }).clientsCount, 3)
})

/** A raw WebSocket to Engine.IO, open (its handshake read); what the server sends, as text. */
async function rawSocket(t: Test, url: string): Promise<{ ws: WebSocket; frames: string[]; closed: Promise<void> }> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`)
  t.teardown(() => ws.terminate())
  const frames: string[] = []
  ws.on('message', (data) => frames.push(String(data)))
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()))
  await new Promise((resolve, reject) => ws.once('message', resolve).once('error', reject))
  return { ws, frames, closed }
}

/** Several Socket.IO CONNECT packets in one write. */
function pipelined(ws: WebSocket, packets: string[]): void {
  const raw = (ws as unknown as { _socket: { cork(): void; uncork(): void } })._socket
  raw.cork()
  for (const packet of packets) ws.send(packet)
  raw.uncork()
}

t.test(
  'one Engine.IO connection gets one chat socket: CONNECTs pipelined on it cannot get past the per-user cap',
  async (t) => {
    const { lines, logger } = captureLogs()
    const { app, url } = await startApp(t, { MAX_CONNECTIONS_PER_USER: '2' }, { logger })
    const { token } = await signIn(url, 'Mallory')
    const { ws, frames, closed } = await rawSocket(t, url)
    pipelined(
      ws,
      Array.from({ length: 2 }, () => `40${JSON.stringify({ token })}`)
    )
    await until(() => frames.length >= 3, 5000, 'two answers')
    t.equal(frames.filter((f) => f.startsWith('40{"sid"')).length, 1, 'one socket made')
    t.match(
      frames.find((f) => f.startsWith('44')),
      /TOO_MANY_CONNECTIONS/,
      'the second refused'
    )
    t.equal(app.io.of('/').sockets.size, 1, 'one socket on the server')
    t.equal(ws.readyState, WebSocket.OPEN, 'one refusal does not close the connection')

    // Once the socket is made, Socket.IO itself closes a connection that sends another CONNECT.
    ws.send(`40${JSON.stringify({ token })}`)
    await closed

    // Thirty refused handshakes pipelined on a new connection: all refused, logged up to the
    // third, then the connection is closed.
    const again = await rawSocket(t, url)
    pipelined(
      again.ws,
      Array.from({ length: 30 }, () => `40${JSON.stringify({ token: 'not a token' })}`)
    )
    await again.closed
    t.equal(
      again.frames.filter((f) => f.startsWith('44') && f.includes('UNAUTHORIZED')).length,
      30,
      'every one refused'
    )
    t.equal(
      lines.filter((l) => l.event === 'connect_refused' && l.reason === 'UNAUTHORIZED').length,
      3,
      'three of them logged'
    )
    await until(() => app.io.of('/').sockets.size === 0, 5000, 'the socket gone with its connection')
    // The user still has room for what the cap allows.
    t.ok((await connect(client(t, url, token))).connected, 'a new connection is made')
    t.ok((await connect(client(t, url, token))).connected, 'and a second, the cap')
    t.equal(
      (await connect(client(t, url, token)).catch((e) => e)).data?.code,
      'TOO_MANY_CONNECTIONS',
      'a third is refused'
    )
  }
)

t.test('without a trusted proxy the address limit counts the peer, whatever X-Forwarded-For claims', async (t) => {
  const { url } = await startApp(t, { MAX_CONNECTIONS_PER_ADDRESS: '1' })
  const { token } = await signIn(url, 'Mallory')
  await connect(client(t, url, token, { extraHeaders: { 'x-forwarded-for': '198.51.100.1' } }))
  const err: any = await connect(client(t, url, token, { extraHeaders: { 'x-forwarded-for': '198.51.100.2' } })).catch(
    (e) => e
  )
  t.ok(err instanceof Error && (err as any).data === undefined, 'refused: both come from 127.0.0.1')

  const off = await startApp(t, { MAX_CONNECTIONS_PER_ADDRESS: '0' })
  const sockets = await Promise.all(
    Array.from({ length: 12 }, (_, i) => signIn(off.url, `Many ${i}`).then((s) => connect(client(t, off.url, s.token))))
  )
  t.ok(
    sockets.every((s) => s.connected),
    '0 turns the limit off'
  )
})

t.test('the audit trail logs connects and disconnects with user, address and reason, never the token', async (t) => {
  const { lines, logger } = captureLogs()
  const { url } = await startApp(t, {}, { logger })
  const { token, user } = await signIn(url, 'Audited')
  const socket = await connect(client(t, url, token))
  const id = socket.id
  socket.disconnect()
  const until = Date.now() + 5000
  while (!lines.some((l) => l.event === 'disconnect') && Date.now() < until) await new Promise((r) => setTimeout(r, 5))
  t.match(
    lines.find((l) => l.event === 'connect'),
    { userId: user.id, socketId: id, remoteAddress: String, transport: 'websocket' }
  )
  t.match(
    lines.find((l) => l.event === 'disconnect'),
    { userId: user.id, socketId: id, reason: 'client namespace disconnect' }
  )
  t.notOk(
    lines.some((l) => JSON.stringify(l).includes(token)),
    'the token appears in no log line'
  )
})
