// Membership changes across the cluster: applied to this node's sockets, then told to every
// other node, and the call that made the change answers only once each node has applied it (a
// removed user's sockets are out of the room's broadcast everywhere by then).
import { ChatError } from '../errors.js'
import type { ChatServer } from './chat-service.js'
import type { InterServerEvents, MembershipChange } from './protocol.js'

/**
 * Tells every other node and waits for each to confirm; rejects UNAVAILABLE when one did not in
 * time (the cluster adapter waits 5 s for the nodes its heartbeats know of). What it told was
 * recorded before and applied wherever it was confirmed: the caller may retry.
 */
export async function confirmOnEveryNode<E extends keyof InterServerEvents>(
  io: ChatServer,
  event: E,
  payload: Parameters<InterServerEvents[E]>[0],
  what: string
): Promise<void> {
  let results: Array<'ok' | 'failed'>
  try {
    results = await (io.serverSideEmitWithAck as (e: E, p: unknown) => Promise<Array<'ok' | 'failed'>>)(event, payload)
  } catch {
    results = ['failed']
  }
  if (results.some((r) => r !== 'ok')) {
    throw new ChatError('UNAVAILABLE', `The ${what} was recorded, but not every node confirmed it in time; retry`)
  }
}

export class MembershipChanges {
  constructor(
    private readonly io: ChatServer,
    private readonly apply: (change: MembershipChange) => Promise<void>,
    /** Whether other nodes share this chat (a cluster adapter). */
    private readonly clustered: boolean
  ) {
    if (!clustered) return
    io.on('membership', (change, ack) => {
      this.apply(change).then(
        () => ack('ok'),
        () => ack('failed')
      )
    })
  }

  /**
   * Applies `change` on every node; rejects UNAVAILABLE when a node did not confirm in time (the
   * change is recorded and applied wherever it was confirmed; the caller may retry it).
   */
  async publish(change: MembershipChange): Promise<void> {
    await this.apply(change)
    if (this.clustered) await confirmOnEveryNode(this.io, 'membership', change, 'change')
  }
}
