// Guest sign-in: pick a name, get an access token.
import { randomUUID } from 'node:crypto'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import Type from 'typebox'
import { checkName, posesAsStaff } from '../chat/names.js'
import { addressKey } from '../client-address.js'
import type { Config } from '../config.js'
import { ChatError } from '../errors.js'
import { bearer, requireUser } from '../plugins/auth.js'
import { ErrorResponse } from './schemas.js'

const SessionBody = Type.Object({ name: Type.String({ maxLength: 256 }) }, { additionalProperties: false })
const SessionReply = Type.Object({
  token: Type.String(),
  user: Type.Object({ id: Type.String(), name: Type.String(), guest: Type.Optional(Type.Literal(true)) }),
  expiresAt: Type.Integer()
})

/** The name rule (chat/names.ts), and no guest passes for staff or the service itself. */
export function guestName(raw: string): string {
  const checked = checkName(raw)
  if ('refused' in checked) throw new ChatError('INVALID_PAYLOAD', checked.refused)
  if (posesAsStaff(checked.name))
    throw new ChatError('INVALID_PAYLOAD', 'That name is kept for the service and its staff')
  return checked.name
}

export interface SessionRouteOptions {
  config: Pick<Config, 'guestSessions' | 'sessionRatePerMin'>
  /** In cluster mode, where the sign-in count is kept, so that it holds across nodes. */
  redis?: Redis
}

export default async function sessionRoutes(fastify: FastifyInstance, options: SessionRouteOptions) {
  // Guest identities cost nothing to make, and each may hold connections: a limit per client
  // address (TRUST_PROXY says which address that is behind a load balancer), counted in Redis
  // in a cluster. Sign-in needs nothing else from Redis, so while it is away nobody is refused.
  await fastify.register(rateLimit, {
    global: false,
    redis: options.redis,
    nameSpace: 'chat:ratelimit:session:',
    skipOnError: true,
    keyGenerator: (request) => addressKey(request.ip),
    errorResponseBuilder: (_request, context) =>
      new ChatError(
        'RATE_LIMITED',
        `Too many sign-ins from your address; try again in ${Math.ceil(context.ttl / 1000)} s`,
        context.ttl
      )
  })
  fastify.post<{ Body: { name: string } }>(
    '/api/session',
    {
      schema: { body: SessionBody, response: { 201: SessionReply, '4xx': ErrorResponse } },
      config:
        options.config.sessionRatePerMin > 0
          ? { rateLimit: { max: options.config.sessionRatePerMin, timeWindow: 60_000 } }
          : {}
    },
    async function createSession(request, reply) {
      if (!options.config.guestSessions) throw new ChatError('NOT_FOUND', 'Guest sessions are turned off')
      const user = { id: randomUUID(), name: guestName(request.body.name), guest: true as const }
      const { token, expiresAt } = fastify.tokens.issue(user)
      request.log.info(
        { event: 'sign_in', userId: user.id, name: user.name, guest: true, address: request.ip },
        'signed in'
      )
      return reply.code(201).send({ token, user, expiresAt })
    }
  )

  // A guest's token, still good, for a new one for the same user: the web client refreshes before
  // expiry. Identities from the operator's provider are refreshed there, not here.
  fastify.post(
    '/api/session/refresh',
    {
      preHandler: requireUser,
      schema: { response: { 201: SessionReply, '4xx': ErrorResponse, '5xx': ErrorResponse } }
    },
    async function refreshSession(request, reply) {
      const identity = request.identity
      if (identity === null) throw new ChatError('UNAUTHORIZED')
      if (identity.user.guest !== true) {
        throw new ChatError('FORBIDDEN', 'Only guest sessions are refreshed here: your sign-in refreshes yours')
      }
      const { token, expiresAt } = fastify.tokens.issue(identity.user)
      return reply.code(201).send({ token, user: identity.user, expiresAt })
    }
  )

  // Signing out for real: this token is refused from now on, on every node, and the sockets that
  // used it are disconnected (TOKEN_REVOKED).
  fastify.delete(
    '/api/session',
    { preHandler: requireUser, schema: { response: { 204: Type.Null(), '4xx': ErrorResponse, '5xx': ErrorResponse } } },
    async function signOut(request, reply) {
      const identity = request.identity
      if (identity === null) throw new ChatError('UNAUTHORIZED')
      await fastify.lifetimes.revokeToken(identity, bearer(request) as string)
      // A guest is one sign-in: every token of it (one refreshed before, a stolen copy refreshed
      // since) ends with it.
      if (identity.user.guest === true) await fastify.lifetimes.revokeUser(identity.user.id)
      request.log.info({ event: 'token_revoked', userId: identity.user.id }, 'signed out: token revoked')
      return reply.code(204).send()
    }
  )
}
