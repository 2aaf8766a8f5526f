// Holding a sender's connection (corking its TCP socket) while its acknowledgement and its
// message's packet are written, so that both leave in one write instead of two.
import type { Corkable } from './engine-internals.js'

export class SenderHold {
  /**
   * How many holds each connection is under. It is corked once while any is open, and every
   * release lets out what was written so far, even while other holds remain: a sender that
   * never stops sending still has its acknowledgements and packets out at every packet.
   */
  private readonly holds = new Map<Corkable, number>()
  /** Connections to let go once the current turn of the event loop is over. */
  private afterTurn: Corkable[] = []

  hold(socket: Corkable): void {
    const open = this.holds.get(socket) ?? 0
    this.holds.set(socket, open + 1)
    if (open === 0) socket.cork()
  }

  /** Ends one hold: what was written meanwhile leaves now; the others keep the socket corked. */
  unhold(socket: Corkable): void {
    const open = this.holds.get(socket)
    if (open === undefined) return
    socket.uncork()
    if (open > 1) {
      this.holds.set(socket, open - 1)
      socket.cork()
    } else this.holds.delete(socket)
  }

  /** Ends one hold once this turn is over: what the turn still writes (an ack) leaves with it. */
  unholdAfterTurn(socket: Corkable): void {
    if (this.afterTurn.push(socket) === 1) setImmediate(this.endTurn)
  }

  /** Ends every hold that waits for the end of the turn, now. */
  readonly endTurn = (): void => {
    const sockets = this.afterTurn
    this.afterTurn = []
    for (const socket of sockets) this.unhold(socket)
  }
}
