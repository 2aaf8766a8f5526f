// Deleting a message: who may (its author, the room's owner and moderators), and what it leaves
// (a deletion entry in the room's seq, the text erased wherever the log kept it).
import { ChatError } from '../errors.js'
import type { AuditTrail } from './audit.js'
import type { Member } from './protocol.js'
import type { MessageLog, Role } from './store/parts.js'

export interface DeleteRequest {
  room: string
  /** The message's id. */
  id: string
  by: Member
  /** The deleter's role in the room (undefined: not a member). */
  role: Role | undefined
}

export async function deleteMessage(_log: MessageLog, _audit: AuditTrail, _request: DeleteRequest): Promise<void> {
  throw new ChatError('UNAVAILABLE', 'Deleting messages is not served yet')
}
