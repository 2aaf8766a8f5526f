// Access tokens: the service's own (HS256 JWTs with `sub`, `name` and `exp`; guests get them from
// POST /api/session) and an identity provider's (see identity/verifier.ts and docs/identity.md).
import { randomUUID } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Member } from '../chat/protocol.js'
import type { Config } from '../config.js'
import { ChatError } from '../errors.js'
import { createVerifier, REFUSAL_REASONS, TokenRefused } from '../identity/verifier.js'

export interface IssuedToken {
  token: string
  expiresAt: number
}

/** Who a valid token stands for, and what the token says of itself. */
export interface Identity {
  user: Member
  /** When the token expires (ms since the epoch). */
  expiresAt: number
  /** When it was issued (ms since the epoch), when it says. */
  issuedAt?: number
  /** The token's own id (`jti`), when it has one: what revoking one token names. */
  tokenId?: string
  /** The token's roles (JWT_ROLES_CLAIM of a provider's token, `roles` of the service's own); none when absent. */
  roles?: string[]
}

/** Where a token was shown, for the sign-in audit. */
export interface TokenUse {
  address?: string
}

export interface Tokens {
  issue(user: Member): IssuedToken
  /** Who a token stands for; rejects UNAUTHORIZED for any token that is not valid. */
  verify(token: unknown, use?: TokenUse): Promise<Identity>
}

declare module 'fastify' {
  interface FastifyInstance {
    tokens: Tokens
  }
  interface FastifyRequest {
    user: Member | null
    identity: Identity | null
  }
}

export interface AuthOptions {
  config: Pick<Config, 'jwtSecret' | 'tokenTtlSeconds' | 'identityProvider'>
}

/** Tokens remembered per node so that each one's first use is logged as a sign-in, and only that. */
const SIGN_INS_REMEMBERED = 10_000

/** `Authorization: Bearer <token>` → the token, or undefined. */
export function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header)
  return match?.[1]
}

export default fp(
  async function authPlugin(fastify: FastifyInstance, { config }: AuthOptions) {
    const sign = createSigner({ key: config.jwtSecret, algorithm: 'HS256', expiresIn: config.tokenTtlSeconds * 1000 })
    const check = createVerifier({
      secret: config.jwtSecret,
      provider: config.identityProvider,
      onJwksFetchFailed(err) {
        fastify.log.warn({ event: 'jwks_fetch_failed', err }, 'JWKS fetch failed: the keys in hand stay in use')
      }
    })
    const refusals = () => (fastify.hasDecorator('metrics') ? fastify.metrics.tokenRefusals : undefined)
    fastify.addHook('onReady', async function countRefusalsFromZero() {
      for (const reason of REFUSAL_REASONS) refusals()?.inc({ reason }, 0)
    })
    const seen = new Set<string>()
    /** Whether this is the token's first use on this node; its signature names it (a jti is only the issuer's word). */
    const firstUse = (token: string): boolean => {
      const key = token.slice(token.lastIndexOf('.') + 1)
      if (seen.has(key)) return false
      if (seen.size >= SIGN_INS_REMEMBERED) seen.delete(seen.values().next().value as string)
      seen.add(key)
      return true
    }

    const tokens: Tokens = {
      issue(user) {
        const token = sign({ sub: user.id, name: user.name, ...(user.guest ? { guest: true } : {}), jti: randomUUID() })
        const { exp } = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { exp: number }
        firstUse(token) // its sign-in is the issuing route's to log
        return { token, expiresAt: exp * 1000 }
      },
      async verify(token, use = {}) {
        let identity: Identity
        try {
          identity = await check(token)
        } catch (err) {
          const reason = err instanceof TokenRefused ? err.reason : 'malformed'
          refusals()?.inc({ reason })
          fastify.log.info({ event: 'token_refused', reason, address: use.address }, 'access token refused')
          throw err instanceof ChatError ? err : new ChatError('UNAUTHORIZED', 'The access token is not valid')
        }
        if (firstUse(token as string)) {
          const { user } = identity
          fastify.log.info(
            { event: 'sign_in', userId: user.id, name: user.name, guest: user.guest === true, address: use.address },
            'signed in'
          )
        }
        return identity
      }
    }
    fastify.decorate('tokens', tokens)
    fastify.decorateRequest('user', null)
    fastify.decorateRequest('identity', null)
  },
  { name: 'auth' }
)

/** A preHandler for routes that need a signed-in user. */
export async function requireUser(this: FastifyInstance, request: FastifyRequest): Promise<void> {
  const raw = bearer(request)
  const identity = await this.tokens.verify(raw, { address: request.ip })
  // A revoked token (signed out, its user revoked) is refused like a bad one.
  this.lifetimes.require(identity, raw as string)
  request.identity = identity
  request.user = identity.user
}
