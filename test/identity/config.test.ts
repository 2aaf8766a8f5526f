// JWT_* configuration: a bad value stops the boot with one line naming the variable.
import { generateKeyPairSync } from 'node:crypto'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.js'

const pem = (type: 'rsa' | 'ec' | 'ed25519', options: object = {}) =>
  generateKeyPairSync(type as 'rsa', options as { modulusLength: number }).publicKey.export({
    type: 'spki',
    format: 'pem'
  }) as string
const both = { JWT_ISSUER: 'https://idp.example.com/realms/chat', JWT_AUDIENCE: 'chat-service' }

t.test('a provider is read with its defaults', async (t) => {
  t.equal(loadConfig({}).identityProvider, undefined, 'unset: HS256 only')
  t.match(loadConfig({ JWT_JWKS_URL: 'https://idp.example.com/certs', ...both }).identityProvider, {
    keys: { kind: 'jwks', url: 'https://idp.example.com/certs' },
    ...{ issuer: both.JWT_ISSUER, audience: both.JWT_AUDIENCE },
    nameClaim: undefined,
    rolesClaim: 'roles',
    jwksCooldownMs: 30_000,
    jwksRefreshMs: 3_600_000
  })
  const keys = [
    [pem('rsa', { modulusLength: 2048 }), 'RS256'],
    [pem('ec', { namedCurve: 'P-256' }), 'ES256'],
    [pem('ed25519'), 'EdDSA']
  ]
  for (const [key, algorithm] of keys) {
    t.match(loadConfig({ JWT_PUBLIC_KEY: key as string, ...both }).identityProvider?.keys, { kind: 'pem', algorithm })
  }
  const escaped = String(keys[0]?.[0]).replace(/\n/g, '\\n')
  t.match(
    loadConfig({ JWT_PUBLIC_KEY: escaped, ...both }).identityProvider?.keys,
    { algorithm: 'RS256' },
    '\\n escapes'
  )
  t.ok(loadConfig({ JWT_JWKS_URL: 'http://keycloak:8080/certs', ...both }), 'http:// to a private host')
  t.ok(loadConfig({ JWT_JWKS_URL: 'http://10.1.2.3/certs', ...both }))
})

t.test('bad values name their variable', async (t) => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ JWT_JWKS_URL: 'not a url', ...both }, 'JWT_JWKS_URL'],
    [{ JWT_JWKS_URL: 'http://idp.example.com/certs', ...both }, 'JWT_JWKS_URL'],
    [{ JWT_JWKS_URL: 'ftp://idp/certs', ...both }, 'JWT_JWKS_URL'],
    [{ JWT_JWKS_URL: 'https://idp.example.com/certs', JWT_AUDIENCE: 'x' }, 'JWT_ISSUER'],
    [{ JWT_JWKS_URL: 'https://idp.example.com/certs', JWT_ISSUER: 'x' }, 'JWT_AUDIENCE'],
    [{ JWT_ISSUER: 'x' }, 'JWT_ISSUER'],
    [{ JWT_AUDIENCE: 'x' }, 'JWT_AUDIENCE'],
    [{ JWT_ROLES_CLAIM: 'roles' }, 'JWT_ROLES_CLAIM'],
    [{ JWT_PUBLIC_KEY: 'garbage', ...both }, 'JWT_PUBLIC_KEY'],
    [{ JWT_PUBLIC_KEY: pem('rsa', { modulusLength: 1024 }), ...both }, 'JWT_PUBLIC_KEY'],
    [{ JWT_PUBLIC_KEY: pem('ec', { namedCurve: 'P-384' }), ...both }, 'JWT_PUBLIC_KEY'],
    [
      {
        JWT_PUBLIC_KEY: generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
        ...both
      },
      'JWT_PUBLIC_KEY'
    ],
    [{ JWT_PUBLIC_KEY: pem('ed25519'), JWT_JWKS_URL: 'https://idp.example.com/certs', ...both }, 'JWT_PUBLIC_KEY']
  ]
  for (const [env, variable] of cases) {
    t.throws(() => loadConfig(env), ConfigError, `${JSON.stringify(Object.keys(env))} → ${variable}`)
    try {
      loadConfig(env)
    } catch (err) {
      t.equal((err as ConfigError).variable, variable)
      t.notMatch((err as Error).message, /\n/, 'one line')
      t.notMatch((err as Error).message, /PRIVATE KEY-----\n|MII/, 'no key material in the message')
    }
  }
})
