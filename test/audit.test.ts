import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainHash } from '../src/audit/audit-log.ts';
import { ADMIN_TOKEN, startTestService, type TestService } from './helpers/service.ts';

/**
 * The audit trail against the real service and its database file: the keyed hash chain verifies and
 * catches a changed, re-hashed or deleted row; the list filters and orders; no secret is stored in clear.
 * (test/security-audit.test.ts covers the key, a forger rewriting the chain, and rows removed from its end.)
 */

type AuditEvent = { at: string; actorId: string | null; action: string; patientId: string | null; outcome: string };
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

const bpReading = () => ({
  type: 'blood_pressure',
  systolic: 118,
  diastolic: 76,
  measuredAt: new Date().toISOString(),
});

async function events(svc: TestService, query = ''): Promise<AuditEvent[]> {
  const response = await svc.admin(`/v1/audit${query}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { events: AuditEvent[] }).events;
}

async function verify(svc: TestService) {
  const response = await svc.admin('/v1/audit/verify');
  expect(response.status).toBe(200);
  return (await response.json()) as { ok: boolean; checked: number; brokenAt?: number; problem?: string };
}

describe('hash chain', () => {
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

  const rows = (db: Database.Database) => db.prepare('select * from audit_events order by seq').all() as AuditRow[];
  /** A row from the middle of the chain, neither the first nor the last. */
  const middle = (all: AuditRow[]) => all[Math.floor(all.length / 2)]!;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'homewatch-audit-'));
    svc = await startTestService({}, dataDir);
    const device = await svc.provision('bp_monitor');
    await svc.createPatient('Another Patient');
    expect((await svc.postReadings(device.token, bpReading())).status).toBe(200);
    await svc.readings(device.patientId);
    expect((await svc.admin(`/v1/patients/${device.patientId}`)).status).toBe(200);
    expect((await svc.admin(`/v1/patients/${device.patientId}/devices`)).status).toBe(200);
    expect((await svc.admin(`/v1/patients/${randomUUID()}`)).status).toBe(404);
    expect((await svc.admin('/v1/patients')).status).toBe(200);
    expect(
      (
        await svc.admin(`/v1/devices/${device.deviceId}/patient`, {
          method: 'PUT',
          body: { patientId: device.patientId },
        })
      ).status,
    ).toBe(200);
  });

  afterAll(async () => {
    await svc?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('verifies after a handful of actions, checking every event', async () => {
    const result = await verify(svc);
    const all = await events(svc, '?limit=10000');
    expect(all.length).toBeGreaterThanOrEqual(8);
    expect(result).toEqual({
      ok: true,
      checked: all.length,
      last: { seq: expect.any(Number), hash: expect.any(String) },
    });
  });

  it("detects a row whose outcome was changed, at that row's seq; putting it back verifies again", async () => {
    const { target, before } = await offline((db) => {
      const all = rows(db);
      const row = middle(all);
      db.prepare('update audit_events set outcome = ? where seq = ?').run(
        row.outcome === 'success' ? 'denied' : 'success',
        row.seq,
      );
      return { target: row, before: all.indexOf(row) };
    });
    expect(await verify(svc)).toEqual({
      ok: false,
      checked: before,
      brokenAt: target.seq,
      problem: expect.any(String),
    });
    // The service keeps appending to a broken chain; the break is still reported where it is.
    expect((await svc.admin('/v1/patients')).status).toBe(200);
    expect(await verify(svc)).toMatchObject({ ok: false, brokenAt: target.seq });

    await offline((db) =>
      db.prepare('update audit_events set outcome = ? where seq = ?').run(target.outcome, target.seq),
    );
    expect(await verify(svc)).toMatchObject({ ok: true });
  });

  it('detects a row whose actor_id was changed', async () => {
    const target = await offline((db) => {
      const row = middle(rows(db));
      db.prepare('update audit_events set actor_id = ? where seq = ?').run('someone-else', row.seq);
      return row;
    });
    expect(await verify(svc)).toMatchObject({ ok: false, brokenAt: target.seq });
    await offline((db) =>
      db.prepare('update audit_events set actor_id = ? where seq = ?').run(target.actor_id, target.seq),
    );
    expect(await verify(svc)).toMatchObject({ ok: true });
  });

  it('detects a changed row whose own hash was recomputed without the key, at that row', async () => {
    const target = await offline((db) => {
      const row = middle(rows(db));
      const forged = {
        at: row.at,
        actorId: 'someone-else',
        action: row.action,
        patientId: row.patient_id,
        outcome: row.outcome as 'success',
        requestId: row.request_id,
      };
      db.prepare('update audit_events set actor_id = ?, hash = ? where seq = ?').run(
        forged.actorId,
        chainHash(row.prev_hash, forged),
        row.seq,
      );
      return row;
    });
    expect(await verify(svc)).toMatchObject({ ok: false, brokenAt: target.seq });
    await offline((db) =>
      db
        .prepare('update audit_events set actor_id = ?, hash = ? where seq = ?')
        .run(target.actor_id, target.hash, target.seq),
    );
    expect(await verify(svc)).toMatchObject({ ok: true });
  });

  it('detects a deleted middle row, at the row after it', async () => {
    const { removed, next } = await offline((db) => {
      const all = rows(db);
      const row = middle(all);
      db.prepare('delete from audit_events where seq = ?').run(row.seq);
      return { removed: row, next: all[all.indexOf(row) + 1]! };
    });
    expect(await verify(svc)).toMatchObject({ ok: false, brokenAt: next.seq });
    await offline((db) =>
      db
        .prepare(
          'insert into audit_events (seq, at, actor_id, action, patient_id, outcome, request_id, prev_hash, hash) values (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(
          removed.seq,
          removed.at,
          removed.actor_id,
          removed.action,
          removed.patient_id,
          removed.outcome,
          removed.request_id,
          removed.prev_hash,
          removed.hash,
        ),
    );
    expect(await verify(svc)).toMatchObject({ ok: true });
  });
});

describe('GET /v1/audit', () => {
  let svc: TestService;
  let nurseId: string;
  let patientA: string;
  let patientB: string;

  beforeAll(async () => {
    svc = await startTestService();
    const nurse = await svc.createClinician('nurse');
    nurseId = nurse.id;
    patientA = await svc.createPatient('Patient A');
    patientB = await svc.createPatient('Patient B');
    await svc.provision('scale', patientA);
    expect(
      (
        await svc.admin(`/v1/patients/${patientA}/care-team`, {
          method: 'PUT',
          body: { members: [{ clinicianId: nurseId, role: 'primary_nurse' }] },
        })
      ).status,
    ).toBe(200);
    const token = await svc.login(nurse.email, nurse.password);
    expect((await svc.request(`/v1/patients/${patientA}`, token)).status).toBe(200);
    expect((await svc.request(`/v1/patients/${patientA}/readings`, token)).status).toBe(200);
    expect((await svc.request(`/v1/patients/${patientB}`, token)).status).toBe(404);
    expect((await svc.admin(`/v1/patients/${patientA}/devices`)).status).toBe(200);
  });

  afterAll(() => svc?.stop());

  const summary = (list: AuditEvent[]) => list.map((e) => [e.actorId, e.action, e.patientId, e.outcome]);

  it('filters by patientId, newest first, with {at, actorId, action, patientId, outcome}', async () => {
    const list = await events(svc, `?patientId=${patientA}`);
    expect(summary(list)).toEqual([
      ['admin-token', 'devices.read', patientA, 'success'],
      [nurseId, 'readings.read', patientA, 'success'],
      [nurseId, 'patient.read', patientA, 'success'],
      ['admin-token', 'care_team.update', patientA, 'success'],
      ['admin-token', 'device.create', patientA, 'success'],
      ['admin-token', 'patient.create', patientA, 'success'],
    ]);
    for (const event of list) {
      expect(event).toMatchObject({
        at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
        actorId: expect.any(String),
        action: expect.any(String),
        patientId: patientA,
        outcome: expect.any(String),
      });
    }
    const times = list.map((e) => Date.parse(e.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it('filters by actorId, and by both', async () => {
    expect(summary(await events(svc, `?actorId=${nurseId}`))).toEqual([
      [nurseId, 'patient.read', patientB, 'denied'],
      [nurseId, 'readings.read', patientA, 'success'],
      [nurseId, 'patient.read', patientA, 'success'],
      [nurseId, 'login', null, 'success'],
    ]);
    expect(summary(await events(svc, `?patientId=${patientA}&actorId=${nurseId}`))).toEqual([
      [nurseId, 'readings.read', patientA, 'success'],
      [nurseId, 'patient.read', patientA, 'success'],
    ]);
    expect(summary(await events(svc, `?patientId=${patientB}`))).toEqual([
      [nurseId, 'patient.read', patientB, 'denied'],
      ['admin-token', 'patient.create', patientB, 'success'],
    ]);
    expect(await events(svc, `?actorId=${randomUUID()}`)).toEqual([]);
  });

  it('unfiltered, lists everything newest first; limit keeps the newest; an unknown query parameter is refused', async () => {
    const all = await events(svc);
    expect(all[0]).toMatchObject({ actorId: 'admin-token', action: 'devices.read', patientId: patientA });
    expect(all.at(-1)).toMatchObject({ action: 'clinician.create' });
    expect(await events(svc, '?limit=2')).toEqual(all.slice(0, 2));
    const response = await svc.admin('/v1/audit?actor=someone');
    expect(response.status).toBe(422);
    expect(await response.json()).toEqual({
      error: {
        code: 'validation_failed',
        message: expect.any(String),
        details: [{ path: 'actor', message: 'is not a known field' }],
      },
    });
  });
});

describe('secrets at rest', () => {
  let dataDir: string;
  let svc: TestService;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'homewatch-secrets-'));
    svc = await startTestService({}, dataDir);
  });

  afterAll(async () => {
    await svc?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Every byte SQLite keeps: the database file and, when present, its write-ahead log. */
  function storedBytes(): Buffer {
    const files = ['homewatch.db', 'homewatch.db-wal']
      .map((name) => path.join(dataDir, name))
      .filter((file) => existsSync(file));
    expect(files).toContain(path.join(dataDir, 'homewatch.db'));
    return Buffer.concat(files.map((file) => readFileSync(file)));
  }

  it('keeps no password, device token or session token in clear, in the database or its WAL', async () => {
    const passwords = ['correct horse battery staple', `Pässwörd-${randomUUID()}`];
    const [first, second] = await Promise.all(
      passwords.map((password, i) => svc.createClinician(i ? 'physician' : 'nurse', { password })),
    );
    const sessions = await Promise.all([first!, second!].map((c) => svc.login(c.email, c.password)));
    const wrongGuess = `wrong-guess-${randomUUID()}`;
    expect((await svc.loginResponse(first!.email, wrongGuess)).status).toBe(401);

    const devices = await Promise.all([svc.provision('bp_monitor'), svc.provision('scale')]);
    const deviceTokens = devices.map((d) => d.token);
    expect((await svc.postReadings(devices[0]!.token, bpReading())).status).toBe(200);
    expect((await svc.postReadings(devices[0]!.token, { ...bpReading(), systolic: 999 })).status).toBe(422); // kept among the rejections
    const rotated = await svc.admin(`/v1/devices/${devices[1]!.deviceId}/token`, { method: 'POST' });
    expect(rotated.status).toBe(200);
    deviceTokens.push(((await rotated.json()) as { token: string }).token);
    expect(
      (
        await svc.postReadings(deviceTokens[2]!, {
          type: 'weight',
          value: 80,
          unit: 'kg',
          measuredAt: new Date().toISOString(),
        })
      ).status,
    ).toBe(200);

    const secrets = [
      ...passwords,
      wrongGuess,
      ...deviceTokens,
      ...deviceTokens.map((t) => t.slice('hwd_'.length)),
      ...sessions,
      ...sessions.map((t) => t.slice('hws_'.length)),
      ADMIN_TOKEN,
    ];
    const check = (bytes: Buffer) => {
      // Sanity: the search finds what is stored in clear.
      expect(bytes.includes(Buffer.from(first!.email))).toBe(true);
      expect(bytes.includes(Buffer.from(second!.email))).toBe(true);
      expect(bytes.includes(Buffer.from('scrypt$131072$8$1$'))).toBe(true);
      for (const secret of secrets) {
        expect(bytes.includes(Buffer.from(secret, 'utf8')), `found in clear: ${secret}`).toBe(false);
      }
    };

    check(storedBytes()); // while running: recent pages live in the WAL
    await svc.stop();
    check(storedBytes()); // after a clean stop: checkpointed into the database file
    svc = await startTestService({}, dataDir);
  });
});
