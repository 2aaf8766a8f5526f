// One sign-in's chat screen: its rooms, connection, sync and outbox, wired to each other and to
// what the page shows. Made at sign-in, closed at sign-out; nothing of it runs after that.
import { hasVisibleText, isRoomName } from '../../src/chat/limits.js'
import type { Member, Message, RoleName, RoomInfo, RoomRemovedEvent } from '../../src/chat/protocol.js'
import { type Invite, RoomAdmin } from './admin.js'
import { api } from './api.js'
import { Connection } from './connection.js'
import { lookAlikeTags } from './look-alikes.js'
import { type Line, Outbox } from './outbox.js'
import { Renewal } from './renewal.js'
import { request } from './request.js'
import { ROOM_RETRY } from './retry.js'
import { isMessage, type RoomState } from './room-state.js'
import { type ListedRoom, Rooms } from './rooms.js'
import { fetchRooms, type Session } from './session.js'
import { type Keep, Sync } from './sync.js'
import { Typing } from './typing.js'
import {
  $,
  describeError,
  messagesFit,
  renderConnection,
  renderMessages,
  renderPublicRooms,
  renderRoomHead,
  renderRooms,
  roomLabel,
  showNote,
  showNotice,
  showRoomsMenu
} from './view.js'
import { type MemberAction, renderMemberPanel } from './view-members.js'

const TYPING_SHOWN_MS = 6000
const ROOM_NAMES = 'Room names are 1–64 letters, digits, dots, dashes or underscores, starting with a letter or digit.'
const REMOVED_WORDS: Record<RoomRemovedEvent['reason'], (label: string) => string | undefined> = {
  removed: (label) => `You were removed from ${label}.`,
  banned: (label) => `You were banned from ${label}.`,
  // Left on another device: this one follows, and nothing needs saying.
  left: () => undefined
}

/** Everyone a room shows: its members, who is here, the authors of the messages held, who types. */
function* peopleOf(room: RoomState): Iterable<Member> {
  yield* room.roster?.values() ?? []
  yield* room.members.values()
  for (const entry of room.entries.values()) if (isMessage(entry)) yield entry.user
  for (const t of room.typing.values()) yield t.member
}

export interface ChatHooks {
  /** A line refused as it is goes back to the composer to be changed. */
  edit(text: string): void
  /** The server no longer takes the token (expired, not refreshed): the same person signs in again. */
  unauthorized(): void
  /** The token was revoked (signed out elsewhere, or by the service): signed out here too. */
  revoked(): void
}

export class Chat {
  private readonly rooms = Rooms.restore()
  private readonly renewal: Renewal
  private readonly connection: Connection
  private readonly sync: Sync
  private readonly outbox: Outbox
  private readonly typing: Typing
  private readonly admin: RoomAdmin
  private readonly roomsTimer: ReturnType<typeof setInterval>
  private roomsRefresh: ReturnType<typeof setTimeout> | undefined
  /** The room a shown join error is about, if it came from a refused join. */
  private joinErrorRoom: string | undefined
  /** The member whose menu is open, and the message whose deletion waits for a yes. */
  private menuFor: string | undefined
  private confirming: string | undefined
  /** The invite link last made, shown while its room is open. */
  private invite: Invite | undefined
  private closed = false
  /** What the server said when it last ended this socket's token (chat:error, event auth). */
  private tokenEnded: 'TOKEN_EXPIRED' | 'TOKEN_REVOKED' | undefined

  constructor(
    session: Session,
    carried: Line[],
    private readonly hooks: ChatHooks
  ) {
    this.renewal = new Renewal(session, {
      renewed: (fresh) => void this.tellSocket(fresh),
      ended: (why) => (why === 'revoked' ? hooks.revoked() : hooks.unauthorized())
    })
    this.connection = new Connection(() => this.renewal.token, {
      connected: () => void this.connected(),
      disconnected: (byServer) => {
        this.sync.disconnected()
        this.render()
        if (byServer) void this.cut()
      },
      status: (state, detail) => {
        if (!this.closed) renderConnection(state, detail)
      },
      unauthorized: () => hooks.unauthorized()
    })
    const socket = this.connection.socket
    this.sync = new Sync(this.rooms, socket, session.user, {
      render: (keep) => this.render(keep),
      note: showNote,
      refused: (room, error) => this.showJoinError(describeError(error, 'join'), room.name),
      unjoinable: (room, forbidden) => {
        // A room that was ours (removed or banned while away) says so; a name typed is refused
        // in the join form's words.
        if (forbidden && !room.chosen) {
          showNotice(`You're no longer a member of ${roomLabel(room)}.`)
          this.showJoinError(undefined)
        }
        this.dropRoom(room.name)
      },
      joined: (room) => {
        room.chosen = false
        if (this.joinErrorRoom === room.name) this.showJoinError(undefined)
        if (room.name === this.rooms.active) void this.admin.readRoster(room)
        this.refreshPublicRoomsSoon()
        void this.outbox.pump(room)
      }
    })
    this.outbox = new Outbox(this.rooms, socket, () => this.render())
    this.typing = new Typing(socket, this.rooms)
    this.admin = new RoomAdmin(() => this.renewal.token, {
      render: () => this.render(),
      notice: showNotice,
      enter: (room, role) => this.enter(room, role)
    })
    this.listen()
    for (const line of carried) {
      const room = this.rooms.get(line.room)
      if (room !== undefined) this.outbox.queue(room, line.text)
    }
    this.render('bottom')
    $<HTMLTextAreaElement>('text').focus()
    renderConnection('connecting')
    this.roomsTimer = setInterval(() => void this.refreshPublicRooms(), 15_000)
  }

  /** The sign-in as it is now: its token is refreshed as it goes. */
  get session(): Session {
    return this.renewal.current
  }

  /** A session another tab saved (a refreshed token): taken if it is this user's and newer. */
  adopt(session: Session): void {
    this.renewal.adopt(session)
  }

  /** Ends this sign-in; returns the lines still waiting, to carry to the next. */
  close(): Line[] {
    const lines = this.outbox.lines()
    this.renewal.close()
    clearInterval(this.roomsTimer)
    this.typing.stop()
    this.admin.close()
    this.closed = true
    this.connection.close()
    for (const room of this.rooms.all()) this.forget(room)
    showNotice(undefined)
    return lines
  }

  /** Joins (or creates) a public room by name and opens it; false if the name is not a room name. */
  join(name: string): boolean {
    if (!isRoomName(name)) {
      this.showJoinError(ROOM_NAMES)
      return false
    }
    this.showJoinError(undefined)
    const known = this.rooms.get(name)
    const room = this.rooms.add(name)
    if (known === undefined) room.chosen = true
    this.openRoom(name)
    if (this.connection.connected && !room.joined) void this.sync.join(room)
    return true
  }

  /** Makes a private room with that title, and opens it; returns why not, if refused. */
  createPrivate(title: string): Promise<string | undefined> {
    return this.admin.createPrivate(title)
  }

  /** Accepts an invite code (from a link), and opens its room. */
  acceptInvite(code: string): Promise<void> {
    return this.admin.accept(code)
  }

  /** A new invite link for the open room, shown under its header. */
  async makeInvite(): Promise<void> {
    const room = this.rooms.open()
    if (room === undefined) return
    const made = await this.admin.invite(room)
    if (typeof made === 'string') {
      showNotice(made)
      return
    }
    this.invite = made
    this.render()
    $<HTMLInputElement>('invite-link').select()
  }

  send(text: string): void {
    const room = this.rooms.open()
    if (room === undefined || !hasVisibleText(text)) return
    this.outbox.queue(room, text)
    this.typing.stop()
    this.render('bottom')
    void this.outbox.pump(room)
  }

  typed(): void {
    this.typing.typed(this.rooms.open())
  }

  loadOlder(): void {
    void this.sync.loadOlder()
  }

  /** Closes the open member menu or deletion question (Escape); whether there was one. */
  dismiss(): boolean {
    if (this.menuFor === undefined && this.confirming === undefined) return false
    this.menuFor = undefined
    this.confirming = undefined
    this.render()
    return true
  }

  /** A fresh token goes to the live socket at once (a socket not connected sends it at connect). */
  private async tellSocket(session: Session): Promise<void> {
    if (this.closed || !this.connection.connected || this.connection.sentToken === session.token) return
    const outcome = await request(
      this.connection.socket,
      'auth:refresh',
      { token: session.token },
      { policy: ROOM_RETRY, wanted: () => !this.closed && this.renewal.token === session.token }
    )
    if (outcome.status === 'ok') this.connection.sentToken = session.token
    // Refused (revoked meanwhile, say): the socket keeps its old token until its end, and what
    // the server says then decides. Unanswered or offline: the next connect sends the new one.
  }

  /**
   * The server cut the socket because its token ended: revoked, the sign-in ends; expired, a
   * newer token (refreshed late, or by another tab) connects again, and without one the user
   * signs in again. Never a reconnect with the token that ended.
   */
  private async cut(): Promise<void> {
    if (this.closed) return
    const why = this.tokenEnded
    this.tokenEnded = undefined
    if (why === 'TOKEN_REVOKED') {
      this.hooks.revoked()
      return
    }
    const ended = this.connection.sentToken
    if (ended !== undefined && (await this.renewal.rescue(ended))) this.connection.reconnect()
    else if (!this.closed) this.hooks.unauthorized()
  }

  /** Each connect, the first and every reconnect: the user's rooms as the server has them, joined. */
  private async connected(): Promise<void> {
    const listed = await api<{ rooms: ListedRoom[] }>(this.session.token, 'GET', '/api/me/rooms')
    if (this.closed || !this.connection.connected) return
    // Not answered: the rooms held here are joined as they are, and the next connect asks again.
    if (listed.ok && Array.isArray(listed.body?.rooms)) {
      const { gone } = this.rooms.fromServer(listed.body.rooms)
      for (const room of gone) {
        this.forget(room)
        if (room.kind !== 'public') showNotice(`You're no longer a member of ${roomLabel(room)}.`)
      }
    }
    this.render('bottom')
    for (const room of this.rooms.all()) void this.sync.join(room)
    void this.refreshPublicRooms()
  }

  /** The user's role in a room: the member list's when read (it follows changes), else the room list's. */
  private roleIn(room: RoomState | undefined): RoleName | undefined {
    return room?.roster?.get(this.session.user.id)?.role ?? room?.role
  }

  private render(keep: Keep = 'auto'): void {
    if (this.closed) return
    const room = this.rooms.open()
    const me = this.session.user
    const role = this.roleIn(room)
    renderRooms(
      this.rooms.all(),
      this.rooms.active,
      (name) => this.openRoom(name),
      (name) => void this.leaveRoom(name)
    )
    // Told apart: anyone whose name looks like another's among all the room shows.
    const tags = room === undefined ? new Map<string, string>() : lookAlikeTags(peopleOf(room))
    renderRoomHead(room, me, role, tags)
    this.renderInvite(room)
    const online = room?.joined === true && this.connection.connected
    const pending = {
      retry: (clientId: string) => room && this.outbox.retry(room, clientId),
      edit: (clientId: string) => room && this.takeBack(room, clientId),
      discard: (clientId: string) => room && this.takeBack(room, clientId, true)
    }
    const moderates = room?.kind !== 'direct' && (role === 'owner' || role === 'moderator')
    renderMessages(
      room,
      me,
      pending,
      keep,
      online,
      {
        mayDelete: (m) => online && (m.user.id === me.id || moderates),
        confirming: this.confirming,
        ask: (id) => {
          this.confirming = id
          this.render()
        },
        remove: (m) => room && void this.deleteMessage(room, m)
      },
      tags
    )
    renderMemberPanel(
      room,
      me,
      role,
      {
        openMenu: this.menuFor,
        toggle: (userId) => {
          this.menuFor = userId
          this.render()
        },
        act: (action, member) => room && this.memberAction(room, action, member)
      },
      tags
    )
    // Lines written while the connection is away wait in the list, and go once the room is
    // joined again (their clientIds make that safe).
    $<HTMLTextAreaElement>('text').disabled = room === undefined
    $<HTMLTextAreaElement>('text').placeholder =
      room === undefined ? 'Join a room to write' : `Message ${roomLabel(room)}`
    $<HTMLButtonElement>('send').disabled = room === undefined
    // A page of history that does not fill the list leaves nothing to scroll: the next page is
    // read now, as a scroll to the top would.
    if (room?.joined === true && messagesFit()) void this.sync.loadOlder()
  }

  private renderInvite(room: RoomState | undefined): void {
    const shown = this.invite !== undefined && this.invite.room === room?.name ? this.invite : undefined
    $('invite-panel').hidden = shown === undefined
    if (shown === undefined) return
    const input = $<HTMLInputElement>('invite-link')
    if (input.value !== shown.link) input.value = shown.link
    const until =
      shown.expiresAt === undefined
        ? ''
        : ` until ${new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(shown.expiresAt))}`
    $('invite-note').textContent =
      `Anyone signed in who opens this link joins the room${until}. Share it only with people you mean to invite.`
  }

  private memberAction(room: RoomState, action: MemberAction, member: { id: string; name: string; role: RoleName }) {
    this.menuFor = undefined
    this.render()
    if (action === 'direct') void this.admin.direct(member)
    else void this.admin.act(action, room, member)
  }

  private async deleteMessage(room: RoomState, m: Message): Promise<void> {
    this.confirming = undefined
    this.render()
    // The deletion comes back to every socket in the room as an entry, this one's too.
    const outcome = await request(this.connection.socket, 'message:delete', { room: room.name, id: m.id })
    if (outcome.status === 'refused') {
      showNotice(
        outcome.error.code === 'FORBIDDEN'
          ? "You can't delete that message."
          : `The message was not deleted: ${describeError(outcome.error).replace(/^Not sent: /, '')}`
      )
    } else if (outcome.status !== 'ok') showNotice('The message was not deleted: no answer from the server. Try again.')
  }

  /** A failed line out of the list: back to the composer (edit), or gone (discard). */
  private takeBack(room: RoomState, clientId: string, discard = false): void {
    const line = this.outbox.remove(room, clientId)
    this.render()
    if (line !== undefined && !discard) this.hooks.edit(line.text)
    void this.outbox.pump(room)
  }

  private showJoinError(text: string | undefined, room?: string): void {
    $('join-error').textContent = text ?? ''
    this.joinErrorRoom = room
  }

  private openRoom(name: string): void {
    if (this.rooms.active !== name) {
      showNote(undefined)
      this.menuFor = undefined
      this.confirming = undefined
    }
    this.rooms.show(name)
    showRoomsMenu(false)
    this.render('bottom')
    const room = this.rooms.get(name)
    if (room?.joined === true) void this.admin.readRoster(room)
    $<HTMLTextAreaElement>('text').focus()
  }

  /** A room the user now has, by their act here or someone else's (room:added): listed and joined. */
  private enter(info: RoomInfo, role: RoleName | undefined, open = true): RoomState {
    const known = this.rooms.get(info.name)
    const room = this.rooms.add(info.name, { ...info, role: role ?? known?.role }, known === undefined)
    if (!room.joined) room.chosen = true
    if (open) this.openRoom(info.name)
    else this.render()
    if (this.connection.connected && !room.joined) void this.sync.join(room)
    return room
  }

  private async leaveRoom(name: string): Promise<void> {
    this.dropRoom(name)
    // For good: the membership ends on the server (every device follows); the socket leaves too.
    const [why] = await Promise.all([
      this.admin.leave(name),
      request(this.connection.socket, 'room:leave', { room: name })
    ])
    if (why !== undefined) showNotice(why)
    this.refreshPublicRoomsSoon()
  }

  /** Forgets a room here and in what is saved; the next room is shown if it was the open one. */
  private dropRoom(name: string): void {
    const wasOpen = this.rooms.active === name
    const room = this.rooms.drop(name)
    if (room !== undefined) this.forget(room)
    if (this.invite?.room === name) this.invite = undefined
    if (wasOpen) {
      showNote(undefined)
      this.menuFor = undefined
      this.confirming = undefined
      const next = this.rooms.open()
      if (next?.joined === true) void this.admin.readRoster(next)
    }
    this.render('bottom')
  }

  private forget(room: RoomState): void {
    this.sync.forget(room)
    this.outbox.forget(room)
  }

  /** Presence changes move the counts: refresh the list soon, at most once a second. */
  private refreshPublicRoomsSoon(): void {
    if (this.roomsRefresh !== undefined) return
    this.roomsRefresh = setTimeout(() => {
      this.roomsRefresh = undefined
      void this.refreshPublicRooms()
    }, 1000)
  }

  private async refreshPublicRooms(): Promise<void> {
    if (this.closed) return
    const rooms = await fetchRooms(this.session.token).catch(() => [])
    renderPublicRooms(rooms, (name) => void this.join(name))
  }

  /** The server's events for this sign-in. */
  private listen(): void {
    const socket = this.connection.socket
    socket.on('message', (entry) => this.sync.incoming([entry]))
    socket.on('messages', (entries) => this.sync.incoming(entries))
    socket.on('presence', ({ room, user, status }) => {
      const state = this.rooms.get(room)
      if (state === undefined) return
      if (status === 'joined') {
        state.members.set(user.id, user)
        // Someone new to the member list: a public room's newcomer, or one just added. Their
        // role is read with the list.
        if (state.roster !== undefined && !state.roster.has(user.id)) {
          state.roster.set(user.id, { ...user, role: 'member' })
          this.admin.rosterSoon(state)
        }
      } else {
        state.members.delete(user.id)
        // Someone who left is typing no more (a closed tab never says so).
        state.typing.delete(user.id)
      }
      this.render()
      this.refreshPublicRoomsSoon()
    })
    socket.on('typing', ({ room, user, typing }) => {
      const state = this.rooms.get(room)
      if (state === undefined) return
      if (typing) state.typing.set(user.id, { member: user, until: Date.now() + TYPING_SHOWN_MS })
      else state.typing.delete(user.id)
      this.render()
      if (typing) setTimeout(() => this.render(), TYPING_SHOWN_MS + 50)
    })
    socket.on('room:added', ({ room, role }) => {
      const known = this.rooms.get(room.name) !== undefined
      this.enter(room, role, false)
      if (!known)
        showNotice(
          room.kind === 'direct' ? `New direct conversation with ${room.title}.` : `You were added to ${room.title}.`
        )
    })
    // A role given, a member added or gone: the member list and the menus follow at once.
    socket.on('room:member', ({ room, userId, role }) => {
      const state = this.rooms.get(room)
      if (state === undefined) return
      if (userId === this.session.user.id && role !== null) state.role = role
      const known = state.roster?.get(userId)
      if (role === null) state.roster?.delete(userId)
      else if (known !== undefined) known.role = role
      else if (state.roster !== undefined && room === this.rooms.active) void this.admin.readRoster(state)
      this.render()
    })
    socket.on('room:removed', ({ room, reason }) => {
      const held = this.rooms.get(room)
      if (held === undefined) return
      const words = REMOVED_WORDS[reason]?.(roomLabel(held))
      this.dropRoom(room)
      if (words !== undefined) showNotice(words)
    })
    socket.on('chat:error', (error) => {
      // The token ended: the disconnect that follows is handled by what it says (cut).
      if (error.event === 'auth') {
        if (error.code === 'TOKEN_EXPIRED' || error.code === 'TOKEN_REVOKED') this.tokenEnded = error.code
        return
      }
      // A typing indicator that was refused (rate limit) is not worth a word to the user.
      if (error.event === 'typing') return
      this.showJoinError(describeError(error))
    })
  }
}
