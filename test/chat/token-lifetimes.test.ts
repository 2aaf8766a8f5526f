// Tokens keep counting on live sockets: cut at exp with TOKEN_EXPIRED unless refreshed; signing
// out revokes the token on every node and cuts the sockets that used it (TOKEN_REVOKED).
import { createSigner } from 'fast-jwt'
import t from 'tap'
import {
  api,
  type ClientSocket,
  client,
  connect,
  guest,
  request,
  startApp,
  TEST_SECRET,
  untilReady
} from '../helpers.js'
import { startRedis } from '../redis-server.js'

function tokenFor(sub: string, name: string, ttlMs: number, extra: Record<string, unknown> = {}): string {
  return createSigner({ key: TEST_SECRET, algorithm: 'HS256', expiresIn: ttlMs })({ sub, name, ...extra })
}

/** The code a handshake is refused with (undefined when it connects). */
async function refusal(socket: ClientSocket): Promise<string | undefined> {
  try {
    await connect(socket)
    return undefined
  } catch (err) {
    return (err as { data?: { code?: string } }).data?.code
  }
}

/** Resolves with the `chat:error` of event `auth` and the disconnect reason that follows it. */
function cutOff(socket: ClientSocket): Promise<{ code: string; reason: string }> {
  return new Promise((resolve) => {
    let code = ''
    socket.on('chat:error', (e) => {
      if (e.event === 'auth') code = e.code
    })
    socket.once('disconnect', (reason) => resolve({ code, reason }))
  })
}

t.test('a socket is cut with TOKEN_EXPIRED at its token’s exp, and refused when it comes back', async (t) => {
  const { url } = await startApp(t)
  const token = tokenFor('short-lived', 'Shorty', 2000)
  const socket = await connect(client(t, url, token))
  await request(socket, 'room:join', { room: 'lobby' })
  const started = Date.now()
  const cut = await cutOff(socket)
  t.same(cut, { code: 'TOKEN_EXPIRED', reason: 'io server disconnect' }, 'told, then disconnected by the server')
  t.ok(Date.now() - started < 6000, 'within a few seconds of exp')
  t.equal(await refusal(client(t, url, token)), 'UNAUTHORIZED', 'the expired token is refused')
})

t.test('auth:refresh: a fresh token for the same user keeps the socket; another user’s is refused', async (t) => {
  const { url } = await startApp(t)
  const socket = await connect(client(t, url, tokenFor('refresher', 'Ref', 2000)))
  await request(socket, 'room:join', { room: 'lobby' })
  const other = await request(socket, 'auth:refresh', { token: tokenFor('someone-else', 'Else', 60_000) })
  t.equal(other.error?.code, 'UNAUTHORIZED', 'a token for another user is refused')
  t.equal((await request(socket, 'auth:refresh', { token: 'nonsense' })).error?.code, 'UNAUTHORIZED')
  const fresh = tokenFor('refresher', 'Ref', 60_000)
  const refreshed = await request(socket, 'auth:refresh', { token: fresh })
  t.equal(refreshed.ok, true)
  t.ok(refreshed.expiresAt > Date.now() + 50_000, 'answered with the new expiry')
  const errors: unknown[] = []
  socket.on('chat:error', (e) => errors.push(e))
  await new Promise((resolve) => setTimeout(resolve, 3500))
  t.equal(socket.connected, true, 'still connected past the first token’s exp')
  t.same(errors, [])
  t.equal((await request(socket, 'message:send', { room: 'lobby', text: 'still here' })).ok, true)
})

t.test(
  'signing out revokes the token: refused from now on, its sockets cut; a guest’s other tokens end too, not another user’s',
  async (t) => {
    const { url } = await startApp(t)
    // Someone signed in by the operator's provider (here an own token without the guest mark).
    const session = tokenFor('pat', 'Pat', 60_000, { jti: 'pat-laptop' })
    const laptop = await connect(client(t, url, session))
    const sameToken = await connect(client(t, url, session))
    const otherToken = tokenFor('pat', 'Pat', 60_000, { jti: 'pat-phone' })
    const phone = await connect(client(t, url, otherToken))
    const cuts = [cutOff(laptop), cutOff(sameToken)]
    t.equal((await api(url, session, 'DELETE', '/api/session')).status, 204)
    t.same(await Promise.all(cuts), [
      { code: 'TOKEN_REVOKED', reason: 'io server disconnect' },
      { code: 'TOKEN_REVOKED', reason: 'io server disconnect' }
    ])
    t.equal((await api(url, session, 'GET', '/api/me/rooms')).status, 401, 'the token is refused over HTTP')
    t.equal(await refusal(client(t, url, session)), 'UNAUTHORIZED', 'and by sockets')
    t.equal(phone.connected, true, 'a socket of another token of the user stays')
    t.equal((await api(url, otherToken, 'GET', '/api/me/rooms')).status, 200, 'and that token works')
    t.equal((await api(url, session, 'DELETE', '/api/session')).status, 401, 'signing out twice: already refused')
    const refresh = await request(phone, 'auth:refresh', { token: session })
    t.equal(refresh.error?.code, 'UNAUTHORIZED', 'a revoked token cannot be refreshed onto a socket')

    const alice = await guest(t, url, 'Alice')
    const older = (await api(url, alice.token, 'POST', '/api/session/refresh')).body.token as string
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const current = (await api(url, alice.token, 'POST', '/api/session/refresh')).body.token as string
    const guestCut = cutOff(alice.socket)
    t.equal((await api(url, current, 'DELETE', '/api/session')).status, 204, 'a guest signs out')
    t.equal((await guestCut).code, 'TOKEN_REVOKED', 'the socket of the first token is cut too')
    for (const token of [alice.token, older, current]) {
      t.equal((await api(url, token, 'GET', '/api/me/rooms')).status, 401, 'every token of the guest ends')
    }
    t.equal(phone.connected, true, 'nobody else is cut')
  }
)

t.test(
  'across two nodes on Redis: a revocation cuts the sockets on both and holds on a node started later',
  async (t) => {
    const redis = await startRedis(t)
    if (redis === undefined) return
    const env = { REDIS_URL: redis.url }
    const [a, b] = [await startApp(t, env), await startApp(t, env)]
    const alice = await guest(t, a.url, 'Alice')
    const onB = await connect(client(t, b.url, alice.token))
    const cuts = [cutOff(alice.socket), cutOff(onB)]
    const bob = await guest(t, b.url, 'Bob')
    t.equal((await api(a.url, alice.token, 'DELETE', '/api/session')).status, 204)
    t.same(
      (await Promise.all(cuts)).map((c) => c.code),
      ['TOKEN_REVOKED', 'TOKEN_REVOKED'],
      'cut on both nodes'
    )
    t.equal((await api(b.url, alice.token, 'GET', '/api/me/rooms')).status, 401, 'refused on the other node')
    t.equal(await refusal(client(t, b.url, alice.token)), 'UNAUTHORIZED')
    const c = await startApp(t, env)
    await untilReady(c.url)
    t.equal((await api(c.url, alice.token, 'GET', '/api/me/rooms')).status, 401, 'and on a node started after')
    t.equal(bob.socket.connected, true, 'nobody else is cut')
  }
)

t.test(
  'POST /api/session/refresh: a guest’s good token for a new one; other identities refresh elsewhere',
  async (t) => {
    const { url } = await startApp(t)
    const alice = await guest(t, url, 'Alice')
    const refreshed = await api(url, alice.token, 'POST', '/api/session/refresh')
    t.equal(refreshed.status, 201)
    t.match(refreshed.body, {
      token: String,
      user: { id: alice.user.id, name: 'Alice', guest: true },
      expiresAt: Number
    })
    t.not(refreshed.body.token, alice.token, 'a new token')
    t.equal(
      (await request(alice.socket, 'auth:refresh', { token: refreshed.body.token })).ok,
      true,
      'for the socket too'
    )
    t.equal((await api(url, refreshed.body.token, 'GET', '/api/me/rooms')).status, 200)
    const provider = tokenFor('staff-2', 'Staff', 60_000)
    t.equal((await api(url, provider, 'POST', '/api/session/refresh')).status, 403, 'not a guest: refused')
    t.equal((await api(url, 'nonsense', 'POST', '/api/session/refresh')).status, 401)
    t.equal((await api(url, alice.token, 'DELETE', '/api/session')).status, 204)
    t.equal(
      (await api(url, alice.token, 'POST', '/api/session/refresh')).status,
      401,
      'a revoked token refreshes nothing'
    )
  }
)
