// Membership and moderation over HTTP: leaving a room for good, member lists, adding members and
// roles, removals, bans, mutes, invites and the audit trail. The rules are chat/moderation.ts;
// these routes check shapes and answer.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import Type, { type Static } from 'typebox'
import { INVITE_MAX_SECONDS, INVITE_MAX_USES } from '../chat/moderation.js'
import { checkDisplayText } from '../chat/names.js'
import type { Member } from '../chat/protocol.js'
import { ROOM_NAME_PATTERN } from '../chat/protocol.js'
import { AUDIT_KEPT } from '../chat/store/parts.js'
import { ChatError } from '../errors.js'
import { requireUser } from '../plugins/auth.js'
import { ErrorResponse } from './schemas.js'

const MAX_REASON_LENGTH = 200
/** The latest time a JavaScript Date holds (ms since the epoch). */
const MAX_TIME = 8_640_000_000_000_000

const RoomParam = Type.Object({ room: Type.String({ pattern: ROOM_NAME_PATTERN }) })
/** As long as a token's `sub` may be. */
const UserId = Type.String({ minLength: 1, maxLength: 256 })
const MemberParams = Type.Object({ room: Type.String({ pattern: ROOM_NAME_PATTERN }), userId: UserId })
// Any code of another shape is simply unknown (404), as the contract says of unknown codes.
const CodeParam = Type.Object({ code: Type.String({ minLength: 1, maxLength: 128 }) })
const INVITE_CODE = /^[A-Za-z0-9_-]{16,64}$/
const Role = Type.Union([Type.Literal('owner'), Type.Literal('moderator'), Type.Literal('member')])
const RoomInfo = Type.Object({
  name: Type.String(),
  kind: Type.Union([Type.Literal('public'), Type.Literal('private'), Type.Literal('direct')]),
  title: Type.String(),
  createdAt: Type.Integer()
})
const MemberInfo = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Role,
  guest: Type.Optional(Type.Literal(true))
})
const strict = { additionalProperties: false } as const
const RoleBody = Type.Object({ role: Role }, strict)
const BanBody = Type.Object(
  {
    until: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_TIME })),
    reason: Type.Optional(Type.String({ maxLength: 1000 }))
  },
  strict
)
const MuteBody = Type.Object({ until: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_TIME })) }, strict)
const InviteBody = Type.Object(
  {
    maxUses: Type.Optional(Type.Integer({ minimum: 1, maximum: INVITE_MAX_USES })),
    expiresInSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: INVITE_MAX_SECONDS }))
  },
  strict
)
const AuditQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: AUDIT_KEPT })) })
const AuditEntry = Type.Object({
  at: Type.Integer(),
  action: Type.String(),
  by: Type.String(),
  user: Type.Optional(Type.String()),
  detail: Type.Optional(Type.String())
})

const errors = { '4xx': ErrorResponse, '5xx': ErrorResponse }
const none = { 204: Type.Null(), ...errors }

function userOf(request: FastifyRequest): Member {
  return request.user as Member
}

function reasonOf(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined
  const checked = checkDisplayText(raw, MAX_REASON_LENGTH, 'reason')
  if ('refused' in checked) throw new ChatError('INVALID_PAYLOAD', checked.refused)
  return checked.text
}

export default async function memberRoutes(fastify: FastifyInstance) {
  const { moderation } = fastify
  const as = (request: FastifyRequest) => ({ user: userOf(request), roles: request.identity?.roles })

  fastify.delete<{ Params: Static<typeof RoomParam> }>(
    '/api/me/rooms/:room',
    { preHandler: requireUser, schema: { params: RoomParam, response: none } },
    async function leaveForGood(request, reply) {
      await moderation.leave(userOf(request), request.params.room)
      return reply.code(204).send()
    }
  )

  fastify.get<{ Params: Static<typeof RoomParam> }>(
    '/api/rooms/:room/members',
    {
      preHandler: requireUser,
      schema: { params: RoomParam, response: { 200: Type.Object({ members: Type.Array(MemberInfo) }), ...errors } }
    },
    async function members(request) {
      const list = await moderation.members(userOf(request), request.params.room)
      return {
        members: list.map((m) => ({
          id: m.userId,
          name: m.name ?? m.userId,
          role: m.role,
          ...(m.guest === true ? { guest: true as const } : {})
        }))
      }
    }
  )

  fastify.put<{ Params: Static<typeof MemberParams>; Body: Static<typeof RoleBody> }>(
    '/api/rooms/:room/members/:userId',
    {
      preHandler: requireUser,
      schema: {
        params: MemberParams,
        body: RoleBody,
        response: { 200: Type.Object({ member: MemberInfo }), ...errors }
      }
    },
    async function setMember(request) {
      const { room, userId } = request.params
      const m = await moderation.setMember(as(request), room, userId, request.body.role)
      return { member: { id: m.userId, name: m.name ?? m.userId, role: m.role } }
    }
  )

  fastify.delete<{ Params: Static<typeof MemberParams> }>(
    '/api/rooms/:room/members/:userId',
    { preHandler: requireUser, schema: { params: MemberParams, response: none } },
    async function removeMember(request, reply) {
      await moderation.removeMember(as(request), request.params.room, request.params.userId)
      return reply.code(204).send()
    }
  )

  fastify.put<{ Params: Static<typeof MemberParams>; Body: Static<typeof BanBody> | undefined }>(
    '/api/rooms/:room/bans/:userId',
    { preHandler: requireUser, schema: { params: MemberParams, body: Type.Optional(BanBody), response: none } },
    async function ban(request, reply) {
      const body = request.body ?? {}
      await moderation.ban(as(request), request.params.room, request.params.userId, {
        until: body.until,
        reason: reasonOf(body.reason)
      })
      return reply.code(204).send()
    }
  )

  fastify.delete<{ Params: Static<typeof MemberParams> }>(
    '/api/rooms/:room/bans/:userId',
    { preHandler: requireUser, schema: { params: MemberParams, response: none } },
    async function unban(request, reply) {
      await moderation.unban(as(request), request.params.room, request.params.userId)
      return reply.code(204).send()
    }
  )

  fastify.put<{ Params: Static<typeof MemberParams>; Body: Static<typeof MuteBody> | undefined }>(
    '/api/rooms/:room/mutes/:userId',
    { preHandler: requireUser, schema: { params: MemberParams, body: Type.Optional(MuteBody), response: none } },
    async function mute(request, reply) {
      await moderation.mute(as(request), request.params.room, request.params.userId, {
        until: request.body?.until
      })
      return reply.code(204).send()
    }
  )

  fastify.delete<{ Params: Static<typeof MemberParams> }>(
    '/api/rooms/:room/mutes/:userId',
    { preHandler: requireUser, schema: { params: MemberParams, response: none } },
    async function unmute(request, reply) {
      await moderation.unmute(as(request), request.params.room, request.params.userId)
      return reply.code(204).send()
    }
  )

  fastify.post<{ Params: Static<typeof RoomParam>; Body: Static<typeof InviteBody> | undefined }>(
    '/api/rooms/:room/invites',
    {
      preHandler: requireUser,
      schema: {
        params: RoomParam,
        body: Type.Optional(InviteBody),
        response: { 201: Type.Object({ code: Type.String(), expiresAt: Type.Integer() }), ...errors }
      }
    },
    async function invite(request, reply) {
      const made = await moderation.createInvite(as(request), request.params.room, request.body ?? {})
      return reply.code(201).send({ code: made.code, expiresAt: made.expiresAt })
    }
  )

  fastify.delete<{ Params: Static<typeof RoomParam> & Static<typeof CodeParam> }>(
    '/api/rooms/:room/invites/:code',
    {
      preHandler: requireUser,
      schema: { params: Type.Object({ ...RoomParam.properties, ...CodeParam.properties }), response: none }
    },
    async function revokeInvite(request, reply) {
      await moderation.revokeInvite(as(request), request.params.room, request.params.code)
      return reply.code(204).send()
    }
  )

  fastify.post<{ Params: Static<typeof CodeParam> }>(
    '/api/invites/:code',
    {
      preHandler: requireUser,
      schema: { params: CodeParam, response: { 200: Type.Object({ room: RoomInfo }), ...errors } }
    },
    async function acceptInvite(request) {
      if (!INVITE_CODE.test(request.params.code)) {
        throw new ChatError('NOT_FOUND', 'This invite is unknown, expired or used up')
      }
      return { room: await moderation.acceptInvite(userOf(request), request.params.code) }
    }
  )

  fastify.get<{ Params: Static<typeof RoomParam>; Querystring: Static<typeof AuditQuery> }>(
    '/api/rooms/:room/audit',
    {
      preHandler: requireUser,
      schema: {
        params: RoomParam,
        querystring: AuditQuery,
        response: { 200: Type.Object({ entries: Type.Array(AuditEntry) }), ...errors }
      }
    },
    async function audit(request) {
      return { entries: await moderation.auditTrail(as(request), request.params.room, request.query.limit ?? 100) }
    }
  )
}
