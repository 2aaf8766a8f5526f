// Deleting a message: who may (its author; the room's owner and moderators, except in a direct
// room), and what it leaves (a deletion entry in the room's seq, the text erased wherever the
// log kept it). The log makes the check, the erasing and the entry one atomic step.
import { ChatError } from '../errors.js'
import type { AuditTrail } from './audit.js'
import { captureTrace } from './delivery/room-writer.js'
import { roomKind } from './limits.js'
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

/**
 * Deletes a message, or refuses: FORBIDDEN (someone else's, and not a moderator here),
 * NOT_FOUND (no message with that id in the retained history; a deletion entry is no message).
 * A message deleted before answers again with nothing new stored and nothing audited. True when
 * a deletion entry was stored (it is on its way to the room).
 */
export async function deleteMessage(log: MessageLog, audit: AuditTrail, request: DeleteRequest): Promise<boolean> {
  const { room, id, by, role } = request
  if (role === undefined) throw new ChatError('FORBIDDEN', 'Only members of the room may delete its messages')
  // In a direct room nobody moderates the other's words: each deletes only their own.
  const moderates = roomKind(room) !== 'direct' && (role === 'owner' || role === 'moderator')
  const { entry, author } = await log.delete({
    room,
    target: id,
    user: by,
    may: moderates ? 'any' : 'own',
    ts: Date.now(),
    trace: captureTrace()
  })
  if (entry === undefined) return false
  await audit.record('message.deleted', { room, by: by.id, user: author.id, detail: id })
  return true
}
