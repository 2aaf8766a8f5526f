// A per-connection token bucket: `burst` tokens, refilled at `ratePerSec`.
export class TokenBucket {
  private tokens: number
  private updatedAt: number

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    now: number = Date.now()
  ) {
    this.tokens = burst
    this.updatedAt = now
  }

  /** Takes one token; returns 0 when allowed, otherwise the milliseconds until one is free. */
  take(now: number = Date.now()): number {
    if (this.ratePerSec <= 0) return 0
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) * this.ratePerSec) / 1000)
    this.updatedAt = now
    if (this.tokens >= 1) {
      this.tokens -= 1
      return 0
    }
    return Math.ceil(((1 - this.tokens) * 1000) / this.ratePerSec)
  }
}
