// One way to ask the server something: emit with an acknowledgement and a timeout, and try
// again by a retry policy until answered, refused for good, cancelled or offline.
import type { Socket } from 'socket.io-client'
import type { ClientToServerEvents, ErrorBody, ServerToClientEvents } from '../../src/chat/protocol.js'
import { type Failure, type RetryPolicy, retryDelay } from './retry.js'

export type ChatSocket = Socket<ServerToClientEvents, ClientToServerEvents>

/** How long an acknowledgement may take before the try counts as unanswered. */
export const ACK_TIMEOUT_MS = 10_000

type Asked = 'room:join' | 'room:leave' | 'message:send' | 'room:history' | 'message:delete' | 'auth:refresh'
type PayloadOf<E extends Asked> = Parameters<ClientToServerEvents[E]>[0]
type AnswerOf<E extends Asked> = Parameters<NonNullable<Parameters<ClientToServerEvents[E]>[1]>>[0]
type ResultOf<E extends Asked> = Extract<AnswerOf<E>, { ok: true }>

export type Outcome<T> =
  | { status: 'ok'; answer: T }
  /** Refused, and not worth trying again (or no policy to try again by). */
  | { status: 'refused'; error: ErrorBody }
  /** No answer on a connection still open, and not tried again. */
  | { status: 'unanswered' }
  /** The connection is down; `dropped`: it went while a try waited for its answer. */
  | { status: 'offline'; dropped: boolean }
  /** The signal was aborted, or what was asked for is no longer wanted. */
  | { status: 'cancelled' }

export interface RequestOptions {
  /** Without one, a single try. */
  policy?: RetryPolicy
  /** How long each try waits for its answer (ACK_TIMEOUT_MS unless told). */
  timeoutMs?: number
  /** Aborted when the answer no longer matters (the room was left, the session ended). */
  signal?: AbortSignal
  /** Checked before each try again: false ends the request as cancelled. */
  wanted?: () => boolean
  /** Told of each failure that will be tried again, before the wait. */
  onRetry?: (failure: Failure, waitMs: number) => void
  /** Told when a wait is over, before `wanted` is asked. */
  onResume?: () => void
}

export async function request<E extends Asked>(
  socket: ChatSocket,
  event: E,
  payload: PayloadOf<E>,
  options: RequestOptions = {}
): Promise<Outcome<ResultOf<E>>> {
  const { policy, signal, wanted, onRetry, onResume, timeoutMs = ACK_TIMEOUT_MS } = options
  // A function, not a narrowed property: the signal may be aborted during each await.
  const aborted = () => signal?.aborted === true
  for (let attempt = 0; ; attempt++) {
    if (aborted() || (attempt > 0 && wanted?.() === false)) return { status: 'cancelled' }
    if (!socket.connected) return { status: 'offline', dropped: false }
    const answer = (await (socket.timeout(timeoutMs) as unknown as Emitter)
      .emitWithAck(event, payload)
      .catch(() => undefined)) as Answer | undefined
    if (aborted()) return { status: 'cancelled' }
    if (answer?.ok === true) return { status: 'ok', answer: answer as unknown as ResultOf<E> }
    if (answer === undefined && !socket.connected) return { status: 'offline', dropped: true }
    const failure: Failure = answer === undefined ? { unanswered: true } : { error: answer.error }
    const wait = policy === undefined ? undefined : retryDelay(policy, failure, attempt)
    if (wait === undefined)
      return answer === undefined ? { status: 'unanswered' } : { status: 'refused', error: answer.error }
    onRetry?.(failure, wait)
    if (!(await sleep(wait, signal))) return { status: 'cancelled' }
    onResume?.()
  }
}

type Answer = { ok: true } | { ok: false; error: ErrorBody }

/** The typed emitter does not take a generic event name; the types above say what goes in and out. */
interface Emitter {
  emitWithAck(event: string, payload: unknown): Promise<unknown>
}

/** Resolves true after `ms`, or false as soon as `signal` is aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve(false)
    const done = (ok: boolean) => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', abort)
      resolve(ok)
    }
    const abort = () => done(false)
    const timer = setTimeout(() => done(true), ms)
    signal?.addEventListener('abort', abort)
  })
}
