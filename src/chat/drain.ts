// Closing a node's connections for shutdown: answer what is in flight, refuse what arrives
// meanwhile, send what delivery holds back, then close every transport without a Socket.IO
// disconnect packet, so that a stock client sees "transport close" and reconnects by itself.
import type { ChatServer } from './chat-service.js'
import {
  type EngineConnection,
  engineConnections,
  type WebSocketTransportSocket,
  webSocketClosed,
  webSocketOf
} from './delivery/engine-internals.js'
import type { InflightGate } from './socket-handlers.js'

export interface DrainOptions {
  /** Counts the events being handled; refuses new ones UNAVAILABLE once draining. */
  gate: InflightGate
  /** Sends what delivery holds back (waiting packets, held acknowledgements). */
  flush(): void
  /** The longest each wait (for answers, then for clients to close) may take. */
  timeoutMs: number
  log: { info(details: object, message: string): void }
}

/** Resolves after a whole poll phase of the event loop, which reads every readable socket. */
function afterNextPoll(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)))
}

/** Answers what is in flight or already sent, then closes every connection of `io`. */
export async function drain(io: ChatServer, options: DrainOptions): Promise<void> {
  const { gate, timeoutMs } = options
  const started = Date.now()
  // Answers waiting their turn would hold the drain: refused now (the client reconnects).
  for (const socket of io.of('/').sockets.values()) socket.data.answers?.close()
  await gate.drain(timeoutMs)
  // What clients sent before the drain may still wait unread in the kernel's buffers, and
  // Engine.IO drops what it reads once a connection is closing: read it now and refuse it.
  await afterNextPoll()
  await gate.drain(timeoutMs)
  options.flush()
  // Every engine connection, including any still in their Socket.IO handshake.
  const clients = engineConnections(io)
  options.log.info(
    { event: 'drain', connections: clients.length, inflight: gate.inflight, waitedMs: Date.now() - started },
    'closing connections for shutdown'
  )
  await closeAll(clients, timeoutMs)
}

/** Closes the connections; a client that stops reading never answers the close: cut after `timeoutMs`. */
async function closeAll(clients: EngineConnection[], timeoutMs: number): Promise<void> {
  const sockets: WebSocketTransportSocket[] = []
  const closed = clients.map((client) => {
    const ws = webSocketOf(client)
    // Engine.IO writes what it holds for the connection first, then closes it.
    client.close()
    if (ws === undefined || webSocketClosed(ws)) return Promise.resolve()
    sockets.push(ws)
    return new Promise<void>((resolve) => ws.once('close', () => resolve()))
  })
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs)
    timer.unref()
    void Promise.all(closed).then(() => {
      clearTimeout(timer)
      resolve()
    })
  })
  for (const ws of sockets) if (!webSocketClosed(ws)) ws.terminate()
}
