import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, statSync, unlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chainHash } from '../src/audit/audit-log.ts';
import { startTestService, type TestService } from './helpers/service.ts';

/**
 * The audit rows of the security issue (row 11): the hash chain is keyed, so that rows edited with
 * recomputed hashes, or removed from the end, no longer verify.
 */

type AuditRow = {
  seq: number;
  at: number;
  actor_id: string | null;
  action: string;
  patient_id: string | null;
  outcome: string;
  request_id: string | null;
  prev_hash: string;
  hash: string;
};
type Verified = { ok: boolean; checked: number; brokenAt?: number; problem?: string };

const GENESIS = '0'.repeat(64);
const KEY_FILE = 'audit.key';
const ROOT = path.resolve(import.meta.dirname, '..');

async function verify(svc: TestService): Promise<Verified> {
  const response = await svc.admin('/v1/audit/verify');
  expect(response.status).toBe(200);
  return (await response.json()) as Verified;
}

const rows = (db: Database.Database) => db.prepare('select * from audit_events order by seq').all() as AuditRow[];

/** Rewrites the hashes of `chain` as an unkeyed SHA-256 chain from `prevHash`: what a forger without the key can do. */
function rehash(db: Database.Database, chain: AuditRow[], prevHash: string): string {
  const update = db.prepare('update audit_events set prev_hash = ?, hash = ? where seq = ?');
  let prev = prevHash;
  for (const row of chain) {
    const hash = chainHash(prev, {
      at: row.at,
      actorId: row.actor_id,
      action: row.action,
      patientId: row.patient_id,
      outcome: row.outcome as 'success',
      requestId: row.request_id,
    });
    update.run(prev, hash, row.seq);
    prev = hash;
  }
  return prev;
}

describe('the audit hash chain is keyed and its end is checkpointed', () => {
  let dataDir: string;
  let svc: TestService;

  /** Stops the service, changes its database file directly, and starts it again on the same DATA_DIR. */
  async function offline<T>(change: (db: Database.Database) => T): Promise<T> {
    await svc.stop();
    const db = new Database(path.join(dataDir, 'homewatch.db'));
    try {
      return change(db);
    } finally {
      db.close();
      svc = await startTestService({}, dataDir);
    }
  }

  async function someActivity() {
    const patientId = await svc.createPatient();
    expect((await svc.admin(`/v1/patients/${patientId}`)).status).toBe(200);
    expect((await svc.admin('/v1/patients')).status).toBe(200);
    expect((await svc.admin(`/v1/patients/${randomUUID()}`)).status).toBe(404);
  }

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'homewatch-sec-audit-'));
    svc = await startTestService({}, dataDir);
    await someActivity();
  });

  afterEach(async () => {
    await svc?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('the key is generated into DATA_DIR on first start, readable by the service user only', async () => {
    const file = path.join(dataDir, KEY_FILE);
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await verify(svc)).toMatchObject({ ok: true });
  });

  it('a row edited with every hash after it recomputed (without the key) is caught at that row', async () => {
    const target = await offline((db) => {
      const all = rows(db);
      const index = Math.floor(all.length / 2);
      const row = all[index]!;
      db.prepare('update audit_events set actor_id = ? where seq = ?').run('someone-else', row.seq);
      rehash(db, rows(db).slice(index), row.prev_hash);
      return row;
    });
    expect(await verify(svc)).toMatchObject({ ok: false, brokenAt: target.seq });
  });

  it('rows removed from the end are caught, even with the checkpoint moved back', async () => {
    const removed = await offline((db) => {
      const all = rows(db);
      db.prepare('delete from audit_events where seq >= ?').run(all.at(-2)!.seq);
      return all.slice(-2);
    });
    const truncated = await verify(svc);
    expect(truncated).toMatchObject({ ok: false });
    // The service goes on appending after the truncation: still caught.
    expect((await svc.admin('/v1/patients')).status).toBe(200);
    expect(await verify(svc)).toMatchObject({ ok: false });

    await offline((db) => {
      db.prepare('delete from audit_events where seq >= ?').run(removed[0]!.seq);
      const last = rows(db).at(-1)!;
      db.prepare('update audit_checkpoint set seq = ?, hash = ?').run(last.seq, last.hash);
    });
    expect(await verify(svc)).toMatchObject({ ok: false });
  });

  it('verify-audit (the CLI) uses the same key from the data folder, and catches the truncation too', async () => {
    await svc.stop();
    const cli = async () => {
      try {
        const { stdout } = await promisify(execFile)(
          process.execPath,
          ['--import', 'tsx', 'src/cli.ts', '--data-dir', dataDir, 'verify-audit'],
          { cwd: ROOT, env: { PATH: process.env.PATH } },
        );
        return { code: 0, output: stdout };
      } catch (error) {
        return { code: (error as { code: number }).code, output: (error as { stderr: string }).stderr };
      }
    };
    expect(await cli()).toMatchObject({ code: 0, output: expect.stringMatching(/intact/) });
    const db = new Database(path.join(dataDir, 'homewatch.db'));
    db.prepare('delete from audit_events where seq = (select max(seq) from audit_events)').run();
    db.close();
    expect(await cli()).toMatchObject({ code: 1, output: expect.stringMatching(/audit trail is broken/) });
    svc = await startTestService({}, dataDir);
  });

  it('a data folder from before the key: its rows verify as before, the keyed chain continues from them', async () => {
    // As an older Homewatch left it: an unkeyed chain from the start, no key, no checkpoint.
    const legacy = await offline((db) => {
      db.prepare('delete from audit_checkpoint').run();
      rehash(db, rows(db), GENESIS);
      unlinkSync(path.join(dataDir, KEY_FILE));
      return rows(db);
    });
    expect(await verify(svc)).toEqual(expect.objectContaining({ ok: true, checked: legacy.length }));
    await someActivity();
    expect(await verify(svc)).toMatchObject({ ok: true });

    // The old rows are still only SHA-256 chained, but rewriting them breaks the link to the keyed rows.
    await offline((db) => {
      const old = rows(db).slice(0, legacy.length);
      db.prepare('update audit_events set actor_id = ? where seq = ?').run('someone-else', old[1]!.seq);
      rehash(db, rows(db).slice(1, legacy.length), old[0]!.hash);
    });
    const result = await verify(svc);
    expect(result).toMatchObject({ ok: false });
    expect(result.brokenAt).toBeGreaterThan(legacy.at(-1)!.seq);
  });
});
