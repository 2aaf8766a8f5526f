// Test clients that behave as a careful chat client does (reconnect, rejoin with `since`) and
// count every message by seq, so the fault tests can say exactly what was lost or doubled.
import { io } from 'socket.io-client'
import type { Test } from 'tap'
import type { Message } from '../../src/chat/protocol.js'
import type { ClientSocket } from '../helpers.js'

export class CountingMember {
  readonly socket: ClientSocket
  /** Every seq this member holds, from broadcasts and from rejoin history. */
  readonly seqs = new Set<number>()
  /** The text of every message held (the senders write their clientId as the text). */
  readonly texts = new Set<string>()
  /** Seqs received as broadcasts: one seq twice here is a duplicate. */
  private readonly broadcast = new Set<number>()
  duplicates = 0
  outOfOrder = 0
  reconnects = -1
  private lastBroadcast = 0

  constructor(
    t: Test,
    url: string,
    token: string,
    readonly room: string
  ) {
    this.socket = io(url, {
      auth: { token },
      transports: ['websocket'],
      reconnectionDelay: 50,
      reconnectionDelayMax: 500,
      forceNew: true
    })
    t.teardown(() => this.socket.disconnect())
    this.socket.on('connect', () => {
      this.reconnects++
      this.lastBroadcast = 0
      void this.rejoin()
    })
    this.socket.on('message', (m) => this.received(m as Message))
    this.socket.on('messages', (list) => {
      for (const m of list) this.received(m as Message)
    })
  }

  private received(m: Message): void {
    if (m.room !== this.room) return
    if (this.broadcast.has(m.seq)) this.duplicates++
    if (m.seq <= this.lastBroadcast) this.outOfOrder++
    this.lastBroadcast = m.seq
    this.broadcast.add(m.seq)
    this.seqs.add(m.seq)
    this.texts.add(m.text)
  }

  /** The highest n such that 1..n are all held. */
  contiguous(): number {
    let n = 0
    while (this.seqs.has(n + 1)) n++
    return n
  }

  private async rejoin(): Promise<void> {
    // A node may be draining or Redis away: keep asking until the join is answered.
    for (let attempt = 0; attempt < 200 && this.socket.connected; attempt++) {
      const answer = await this.socket
        .timeout(3000)
        .emitWithAck('room:join', { room: this.room, since: this.contiguous() })
        .catch(() => undefined)
      if (answer?.ok) {
        for (const m of answer.messages) {
          this.seqs.add(m.seq)
          this.texts.add(m.text)
        }
        return
      }
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  connected(): Promise<void> {
    return new Promise((resolve) => (this.socket.connected ? resolve() : this.socket.once('connect', () => resolve())))
  }
}

/** Sends steadily, with a clientId each, and records how every send was answered. */
export class Sender {
  readonly acked = new Set<number>()
  sent = 0
  refused = 0
  /** Error code of each refused send, by its clientId. */
  readonly refusals = new Map<string, string>()
  unanswered = 0
  private timer: NodeJS.Timeout | undefined
  private pending = 0

  constructor(
    readonly member: CountingMember,
    readonly name: string,
    /** Retry a send answered UNAVAILABLE (nothing stored: retry later), as the web client does. */
    private readonly retryUnavailable = false
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => this.sendOne(), intervalMs)
  }

  private sendOne(): void {
    if (!this.member.socket.connected) return
    const clientId = `${this.name}-${this.sent++}`
    this.pending++
    void this.deliver(clientId).finally(() => this.pending--)
  }

  /** As a real client does: an unanswered send is retried with the same clientId. */
  private async deliver(clientId: string): Promise<void> {
    for (let attempt = 0; attempt < 4; attempt++) {
      if (attempt > 0) await this.member.connected()
      const answer = await this.member.socket
        .timeout(3000)
        .emitWithAck('message:send', { room: this.member.room, text: clientId, clientId })
        .catch(() => undefined)
      if (answer === undefined) continue
      if (!answer.ok && answer.error.code === 'UNAVAILABLE' && this.retryUnavailable && attempt < 3) {
        // A draining node refuses events that arrive after its last acknowledgements.
        await new Promise((r) => setTimeout(r, 100))
        continue
      }
      if (answer.ok) this.acked.add(answer.message.seq)
      else {
        this.refused++
        this.refusals.set(clientId, answer.error.code)
      }
      return
    }
    this.unanswered++
  }

  /** Stops sending and waits for every outstanding answer (or its time-out). */
  async stop(): Promise<void> {
    clearInterval(this.timer)
    while (this.pending > 0) await new Promise((r) => setTimeout(r, 20))
  }
}

/** Waits until every member holds every seq from 1 to `top`, or fails after `ms`. */
export async function untilComplete(members: CountingMember[], top: number, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!members.every((m) => m.contiguous() >= top)) {
    if (Date.now() > deadline) return
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** The counts a fault test prints and asserts on. */
export function tally(senders: Sender[], members: CountingMember[]) {
  const acked = new Set(senders.flatMap((s) => [...s.acked]))
  const top = Math.max(0, ...acked)
  return {
    sent: senders.reduce((n, s) => n + s.sent, 0),
    acknowledged: acked.size,
    refused: senders.reduce((n, s) => n + s.refused, 0),
    unanswered: senders.reduce((n, s) => n + s.unanswered, 0),
    delivered: members.reduce((n, m) => n + m.seqs.size, 0),
    lostAcknowledged: members.reduce((n, m) => n + [...acked].filter((seq) => !m.seqs.has(seq)).length, 0),
    gaps: members.reduce((n, m) => n + (Math.max(0, ...m.seqs) - m.contiguous()), 0),
    duplicates: members.reduce((n, m) => n + m.duplicates, 0),
    outOfOrder: members.reduce((n, m) => n + m.outOfOrder, 0),
    reconnects: members.reduce((n, m) => n + m.reconnects, 0),
    top
  }
}
