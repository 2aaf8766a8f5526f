// A client that stops reading (a frozen tab, a dead network) must not make the server hold its
// room's traffic without limit: past `maxBufferedBytes` waiting, its connection is cut. A stock
// client reconnects and rejoins with `since`, so it misses nothing it can take.
import type { ChatServer, ChatSocket } from './chat-service.js'
import { bufferedBytes, cutConnection } from './delivery/engine-internals.js'

export interface SlowConsumerOptions {
  /** Output waiting for one client beyond which its connection is cut. */
  maxBufferedBytes: number
  /** Told of each connection cut, with the bytes that waited. */
  onCut(socket: ChatSocket, bufferedBytes: number): void
}

/** Cuts every connection of `io` with more than `maxBufferedBytes` waiting; returns how many. */
export function cutSlowConsumers(io: ChatServer, options: SlowConsumerOptions): number {
  let cut = 0
  for (const socket of io.of('/').sockets.values()) {
    if (socket.conn.readyState !== 'open') continue
    const waiting = bufferedBytes(socket.conn)
    if (waiting <= options.maxBufferedBytes) continue
    options.onCut(socket, waiting)
    cutConnection(socket.conn)
    cut++
  }
  return cut
}

/** Checks every `intervalMs` (the timer does not hold the process); returns a stop. */
export function watchSlowConsumers(io: ChatServer, options: SlowConsumerOptions, intervalMs = 1000): () => void {
  const timer = setInterval(() => cutSlowConsumers(io, options), intervalMs)
  timer.unref()
  return () => clearInterval(timer)
}
