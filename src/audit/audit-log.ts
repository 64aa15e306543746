import { createHash } from 'node:crypto';
import { and, asc, desc, eq, gt, type SQL } from 'drizzle-orm';
import type { Db, GroupCommit } from '../store/db.ts';
import { auditEvents } from '../store/schema.ts';

export type AuditOutcome = 'success' | 'denied' | 'failure';

export interface AuditEntry {
  at: number;
  actorId: string | null;
  action: string;
  patientId: string | null;
  outcome: AuditOutcome;
  requestId: string | null;
}

const GENESIS = '0'.repeat(64);

/** The hash of an entry, chained to the previous one: a changed, inserted or removed row breaks the chain. */
export function chainHash(prevHash: string, entry: AuditEntry): string {
  const canonical = JSON.stringify([
    prevHash,
    entry.at,
    entry.actorId,
    entry.action,
    entry.patientId,
    entry.outcome,
    entry.requestId,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

/**
 * The audit trail of access to patient data, sign-ins and changes. `append` must run inside a
 * transaction (a GroupCommit job): it reads the last hash and writes the next row under the same write
 * lock, so two writers (the service and the command-line tool) cannot fork the chain.
 */
export class AuditLog {
  constructor(
    private readonly db: Db,
    private readonly commits: GroupCommit,
  ) {}

  /** Appends in the next group commit and resolves once the entry is durable. */
  record(entry: AuditEntry): Promise<void> {
    return this.commits.run(() => this.append(entry));
  }

  append(entry: AuditEntry): void {
    const last = this.db
      .select({ hash: auditEvents.hash })
      .from(auditEvents)
      .orderBy(desc(auditEvents.seq))
      .limit(1)
      .get();
    const prevHash = last?.hash ?? GENESIS;
    this.db
      .insert(auditEvents)
      .values({ ...entry, prevHash, hash: chainHash(prevHash, entry) })
      .run();
  }

  /** Newest first. */
  list(filter: { patientId?: string; actorId?: string; limit: number }): Array<AuditEntry & { seq: number }> {
    const conditions: SQL[] = [];
    if (filter.patientId) conditions.push(eq(auditEvents.patientId, filter.patientId));
    if (filter.actorId) conditions.push(eq(auditEvents.actorId, filter.actorId));
    return this.db
      .select({
        seq: auditEvents.seq,
        at: auditEvents.at,
        actorId: auditEvents.actorId,
        action: auditEvents.action,
        patientId: auditEvents.patientId,
        outcome: auditEvents.outcome,
        requestId: auditEvents.requestId,
      })
      .from(auditEvents)
      .where(and(...conditions))
      .orderBy(desc(auditEvents.seq))
      .limit(filter.limit)
      .all();
  }

  /** Walks the whole chain; reports the first row whose hash or link does not match. */
  verify(): { ok: boolean; checked: number; brokenAt?: number } {
    let prevHash = GENESIS;
    let checked = 0;
    const pageSize = 10_000;
    let after = 0;
    for (;;) {
      const rows = this.db
        .select()
        .from(auditEvents)
        .where(gt(auditEvents.seq, after))
        .orderBy(asc(auditEvents.seq))
        .limit(pageSize)
        .all();
      for (const row of rows) {
        const entry: AuditEntry = {
          at: row.at,
          actorId: row.actorId,
          action: row.action,
          patientId: row.patientId,
          outcome: row.outcome,
          requestId: row.requestId,
        };
        if (row.prevHash !== prevHash || row.hash !== chainHash(prevHash, entry))
          return { ok: false, checked, brokenAt: row.seq };
        prevHash = row.hash;
        checked++;
      }
      if (rows.length < pageSize) return { ok: true, checked };
      after = rows.at(-1)!.seq;
    }
  }
}
