// The rooms people are in, busiest first: at most ROOMS_LISTED of them, so that the answer stays
// small however many rooms there are (a guest alone may be in a thousand).
import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import { requireUser } from '../plugins/auth.js'
import { ErrorResponse } from './schemas.js'

const RoomsReply = Type.Object({
  rooms: Type.Array(Type.Object({ name: Type.String(), members: Type.Integer() }))
})

export const ROOMS_LISTED = 100

export default async function roomRoutes(fastify: FastifyInstance) {
  fastify.get(
    '/api/rooms',
    { preHandler: requireUser, schema: { response: { 200: RoomsReply, '4xx': ErrorResponse } } },
    async function listRooms() {
      return { rooms: await fastify.chat.store.presence.rooms(ROOMS_LISTED) }
    }
  )
}
