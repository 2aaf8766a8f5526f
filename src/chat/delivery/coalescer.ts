// Delivering a room's entries from its feed to this node's sockets, memory store or Redis. A
// message to a quiet room goes out at once as `message`. In a busy room (another message within
// the last few windows) a message waits at most one window for company, and what gathered goes
// as one `messages` packet: one WebSocket frame per socket instead of one per message. A small
// room never waits: a frame saved there is a few writes, less than the message's own cost.
// The sender's connection is held until the room's next packet here (at most HOLD_MAX_MS), so
// that its acknowledgement and its message leave in one write. docs/architecture.md says why.
import type { Adapter } from 'socket.io-adapter'
import { type Corkable, corkableOf } from './engine-internals.js'
import { RoomWriter } from './room-writer.js'
import { SenderHold } from './sender-hold.js'

/** A room that had a message lately: when, and what waits for the next packet. */
interface RoomState {
  lastAt: number
  /** The room's messages lately, each counted less as it ages (by e after QUIET_WINDOWS windows). */
  recent: number
  /** The waiting messages, as JSON. */
  messages: string[]
  traces: Array<Record<string, string>>
  timer: NodeJS.Timeout | undefined
  /** Set when a burst sends the waiting messages at the end of this turn, before the window ends. */
  soon: NodeJS.Immediate | undefined
  /** Senders' connections held until this packet is written (their acks wait with it). */
  held: Set<Corkable>
  /** Lets go of `held` if no packet comes in time. */
  holdTimer: NodeJS.Timeout | undefined
}

/** A room is quiet, and its next message goes at once, after this many windows without one. */
export const QUIET_WINDOWS = 10

/**
 * A burst: when this many times the messages a window usually brings the room are waiting (and
 * at least this many), they go at the end of the turn rather than at the window's end: the
 * largest packets would otherwise wait longest. A room busy all the time is no burst.
 */
export const BURST = 3

/** The longest a sender's connection is held for its packet. */
export const HOLD_MAX_MS = 50

export interface DelivererOptions {
  /** The longest a message in a busy room waits to go out with others; 0 sends each alone. */
  windowMs: number
  /** Rooms with fewer of their sockets on this node never wait (default 1: every room may). */
  minSockets?: number
  /** Told how many socket writes of a message happened (messages × sockets). */
  onDelivered: (deliveries: number) => void
}

export class Deliverer {
  private readonly rooms = new Map<string, RoomState>()
  private readonly quietMs: number
  private readonly minSockets: number
  private readonly sweeper: NodeJS.Timeout | undefined
  private readonly holds = new SenderHold()
  private readonly writer: RoomWriter

  constructor(
    adapter: Adapter,
    private readonly options: DelivererOptions
  ) {
    this.quietMs = options.windowMs * QUIET_WINDOWS
    this.minSockets = options.minSockets ?? 1
    this.writer = new RoomWriter(adapter, options.onDelivered)
    if (options.windowMs > 0) {
      // Forget the rooms that went quiet, so the map holds only the rooms active right now.
      this.sweeper = setInterval(() => this.forgetQuiet(), Math.max(1000, this.quietMs))
      this.sweeper.unref()
    }
  }

  /** Sends an entry (its JSON) to this node's sockets in its room: now, or within one window. */
  deliverJson(room: string, json: string, carrier: Record<string, string> | undefined): void {
    const now = performance.now()
    const state = this.options.windowMs <= 0 ? undefined : this.rooms.get(room)
    if (state !== undefined) state.recent = state.recent * Math.exp((state.lastAt - now) / this.quietMs) + 1
    if (
      state === undefined ||
      (state.timer === undefined &&
        (now - state.lastAt >= this.quietMs || this.writer.socketsIn(room) < this.minSockets))
    ) {
      // Written at once; held senders are let go once this turn, which writes their acks, is over.
      this.writer.write(room, [json], carrier === undefined ? NO_TRACES : [carrier])
      if (this.options.windowMs <= 0) return
      if (state === undefined) this.rooms.set(room, newRoomState(now, 1))
      else {
        state.lastAt = now
        this.release(state)
      }
      return
    }
    state.lastAt = now
    state.messages.push(json)
    if (carrier !== undefined) state.traces.push(carrier)
    if (state.timer === undefined) {
      state.timer = setTimeout(() => this.send(room, state), this.options.windowMs)
      state.timer.unref()
      // The packet is on its way: every sender held for the room goes with it.
      clearTimeout(state.holdTimer)
      state.holdTimer = undefined
    }
    if (state.soon === undefined && state.messages.length >= BURST * Math.max(1, state.recent / QUIET_WINDOWS)) {
      // At the end of the turn, so the acknowledgements written in it leave with the packet.
      state.soon = setImmediate(() => this.send(room, state))
    }
  }

  /**
   * Holds the sender's connection until this node writes the room's next packet, normally the
   * one that carries the message back from the feed; at most HOLD_MAX_MS. Returns a release
   * for when no packet will come (the send failed, or was a duplicate).
   */
  holdUntilPacket(room: string, sender: unknown): () => void {
    const socket = corkableOf(sender)
    if (socket === undefined) return NO_RELEASE
    if (this.options.windowMs <= 0) {
      // No room state without coalescing: held for this turn, which writes the packet and the ack.
      this.holds.hold(socket)
      this.holds.unholdAfterTurn(socket)
      return NO_RELEASE
    }
    let state = this.rooms.get(room)
    if (state === undefined) {
      // A room that had no message lately is quiet, and stays so.
      state = newRoomState(-Infinity, 0)
      this.rooms.set(room, state)
    }
    if (!state.held.has(socket)) {
      this.holds.hold(socket)
      state.held.add(socket)
    }
    const held = state
    // A packet already waiting for its window lets the held go; otherwise at most HOLD_MAX_MS.
    if (held.holdTimer === undefined && held.timer === undefined) {
      held.holdTimer = setTimeout(() => this.release(held), HOLD_MAX_MS)
      held.holdTimer.unref()
    }
    return () => {
      if (held.held.delete(socket)) this.holds.unhold(socket)
    }
  }

  /**
   * Lets go of the senders held for a room's packet once this turn of the event loop is over,
   * so that an acknowledgement that arrives in the same turn (in a cluster, the store's answer
   * can come just after the feed's) still leaves with the packet.
   */
  private release(state: RoomState): void {
    clearTimeout(state.holdTimer)
    state.holdTimer = undefined
    if (state.held.size === 0) return
    for (const socket of state.held) this.holds.unholdAfterTurn(socket)
    state.held.clear()
  }

  /**
   * Sends what waits in a room, as one packet, and lets go of the senders held for it: each
   * right as its own copy is written; any not among the room's sockets once this turn is over.
   */
  private send(room: string, state: RoomState): void {
    clearTimeout(state.timer)
    state.timer = undefined
    clearImmediate(state.soon)
    state.soon = undefined
    const { messages, traces } = state
    state.messages = []
    state.traces = []
    if (messages.length > 0) this.writer.write(room, messages, traces, state.held, this.unhold)
    this.release(state)
  }

  private readonly unhold = (socket: Corkable): void => this.holds.unhold(socket)

  private forgetQuiet(): void {
    const now = performance.now()
    for (const [room, state] of this.rooms) {
      if (state.timer === undefined && state.held.size === 0 && now - state.lastAt >= this.quietMs) {
        this.rooms.delete(room)
        this.writer.forgetRoom(room)
      }
    }
  }

  /** Sends whatever is waiting, now (before a drain closes the connections). */
  flush(): void {
    for (const [room, state] of this.rooms) this.send(room, state)
    this.rooms.clear()
    this.holds.endTurn()
  }

  /** Sends what waits and stops the upkeep timer (the server is closing). */
  close(): void {
    this.flush()
    clearInterval(this.sweeper)
    this.writer.close()
  }
}

function newRoomState(lastAt: number, recent: number): RoomState {
  return {
    lastAt,
    recent,
    messages: [],
    traces: [],
    timer: undefined,
    soon: undefined,
    held: new Set(),
    holdTimer: undefined
  }
}

const NO_RELEASE = (): void => {}
const NO_TRACES: never[] = []
