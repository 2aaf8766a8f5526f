// The cluster's directory: rooms and memberships in Redis. A room's record and its members sit
// under the room's hash tag; each user's list of rooms under the user's own, an index written
// after the room's side (the room's side is the truth when the two disagree).
import type { Directory, Membership, Role, RoomRecord } from './parts.js'
import type { RedisCalls } from './redis-calls.js'

export const DIRECTORY_KEY = {
  info: (room: string) => `chat:{${room}}:info`,
  roles: (room: string) => `chat:{${room}}:roles`,
  userRooms: (userId: string) => `chat:user:{${userId}}:rooms`
}

const MAY_HAVE_RUN = 'The change may not have been made; retry'

interface Stored {
  role: Role
  since: number
}

export class RedisDirectory implements Directory {
  constructor(private readonly calls: RedisCalls) {}

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

  setMembership({ room, userId, role, since }: Membership): Promise<void> {
    const stored = JSON.stringify({ role, since } satisfies Stored)
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
}
