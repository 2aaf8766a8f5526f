// docs/identity.md's worked example, run as written: its variables and its token's claims are
// read from the page; only the JWKS URL points at the test's server instead of Keycloak's.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { api, client, connect, request, testConfig } from '../helpers.js'
import { provider, signingKey } from './idp.js'

const page = readFileSync(new URL('../../docs/identity.md', import.meta.url), 'utf8')
const example = page.slice(page.indexOf('## Worked example'))
const block = (lang: string) => {
  const fence = '```'
  const match = new RegExp(`${fence}${lang}\\n([\\s\\S]*?)\\n${fence}`).exec(example)
  if (match?.[1] === undefined) throw new Error(`docs/identity.md: no ${lang} block in the worked example`)
  return match[1]
}
const env = Object.fromEntries(
  block('sh')
    .split('\n')
    .map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string])
)
const claims = JSON.parse(block('json')) as Record<string, unknown>

t.test('the worked example of docs/identity.md', async (t) => {
  const idp = await provider(t, { issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE })
  const keys = await Promise.all([signingKey('RS256'), signingKey('ES256'), signingKey('EdDSA')])
  idp.published.push(...keys)
  const config = testConfig({ ...env, JWT_JWKS_URL: idp.jwksUrl })
  t.match(config.identityProvider, { issuer: 'http://keycloak:8080/realms/chat', rolesClaim: 'realm_access.roles' })
  t.ok(testConfig(env).identityProvider, "the page's own URL (http:// to a private host) passes the configuration")
  const app = await buildApp(config, { logger: false })
  t.teardown(() => app.close())
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  for (const key of keys) {
    const token = await idp.token(key, claims)
    const identity = await app.tokens.verify(token)
    t.same(identity.user, { id: '6f1c2a7e-3c1b-4bde-9a55-0d2f0b1e7c44', name: 'alice' }, `${key.alg}: the user`)
    t.same(identity.roles, ['offline_access', 'moderator'], `${key.alg}: the roles`)
    t.equal((await api(url, token, 'GET', '/api/rooms')).status, 200, `${key.alg}: GET /api/rooms`)
    const socket = await connect(client(t, url, token))
    await request(socket, 'room:join', { room: 'lobby' })
    const sent = await request(socket, 'message:send', { room: 'lobby', text: `hello over ${key.alg}` })
    t.same(sent.message.user, identity.user, `${key.alg}: a socket, and messages as alice`)
    socket.disconnect()
  }
  const [rsa] = keys
  if (rsa === undefined) throw new Error('no key')
  const elsewhere = await idp.token(rsa, { ...claims, aud: ['account'] })
  t.equal((await api(url, elsewhere, 'GET', '/api/rooms')).status, 401, 'aud without chat-service: refused')
  const otherRealm = await idp.token(rsa, { ...claims, iss: 'http://keycloak:8080/realms/other' })
  t.equal((await api(url, otherRealm, 'GET', '/api/rooms')).status, 401, 'another realm: refused')
})
