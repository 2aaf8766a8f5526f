// Error codes and what they mean over HTTP, in one table. Clients and logs get the code and a
// message meant for them; never a stack or an internal message.
import { STATUS_CODES } from 'node:http'
import { ErrorCode } from './chat/protocol.js'

export { ErrorCode }

export const HttpErrorCode = {
  ...ErrorCode,
  REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  HEADERS_TOO_LARGE: 'HEADERS_TOO_LARGE'
} as const
export type HttpErrorCode = (typeof HttpErrorCode)[keyof typeof HttpErrorCode]

export const errorTable: Record<HttpErrorCode, { status: number; message: string }> = {
  INVALID_PAYLOAD: { status: 400, message: 'The request is invalid' },
  UNAUTHORIZED: { status: 401, message: 'A valid access token is required' },
  NOT_IN_ROOM: { status: 403, message: 'Join the room first' },
  NOT_FOUND: { status: 404, message: 'Not found' },
  TOKEN_EXPIRED: { status: 401, message: 'The access token has expired' },
  TOKEN_REVOKED: { status: 401, message: 'The access token was revoked' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request took too long to arrive' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send the body as application/json' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large' },
  RATE_LIMITED: { status: 429, message: 'Too many messages; slow down' },
  TOO_MANY_CONNECTIONS: { status: 429, message: 'Too many connections for this user' },
  UNKNOWN_EVENT: { status: 400, message: 'No such event' },
  FORBIDDEN: { status: 403, message: 'Not allowed' },
  CONFLICT: { status: 409, message: 'That conflicts with what exists' },
  INTERNAL: { status: 500, message: 'Internal server error' },
  UNAVAILABLE: { status: 503, message: 'The service is unavailable; nothing was stored, retry later' }
}

/** An expected failure with a stable code, safe to show to the client as it is. */
export class ChatError extends Error {
  readonly statusCode: number
  constructor(
    readonly code: HttpErrorCode,
    message: string = errorTable[code].message,
    readonly retryAfterMs?: number
  ) {
    super(message)
    this.name = 'ChatError'
    this.statusCode = errorTable[code].status
  }
}

/** The body of every HTTP error: `{ statusCode, code, error, message }`. */
export function errorReply(statusCode: number, code: string, message: string) {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message }
}
