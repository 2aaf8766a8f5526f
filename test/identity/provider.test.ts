// Tokens from an identity provider: a real JWKS served over HTTP by the test, tokens signed with
// jose, checked as a client meets them (HTTP 401 or a refused socket) and counted by reason.
import { createHmac } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import type { IdentityProviderConfig } from '../../src/config.js'
import { api, captureLogs, client, connect, request, scrape, signIn, testConfig } from '../helpers.js'
import { type Provider, provider, type SigningKey, signingKey } from './idp.js'

interface Started {
  app: FastifyInstance
  url: string
  lines: Array<Record<string, unknown>>
}

async function start(
  t: Test,
  env: Record<string, string>,
  overrides: Partial<IdentityProviderConfig> = {}
): Promise<Started> {
  const config = testConfig(env)
  if (config.identityProvider !== undefined) Object.assign(config.identityProvider, overrides)
  const { lines, logger } = captureLogs()
  const app = await buildApp(config, { logger })
  t.teardown(() => app.close())
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url, lines }
}

function withJwks(idp: Provider): Record<string, string> {
  return { JWT_JWKS_URL: idp.jwksUrl, JWT_ISSUER: idp.issuer, JWT_AUDIENCE: idp.audience }
}

/** GET /api/rooms with the token: what an HTTP client meets. */
async function status(url: string, token: string): Promise<number> {
  return (await api(url, token, 'GET', '/api/rooms')).status
}

async function refusals(url: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (const [key, value] of await scrape(url)) {
    const match = /^chat_token_refusals_total\{reason="(\w+)"\}$/.exec(key)
    if (match?.[1] !== undefined) counts[match[1]] = value
  }
  return counts
}

function b64(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

/** An HS256 token whose HMAC key is `secret`: here, the provider's public key (alg confusion). */
function hs256(payload: object, secret: string, kid: string): string {
  const head = b64({ alg: 'HS256', typ: 'JWT', kid })
  const body = b64(payload)
  return `${head}.${body}.${createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url')}`
}

const now = () => Math.floor(Date.now() / 1000)

t.test('RS256, ES256 and EdDSA tokens from the JWKS open a socket and call HTTP routes', async (t) => {
  const idp = await provider(t)
  const keys = await Promise.all([signingKey('RS256'), signingKey('ES256'), signingKey('EdDSA')])
  idp.published.push(...keys)
  const { app, url, lines } = await start(t, withJwks(idp))
  for (const key of keys) {
    const token = await idp.token(key, { sub: `user-${key.alg}`, name: `Ann ${key.alg}` })
    t.equal(await status(url, token), 200, `${key.alg}: HTTP route answers`)
    const socket = await connect(client(t, url, token))
    const joined = await request(socket, 'room:join', { room: 'lobby' })
    t.ok(joined.ok, `${key.alg}: socket joins`)
    const sent = await request(socket, 'message:send', { room: 'lobby', text: 'hello' })
    t.same(sent.message.user, { id: `user-${key.alg}`, name: `Ann ${key.alg}` }, `${key.alg}: no guest flag`)
    socket.disconnect()
  }
  t.equal(idp.fetches(), 1, 'the JWKS was fetched once for all three')
  const roles = await app.tokens.verify(await idp.token(keys[0] as SigningKey, { roles: ['moderator', 'staff'] }))
  t.same(roles.roles, ['moderator', 'staff'], 'roles are read from the roles claim')
  const signIns = lines.filter((l) => l.event === 'sign_in')
  t.ok(
    signIns.some((l) => l.userId === 'user-RS256' && l.name === 'Ann RS256' && l.address === '127.0.0.1'),
    'a sign-in is logged with user id, name and address'
  )
  t.equal(signIns.filter((l) => l.userId === 'user-RS256').length, 1, 'once per token, not per request')
  const guest = await signIn(url, 'Walk-in')
  t.equal(await status(url, guest.token), 200, "the service's own HS256 tokens still work beside the provider's")
})

t.test('tokens the provider did not mean for this service are refused, each by its reason', async (t) => {
  const idp = await provider(t)
  const rsa = await signingKey('RS256')
  idp.published.push(rsa)
  const stranger = await signingKey('ES256', 'not-published')
  const { url, lines } = await start(t, withJwks(idp))
  t.equal(await status(url, await idp.token(rsa)), 200, 'a good token first (the keys are fetched)')
  const fetched = idp.fetches()
  const cases: Array<[string, string, string]> = [
    ['a wrong iss', await idp.token(rsa, { iss: 'https://evil.example' }), 'wrong_issuer'],
    ['no iss', await idp.token(rsa, { iss: undefined }), 'wrong_issuer'],
    ['a wrong aud', await idp.token(rsa, { aud: 'billing-service' }), 'wrong_audience'],
    ['no aud', await idp.token(rsa, { aud: undefined }), 'wrong_audience'],
    ['an unknown kid', await idp.token(stranger), 'unknown_kid'],
    [
      'HS256 keyed with the RSA public key',
      hs256({ sub: 'x', name: 'X', iss: idp.issuer, aud: idp.audience, exp: now() + 600 }, rsa.publicPem, rsa.kid),
      'bad_signature'
    ],
    [
      'alg none',
      `${b64({ alg: 'none', kid: rsa.kid })}.${b64({ sub: 'x', name: 'X', exp: now() + 600 })}.`,
      'bad_algorithm'
    ],
    ['nbf in 5 minutes', await idp.token(rsa, { nbf: now() + 300 }), 'not_yet_valid'],
    ['iat in 5 minutes', await idp.token(rsa, { iat: now() + 300 }), 'not_yet_valid'],
    ['expired', await idp.token(rsa, { exp: now() - 5 }), 'expired'],
    ['a bidi override in the name', await idp.token(rsa, { name: 'evil\u202Etxt.exe' }), 'bad_name'],
    ['a zero-width space in the name', await idp.token(rsa, { name: 'Al\u200Bice' }), 'bad_name'],
    ['a direction mark in the name', await idp.token(rsa, { name: 'Ann\u200F' }), 'bad_name'],
    ['a newline in the name', await idp.token(rsa, { name: 'two\nlines' }), 'bad_name'],
    ['no name at all', await idp.token(rsa, { name: undefined }), 'bad_claims'],
    ['roles that are not strings', await idp.token(rsa, { roles: [1, 2] }), 'bad_claims'],
    ['a tampered payload', tampered(await idp.token(rsa)), 'bad_signature']
  ]
  for (const [what, token, reason] of cases) {
    t.equal(await status(url, token), 401, `${what}: 401 over HTTP`)
    const err: any = await connect(client(t, url, token)).catch((e) => e)
    t.equal(err?.data?.code, 'UNAUTHORIZED', `${what}: the socket is refused`)
    const counted = await refusals(url)
    t.ok((counted[reason] ?? 0) >= 2, `${what}: counted as ${reason}`)
  }
  t.equal(idp.fetches(), fetched, 'within the cooldown, an unknown kid fetched nothing')
  t.equal(
    await status(url, await idp.token(rsa, { nbf: now() + 30, iat: now() + 30 })),
    200,
    'within 60 s of skew is fine'
  )
  t.equal(
    await status(url, await idp.token(rsa, { name: undefined, preferred_username: 'alice' })),
    200,
    'preferred_username stands in for name'
  )
  const refused = lines.filter((l) => l.event === 'token_refused')
  t.ok(refused.length >= cases.length * 2, 'refusals are logged')
  t.ok(
    refused.every((l) => typeof l.reason === 'string'),
    'with their reason'
  )
  const logged = JSON.stringify(lines)
  t.notOk(
    cases.some(([, token]) => logged.includes(token.split('.')[2] || token)),
    'and never the token'
  )
})

function tampered(token: string): string {
  const [head, body, sig] = token.split('.') as [string, string, string]
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString())
  return `${head}.${b64({ ...claims, sub: 'admin' })}.${sig}`
}

t.test(
  'a key added to the JWKS works without a restart; a token of another issuer never reaches the keys',
  async (t) => {
    const idp = await provider(t)
    const first = await signingKey('RS256', 'k1')
    idp.published.push(first)
    // The cooldown is 30 s in service; here it is none, so a new kid is fetched at once.
    const { url } = await start(t, withJwks(idp), { jwksCooldownMs: 0 })
    t.equal(await status(url, await idp.token(first)), 200)
    const rotated = await signingKey('EdDSA', 'k2')
    t.equal(await status(url, await idp.token(rotated)), 401, 'not published yet')
    idp.published.push(rotated)
    const before = idp.fetches()
    t.equal(await status(url, await idp.token(rotated)), 200, 'published: accepted, no restart')
    t.equal(idp.fetches(), before + 1, 'fetched again for the new kid')
    const evil = await signingKey('RS256', 'k3')
    t.equal(await status(url, await idp.token(evil, { iss: 'https://evil.example' })), 401)
    t.equal(idp.fetches(), before + 1, 'a foreign issuer makes no fetch: its kid is never looked up')
  }
)

t.test('an unknown kid is fetched at most once per cooldown', async (t) => {
  const idp = await provider(t)
  const key = await signingKey('ES256')
  idp.published.push(key)
  const { url } = await start(t, withJwks(idp), { jwksCooldownMs: 60_000 })
  t.equal(await status(url, await idp.token(key)), 200)
  for (let i = 0; i < 5; i++) {
    const unknown = await signingKey('ES256', `unknown-${i}`)
    t.equal(await status(url, await idp.token(unknown)), 401)
  }
  t.equal(idp.fetches(), 1, 'five unknown kids, no fetch within the cooldown')
})

t.test('with the JWKS server stopped, cached keys still verify, even past the refresh age', async (t) => {
  const idp = await provider(t)
  const key = await signingKey('RS256')
  idp.published.push(key)
  const { url, lines } = await start(t, withJwks(idp), { jwksCooldownMs: 0, jwksRefreshMs: 0 })
  t.equal(await status(url, await idp.token(key)), 200, 'keys fetched')
  await idp.stop()
  for (let i = 0; i < 3; i++) {
    t.equal(await status(url, await idp.token(key, { sub: `after-${i}` })), 200, `still verified (${i + 1})`)
  }
  t.ok(
    lines.some((l) => l.event === 'jwks_fetch_failed'),
    'the failed refreshes are logged'
  )
})

t.test('no keys ever fetched: tokens are refused keys_unavailable, and the boot does not fail', async (t) => {
  const idp = await provider(t)
  const key = await signingKey('RS256')
  idp.published.push(key)
  await idp.stop()
  const { url } = await start(t, withJwks(idp))
  t.equal(await status(url, await idp.token(key)), 401)
  t.ok(((await refusals(url)).keys_unavailable ?? 0) >= 1)
})

t.test('JWT_PUBLIC_KEY: a PEM key verifies its own algorithm only', async (t) => {
  const idp = await provider(t)
  const ed = await signingKey('EdDSA')
  const { url } = await start(t, { JWT_PUBLIC_KEY: ed.publicPem, JWT_ISSUER: idp.issuer, JWT_AUDIENCE: idp.audience })
  const token = await idp.token(ed)
  t.equal(await status(url, token), 200, 'EdDSA with the PEM key')
  t.ok((await connect(client(t, url, token))).connected, 'and a socket')
  t.equal(await status(url, await idp.token(await signingKey('RS256'))), 401, 'another algorithm is refused')
  t.equal(await status(url, await idp.token(ed, { aud: 'other' })), 401, 'aud is checked')
  const counted = await refusals(url)
  t.ok((counted.bad_algorithm ?? 0) >= 1 && (counted.wrong_audience ?? 0) >= 1)
})

t.test('names and roles from configured claims (Keycloak: realm_access.roles)', async (t) => {
  const idp = await provider(t)
  const key = await signingKey('RS256')
  idp.published.push(key)
  const { app } = await start(t, {
    ...withJwks(idp),
    JWT_NAME_CLAIM: 'nickname',
    JWT_ROLES_CLAIM: 'realm_access.roles'
  })
  const identity = await app.tokens.verify(
    await idp.token(key, { name: 'Ignored', nickname: 'Zoë', realm_access: { roles: ['moderator'] } })
  )
  t.same(identity.user, { id: 'kc-user-1', name: 'Zoë' })
  t.same(identity.roles, ['moderator'])
  await t.rejects(
    app.tokens.verify(await idp.token(key, { guest: true })),
    { code: 'UNAUTHORIZED' },
    'no nickname: refused'
  )
  const marked = await app.tokens.verify(await idp.token(key, { nickname: 'Bob', guest: true }))
  t.equal(marked.user.guest, undefined, "a provider's token cannot mark itself a guest")
})
