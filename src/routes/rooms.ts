// Rooms over HTTP: the public rooms people are in (busiest first, at most ROOMS_LISTED, so the
// answer stays small however many there are), making a room, and the caller's own rooms.
import { randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import Type from 'typebox'
import { requireRoomFor, withMember } from '../chat/access.js'
import { isRoomName, type RoomKind, roomKind } from '../chat/limits.js'
import { checkDisplayText } from '../chat/names.js'
import type { Member } from '../chat/protocol.js'
import type { Membership, RoomRecord } from '../chat/store/parts.js'
import { ChatError } from '../errors.js'
import { requireUser } from '../plugins/auth.js'
import { ErrorResponse } from './schemas.js'

export const ROOMS_LISTED = 100
const MAX_TITLE_LENGTH = 64

const RoomInfo = Type.Object({
  name: Type.String(),
  kind: Type.Union([Type.Literal('public'), Type.Literal('private'), Type.Literal('direct')]),
  title: Type.String(),
  createdAt: Type.Integer()
})
const RoomsReply = Type.Object({
  rooms: Type.Array(Type.Object({ name: Type.String(), members: Type.Integer() }))
})
const CreateBody = Type.Union([
  Type.Object(
    { kind: Type.Literal('private'), title: Type.String({ maxLength: 256 }) },
    { additionalProperties: false }
  ),
  Type.Object(
    {
      kind: Type.Literal('public'),
      name: Type.String({ maxLength: 64 }),
      title: Type.Optional(Type.String({ maxLength: 256 }))
    },
    { additionalProperties: false }
  )
])
type CreateBody = { kind: 'private'; title: string } | { kind: 'public'; name: string; title?: string }
const MyRoomsReply = Type.Object({
  rooms: Type.Array(Type.Object({ ...RoomInfo.properties, role: Type.String(), lastSeq: Type.Integer() }))
})

function title(raw: string): string {
  const checked = checkDisplayText(raw, MAX_TITLE_LENGTH, 'title')
  if ('refused' in checked) throw new ChatError('INVALID_PAYLOAD', checked.refused)
  return checked.text
}

/** A private room's name: `p.` and 24 URL-safe characters (144 random bits). */
function privateName(): string {
  return `p.${randomBytes(18).toString('base64url')}`
}

function userOf(request: FastifyRequest): Member {
  return request.user as Member
}

export default async function roomRoutes(fastify: FastifyInstance) {
  const { store } = fastify

  fastify.get(
    '/api/rooms',
    { preHandler: requireUser, schema: { response: { 200: RoomsReply, '4xx': ErrorResponse } } },
    async function listRooms() {
      // Only public rooms: a private or direct room is never listed, whoever asks.
      const busiest = await store.presence.rooms(ROOMS_LISTED * 2)
      return { rooms: busiest.filter((room) => roomKind(room.name) === 'public').slice(0, ROOMS_LISTED) }
    }
  )

  fastify.post<{ Body: CreateBody }>(
    '/api/rooms',
    {
      preHandler: requireUser,
      schema: { body: CreateBody, response: { 201: Type.Object({ room: RoomInfo }), '4xx': ErrorResponse } }
    },
    async function createRoom(request, reply) {
      const body = request.body
      await requireRoomFor(store.directory, userOf(request).id, true)
      const record = body.kind === 'private' ? privateRoom(body.title) : await publicRoom(body.name, body.title)
      if (!(await store.directory.createRoom(record))) {
        throw new ChatError('CONFLICT', `${record.name} already has an owner`)
      }
      const user = userOf(request)
      await store.directory.setMembership(
        withMember({ room: record.name, userId: user.id, role: 'owner', since: record.createdAt }, user)
      )
      await fastify.chat.audit.record('room.created', { room: record.name, by: user.id, detail: record.kind })
      return reply.code(201).send({ room: record })
    }
  )

  function privateRoom(raw: string): RoomRecord {
    return { name: privateName(), kind: 'private', title: title(raw), createdAt: Date.now() }
  }

  async function publicRoom(name: string, raw: string | undefined): Promise<RoomRecord> {
    if (!isRoomName(name) || roomKind(name) !== 'public') {
      throw new ChatError(
        'INVALID_PAYLOAD',
        'a public room name matches the room pattern and starts with neither p. nor dm.'
      )
    }
    const [last] = await store.log.latest(name, 1)
    if (last !== undefined) throw new ChatError('CONFLICT', `${name} already has messages`)
    return { name, kind: 'public', title: raw === undefined ? name : title(raw), createdAt: Date.now() }
  }

  fastify.get(
    '/api/me/rooms',
    { preHandler: requireUser, schema: { response: { 200: MyRoomsReply, '4xx': ErrorResponse } } },
    async function myRooms(request) {
      const memberships = await store.directory.memberships(userOf(request).id)
      const rooms = await Promise.all(memberships.map((m) => describe(m)))
      // Latest activity first: the last entry's time, else when the user became a member.
      rooms.sort((a, b) => b.activeAt - a.activeAt || (a.name < b.name ? -1 : 1))
      return { rooms: rooms.map(({ activeAt: _, ...room }) => room) }
    }
  )

  async function describe(membership: Membership) {
    const [record, [last]] = await Promise.all([
      store.directory.room(membership.room),
      store.log.latest(membership.room, 1)
    ])
    const kind: RoomKind = record?.kind ?? roomKind(membership.room)
    const title =
      kind === 'direct'
        ? await fastify.direct.titleFor(membership.room, membership.userId)
        : (record?.title ?? membership.room)
    return {
      name: membership.room,
      kind,
      title,
      createdAt: record?.createdAt ?? membership.since,
      role: membership.role,
      lastSeq: last?.seq ?? 0,
      activeAt: last?.ts ?? membership.since
    }
  }
}
