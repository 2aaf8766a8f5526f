import { EventEmitter } from 'node:events'
import type { IncomingMessage } from 'node:http'
import t from 'tap'
import {
  Admission,
  type AdmissionOptions,
  REFUSALS_PER_CONNECTION,
  type RejectionReason
} from '../../src/chat/admission.js'
import { ChatError } from '../../src/errors.js'

const defaults: AdmissionOptions = {
  corsOrigins: undefined,
  trustProxy: false,
  maxConnectionsPerAddress: 2,
  maxConnectionsPerUser: 1
}

function setup(options: Partial<AdmissionOptions> = {}) {
  const rejected: RejectionReason[] = []
  const warnings: Array<Record<string, unknown>> = []
  const users = new Map<string, number>()
  const state = { draining: false }
  const admission = new Admission(
    { ...defaults, ...options },
    {
      log: { info() {}, warn: (details) => warnings.push(details as Record<string, unknown>) },
      onRejected: (reason) => rejected.push(reason),
      draining: () => state.draining,
      async verify(token) {
        if (typeof token !== 'string') throw new ChatError('UNAUTHORIZED', 'No token')
        return { user: { id: token, name: token }, expiresAt: Date.now() + 60_000 }
      },
      hasRoomFor: (userId) => (users.get(userId) ?? 0) < 1
    }
  )
  return { admission, rejected, warnings, users, state }
}

function request(
  headers: Record<string, string> = { host: 'chat.example.com' },
  remoteAddress = '10.0.0.1',
  httpVersion = '1.1'
) {
  return { headers, httpVersion, socket: { remoteAddress } } as unknown as IncomingMessage
}

function allow(admission: Admission, req: IncomingMessage): string | null {
  let answer: string | null | undefined = 'no answer'
  admission.allowRequest(req, (err, success) => (answer = success ? null : (err ?? 'refused')))
  return answer ?? null
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve))

t.test('transport checks: draining, Host, Origin', async (t) => {
  const { admission, rejected, state } = setup({
    corsOrigins: ['https://other.example.com'],
    maxConnectionsPerAddress: 0
  })
  t.equal(allow(admission, request()), null, 'a client without Origin (not a browser) is let through')
  t.equal(
    allow(admission, request({ host: 'chat.example.com', origin: 'https://chat.example.com' })),
    null,
    "the page's own origin"
  )
  t.equal(
    allow(admission, request({ host: 'chat.example.com', origin: 'https://other.example.com' })),
    null,
    'an origin CORS_ORIGINS names'
  )
  t.equal(allow(admission, request({ host: 'chat.example.com', origin: 'https://evil.example' })), 'Origin not allowed')
  t.equal(
    allow(admission, request({ host: 'chat.example.com', origin: 'not a url' })),
    'Origin not allowed',
    'an origin that is no URL'
  )
  const claimed = { host: 'node-1:3000', origin: 'https://chat.example.com', 'x-forwarded-host': 'chat.example.com' }
  t.equal(allow(admission, request(claimed)), 'Origin not allowed', 'X-Forwarded-Host counts only from a trusted proxy')
  const proxied = setup({ trustProxy: ['10.0.0.0/8'], maxConnectionsPerAddress: 0 }).admission
  t.equal(allow(proxied, request(claimed)), null, 'from one, it names the page')
  t.equal(allow(admission, request({})), 'A Host header is required', 'HTTP/1.1 needs Host')
  t.equal(allow(admission, request({}, '10.0.0.1', '1.0')), null, 'HTTP/1.0 does not')
  state.draining = true
  t.equal(allow(admission, request()), 'The server is restarting')
  t.same(
    rejected,
    ['ORIGIN', 'ORIGIN', 'ORIGIN', 'DRAINING'],
    'each refusal counted by reason (no Host is no reason of its own)'
  )
})

t.test('connections per address: counted from the handshake, given back when none is made or it closes', async (t) => {
  const { admission, rejected } = setup()
  const first = request()
  t.equal(allow(admission, first), null)
  t.equal(allow(admission, request({ host: 'x' }, '::ffff:10.0.0.1')), null, 'the same address written as IPv6')
  t.equal(admission.openFrom('10.0.0.1'), 2, 'both counted at once, before any connection is made')
  t.equal(allow(admission, request()), 'Too many connections from your address')
  t.equal(allow(admission, request({ host: 'x' }, '10.0.0.2')), null, 'another address is not affected')
  const conn = Object.assign(new EventEmitter(), { request: first })
  admission.countConnection(conn as never)
  await nextTurn()
  t.equal(
    admission.openFrom('10.0.0.1'),
    1,
    'the handshake whose connection was never made is given back; the made one stays'
  )
  conn.emit('close')
  t.equal(admission.openFrom('10.0.0.1'), 0, 'and is given back on close')
  t.same(rejected, ['ADDRESS_LIMIT'])
  const late = Object.assign(new EventEmitter(), { request: request() })
  admission.countConnection(late as never)
  t.equal(admission.openFrom('10.0.0.1'), 1, 'a connection whose reservation ran out still counts')
  t.equal(allow(setup({ maxConnectionsPerAddress: 0 }).admission, request()), null, '0: no limit')
})

function chatSocket(token: unknown, conn: { closed: number; transport: { name: string }; close(): void }) {
  return {
    id: 'socket-id',
    handshake: { address: '10.0.0.1', auth: { token } },
    request: { headers: { 'x-forwarded-for': 'x'.repeat(300) } },
    conn,
    data: {} as { user?: { id: string } }
  }
}

function engineConnection() {
  return {
    closed: 0,
    transport: { name: 'websocket' },
    close() {
      this.closed++
    }
  }
}

async function authenticateOnce(
  admission: Admission,
  socket: ReturnType<typeof chatSocket>
): Promise<Error | undefined> {
  let result: Error | undefined | 'none' = 'none'
  await admission.authenticate(socket as never, (err) => (result = err))
  if (result === 'none') throw new Error('next was not called')
  return result
}

t.test('the handshake: a token, room under the per-user cap, one chat socket per connection', async (t) => {
  const { admission, rejected, warnings, users } = setup()
  const conn = engineConnection()
  const refused = (await authenticateOnce(admission, chatSocket(undefined, conn))) as Error & { data: { code: string } }
  t.same([refused.message, refused.data], ['No token', { code: 'UNAUTHORIZED' }])
  const alice = chatSocket('alice', conn)
  t.equal(await authenticateOnce(admission, alice), undefined, 'accepted')
  t.same(alice.data.user, { id: 'alice', name: 'alice' })
  const second = (await authenticateOnce(admission, chatSocket('bob', conn))) as Error & { data: { code: string } }
  t.same(second.data, { code: 'TOO_MANY_CONNECTIONS' }, 'a second socket on the same connection')
  admission.released(alice as never)
  t.equal(
    await authenticateOnce(admission, chatSocket('bob', conn)),
    undefined,
    'once the first is gone, the connection may carry another'
  )
  users.set('carol', 1)
  const full = (await authenticateOnce(admission, chatSocket('carol', engineConnection()))) as Error & {
    data: { code: string }
  }
  t.same([full.message, full.data], ['At most 1 connections per user', { code: 'TOO_MANY_CONNECTIONS' }])
  t.same(rejected, ['UNAUTHORIZED', 'TOO_MANY_CONNECTIONS', 'TOO_MANY_CONNECTIONS'])
  t.match(warnings[0], {
    event: 'connect_refused',
    reason: 'UNAUTHORIZED',
    remoteAddress: '10.0.0.1',
    transport: 'websocket'
  })
  t.equal(String(warnings[0]?.forwardedFor).length, 201, 'X-Forwarded-For is cut short in the log')
})

t.test('a connection that keeps being refused is logged three times, then closed', async (t) => {
  const { admission, rejected, warnings } = setup()
  const conn = engineConnection()
  for (let i = 0; i < REFUSALS_PER_CONNECTION + 2; i++) await authenticateOnce(admission, chatSocket(undefined, conn))
  t.equal(rejected.length, REFUSALS_PER_CONNECTION + 2, 'every refusal counted')
  t.equal(warnings.length, REFUSALS_PER_CONNECTION, 'only the first three logged')
  t.equal(conn.closed, 0, 'not closed in the same turn: the refusals go out first')
  await nextTurn()
  t.equal(conn.closed, 1, 'closed once')
})
