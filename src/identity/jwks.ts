// The identity provider's signing keys, from its JWKS: jose's remote key set, fetched again for a
// `kid` it does not know (at most once per cooldown since the last attempt, failed ones included)
// and once its keys are older than the refresh age; the keys it has stay in use while the
// endpoint is down. Keys belong to one issuer: a token naming another never reaches them
// (CVE-2025-59936, GHSA-g6vg-wj8f-48cj: keys cached by `kid` alone verified another issuer's tokens).
import { createRemoteJWKSet, customFetch, type FetchImplementation, type JWTVerifyGetKey } from 'jose'

export interface JwksOptions {
  url: string
  cooldownMs: number
  refreshMs: number
  /** How long one fetch may take. */
  timeoutMs?: number
  /** A fetch failed (the endpoint down or not answering 200): the keys in hand stay in use. */
  onFetchFailed?(error: unknown): void
}

/** Thrown instead of fetching while the last attempt is younger than the cooldown. */
class CoolingDown extends Error {}

/** No key for the token: its `kid` is unknown (and could not be fetched now), or no keys were ever fetched. */
export class NoKey extends Error {
  constructor(readonly reason: 'unknown_kid' | 'keys_unavailable') {
    super(reason === 'unknown_kid' ? 'No key with that kid' : 'The JWKS could not be fetched')
    this.name = 'NoKey'
  }
}

/**
 * jose's key lookup for tokens whose `iss` the caller has checked is this key set's; rejects
 * NoKey when the JWKS has no key for the token.
 */
export function jwksKeys(options: JwksOptions): JWTVerifyGetKey {
  let attemptedAt = Number.NEGATIVE_INFINITY
  let fetchedAt = Number.NEGATIVE_INFINITY
  // jose counts its cooldown from the last success, so while the endpoint is down each unknown
  // `kid` would be one more request to it; attempts are counted here instead.
  const throttled: FetchImplementation = async (url, init) => {
    const now = Date.now()
    if (now - attemptedAt < options.cooldownMs) throw new CoolingDown()
    attemptedAt = now
    const response = await fetch(url, init).catch((err: unknown) => {
      options.onFetchFailed?.(err)
      throw err
    })
    if (response.status === 200) fetchedAt = now
    else options.onFetchFailed?.(new Error(`the JWKS endpoint answered ${response.status}`))
    return response
  }
  const remote = createRemoteJWKSet(new URL(options.url), {
    cooldownDuration: options.cooldownMs,
    // Never dropped for age (jose would then refuse every token while the endpoint is down);
    // refreshed below instead.
    cacheMaxAge: Number.POSITIVE_INFINITY,
    timeoutDuration: options.timeoutMs ?? 5000,
    [customFetch]: throttled
  })
  return async function getKey(header, token) {
    const now = Date.now()
    if (
      remote.jwks() !== undefined &&
      now - fetchedAt >= options.refreshMs &&
      now - attemptedAt >= options.cooldownMs
    ) {
      // A failed refresh leaves the keys in hand; a key the provider dropped goes with a good one.
      await remote.reload().catch(() => {})
    }
    try {
      return await remote(header, token)
    } catch (err) {
      const code = (err as { code?: unknown }).code
      // Several keys fit a token without a `kid`: which one signed it is not guessed.
      if (code === 'ERR_JWKS_NO_MATCHING_KEY' || code === 'ERR_JWKS_MULTIPLE_MATCHING_KEYS')
        throw new NoKey('unknown_kid')
      // The fetch for it failed or was not due yet.
      throw new NoKey(remote.jwks() === undefined ? 'keys_unavailable' : 'unknown_kid')
    }
  }
}
