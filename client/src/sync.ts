// Keeping each room's entries as the server has them: the join (and the rejoin after a
// reconnect, asked with `since`), live entries (messages, and deletions that turn a message into
// a tombstone), the gap fill when a seq was missed, and older pages as the reader scrolls up.
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../../src/chat/limits.js'
import type { Entry, ErrorBody, Member } from '../../src/chat/protocol.js'
import { type ChatSocket, request } from './request.js'
import { ROOM_RETRY } from './retry.js'
import { isMessage, type RoomState } from './room-state.js'
import type { Rooms } from './rooms.js'

export const HISTORY_LOST = "The server lost this room's earlier history; here is what it has now."
const HISTORY_TRIMMED =
  'Not every message from while you were away is shown; scroll up for the earlier ones still kept.'

export type Keep = 'bottom' | 'position' | 'auto'

export interface SyncHandlers {
  render(keep?: Keep): void
  /** A note over the open room's messages (undefined: none). */
  note(text: string | undefined): void
  /** A join was refused (it may be tried again). */
  refused(room: RoomState, error: ErrorBody): void
  /**
   * A join was refused as it is: the room cannot be joined as it is named (`forbidden`: a
   * private room the user is not a member of, or a room they are banned from).
   */
  unjoinable(room: RoomState, forbidden: boolean): void
  /** A join succeeded: what waited for it can go. */
  joined(room: RoomState): void
}

export class Sync {
  /** Each room's join under way (asked, or waiting to ask again): a new one replaces it. */
  private readonly joins = new Map<RoomState, AbortController>()
  /** Each room's gap fill under way: one at a time. */
  private readonly fills = new Map<RoomState, AbortController>()
  private loadingOlder = false
  /** Not before this time (a refused or failed page waits a little before the next try). */
  private olderNotBefore = 0

  constructor(
    private readonly rooms: Rooms,
    private readonly socket: ChatSocket,
    private readonly me: Member,
    private readonly handlers: SyncHandlers
  ) {}

  /** Ends what is under way for a room that is no longer ours. */
  forget(room: RoomState): void {
    this.joins.get(room)?.abort()
    this.fills.get(room)?.abort()
  }

  /** The connection went: every room is to be joined again. */
  disconnected(): void {
    for (const room of this.rooms.all()) room.joined = false
  }

  async join(room: RoomState): Promise<void> {
    this.joins.get(room)?.abort()
    const controller = new AbortController()
    this.joins.set(room, controller)
    // Asked from one before the last seq held, so that the answer brings that one again to
    // compare (RoomState.rejoined).
    const last = room.entries.size > 0 ? room.lastSeq() : undefined
    const since = last === undefined ? undefined : last - 1
    // Too many joins at once (a reconnect with very many rooms), the store away, or no answer in
    // time from a connection still open (a stalled server): again later. Disconnected meanwhile:
    // the next connect rejoins. Left meanwhile: nothing to do with the answer.
    const payload = since === undefined ? { room: room.name } : { room: room.name, since }
    const outcome = await request(this.socket, 'room:join', payload, {
      policy: ROOM_RETRY,
      signal: controller.signal,
      wanted: () => !room.joined,
      onRetry: (failure) => {
        if ('error' in failure) this.handlers.refused(room, failure.error)
      }
    })
    if (this.joins.get(room) === controller) this.joins.delete(room)
    if (outcome.status === 'refused') {
      this.handlers.refused(room, outcome.error)
      // Refused as it is (a connection's rooms are bounded): it is no room of ours. Forbidden
      // (not a member, or banned): nothing of it is ours to show any more.
      const empty = room.entries.size === 0 && room.pending.size === 0
      if (outcome.error.code === 'FORBIDDEN') this.handlers.unjoinable(room, true)
      else if (outcome.error.code === 'INVALID_PAYLOAD' && !room.joined && empty) this.handlers.unjoinable(room, false)
      return
    }
    if (outcome.status !== 'ok') return
    const answer = outcome.answer
    room.joined = true
    room.members.clear()
    for (const m of answer.members) room.members.set(m.id, m)
    const continues = last === undefined ? 'continues' : room.rejoined(last, answer.messages, answer.recovered)
    if (continues !== 'continues') {
      // The server no longer has everything after what we hold, or holds another history: start
      // from what it has.
      room.reset()
      if (room.name === this.rooms.active) this.handlers.note(continues === 'trimmed' ? HISTORY_TRIMMED : HISTORY_LOST)
      // What comes after our seq in another history means nothing: its latest page instead.
      if (continues === 'lost') return this.join(room)
    }
    const fresh = room.add(answer.messages)
    // A page may come back short (the server bounds an answer's size): only seq 1 ends it.
    if (since === undefined) room.hasOlder = (answer.messages[0]?.seq ?? 1) > 1
    // What came after what we held is news; so is a whole history that replaced ours (whose
    // unread count went with it). A first join's history is not.
    if ((since !== undefined || room.replaced) && room.name !== this.rooms.active) {
      room.unread += fresh.filter((e) => isMessage(e) && e.user.id !== this.me.id).length
    }
    room.replaced = false
    this.handlers.render(since === undefined ? 'bottom' : 'auto')
    this.handlers.joined(room)
  }

  /** Entries from the server, live or coalesced: messages, and deletions. */
  incoming(entries: Entry[]): void {
    for (const m of entries) {
      const room = this.rooms.get(m.room)
      if (room === undefined) continue
      const held = room.entries.get(m.seq)
      if (held !== undefined && held.id !== m.id) {
        // Another entry under a seq we hold: the server's history started over (a Redis that
        // lost its data, a room that expired). Start from what it has now.
        room.reset()
        room.joined = false
        if (room.name === this.rooms.active) this.handlers.note(HISTORY_LOST)
        void this.join(room)
        continue
      }
      if (room.leavesGap(m)) void this.fillGap(room)
      // A deletion moves the seq like a message (no gap), and shows only as its target's tombstone.
      const fresh = room.add([m])
      if (!isMessage(m)) continue
      if (fresh.length > 0 && m.room !== this.rooms.active && m.user.id !== this.me.id) room.unread++
      room.typing.delete(m.user.id)
    }
    this.handlers.render()
  }

  /** A hole in the seqs (a missed broadcast): read what is missing instead of living with it. */
  private async fillGap(room: RoomState): Promise<void> {
    if (this.fills.has(room)) return
    const controller = new AbortController()
    this.fills.set(room, controller)
    let after = room.lastSeq()
    for (;;) {
      // Refused, or unanswered on a connection still open: the same hole again later, while it
      // is still there (a rejoin may fill it first).
      const outcome = await request(
        this.socket,
        'room:history',
        { room: room.name, after, limit: MAX_PAGE_SIZE },
        { policy: ROOM_RETRY, signal: controller.signal, wanted: () => room.lastSeq() === after }
      )
      if (outcome.status !== 'ok') break
      room.add(outcome.answer.messages)
      this.handlers.render()
      // A page cut short (the server bounds an answer's size) leaves the rest of the hole: on.
      if (outcome.answer.messages.length === 0 || room.lastSeq() <= after || !room.hasHole()) break
      after = room.lastSeq()
    }
    if (this.fills.get(room) === controller) this.fills.delete(room)
  }

  /** The page before the oldest message the open room holds, asked by a scroll to the top. */
  async loadOlder(): Promise<void> {
    const room = this.rooms.open()
    const oldest = room?.oldestSeq()
    if (room === undefined || oldest === undefined || oldest <= 1 || !room.hasOlder) return
    if (this.loadingOlder || Date.now() < this.olderNotBefore) return
    this.loadingOlder = true
    const payload = { room: room.name, before: oldest, limit: DEFAULT_PAGE_SIZE }
    const outcome = await request(this.socket, 'room:history', payload)
    this.loadingOlder = false
    // Asked again by the next scroll, not by a timer; after a failure, not for a moment.
    if (outcome.status !== 'ok') {
      this.olderNotBefore = Date.now() + (outcome.status === 'refused' ? (outcome.error.retryAfterMs ?? 2000) : 2000)
      return
    }
    const { messages } = outcome.answer
    // Short pages go on (the server bounds an answer's size); an empty one is the end.
    if (messages.length === 0) room.hasOlder = false
    room.add(messages)
    this.handlers.render('position')
  }
}
