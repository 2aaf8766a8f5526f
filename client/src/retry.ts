// When a request that failed is tried again: which failures are worth it, and after how long.
// Pure decisions (no timers, no socket), so that they are tested on their own.
import type { ErrorBody, ErrorCode } from '../../src/chat/protocol.js'

/** Why a try failed: the server refused it, or no answer came in time on a connection still open. */
export type Failure = { error: ErrorBody } | { unanswered: true }

export interface RetryPolicy {
  /** Refusals worth trying again as they are (any other is final). */
  retried: readonly ErrorCode[]
  /** After no answer: `backoff` as if the server were away, or `at-once` (a resend is harmless). */
  unanswered: 'backoff' | 'at-once'
  /** The wait after failure number `attempt` (from 0) when the server names none. */
  backoffMs: (attempt: number) => number
  /** Spreads the waits, so that many refused at once do not come back at once. */
  jitter: boolean
}

/** Joins and gap fills: a wait that doubles from 1 s up to 30 s while the store is away. */
export const ROOM_RETRY: RetryPolicy = {
  retried: ['RATE_LIMITED', 'UNAVAILABLE'],
  unanswered: 'backoff',
  backoffMs: (attempt) => Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5)),
  jitter: true
}

/** Sends: in the order written, so no spread; a resend keeps its clientId, so no answer means at once. */
export const SEND_RETRY: RetryPolicy = {
  retried: ['RATE_LIMITED', 'UNAVAILABLE'],
  unanswered: 'at-once',
  backoffMs: () => 2000,
  jitter: false
}

/** A refused connection (too many tabs) is tried again after 5 s. */
export const CONNECT_RETRY: RetryPolicy = {
  retried: ['TOO_MANY_CONNECTIONS'],
  unanswered: 'backoff',
  backoffMs: () => 5000,
  jitter: false
}

/**
 * The wait in ms before trying again after `failure`, or undefined when it is not worth it. A
 * `retryAfterMs` from the server is a floor: the spread only ever adds to it (up to half).
 */
export function retryDelay(
  policy: RetryPolicy,
  failure: Failure,
  attempt: number,
  random: () => number = Math.random
): number | undefined {
  if ('unanswered' in failure) {
    if (policy.unanswered === 'at-once') return 0
    return spread(policy.backoffMs(attempt), policy.jitter, random)
  }
  if (!policy.retried.includes(failure.error.code)) return undefined
  const floor = failure.error.retryAfterMs
  if (floor !== undefined) return policy.jitter ? floor * (1 + random() / 2) : floor
  return spread(policy.backoffMs(attempt), policy.jitter, random)
}

const spread = (ms: number, jitter: boolean, random: () => number) => (jitter ? ms * (0.75 + random() / 2) : ms)
