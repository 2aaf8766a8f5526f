// The cluster's revocations: two hashes every node reads (token key → when it would have
// expired; user id → tokens issued before this are refused), pruned as they read.

import { USER_REVOCATION_KEPT_MS } from './memory-revocations.js'
import type { RevocationList } from './parts.js'
import type { RedisCalls } from './redis-calls.js'

export const REVOCATION_KEY = {
  tokens: 'chat:revoked:tokens',
  users: 'chat:revoked:users'
}

const MAY_HAVE_RUN = 'The revocation may not have been recorded; retry'

export class RedisRevocations implements RevocationList {
  constructor(private readonly calls: RedisCalls) {}

  private get redis() {
    return this.calls.redis
  }

  revokeToken(key: string, expiresAt: number): Promise<void> {
    return this.calls.call(
      'revokeToken',
      async () => {
        await this.redis.hset(REVOCATION_KEY.tokens, key, expiresAt)
      },
      MAY_HAVE_RUN
    )
  }

  revokeUser(userId: string, before: number): Promise<void> {
    return this.calls.call(
      'revokeUser',
      async () => {
        const kept = Number((await this.redis.hget(REVOCATION_KEY.users, userId)) ?? 0)
        if (kept < before) await this.redis.hset(REVOCATION_KEY.users, userId, before)
      },
      MAY_HAVE_RUN
    )
  }

  all(now: number) {
    return this.calls.call('revocations', async () => {
      const [tokens, users] = await Promise.all([
        this.redis.hgetall(REVOCATION_KEY.tokens),
        this.redis.hgetall(REVOCATION_KEY.users)
      ])
      const live = Object.entries(tokens)
        .map(([key, at]) => ({ key, expiresAt: Number(at) }))
        .filter((t) => t.expiresAt > now)
      const gone = Object.keys(tokens).filter((key) => Number(tokens[key]) <= now)
      if (gone.length > 0) await this.redis.hdel(REVOCATION_KEY.tokens, ...gone)
      const kept = Object.entries(users)
        .map(([userId, before]) => ({ userId, before: Number(before) }))
        .filter((u) => u.before + USER_REVOCATION_KEPT_MS > now)
      return { tokens: live, users: kept }
    })
  }
}
