// The audit trail: every membership change, invite accepted, ban, mute, deletion and room made,
// kept per room in the directory (its owner and moderators may read it), counted by action
// (chat_moderation_actions_total) and told to the caller's hook (a log line without the room).
import type { AuditAction, AuditEntry, Directory } from './store/parts.js'

export interface AuditHooks {
  /** After each entry is kept: the metric and the log line. */
  onAudit?(entry: AuditEntry): void
}

export class AuditTrail {
  constructor(
    private readonly directory: Directory,
    private readonly hooks: AuditHooks = {}
  ) {}

  /**
   * Keeps one entry, after the change it records was made. When the store fails to keep it the
   * hook still hears of it (so the log line is written) and the caller's request fails
   * UNAVAILABLE, to be retried: every change here may be made twice.
   */
  async record(action: AuditAction, entry: Omit<AuditEntry, 'action' | 'at'> & { at?: number }): Promise<void> {
    const full: AuditEntry = { at: Date.now(), ...entry, action }
    try {
      await this.directory.record(full)
    } finally {
      this.hooks.onAudit?.(full)
    }
  }

  trail(room: string, limit: number): Promise<AuditEntry[]> {
    return this.directory.auditTrail(room, limit)
  }
}
