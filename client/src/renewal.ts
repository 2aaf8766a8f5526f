// Keeps a sign-in's token fresh: refreshed before it expires (POST /api/session/refresh), saved
// for the other tabs, which take it rather than refresh themselves (one tab at a time refreshes,
// under a Web Lock where the browser has them), and handed to whoever sends it (the socket's
// auth:refresh, the API calls). No DOM here.
import { endsAt, received, refreshSession, type Session, saveSession, storedSession } from './session.js'

export type Ending = 'refused' | 'revoked'

export interface RenewalHooks {
  /** A new token for this user: the socket is told, the API calls use it. */
  renewed(session: Session): void
  /** The token is no longer good: `revoked` (signed out, or cut by the service), else refused. */
  ended(why: Ending): void
}

/** A failed refresh (no answer, the server busy) is tried again after this, doubled each time. */
const RETRY_MS = 2000
const RETRY_MAX_MS = 60_000
/** The longest a timer is set for (a browser's timers wrap past 24.8 days; a sleeping laptop wakes). */
const TIMER_MAX_MS = 60 * 60_000
const LOCK = 'chat.session-refresh'

export class Renewal {
  private timer: ReturnType<typeof setTimeout> | undefined
  private running: Promise<void> | undefined
  private failures = 0
  /** The server does not refresh this token here (not a guest's, or no refresh route). */
  private refreshable = true
  private closed = false
  private readonly wake = () => this.due()

  constructor(
    private session: Session,
    private readonly hooks: RenewalHooks
  ) {
    // Timers sleep with a laptop and are slowed in background tabs: checked again on waking.
    document.addEventListener('visibilitychange', this.wake)
    window.addEventListener('online', this.wake)
    window.addEventListener('focus', this.wake)
    this.schedule()
  }

  get current(): Session {
    return this.session
  }

  get token(): string {
    return this.session.token
  }

  close(): void {
    this.closed = true
    clearTimeout(this.timer)
    document.removeEventListener('visibilitychange', this.wake)
    window.removeEventListener('online', this.wake)
    window.removeEventListener('focus', this.wake)
  }

  /** A session saved by another tab: taken when it is this user's and lasts longer. */
  adopt(other: Session): boolean {
    if (this.closed || other.user.id !== this.session.user.id || other.token === this.session.token) return false
    if (other.expiresAt <= this.session.expiresAt) return false
    this.use(other)
    return true
  }

  /** Refreshes now (one refresh at a time); resolves when it is done, whatever it came to. */
  renew(): Promise<void> {
    this.running ??= this.locked().finally(() => {
      this.running = undefined
    })
    return this.running
  }

  /**
   * The socket's token `expired` came to its end on the server. Whether this page has a newer
   * one that is still good (refreshed here or by another tab) to connect with instead.
   */
  async rescue(expired: string): Promise<boolean> {
    await this.running
    const stored = storedSession()
    if (stored !== undefined) this.adopt(stored)
    return !this.closed && this.session.token !== expired && endsAt(this.session) > Date.now() + 1000
  }

  private use(session: Session): void {
    this.session = session
    this.failures = 0
    this.schedule()
    this.hooks.renewed(session)
  }

  private schedule(): void {
    clearTimeout(this.timer)
    if (this.closed || !this.refreshable) return
    const at = this.failures === 0 ? (this.session.renewAt ?? endsAt(this.session) - 60_000) : this.retryAt()
    this.timer = setTimeout(() => this.due(), Math.min(Math.max(0, at - Date.now()), TIMER_MAX_MS))
  }

  private retryAt(): number {
    return Date.now() + Math.min(RETRY_MS * 2 ** (this.failures - 1), RETRY_MAX_MS)
  }

  private due(): void {
    if (this.closed || !this.refreshable || this.running !== undefined) return
    const at = this.failures === 0 ? (this.session.renewAt ?? endsAt(this.session) - 60_000) : 0
    if (Date.now() >= at) void this.renew()
    else this.schedule()
  }

  private async locked(): Promise<void> {
    const locks = typeof navigator === 'undefined' ? undefined : navigator.locks
    if (locks === undefined) return this.refresh()
    await locks.request(LOCK, () => this.refresh())
  }

  private async refresh(): Promise<void> {
    if (this.closed) return
    // Another tab may have refreshed while this one waited for the lock.
    const stored = storedSession()
    if (stored !== undefined && this.adopt(stored) && Date.now() < (stored.renewAt ?? 0)) return
    const token = this.session.token
    const outcome = await refreshSession(token)
    if (this.closed || this.session.token !== token) return
    if (outcome.ok) {
      const fresh = received(outcome.body)
      saveSession(fresh)
      this.use(fresh)
      return
    }
    if (outcome.status === 401) {
      this.hooks.ended(outcome.code === 'TOKEN_REVOKED' ? 'revoked' : 'refused')
      return
    }
    if (outcome.status === 403 || outcome.status === 404) {
      // Not refreshed here: the token lasts until its expiry, and then a sign-in is asked.
      this.refreshable = false
      return
    }
    // No answer, or the server busy: again soon, while the token lasts.
    this.failures++
    if (this.retryAt() < endsAt(this.session)) this.schedule()
  }
}
