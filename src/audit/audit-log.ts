import { createHash, createHmac, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { and, asc, desc, eq, gt, type SQL } from 'drizzle-orm';
import type { Db, GroupCommit } from '../store/db.ts';
import { auditCheckpoint, auditEvents } from '../store/schema.ts';

export type AuditOutcome = 'success' | 'denied' | 'failure';

export interface AuditEntry {
  at: number;
  actorId: string | null;
  action: string;
  patientId: string | null;
  outcome: AuditOutcome;
  requestId: string | null;
}

/** What GET /v1/audit/verify and `verify-audit` answer. */
export type AuditVerification =
  | {
      ok: true;
      checked: number;
      /** The chain's end: worth noting elsewhere, to tell later that the trail was not rolled back to it. */
      last: { seq: number; hash: string };
    }
  | { ok: false; checked: number; brokenAt?: number; problem: string };

const GENESIS = '0'.repeat(64);
/** The key, in DATA_DIR; made on first start, like the VAPID keys (src/delivery/web-push.ts). */
export const AUDIT_KEY_FILE = 'audit.key';
const CHECKPOINT_ID = 1;

interface Checkpoint {
  since: number;
  seq: number;
  hash: string;
}

const canonical = (prevHash: string, entry: AuditEntry) =>
  JSON.stringify([prevHash, entry.at, entry.actorId, entry.action, entry.patientId, entry.outcome, entry.requestId]);

/**
 * The unkeyed hash of an entry, chained to the previous one, as rows written before the key have it.
 * Anyone can recompute it, so it catches accidents, not a forger: see `chainMac`.
 */
export function chainHash(prevHash: string, entry: AuditEntry): string {
  return createHash('sha256').update(canonical(prevHash, entry)).digest('hex');
}

/** The keyed hash (HMAC-SHA256) of an entry, chained to the previous one: only the key's holder can make it. */
export function chainMac(key: Buffer, prevHash: string, entry: AuditEntry): string {
  return createHmac('sha256', key).update(canonical(prevHash, entry)).digest('hex');
}

function checkpointMac(key: Buffer, { since, seq, hash }: Checkpoint): string {
  return createHmac('sha256', key)
    .update(JSON.stringify(['checkpoint', since, seq, hash]))
    .digest('hex');
}

/**
 * The audit trail of access to patient data, sign-ins, changes and refusals: a hash chain, keyed with
 * HMAC-SHA256 (DATA_DIR/audit.key), so that a row changed in the database cannot be given a hash that
 * verifies; and a checkpoint row, sealed with the same key and moved with every append, so that rows
 * removed from the chain's end are missed too.
 *
 * `append` must run inside a transaction (a GroupCommit job): it reads the checkpoint and writes the next
 * row and the checkpoint under the same write lock, so two writers (the service and the command-line
 * tool) cannot fork the chain.
 */
export class AuditLog {
  private constructor(
    private readonly db: Db,
    private readonly commits: GroupCommit,
    private readonly key: Buffer,
  ) {}

  /**
   * The audit log of a data folder, with its key. On the first start with a key (a new data folder, or
   * one from before keys), the key is made and the checkpoint set at the chain's end: rows already there
   * keep their unkeyed hashes and verify as before, and the keyed chain continues from the last of them,
   * so rewriting them breaks the link to the first keyed row.
   */
  static open(db: Db, commits: GroupCommit, dataDir: string): AuditLog {
    const file = path.join(dataDir, AUDIT_KEY_FILE);
    // Under the write lock: a second process starting at the same time waits, then finds the key file.
    const key = db.transaction(
      (tx) => {
        if (existsSync(file)) return readKey(file);
        const key = randomBytes(32);
        const last = tx
          .select({ seq: auditEvents.seq, hash: auditEvents.hash })
          .from(auditEvents)
          .orderBy(desc(auditEvents.seq))
          .limit(1)
          .get();
        const checkpoint = { since: (last?.seq ?? 0) + 1, seq: last?.seq ?? 0, hash: last?.hash ?? GENESIS };
        const row = { ...checkpoint, mac: checkpointMac(key, checkpoint) };
        tx.insert(auditCheckpoint)
          .values({ id: CHECKPOINT_ID, ...row })
          .onConflictDoUpdate({ target: auditCheckpoint.id, set: row })
          .run();
        writeKey(file, key);
        return key;
      },
      { behavior: 'immediate' },
    );
    return new AuditLog(db, commits, key);
  }

  /** Appends in the next group commit and resolves once the entry is durable. */
  record(entry: AuditEntry): Promise<void> {
    return this.commits.run(() => this.append(entry));
  }

  append(entry: AuditEntry): void {
    const checkpoint = this.#checkpoint();
    const sealed = checkpoint !== undefined && checkpoint.mac === checkpointMac(this.key, checkpoint);
    // Linked to the checkpoint rather than to the last row: rows removed from the end stay missing. A
    // checkpoint that was removed or forged is left as it is, for verify to report; the entry is kept.
    const prevHash = sealed ? checkpoint.hash : (this.#lastRow()?.hash ?? GENESIS);
    const hash = chainMac(this.key, prevHash, entry);
    const { lastInsertRowid } = this.db
      .insert(auditEvents)
      .values({ ...entry, prevHash, hash })
      .run();
    if (!sealed) return;
    const next = { since: checkpoint.since, seq: Number(lastInsertRowid), hash };
    this.db
      .update(auditCheckpoint)
      .set({ seq: next.seq, hash, mac: checkpointMac(this.key, next) })
      .where(eq(auditCheckpoint.id, CHECKPOINT_ID))
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

  /**
   * Walks the whole chain: each row's link and hash (keyed from the checkpoint's `since` on), then its
   * end against the checkpoint. Reports the first row that does not match.
   */
  verify(): AuditVerification {
    const checkpoint = this.#checkpoint();
    if (!checkpoint) return { ok: false, checked: 0, problem: 'the checkpoint of the chain’s end is missing' };
    if (checkpoint.mac !== checkpointMac(this.key, checkpoint))
      return { ok: false, checked: 0, problem: 'the checkpoint of the chain’s end was changed' };
    let prevHash = GENESIS;
    let lastSeq = 0;
    let checked = 0;
    const pageSize = 10_000;
    for (;;) {
      const rows = this.db
        .select()
        .from(auditEvents)
        .where(gt(auditEvents.seq, lastSeq))
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
        const expected = row.seq >= checkpoint.since ? chainMac(this.key, prevHash, entry) : chainHash(prevHash, entry);
        if (row.prevHash !== prevHash || row.hash !== expected) {
          return {
            ok: false,
            checked,
            brokenAt: row.seq,
            problem: `row ${row.seq} was changed, or a row before it was inserted or removed`,
          };
        }
        prevHash = row.hash;
        lastSeq = row.seq;
        checked++;
      }
      if (rows.length < pageSize) break;
    }
    if (lastSeq !== checkpoint.seq || prevHash !== checkpoint.hash) {
      return {
        ok: false,
        checked,
        problem: `rows were removed from the end: the chain ends at row ${lastSeq}, its checkpoint at row ${checkpoint.seq}`,
      };
    }
    return { ok: true, checked, last: { seq: lastSeq, hash: prevHash } };
  }

  #checkpoint() {
    return this.db.select().from(auditCheckpoint).where(eq(auditCheckpoint.id, CHECKPOINT_ID)).get();
  }

  #lastRow() {
    return this.db.select({ hash: auditEvents.hash }).from(auditEvents).orderBy(desc(auditEvents.seq)).limit(1).get();
  }
}

function readKey(file: string): Buffer {
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url');
  if (key.length !== 32) throw new Error(`${file} is not an audit key (32 bytes, base64url); restore it from a backup`);
  return key;
}

/** Written whole or not at all (a temporary file, synced, then renamed), readable by the service's user only. */
function writeKey(file: string, key: Buffer): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${key.toString('base64url')}\n`, { mode: 0o600 });
  const fd = openSync(temporary, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
}
