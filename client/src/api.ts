// The service's HTTP API as the signed-in user: one function that says how a call went, so that
// callers choose the words (errors are `{ statusCode, code, error, message }`).
import type { ErrorCode } from '../../src/chat/protocol.js'

export type ApiOutcome<T> =
  | { ok: true; status: number; body: T }
  /** Refused (a status and the server's code), or no answer at all (status 0, UNAVAILABLE). */
  | { ok: false; status: number; code: ErrorCode | 'NOT_FOUND' | string; message: string }

/** How long a call may take: a stalled server must not hold a room list or a menu forever. */
const TIMEOUT_MS = 10_000

export async function api<T = unknown>(
  token: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown
): Promise<ApiOutcome<T>> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` }
  if (body !== undefined) headers['content-type'] = 'application/json'
  let res: Response
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS)
    })
  } catch {
    return { ok: false, status: 0, code: 'UNAVAILABLE', message: 'no answer from the server' }
  }
  const answer = (await res.json().catch(() => undefined)) as Record<string, unknown> | undefined
  if (res.ok) return { ok: true, status: res.status, body: answer as T }
  const code = typeof answer?.code === 'string' ? answer.code : res.status === 404 ? 'NOT_FOUND' : `HTTP_${res.status}`
  const message = typeof answer?.message === 'string' ? answer.message : res.statusText
  return { ok: false, status: res.status, code, message }
}

/** A path segment: room names and user ids are escaped, whatever they hold. */
export const seg = (value: string) => encodeURIComponent(value)
