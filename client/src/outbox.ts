// Lines the user wrote, until the server has stored them: sent one at a time per room in the
// order written, each with a clientId that makes sending it again safe, held back by a rate
// limit or an outage, kept for the user to retry, edit or discard when refused as they are.
import { type ChatSocket, request } from './request.js'
import { SEND_RETRY } from './retry.js'
import type { Pending, RoomState } from './room-state.js'
import type { Rooms } from './rooms.js'

/** A line not yet stored, as carried from one sign-in to the next. */
export interface Line {
  room: string
  text: string
}

export function newClientId(): string {
  // crypto.randomUUID exists only in secure contexts; getRandomValues works everywhere.
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

const byAge = (a: Pending, b: Pending) => a.createdAt - b.createdAt

export class Outbox {
  /** Each room's line being sent (asked, or waiting out a refusal): one at a time. */
  private readonly sends = new Map<RoomState, { line: Pending; controller: AbortController }>()

  constructor(
    private readonly rooms: Rooms,
    private readonly socket: ChatSocket,
    private readonly render: () => void
  ) {}

  /** Puts a line in its room's queue; `pump` sends it. */
  queue(room: RoomState, text: string): void {
    room.queue(newClientId(), text)
  }

  /** Every line still waiting, room by room in the order written (for the next sign-in). */
  lines(): Line[] {
    return this.rooms
      .all()
      .flatMap((room) => [...room.pending.values()].sort(byAge).map((p) => ({ room: room.name, text: p.text })))
  }

  /** Ends what is under way for a room that is no longer ours. */
  forget(room: RoomState): void {
    this.sends.get(room)?.controller.abort()
  }

  /**
   * Sends a room's pending lines one at a time, oldest first, so they are stored in the order
   * they were written: a line held back (rate limit, outage) holds back the ones after it. A
   * line that failed for good waits for the user (Retry or Discard) and is skipped meanwhile.
   */
  async pump(room: RoomState): Promise<void> {
    // Only into a room this connection has joined (a line written meanwhile waits for the join),
    // and only a room still ours (one left and joined again is a new RoomState).
    if (this.sends.has(room) || !this.socket.connected || !room.joined || !this.rooms.holds(room)) return
    const next = [...room.pending.values()].filter((p) => p.state !== 'failed').sort(byAge)[0]
    if (next === undefined || next.state === 'waiting') return
    const controller = new AbortController()
    this.sends.set(room, { line: next, controller })
    // Held back (rate limit, outage): the line says why and waits; no answer (a stalled server):
    // sent again at once, its clientId making that safe.
    const outcome = await request(
      this.socket,
      'message:send',
      { room: room.name, text: next.text, clientId: next.clientId },
      {
        policy: SEND_RETRY,
        signal: controller.signal,
        wanted: () => room.pending.has(next.clientId) && room.joined && this.rooms.holds(room),
        onRetry: (failure) => {
          if ('unanswered' in failure) next.unanswered = true
          else {
            next.error = failure.error
            next.state = 'waiting'
          }
          this.render()
        },
        onResume: () => {
          next.state = 'sending'
          next.error = undefined
        }
      }
    )
    this.sends.delete(room)
    if (room.pending.has(next.clientId)) {
      if (outcome.status === 'ok') room.add([outcome.answer.message])
      else if (outcome.status === 'refused') {
        next.error = outcome.error
        next.state = 'failed'
      } else {
        // Not sent now (disconnected, or its wait cut short): it goes again, now or after the
        // reconnect.
        if (outcome.status === 'offline' && outcome.dropped) next.unanswered = true
        next.state = 'sending'
        next.error = undefined
      }
    }
    this.render()
    void this.pump(room)
  }

  /** A line refused for a reason that may pass goes back in line by its original time. */
  retry(room: RoomState, clientId: string): void {
    const pending = room.pending.get(clientId)
    if (pending === undefined) return
    pending.state = 'sending'
    pending.error = undefined
    // Ahead of a later line that is waiting out a refusal.
    const sending = this.sends.get(room)
    if (sending?.line.state === 'waiting') sending.controller.abort()
    this.render()
    void this.pump(room)
  }

  /** Takes a line out of the queue (to edit it, or for good); returns it. */
  remove(room: RoomState, clientId: string): Pending | undefined {
    const pending = room.pending.get(clientId)
    room.pending.delete(clientId)
    return pending
  }
}
