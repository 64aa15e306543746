import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, statSync, unlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chainHash } from '../src/audit/audit-log.ts';
import { ADMIN_TOKEN, startTestService, type TestService } from './helpers/service.ts';

/**
 * The audit rows of the security issue (row 11): refused requests are audited, the request id is the
 * server's own, GET /v1/alerts?patientId= is scoped like every patient request, and the hash chain is
 * keyed, so that rows edited with recomputed hashes, or removed from the end, no longer verify.
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
type AuditEvent = {
  at: string;
  actorId: string | null;
  action: string;
  patientId: string | null;
  outcome: string;
  requestId: string | null;
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

async function events(svc: TestService, query = ''): Promise<AuditEvent[]> {
  const response = await svc.admin(`/v1/audit${query}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { events: AuditEvent[] }).events;
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

describe('refused requests are audited', () => {
  let svc: TestService;
  let nurse: { id: string; token: string };
  let patientOnTeam: string;
  let otherPatient: string;

  beforeAll(async () => {
    svc = await startTestService();
    const created = await svc.createClinician('nurse');
    nurse = { id: created.id, token: await svc.login(created.email, created.password) };
    [patientOnTeam, otherPatient] = await Promise.all([svc.createPatient('On Team'), svc.createPatient('Elsewhere')]);
    const team = await svc.admin(`/v1/patients/${patientOnTeam}/care-team`, {
      method: 'PUT',
      body: { members: [{ clinicianId: nurse.id, role: 'primary_nurse' }] },
    });
    expect(team.status).toBe(200);
  });

  afterAll(() => svc?.stop());

  const newest = async (actorId: string) => (await events(svc, `?actorId=${actorId}&limit=1`))[0];

  it('a 403 for a role (a nurse creating a patient) is audited as denied', async () => {
    const response = await svc.request('/v1/patients', nurse.token, { method: 'POST', body: { name: 'Nope' } });
    expect(response.status).toBe(403);
    expect(await newest(nurse.id)).toMatchObject({
      actorId: nurse.id,
      action: 'forbidden POST /v1/patients',
      patientId: null,
      outcome: 'denied',
    });
    // Naming the patient when the refused route is one patient's.
    const put = await svc.request(`/v1/patients/${patientOnTeam}/care-team`, nurse.token, {
      method: 'PUT',
      body: { members: [] },
    });
    expect(put.status).toBe(403);
    expect(await newest(nurse.id)).toMatchObject({
      action: 'forbidden PUT /v1/patients/:id/care-team',
      patientId: patientOnTeam,
      outcome: 'denied',
    });
  });

  it('a 413 from a signed-in caller is audited', async () => {
    const response = await svc.request('/v1/patients', ADMIN_TOKEN, {
      method: 'POST',
      body: { name: 'x'.repeat(70 * 1024) },
    });
    expect(response.status).toBe(413);
    expect(await newest('admin-token')).toMatchObject({
      action: 'payload_too_large POST /v1/patients',
      outcome: 'denied',
    });
  });

  it("an admin's read of a device's rejections is audited, with the device's patient", async () => {
    const device = await svc.provision('bp_monitor', otherPatient);
    expect((await svc.postReadings(device.token, 'not json')).status).toBe(400);
    expect(await svc.rejections(device.deviceId)).toHaveLength(1);
    expect(await newest('admin-token')).toMatchObject({
      action: 'device.rejections.read',
      patientId: otherPatient,
      outcome: 'success',
    });
  });

  it("GET /v1/alerts?patientId= for another team's patient is a 404, audited as denied", async () => {
    const refused = await svc.request(`/v1/alerts?patientId=${otherPatient}`, nurse.token);
    expect(refused.status).toBe(404);
    expect((await refused.json()).error.code).toBe('not_found');
    expect(await newest(nurse.id)).toMatchObject({
      action: 'alerts.list',
      patientId: otherPatient,
      outcome: 'denied',
    });
    // The same answer as for a patient that does not exist; the team's own patient is listed.
    expect((await svc.request(`/v1/alerts?patientId=${randomUUID()}`, nurse.token)).status).toBe(404);
    expect((await svc.admin(`/v1/alerts?patientId=${randomUUID()}`)).status).toBe(404);
    const allowed = await svc.request(`/v1/alerts?patientId=${patientOnTeam}`, nurse.token);
    expect(allowed.status).toBe(200);
    expect(await allowed.json()).toEqual({ alerts: [] });
  });

  it("the audit trail records the server's request id, never the client's X-Request-Id", async () => {
    const chosen = `client-chosen-${randomUUID()}`;
    const response = await fetch(`${svc.url}/v1/patients/${patientOnTeam}`, {
      headers: { authorization: `Bearer ${nurse.token}`, 'x-request-id': chosen },
    });
    expect(response.status).toBe(200);
    const answered = response.headers.get('x-request-id');
    expect(answered).toMatch(/^[0-9a-f-]{36}$/);
    expect(answered).not.toBe(chosen);
    const event = await newest(nurse.id);
    expect(event).toMatchObject({ action: 'patient.read', requestId: answered });
  });
});
