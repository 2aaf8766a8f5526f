// What the client knows of one room: its entries by seq (so one that arrives twice, from a
// broadcast and from a rejoin, is shown once; a deletion is an entry too, which turns its target
// into a tombstone), sends still waiting for their acknowledgement, members and who is typing.
// No DOM here.
import { roomKind } from '../../src/chat/limits.js'
import type { Entry, ErrorBody, Member, Message, RoleName, RoomKindName } from '../../src/chat/protocol.js'

export interface Pending {
  clientId: string
  text: string
  /** Local clock when first sent, for ordering among pending lines. */
  createdAt: number
  state: 'sending' | 'failed' | 'waiting'
  error?: ErrorBody
  /** A try went without an answer (a server that stalls): the line is being tried again. */
  unanswered?: boolean
}

/** A member as the member list has them: a role, and whether the server says they are a guest (Member's `guest`). */
export interface RosterMember extends Member {
  role: RoleName
}

/** An entry without `type` is a message; any other is a change to one (a deletion, later edits). */
export const isMessage = (entry: Entry): entry is Message => (entry as { type?: string }).type === undefined

export class RoomState {
  /** The room's entries by seq: messages, and deletions (which are never shown themselves). */
  readonly entries = new Map<number, Entry>()
  readonly pending = new Map<string, Pending>()
  readonly members = new Map<string, Member>()
  readonly typing = new Map<string, { member: Member; until: number }>()
  /** Ids of messages a deletion entry names: one held later (an older page) comes deleted. */
  private readonly deleted = new Set<string>()
  kind: RoomKindName
  /** What the room is called: its name until the server says otherwise (RoomInfo.title). */
  title: string
  /** The user's role here, once the server said (the room list, room:added, a room made). */
  role: RoleName | undefined
  /** Everyone who is a member (GET /api/rooms/:room/members), once read. */
  roster: Map<string, RosterMember> | undefined
  /**
   * Asked for on this page (joined by name, made, accepted, opened with someone) and not yet
   * confirmed by a join: kept even when a room list read meanwhile does not name it yet.
   */
  chosen = false
  unread = 0
  /** False once a history page came back short: nothing older is left to load. */
  hasOlder = true
  joined = false
  /** The history was reset: the next join's messages are counted unread like live ones. */
  replaced = false

  constructor(readonly name: string) {
    this.kind = roomKind(name)
    this.title = name
  }

  /**
   * The newest seq held with no hole below it (down to the oldest held): a rejoin asks for
   * everything after it (`since`). Not simply the newest held: an acknowledgement can bring
   * seq 11 before the broadcast of seq 10 arrives, and asking after 11 would lose 10.
   */
  lastSeq(): number {
    let top = this.oldestSeq() ?? 0
    while (this.entries.has(top + 1)) top++
    return top
  }

  oldestSeq(): number | undefined {
    let low: number | undefined
    for (const seq of this.entries.keys()) if (low === undefined || seq < low) low = seq
    return low
  }

  /** A line the user wrote, waiting to be sent (in the order written). */
  queue(clientId: string, text: string): void {
    this.pending.set(clientId, { clientId, text, createdAt: Date.now(), state: 'sending' })
  }

  /**
   * Adds entries; returns those that were new. A stored message replaces its pending line; a
   * deletion turns its target into a tombstone, whether held already or read later; a message
   * held and now coming back deleted (a rejoin's overlap, an older page) is a tombstone too.
   */
  add(entries: Entry[]): Entry[] {
    const fresh: Entry[] = []
    for (const e of entries) {
      if (e.room !== this.name) continue
      const held = this.entries.get(e.seq)
      if (held !== undefined) {
        if (held.id === e.id && isMessage(held) && isMessage(e) && e.deleted === true) this.tombstone(e.seq, held)
        continue
      }
      this.entries.set(e.seq, e)
      fresh.push(e)
      if (isMessage(e)) {
        if (e.clientId !== undefined) this.pending.delete(e.clientId)
        if (this.deleted.has(e.id)) this.tombstone(e.seq, e)
      } else if (e.type === 'deletion') this.deleteTarget(e.target)
    }
    return fresh
  }

  private deleteTarget(id: string): void {
    this.deleted.add(id)
    for (const [seq, held] of this.entries) {
      if (held.id === id && isMessage(held)) this.tombstone(seq, held)
    }
  }

  private tombstone(seq: number, m: Message): void {
    if (m.deleted !== true) this.entries.set(seq, { ...m, text: '', deleted: true })
  }

  /** An entry is held above a missing seq. */
  hasHole(): boolean {
    const last = this.lastSeq()
    for (const seq of this.entries.keys()) if (seq > last) return true
    return false
  }

  /** Whether `e` leaves a hole after what is held, which a history read must fill. */
  leavesGap(e: Entry): boolean {
    const last = this.lastSeq()
    return last > 0 && e.seq > last + 1 && !this.entries.has(e.seq)
  }

  /**
   * What a rejoin's answer says of the history held up to seq `last`. The rejoin asks from the
   * seq before `last`, so that the answer brings `last` again to compare: a server that lost
   * its history (a memory store restarted, a room dropped or expired) counts seqs from 1 again,
   * and its seq 8 is another message than ours.
   */
  rejoined(last: number, messages: Entry[], recovered: boolean): 'continues' | 'trimmed' | 'lost' {
    const again = messages.find((m) => m.seq === last)
    if (again !== undefined) return again.id === this.entries.get(last)?.id ? 'continues' : 'lost'
    // `last` itself was trimmed, but everything after it is there: nothing was missed.
    if (messages[0]?.seq === last + 1) return 'continues'
    const top = messages.reduce((max, m) => Math.max(max, m.seq), 0)
    return !recovered && top >= last ? 'trimmed' : 'lost'
  }

  /** The messages to show, in seq order (deletion entries are not shown; their targets are). */
  ordered(): Message[] {
    return [...this.entries.values()].filter(isMessage).sort((a, b) => a.seq - b.seq)
  }

  /**
   * The server holds another history than this one: what is shown, and counted unread, goes.
   * The history the next join brings is all news (`replaced` until then).
   */
  reset(): void {
    this.entries.clear()
    this.deleted.clear()
    this.hasOlder = true
    this.unread = 0
    this.replaced = true
  }
}
