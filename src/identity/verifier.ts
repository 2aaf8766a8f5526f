// Who a token stands for. The service's own tokens (guests, backends) are HS256 with JWT_SECRET;
// an identity provider's are RS256, ES256 or EdDSA, checked with its JWKS or PEM key, and must
// name its issuer and this service's audience. The algorithm picks the key, never the other way
// round: an HS256 token is only ever checked with the secret (so one keyed with a public key is a
// bad signature), and a provider's key only ever checks the algorithms it is for.
import { createPublicKey, type KeyObject } from 'node:crypto'
import { decodeJwt, decodeProtectedHeader, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose'
import { checkName } from '../chat/names.js'
import type { IdentityProviderConfig } from '../config.js'
import { ChatError } from '../errors.js'
import type { Identity } from '../plugins/auth.js'
import { jwksKeys, NoKey } from './jwks.js'

/** Why a token was refused: the `reason` label of chat_token_refusals_total, and in the log. */
export const REFUSAL_REASONS = [
  'missing',
  'malformed',
  'bad_algorithm',
  'bad_signature',
  'expired',
  'not_yet_valid',
  'wrong_issuer',
  'wrong_audience',
  'unknown_kid',
  'keys_unavailable',
  'bad_claims',
  'bad_name'
] as const
export type RefusalReason = (typeof REFUSAL_REASONS)[number]

const MESSAGES: Record<RefusalReason, string> = {
  missing: 'An access token is required',
  malformed: 'The access token is not a JWT',
  bad_algorithm: "The access token's algorithm is not accepted",
  bad_signature: 'The access token is not valid',
  expired: 'The access token has expired',
  not_yet_valid: 'The access token is not valid yet',
  wrong_issuer: 'The access token is from another issuer',
  wrong_audience: 'The access token is for another service',
  unknown_kid: "The access token's signing key is not known",
  keys_unavailable: "The identity provider's keys could not be fetched; try again later",
  bad_claims: "The access token's claims are not valid",
  bad_name: "The access token's name is not a valid display name"
}

/** A refused token: UNAUTHORIZED to the client, with the reason for the count and the log. */
export class TokenRefused extends ChatError {
  constructor(readonly reason: RefusalReason) {
    super('UNAUTHORIZED', MESSAGES[reason])
  }
}

/** How far in the future `nbf` and `iat` may be: clocks drift. */
export const CLOCK_SKEW_S = 60
const MAX_TOKEN_LENGTH = 4096
const MAX_CLAIM_LENGTH = 256
const MAX_ROLES = 100
const PROVIDER_ALGORITHMS = ['RS256', 'ES256', 'EdDSA']

export interface VerifierOptions {
  /** HS256 secret of the service's own tokens. */
  secret: string
  provider: IdentityProviderConfig | undefined
  /** A JWKS fetch failed; the keys in hand stay in use. */
  onJwksFetchFailed?(error: unknown): void
}

/** Where the claims of a kind of token are read. */
interface ClaimNames {
  names: readonly string[]
  roles: string
  /** Whether `guest: true` counts: only the service marks its own guests. */
  guests: boolean
}

const SERVICE_CLAIMS: ClaimNames = { names: ['name'], roles: 'roles', guests: true }

export type Verify = (token: unknown) => Promise<Identity>

export function createVerifier({ secret, provider, onJwksFetchFailed }: VerifierOptions): Verify {
  const secretKey = new TextEncoder().encode(secret)
  const providerKey = provider === undefined ? undefined : providerKeys(provider, onJwksFetchFailed)
  const providerClaims: ClaimNames = {
    names: provider?.nameClaim === undefined ? ['name', 'preferred_username'] : [provider.nameClaim],
    roles: provider?.rolesClaim ?? 'roles',
    guests: false
  }

  return async function verify(token) {
    if (token === undefined || token === null || token === '') throw new TokenRefused('missing')
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) throw new TokenRefused('malformed')
    let alg: unknown
    try {
      alg = decodeProtectedHeader(token).alg
    } catch {
      throw new TokenRefused('malformed')
    }
    if (alg === 'HS256') {
      const payload = await checked(() =>
        jwtVerify(token, secretKey, {
          algorithms: ['HS256'],
          requiredClaims: ['sub', 'exp', 'name'],
          clockTolerance: CLOCK_SKEW_S
        })
      )
      return identityOf(payload, SERVICE_CLAIMS)
    }
    if (provider === undefined || providerKey === undefined || !PROVIDER_ALGORITHMS.includes(String(alg))) {
      throw new TokenRefused('bad_algorithm')
    }
    // Before any key is looked at: the keys in hand are this issuer's and no other's.
    let claimed: JWTPayload
    try {
      claimed = decodeJwt(token)
    } catch {
      throw new TokenRefused('malformed')
    }
    if (claimed.iss !== provider.issuer) throw new TokenRefused('wrong_issuer')
    const payload = await checked(() =>
      jwtVerify(token, providerKey.key, {
        algorithms: providerKey.algorithms,
        issuer: provider.issuer,
        audience: provider.audience,
        requiredClaims: ['sub', 'exp'],
        clockTolerance: CLOCK_SKEW_S
      })
    )
    return identityOf(payload, providerClaims)
  }
}

function providerKeys(
  provider: IdentityProviderConfig,
  onFetchFailed: ((error: unknown) => void) | undefined
): { key: JWTVerifyGetKey | KeyObject; algorithms: string[] } {
  const { keys } = provider
  if (keys.kind === 'pem') return { key: createPublicKey(keys.pem), algorithms: [keys.algorithm] }
  return {
    key: jwksKeys({
      url: keys.url,
      cooldownMs: provider.jwksCooldownMs,
      refreshMs: provider.jwksRefreshMs,
      onFetchFailed
    }),
    algorithms: PROVIDER_ALGORITHMS
  }
}

/** jose's verification, its failures as refusal reasons. */
async function checked(run: () => Promise<{ payload: JWTPayload }>): Promise<JWTPayload> {
  try {
    return (await run()).payload
  } catch (err) {
    throw new TokenRefused(reasonOf(err))
  }
}

function reasonOf(err: unknown): RefusalReason {
  if (err instanceof NoKey) return err.reason
  const { code, claim, reason } = err as { code?: string; claim?: string; reason?: string }
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'expired'
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'bad_signature'
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return 'bad_algorithm'
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (claim === 'iss') return 'wrong_issuer'
      if (claim === 'aud') return 'wrong_audience'
      if ((claim === 'nbf' || claim === 'iat') && reason === 'check_failed') return 'not_yet_valid'
      return 'bad_claims'
    default:
      return 'malformed'
  }
}

/** A claim by its name, or (for names with dots, as Keycloak's `realm_access.roles`) by its path. */
function claimAt(payload: JWTPayload, name: string): unknown {
  if (Object.hasOwn(payload, name)) return payload[name]
  let value: unknown = payload
  for (const part of name.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, part)) return undefined
    value = (value as Record<string, unknown>)[part]
  }
  return value
}

function text(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_CLAIM_LENGTH
}

function identityOf(payload: JWTPayload, claims: ClaimNames): Identity {
  const now = Date.now()
  const { sub, exp, iat, jti } = payload
  if (!text(sub) || typeof exp !== 'number') throw new TokenRefused('bad_claims')
  // jose allowed the skew on every time claim; `exp` gets none.
  if (exp * 1000 <= now) throw new TokenRefused('expired')
  if (typeof iat === 'number' && iat * 1000 > now + CLOCK_SKEW_S * 1000) throw new TokenRefused('not_yet_valid')
  const rawName = claims.names.map((name) => claimAt(payload, name)).find((value) => value !== undefined)
  if (typeof rawName !== 'string') throw new TokenRefused(rawName === undefined ? 'bad_claims' : 'bad_name')
  const checkedName = checkName(rawName)
  if ('refused' in checkedName) throw new TokenRefused('bad_name')
  const identity: Identity = {
    user: { id: sub, name: checkedName.name },
    expiresAt: exp * 1000,
    roles: rolesOf(claimAt(payload, claims.roles))
  }
  if (claims.guests && payload.guest === true) identity.user.guest = true
  if (typeof iat === 'number') identity.issuedAt = iat * 1000
  if (text(jti)) identity.tokenId = jti
  return identity
}

/** An array of strings (one string is taken as one role); absent, none. */
function rolesOf(value: unknown): string[] {
  if (value === undefined) return []
  const roles = typeof value === 'string' ? [value] : value
  if (!Array.isArray(roles) || roles.length > MAX_ROLES || !roles.every(text)) throw new TokenRefused('bad_claims')
  return [...new Set(roles)]
}
