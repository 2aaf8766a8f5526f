// Membership changes across the cluster: applied to this node's sockets, then told to every
// other node, and the call that made the change answers only once each node has applied it (a
// removed user's sockets are out of the room's broadcast everywhere by then).
import { ChatError } from '../errors.js'
import type { ChatServer } from './chat-service.js'
import type { MembershipChange } from './protocol.js'

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
    if (!this.clustered) return
    let results: Array<'ok' | 'failed'>
    try {
      // The cluster adapter waits 5 s for the nodes its heartbeats know of.
      results = await this.io.serverSideEmitWithAck('membership', change)
    } catch {
      results = ['failed']
    }
    if (results.some((r) => r !== 'ok')) {
      throw new ChatError('UNAVAILABLE', 'The change was recorded, but not every node confirmed it in time; retry')
    }
  }
}
