// Single-node revocations: in this process's memory, as long as the tokens they name would live.
import type { RevocationList } from './parts.js'

/** A user revocation is kept this long: longer than any token the service accepts lives. */
export const USER_REVOCATION_KEPT_MS = 30 * 24 * 3600 * 1000

export class MemoryRevocations implements RevocationList {
  private readonly tokens = new Map<string, number>()
  private readonly users = new Map<string, number>()

  async revokeToken(key: string, expiresAt: number): Promise<void> {
    this.prune(Date.now())
    this.tokens.set(key, expiresAt)
  }

  async revokeUser(userId: string, before: number): Promise<void> {
    this.prune(Date.now())
    this.users.set(userId, Math.max(before, this.users.get(userId) ?? 0))
  }

  async all(now: number) {
    this.prune(now)
    return {
      tokens: [...this.tokens].map(([key, expiresAt]) => ({ key, expiresAt })),
      users: [...this.users].map(([userId, before]) => ({ userId, before }))
    }
  }

  private prune(now: number): void {
    for (const [key, expiresAt] of this.tokens) if (expiresAt <= now) this.tokens.delete(key)
    for (const [userId, before] of this.users) if (before + USER_REVOCATION_KEPT_MS <= now) this.users.delete(userId)
  }

  clear(): void {
    this.tokens.clear()
    this.users.clear()
  }
}
