// A small identity provider for tests: real key pairs made with jose, a JWKS served over real HTTP
// on a free port (counting its fetches, stoppable), and tokens signed as a provider would.
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, exportSPKI, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose'
import type { Teardown } from '../helpers.js'

export type Algorithm = 'RS256' | 'ES256' | 'EdDSA'

export interface SigningKey {
  kid: string
  alg: Algorithm
  privateKey: CryptoKey
  publicJwk: JWK
  publicPem: string
}

export async function signingKey(alg: Algorithm, kid = `${alg.toLowerCase()}-1`): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }
  return { kid, alg, privateKey, publicJwk, publicPem: await exportSPKI(publicKey) }
}

export interface Provider {
  issuer: string
  audience: string
  /** Where the JWKS is served (`http://127.0.0.1:port/certs`). */
  jwksUrl: string
  /** The keys the JWKS lists; add to it to rotate one in. */
  published: SigningKey[]
  /** How many times the JWKS was fetched. */
  fetches(): number
  /** Stops answering (the port refuses connections). */
  stop(): Promise<void>
  /** A token signed with `key`: `sub`, `name`, `iss`, `aud`, `iat` and `exp` an hour on, then `claims`. */
  token(key: SigningKey, claims?: JWTPayload, header?: Record<string, unknown>): Promise<string>
}

export async function provider(
  t: Teardown,
  { issuer = 'https://idp.example.com/realms/chat', audience = 'chat-service' } = {}
): Promise<Provider> {
  const published: SigningKey[] = []
  let fetched = 0
  const server: Server = createServer((req, res) => {
    if (req.url !== '/certs') {
      res.writeHead(404).end()
      return
    }
    fetched++
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ keys: published.map((key) => key.publicJwk) }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
  t.teardown(stop)
  const { port } = server.address() as AddressInfo
  return {
    issuer,
    audience,
    jwksUrl: `http://127.0.0.1:${port}/certs`,
    published,
    fetches: () => fetched,
    stop,
    async token(key, claims = {}, header = {}) {
      const now = Math.floor(Date.now() / 1000)
      return new SignJWT({
        sub: 'kc-user-1',
        name: 'Alice Example',
        iss: issuer,
        aud: audience,
        iat: now,
        exp: now + 3600,
        ...claims
      })
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header })
        .sign(key.privateKey)
    }
  }
}
