// The cluster's directory: rooms and memberships in Redis. A room's record and its members sit
// under the room's hash tag; each user's list of rooms under the user's own, an index written
// after the room's side (the room's side is the truth when the two disagree).
import {
  AUDIT_KEPT,
  type AuditEntry,
  type Directory,
  type Invite,
  type Membership,
  type Restriction,
  type RestrictionKind,
  type Role,
  type RoomRecord
} from './parts.js'
import type { RedisCalls } from './redis-calls.js'

export const DIRECTORY_KEY = {
  info: (room: string) => `chat:{${room}}:info`,
  roles: (room: string) => `chat:{${room}}:roles`,
  userRooms: (userId: string) => `chat:user:{${userId}}:rooms`,
  /** Bans and mutes: user id → JSON. */
  restrictions: (kind: RestrictionKind, room: string) => `chat:{${room}}:${kind}s`,
  blocks: (userId: string) => `chat:user:{${userId}}:blocks`,
  invite: (code: string) => `chat:invite:{${code}}`,
  audit: (room: string) => `chat:{${room}}:audit`
}

// KEYS: the invite. ARGV: now, the user's field ('u:' and the id). The invite's fields after one
// use (none more for a user who used it before), or nothing for an unknown, expired or used-up
// code. Who used it is kept in the invite's own hash: one key, one slot.
const REDEEM = `
local f = redis.call('HMGET', KEYS[1], 'expiresAt', 'maxUses', 'uses')
if not f[1] then return false end
if tonumber(f[1]) <= tonumber(ARGV[1]) then return false end
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then
  if f[2] and f[2] ~= '' and tonumber(f[3]) >= tonumber(f[2]) then return false end
  redis.call('HINCRBY', KEYS[1], 'uses', 1)
  redis.call('HSET', KEYS[1], ARGV[2], 1)
end
return redis.call('HMGET', KEYS[1], 'room', 'by', 'createdAt', 'expiresAt', 'maxUses', 'uses')
`
const INVITE_FIELDS = ['room', 'by', 'createdAt', 'expiresAt', 'maxUses', 'uses'] as const

const MAY_HAVE_RUN = 'The change may not have been made; retry'

interface Stored {
  role: Role
  since: number
  name?: string
  guest?: true
}

function inviteOf(code: string, f: Record<string, string>): Invite {
  const invite: Invite = {
    code,
    room: f.room as string,
    by: f.by as string,
    createdAt: Number(f.createdAt),
    expiresAt: Number(f.expiresAt),
    uses: Number(f.uses)
  }
  if (f.maxUses !== undefined && f.maxUses !== '') invite.maxUses = Number(f.maxUses)
  return invite
}

export class RedisDirectory implements Directory {
  private readonly redeemScript

  constructor(private readonly calls: RedisCalls) {
    this.redeemScript = calls.script('chatRedeemInvite', 1, REDEEM)
  }

  private get redis() {
    return this.calls.redis
  }

  room(name: string): Promise<RoomRecord | undefined> {
    return this.calls.call('room', async () => {
      const json = await this.redis.get(DIRECTORY_KEY.info(name))
      return json === null ? undefined : (JSON.parse(json) as RoomRecord)
    })
  }

  createRoom(record: RoomRecord): Promise<boolean> {
    return this.calls.call(
      'createRoom',
      async () => (await this.redis.set(DIRECTORY_KEY.info(record.name), JSON.stringify(record), 'NX')) === 'OK',
      MAY_HAVE_RUN
    )
  }

  membership(room: string, userId: string): Promise<Membership | undefined> {
    return this.calls.call('membership', async () => {
      const json = await this.redis.hget(DIRECTORY_KEY.roles(room), userId)
      return json === null ? undefined : { room, userId, ...(JSON.parse(json) as Stored) }
    })
  }

  setMembership({ room, userId, ...rest }: Membership): Promise<void> {
    const stored = JSON.stringify(rest satisfies Stored)
    return this.calls.call(
      'setMembership',
      async () => {
        await this.redis.hset(DIRECTORY_KEY.roles(room), userId, stored)
        await this.redis.hset(DIRECTORY_KEY.userRooms(userId), room, stored)
      },
      MAY_HAVE_RUN
    )
  }

  removeMembership(room: string, userId: string): Promise<boolean> {
    return this.calls.call(
      'removeMembership',
      async () => {
        const removed = await this.redis.hdel(DIRECTORY_KEY.roles(room), userId)
        await this.redis.hdel(DIRECTORY_KEY.userRooms(userId), room)
        return removed === 1
      },
      MAY_HAVE_RUN
    )
  }

  memberships(userId: string): Promise<Membership[]> {
    return this.calls.call('memberships', async () => {
      const all = await this.redis.hgetall(DIRECTORY_KEY.userRooms(userId))
      return Object.entries(all).map(([room, json]) => ({ room, userId, ...(JSON.parse(json) as Stored) }))
    })
  }

  membershipCount(userId: string): Promise<number> {
    return this.calls.call('membershipCount', () => this.redis.hlen(DIRECTORY_KEY.userRooms(userId)))
  }

  roomMembers(room: string): Promise<Membership[]> {
    return this.calls.call('roomMembers', async () => {
      const all = await this.redis.hgetall(DIRECTORY_KEY.roles(room))
      return Object.entries(all).map(([userId, json]) => ({ room, userId, ...(JSON.parse(json) as Stored) }))
    })
  }

  restrict(kind: RestrictionKind, restriction: Restriction): Promise<void> {
    const key = DIRECTORY_KEY.restrictions(kind, restriction.room)
    return this.calls.call(
      'restrict',
      async () => {
        await this.redis.hset(key, restriction.userId, JSON.stringify(restriction))
      },
      MAY_HAVE_RUN
    )
  }

  lift(kind: RestrictionKind, room: string, userId: string): Promise<boolean> {
    return this.calls.call(
      'lift',
      async () => (await this.redis.hdel(DIRECTORY_KEY.restrictions(kind, room), userId)) === 1,
      MAY_HAVE_RUN
    )
  }

  restriction(kind: RestrictionKind, room: string, userId: string, now: number): Promise<Restriction | undefined> {
    return this.calls.call('restriction', async () => {
      const json = await this.redis.hget(DIRECTORY_KEY.restrictions(kind, room), userId)
      if (json === null) return undefined
      const found = JSON.parse(json) as Restriction
      // An ended one stays until it is replaced or lifted: it counts as none.
      return found.until !== undefined && found.until <= now ? undefined : found
    })
  }

  block(userId: string, other: string): Promise<void> {
    return this.calls.call(
      'block',
      async () => {
        await this.redis.sadd(DIRECTORY_KEY.blocks(userId), other)
      },
      MAY_HAVE_RUN
    )
  }

  unblock(userId: string, other: string): Promise<boolean> {
    return this.calls.call(
      'unblock',
      async () => (await this.redis.srem(DIRECTORY_KEY.blocks(userId), other)) === 1,
      MAY_HAVE_RUN
    )
  }

  hasBlocked(userId: string, other: string): Promise<boolean> {
    return this.calls.call(
      'hasBlocked',
      async () => (await this.redis.sismember(DIRECTORY_KEY.blocks(userId), other)) === 1
    )
  }

  createInvite(invite: Invite): Promise<void> {
    const key = DIRECTORY_KEY.invite(invite.code)
    return this.calls.call(
      'createInvite',
      async () => {
        await this.redis
          .multi()
          .hset(key, {
            room: invite.room,
            by: invite.by,
            createdAt: invite.createdAt,
            expiresAt: invite.expiresAt,
            maxUses: invite.maxUses ?? '',
            uses: invite.uses
          })
          .pexpireat(key, invite.expiresAt)
          .exec()
      },
      MAY_HAVE_RUN
    )
  }

  invite(code: string, now: number): Promise<Invite | undefined> {
    return this.calls.call('invite', async () => {
      const f = await this.redis.hgetall(DIRECTORY_KEY.invite(code))
      const invite = f.room === undefined ? undefined : inviteOf(code, f)
      if (invite === undefined || invite.expiresAt <= now) return undefined
      return invite.maxUses !== undefined && invite.uses >= invite.maxUses ? undefined : invite
    })
  }

  redeemInvite(code: string, now: number, userId: string): Promise<Invite | undefined> {
    return this.calls.call(
      'redeemInvite',
      async () => {
        const values = (await this.redeemScript(DIRECTORY_KEY.invite(code), now, `u:${userId}`)) as string[] | null
        if (values === null) return undefined
        const f: Record<string, string> = {}
        INVITE_FIELDS.forEach((field, i) => {
          f[field] = values[i] ?? ''
        })
        return inviteOf(code, f)
      },
      MAY_HAVE_RUN
    )
  }

  deleteInvite(code: string): Promise<boolean> {
    return this.calls.call(
      'deleteInvite',
      async () => (await this.redis.del(DIRECTORY_KEY.invite(code))) === 1,
      MAY_HAVE_RUN
    )
  }

  record(entry: AuditEntry): Promise<void> {
    const key = DIRECTORY_KEY.audit(entry.room)
    return this.calls.call(
      'record',
      async () => {
        await this.redis
          .multi()
          .lpush(key, JSON.stringify(entry))
          .ltrim(key, 0, AUDIT_KEPT - 1)
          .exec()
      },
      MAY_HAVE_RUN
    )
  }

  auditTrail(room: string, limit: number): Promise<AuditEntry[]> {
    return this.calls.call('auditTrail', async () => {
      const list = await this.redis.lrange(DIRECTORY_KEY.audit(room), 0, Math.min(limit, AUDIT_KEPT) - 1)
      return list.map((json) => JSON.parse(json) as AuditEntry)
    })
  }
}
