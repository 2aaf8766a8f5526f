// One sign-in's chat screen: its rooms, connection, sync and outbox, wired to each other and to
// what the page shows. Made at sign-in, closed at sign-out; nothing of it runs after that.
import { hasVisibleText, isRoomName } from '../../src/chat/limits.js'
import type { Message } from '../../src/chat/protocol.js'
import { Connection } from './connection.js'
import { type Line, Outbox } from './outbox.js'
import { request } from './request.js'
import type { RoomState } from './room-state.js'
import { Rooms } from './rooms.js'
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
  showNote,
  showRoomsMenu
} from './view.js'

const TYPING_SHOWN_MS = 6000
const ROOM_NAMES = 'Room names are 1–64 letters, digits, dots, dashes or underscores, starting with a letter or digit.'

export interface ChatHooks {
  /** A line refused as it is goes back to the composer to be changed. */
  edit(text: string): void
  /** The server no longer takes the token. */
  unauthorized(): void
}

export class Chat {
  private readonly rooms = Rooms.restore()
  private readonly connection: Connection
  private readonly sync: Sync
  private readonly outbox: Outbox
  private readonly typing: Typing
  private readonly roomsTimer: ReturnType<typeof setInterval>
  private roomsRefresh: ReturnType<typeof setTimeout> | undefined
  /** The room a shown join error is about, if it came from a refused join. */
  private joinErrorRoom: string | undefined
  private closed = false

  constructor(
    readonly session: Session,
    carried: Line[],
    private readonly hooks: ChatHooks
  ) {
    this.connection = new Connection(session.token, {
      connected: () => {
        for (const room of this.rooms.all()) void this.sync.join(room)
        void this.refreshPublicRooms()
      },
      disconnected: () => {
        this.sync.disconnected()
        this.render()
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
      unjoinable: (room) => this.dropRoom(room.name),
      joined: (room) => {
        if (this.joinErrorRoom === room.name) this.showJoinError(undefined)
        this.refreshPublicRoomsSoon()
        void this.outbox.pump(room)
      }
    })
    this.outbox = new Outbox(this.rooms, socket, () => this.render())
    this.typing = new Typing(socket, this.rooms)
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

  /** Ends this sign-in; returns the lines still waiting, to carry to the next. */
  close(): Line[] {
    const lines = this.outbox.lines()
    clearInterval(this.roomsTimer)
    this.typing.stop()
    this.closed = true
    this.connection.close()
    for (const room of this.rooms.all()) this.forget(room)
    return lines
  }

  /** Joins (or creates) a room and opens it; false if the name is not a room name. */
  join(name: string): boolean {
    if (!isRoomName(name)) {
      this.showJoinError(ROOM_NAMES)
      return false
    }
    this.showJoinError(undefined)
    const room = this.rooms.add(name)
    this.openRoom(name)
    if (this.connection.connected && !room.joined) void this.sync.join(room)
    return true
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

  private render(keep: Keep = 'auto'): void {
    if (this.closed) return
    const room = this.rooms.open()
    const me = this.session.user
    renderRooms(
      this.rooms.all(),
      this.rooms.active,
      (name) => this.openRoom(name),
      (name) => this.leaveRoom(name)
    )
    renderRoomHead(room, me)
    const online = room?.joined === true && this.connection.connected
    const pending = {
      retry: (clientId: string) => room && this.outbox.retry(room, clientId),
      edit: (clientId: string) => room && this.takeBack(room, clientId),
      discard: (clientId: string) => room && this.takeBack(room, clientId, true)
    }
    renderMessages(room, me, pending, keep, online)
    // Lines written while the connection is away wait in the list, and go once the room is
    // joined again (their clientIds make that safe).
    $<HTMLTextAreaElement>('text').disabled = room === undefined
    $<HTMLTextAreaElement>('text').placeholder = room === undefined ? 'Join a room to write' : `Message #${room.name}`
    $<HTMLButtonElement>('send').disabled = room === undefined
    // A page of history that does not fill the list leaves nothing to scroll: the next page is
    // read now, as a scroll to the top would.
    if (room?.joined === true && messagesFit()) void this.sync.loadOlder()
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
    if (this.rooms.active !== name) showNote(undefined)
    this.rooms.show(name)
    showRoomsMenu(false)
    this.render('bottom')
    $<HTMLTextAreaElement>('text').focus()
  }

  private leaveRoom(name: string): void {
    this.dropRoom(name)
    void request(this.connection.socket, 'room:leave', { room: name }).then((outcome) => {
      if (outcome.status === 'ok' || outcome.status === 'refused') this.refreshPublicRoomsSoon()
    })
  }

  /** Forgets a room here and in what is saved; the next room is shown if it was the open one. */
  private dropRoom(name: string): void {
    const wasOpen = this.rooms.active === name
    const room = this.rooms.drop(name)
    if (room !== undefined) this.forget(room)
    if (wasOpen) showNote(undefined)
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
    // Deletion entries are not read yet: no room has any until message:delete is served.
    socket.on('message', (m) => this.sync.incoming([m as Message]))
    socket.on('messages', (list) => this.sync.incoming(list as Message[]))
    socket.on('presence', ({ room, user, status }) => {
      const state = this.rooms.get(room)
      if (state === undefined) return
      if (status === 'joined') state.members.set(user.id, user)
      else {
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
    socket.on('chat:error', (error) => {
      // A typing indicator that was refused (rate limit) is not worth a word to the user.
      if (error.event === 'typing') return
      this.showJoinError(describeError(error))
    })
  }
}
