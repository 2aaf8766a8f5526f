// Access tokens: HS256 JWTs with `sub`, `name` and `exp`. Guests get them from POST /api/session;
// an operator's identity provider may mint them with the same secret.
import { createSigner, createVerifier } from 'fast-jwt'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Member } from '../chat/protocol.js'
import type { Config } from '../config.js'
import { ChatError } from '../errors.js'

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
}

export interface Tokens {
  issue(user: Member): IssuedToken
  /** Who a token stands for; rejects UNAUTHORIZED for any token that is not valid. */
  verify(token: unknown): Promise<Identity>
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
  config: Pick<Config, 'jwtSecret' | 'tokenTtlSeconds'>
}

const MAX_CLAIM_LENGTH = 256

function claim(payload: Record<string, unknown>, name: string): string {
  const value = payload[name]
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_CLAIM_LENGTH) {
    throw new ChatError('UNAUTHORIZED', `The token's ${name} claim is invalid`)
  }
  return value
}

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
      key: config.jwtSecret,
      algorithms: ['HS256'],
      requiredClaims: ['sub', 'name', 'exp']
    })

    const tokens: Tokens = {
      issue(user) {
        const token = sign({ sub: user.id, name: user.name })
        const { exp } = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { exp: number }
        return { token, expiresAt: exp * 1000 }
      },
      async verify(token) {
        if (typeof token !== 'string' || token.length === 0 || token.length > 4096) {
          throw new ChatError('UNAUTHORIZED', 'An access token is required')
        }
        let payload: Record<string, unknown>
        try {
          payload = check(token) as Record<string, unknown>
        } catch (err) {
          const reason = (err as { code?: string }).code === 'FAST_JWT_EXPIRED' ? 'has expired' : 'is not valid'
          throw new ChatError('UNAUTHORIZED', `The access token ${reason}`)
        }
        const identity: Identity = {
          user: { id: claim(payload, 'sub'), name: claim(payload, 'name') },
          expiresAt: (payload.exp as number) * 1000
        }
        if (typeof payload.iat === 'number') identity.issuedAt = payload.iat * 1000
        if (typeof payload.jti === 'string') identity.tokenId = payload.jti
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
  const identity = await this.tokens.verify(raw)
  // A revoked token (signed out, its user revoked) is refused like a bad one.
  this.lifetimes.require(identity, raw as string)
  request.identity = identity
  request.user = identity.user
}
