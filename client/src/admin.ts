// What the user does to rooms and their members over HTTP: the member list, making a private
// room, invite links made and accepted, direct conversations, roles, mutes, removals and bans,
// and leaving a room for good. Says how it went in words; no DOM here.
import type { RoleName, RoomInfo } from '../../src/chat/protocol.js'
import { type ApiOutcome, api, seg } from './api.js'
import type { RoomState, RosterMember } from './room-state.js'
import type { MemberAction } from './view-members.js'

export interface AdminHooks {
  render(): void
  notice(text: string): void
  /** A room that is now the user's (made, accepted, opened with someone): listed, opened, joined. */
  enter(room: RoomInfo, role: RoleName | undefined): void
}

export interface Invite {
  room: string
  link: string
  expiresAt: number | undefined
}

const ROSTER_SOON_MS = 1000

/** Words for a refused call, for people; `what` is what was tried ("Couldn't remove Bob"). */
function refusal(outcome: Extract<ApiOutcome<unknown>, { ok: false }>, what: string): string {
  if (outcome.status === 0) return `${what}: no answer from the server. Try again.`
  switch (outcome.code) {
    case 'FORBIDDEN':
      return `${what}: you're not allowed to.`
    case 'NOT_FOUND':
      return `${what}: not found.`
    case 'INVALID_PAYLOAD':
      return `${what}: ${outcome.message}`
    case 'RATE_LIMITED':
      return `${what}: too many at once. Try again in a moment.`
    default:
      return `${what}: something went wrong on the server. Try again.`
  }
}

export class RoomAdmin {
  private readonly rosterTimers = new Map<RoomState, ReturnType<typeof setTimeout>>()

  constructor(
    /** The sign-in's token as it is now (it is refreshed). */
    private readonly tokenNow: () => string,
    private readonly hooks: AdminHooks
  ) {}

  private get token(): string {
    return this.tokenNow()
  }

  close(): void {
    for (const timer of this.rosterTimers.values()) clearTimeout(timer)
  }

  /** Reads who the room's members are, with their roles (kept as it was when refused). */
  async readRoster(room: RoomState): Promise<void> {
    const outcome = await api<{ members: RosterMember[] }>(this.token, 'GET', `/api/rooms/${seg(room.name)}/members`)
    if (!outcome.ok || !Array.isArray(outcome.body?.members)) return
    room.roster = new Map(outcome.body.members.map((m) => [m.id, m]))
    this.hooks.render()
  }

  /** Reads the member list again soon, at most once a second (people come and go in bursts). */
  rosterSoon(room: RoomState): void {
    if (this.rosterTimers.has(room)) return
    this.rosterTimers.set(
      room,
      setTimeout(() => {
        this.rosterTimers.delete(room)
        void this.readRoster(room)
      }, ROSTER_SOON_MS)
    )
  }

  /** Makes a private room; returns why not, if it was refused. */
  async createPrivate(title: string): Promise<string | undefined> {
    const outcome = await api<{ room: RoomInfo }>(this.token, 'POST', '/api/rooms', { kind: 'private', title })
    if (!outcome.ok) return refusal(outcome, "Couldn't make the room")
    this.hooks.enter(outcome.body.room, 'owner')
    return undefined
  }

  /** A new invite link to a room; a string says why there is none. */
  async invite(room: RoomState): Promise<Invite | string> {
    const outcome = await api<{ code: string; expiresAt?: number }>(
      this.token,
      'POST',
      `/api/rooms/${seg(room.name)}/invites`,
      {}
    )
    if (!outcome.ok) return refusal(outcome, "Couldn't make an invite link")
    // In the fragment: it never reaches a server's or a proxy's logs.
    const link = `${location.origin}${location.pathname}#invite=${encodeURIComponent(outcome.body.code)}`
    return { room: room.name, link, expiresAt: outcome.body.expiresAt }
  }

  /** Accepts an invite: the room becomes the user's, and opens. */
  async accept(code: string): Promise<void> {
    const outcome = await api<{ room: RoomInfo }>(this.token, 'POST', `/api/invites/${seg(code)}`)
    if (outcome.ok) {
      this.hooks.enter(outcome.body.room, undefined)
      this.hooks.notice(`You joined ${outcome.body.room.title} by invitation.`)
    } else if (outcome.status === 404 || outcome.code === 'NOT_FOUND') {
      this.hooks.notice(
        'This invite link does not work: it has expired, was used up, or was mistyped. Ask for a new one.'
      )
    } else if (outcome.code === 'FORBIDDEN') {
      this.hooks.notice("This invite link can't be used by you: you were banned from that room.")
    } else this.hooks.notice(refusal(outcome, "Couldn't accept the invite"))
  }

  /** Opens (or finds) the direct conversation with a member. */
  async direct(member: RosterMember): Promise<void> {
    const outcome = await api<{ room: RoomInfo }>(this.token, 'POST', '/api/direct', { userId: member.id })
    if (!outcome.ok) {
      const why =
        outcome.code === 'FORBIDDEN'
          ? `${member.name} doesn't take direct messages from you.`
          : refusal(outcome, `Couldn't open a conversation with ${member.name}`)
      this.hooks.notice(why)
      return
    }
    // Called by the other person's name here, whatever the server's answer says.
    this.hooks.enter({ ...outcome.body.room, title: member.name }, 'member')
  }

  /** A role, mute, removal or ban, asked of the server; the member list is read again after. */
  async act(action: Exclude<MemberAction, 'direct'>, room: RoomState, member: RosterMember): Promise<void> {
    const base = `/api/rooms/${seg(room.name)}`
    const who = seg(member.id)
    const calls = {
      block: ['PUT', `/api/me/blocks/${who}`, undefined, `You blocked ${member.name}: no direct messages from them.`],
      unblock: ['DELETE', `/api/me/blocks/${who}`, undefined, `You unblocked ${member.name}.`],
      moderator: ['PUT', `${base}/members/${who}`, { role: 'moderator' }, `${member.name} is now a moderator.`],
      member: ['PUT', `${base}/members/${who}`, { role: 'member' }, `${member.name} is no longer a moderator.`],
      mute: ['PUT', `${base}/mutes/${who}`, {}, `${member.name} is muted: they read, but can't write.`],
      unmute: ['DELETE', `${base}/mutes/${who}`, undefined, `${member.name} may write again.`],
      remove: ['DELETE', `${base}/members/${who}`, undefined, `${member.name} was removed from the room.`],
      ban: ['PUT', `${base}/bans/${who}`, {}, `${member.name} was banned from the room.`]
    } as const
    const [method, path, body, done] = calls[action]
    const outcome = await api(this.token, method, path, body)
    if (outcome.ok) {
      this.hooks.notice(done)
      if (action === 'remove' || action === 'ban') room.roster?.delete(member.id)
      else if (action === 'moderator' || action === 'member') room.roster?.set(member.id, { ...member, role: action })
      this.hooks.render()
    } else
      this.hooks.notice(
        refusal(
          outcome,
          `Couldn't ${action === 'moderator' || action === 'member' ? 'change the role of' : action} ${member.name}`
        )
      )
    void this.readRoster(room)
  }

  /** Ends the user's membership (every device follows, through room:removed); why not, if refused. */
  async leave(name: string): Promise<string | undefined> {
    const outcome = await api(this.token, 'DELETE', `/api/me/rooms/${seg(name)}`)
    if (outcome.ok || outcome.status === 404) return undefined
    return refusal(outcome, "Couldn't leave the room on the server")
  }
}
