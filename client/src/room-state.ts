// What the client knows of one room: messages by seq (so a message that arrives twice, from a
// broadcast and from a rejoin, is shown once), sends still waiting for their acknowledgement,
// members and who is typing. No DOM here.
import type { ErrorBody, Member, Message } from '../../src/chat/protocol.js'

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

export class RoomState {
  readonly messages = new Map<number, Message>()
  readonly pending = new Map<string, Pending>()
  readonly members = new Map<string, Member>()
  readonly typing = new Map<string, { member: Member; until: number }>()
  unread = 0
  /** False once a history page came back short: nothing older is left to load. */
  hasOlder = true
  joined = false
  /** The history was reset: the next join's messages are counted unread like live ones. */
  replaced = false

  constructor(readonly name: string) {}

  /**
   * The newest seq held with no hole below it (down to the oldest held): a rejoin asks for
   * everything after it (`since`). Not simply the newest held: an acknowledgement can bring
   * seq 11 before the broadcast of seq 10 arrives, and asking after 11 would lose 10.
   */
  lastSeq(): number {
    let top = this.oldestSeq() ?? 0
    while (this.messages.has(top + 1)) top++
    return top
  }

  oldestSeq(): number | undefined {
    let low: number | undefined
    for (const seq of this.messages.keys()) if (low === undefined || seq < low) low = seq
    return low
  }

  /** A line the user wrote, waiting to be sent (in the order written). */
  queue(clientId: string, text: string): void {
    this.pending.set(clientId, { clientId, text, createdAt: Date.now(), state: 'sending' })
  }

  /** Adds messages; returns those that were new. A stored message replaces its pending line. */
  add(messages: Message[]): Message[] {
    const fresh: Message[] = []
    for (const m of messages) {
      if (m.room !== this.name || this.messages.has(m.seq)) continue
      this.messages.set(m.seq, m)
      if (m.clientId !== undefined) this.pending.delete(m.clientId)
      fresh.push(m)
    }
    return fresh
  }

  /** Whether `m` leaves a hole after what is held, which a history read must fill. */
  /** A message is held above a missing seq. */
  hasHole(): boolean {
    const last = this.lastSeq()
    for (const seq of this.messages.keys()) if (seq > last) return true
    return false
  }

  leavesGap(m: Message): boolean {
    const last = this.lastSeq()
    return last > 0 && m.seq > last + 1 && !this.messages.has(m.seq)
  }

  /**
   * What a rejoin's answer says of the history held up to seq `last`. The rejoin asks from the
   * seq before `last`, so that the answer brings `last` again to compare: a server that lost
   * its history (a memory store restarted, a room dropped or expired) counts seqs from 1 again,
   * and its seq 8 is another message than ours.
   */
  rejoined(last: number, messages: Message[], recovered: boolean): 'continues' | 'trimmed' | 'lost' {
    const again = messages.find((m) => m.seq === last)
    if (again !== undefined) return again.id === this.messages.get(last)?.id ? 'continues' : 'lost'
    // `last` itself was trimmed, but everything after it is there: nothing was missed.
    if (messages[0]?.seq === last + 1) return 'continues'
    const top = messages.reduce((max, m) => Math.max(max, m.seq), 0)
    return !recovered && top >= last ? 'trimmed' : 'lost'
  }

  /** Messages in seq order. */
  ordered(): Message[] {
    return [...this.messages.values()].sort((a, b) => a.seq - b.seq)
  }

  /**
   * The server holds another history than this one: what is shown, and counted unread, goes.
   * The history the next join brings is all news (`replaced` until then).
   */
  reset(): void {
    this.messages.clear()
    this.hasOlder = true
    this.unread = 0
    this.replaced = true
  }
}
