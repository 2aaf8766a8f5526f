// Direct rooms and blocks over HTTP: `POST /api/direct`, `PUT`/`DELETE /api/me/blocks/:userId`.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import Type, { type Static } from 'typebox'
import type { Member } from '../chat/protocol.js'
import { requireUser } from '../plugins/auth.js'
import { ErrorResponse } from './schemas.js'

/** As long as a token's `sub` may be. */
const UserId = Type.String({ minLength: 1, maxLength: 256 })
const DirectBody = Type.Object({ userId: UserId }, { additionalProperties: false })
const UserParam = Type.Object({ userId: UserId })
const RoomInfo = Type.Object({
  name: Type.String(),
  kind: Type.Literal('direct'),
  title: Type.String(),
  createdAt: Type.Integer()
})
const errors = { '4xx': ErrorResponse, '5xx': ErrorResponse }

function userOf(request: FastifyRequest): Member {
  return request.user as Member
}

export default async function directRoutes(fastify: FastifyInstance) {
  const { direct } = fastify

  fastify.post<{ Body: Static<typeof DirectBody> }>(
    '/api/direct',
    {
      preHandler: requireUser,
      schema: { body: DirectBody, response: { 200: Type.Object({ room: RoomInfo }), ...errors } }
    },
    async function openDirect(request) {
      return { room: await direct.open(userOf(request), request.body.userId) }
    }
  )

  fastify.put<{ Params: Static<typeof UserParam> }>(
    '/api/me/blocks/:userId',
    { preHandler: requireUser, schema: { params: UserParam, response: { 204: Type.Null(), ...errors } } },
    async function block(request, reply) {
      await direct.block(userOf(request), request.params.userId)
      return reply.code(204).send()
    }
  )

  fastify.delete<{ Params: Static<typeof UserParam> }>(
    '/api/me/blocks/:userId',
    { preHandler: requireUser, schema: { params: UserParam, response: { 204: Type.Null(), ...errors } } },
    async function unblock(request, reply) {
      await direct.unblock(userOf(request), request.params.userId)
      return reply.code(204).send()
    }
  )
}
