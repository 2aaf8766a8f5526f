// Closing a node's connections for shutdown: answer what is in flight, refuse what arrives
// meanwhile, send what delivery holds back, then close every transport without a Socket.IO
// disconnect packet, so that a stock client sees "transport close" and reconnects by itself.
import type { ChatServer } from './chat-service.js'
import {
  cutConnection,
  type EngineConnection,
  engineConnections,
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

/** Resolves after `count` whole poll phases of the event loop (each reads every readable socket). */
async function afterPolls(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(() => setImmediate(resolve)))
}

/** Answers what is in flight or already sent, then closes every connection of `io`. */
export async function drain(io: ChatServer, options: DrainOptions): Promise<void> {
  const { gate, timeoutMs } = options
  const started = Date.now()
  // Answers waiting their turn would hold the drain: refused now (the client reconnects).
  for (const socket of io.of('/').sockets.values()) socket.data.answers?.close()
  await gate.drain(timeoutMs)
  // What clients sent before the drain may still wait unread in the kernel's buffers, and
  // Engine.IO drops what it reads once a connection is closing: read it now and refuse it (two
  // turns: one accepts a connection still in the backlog, the next reads it).
  await afterPolls(2)
  // Within the same budget: a stuck answer must not hold the drain twice.
  await gate.drain(Math.max(0, started + timeoutMs - Date.now()))
  options.flush()
  // Every engine connection, including any still in their Socket.IO handshake.
  const clients = engineConnections(io)
  options.log.info(
    { event: 'drain', connections: clients.length, inflight: gate.inflight, waitedMs: Date.now() - started },
    'closing connections for shutdown'
  )
  await closeAll(clients, timeoutMs)
}

/**
 * Closes the connections, each once Engine.IO has written what it holds for it (a long-polling
 * client's answers wait for its next GET), and waits for them to close; a client that stops
 * reading never answers the close: cut after `timeoutMs`.
 */
async function closeAll(clients: EngineConnection[], timeoutMs: number): Promise<void> {
  const closed = clients.map((client) => {
    const done = closing(client)
    client.close()
    return done
  })
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs)
    timer.unref()
    void Promise.all(closed.map((c) => c.promise)).then(() => {
      clearTimeout(timer)
      resolve()
    })
  })
  for (const [i, c] of closed.entries()) if (!c.done) cutConnection(clients[i])
}

/** Settles when the connection is closed: its WebSocket, or else its Engine.IO connection. */
function closing(client: EngineConnection): { promise: Promise<void>; done: boolean } {
  const state = { promise: Promise.resolve(), done: true }
  const ws = webSocketOf(client)
  // Engine.IO calls a WebSocket connection closed once it has sent its close frame, not when
  // the client answers it: the WebSocket says when.
  const emitter = ws ?? (client as EngineConnection & Closable)
  if (ws !== undefined ? webSocketClosed(ws) : client.readyState === 'closed') return state
  state.done = false
  state.promise = new Promise<void>((resolve) =>
    emitter.once('close', () => {
      state.done = true
      resolve()
    })
  )
  return state
}

interface Closable {
  once(event: 'close', listener: () => void): void
}
