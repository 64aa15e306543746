import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from './helpers/service.ts';

/**
 * What a device's refused payloads may cost (security issue rows 8 and 14): the rejections kept per
 * device are capped (newest kept), a payload over 16 KiB is kept as its first 4 KiB and its SHA-256, and
 * the rejections are served as the text that was stored, whatever that text is.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
const CAP = 5;

interface Rejection {
  reason: string;
  payload: unknown;
  rawPayload: string;
  truncated?: boolean;
  bytes?: number;
  sha256?: string;
  errors: Array<{ path: string; message: string }>;
}

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ REJECTIONS_PER_DEVICE: String(CAP) });
});
afterAll(() => svc?.stop());

/** Every byte of the data folder: database, write-ahead log, keys. */
function folderBytes(dir: string): number {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => statSync(path.join(dir, name)))
    .filter((stat) => stat.isFile())
    .reduce((sum, stat) => sum + stat.size, 0);
}

async function rejectionsOf(deviceId: string): Promise<Rejection[]> {
  const response = await svc.admin(`/v1/devices/${deviceId}/rejections`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { rejections: Rejection[] }).rejections;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('rejections kept per device', () => {
  it('20 invalid bodies of 1 MiB grow the data folder by a few hundred KB, not 40 MB', async () => {
    const device = await svc.provision('bp_monitor');
    const before = folderBytes(svc.dataDir);
    for (let i = 0; i < 20; i++) {
      const body = `{${String(i).padStart(2, '0')}${'x'.repeat(MiB - 3)}`;
      const response = await svc.postReadings(device.token, body);
      expect(response.status).toBe(400);
    }
    const grown = folderBytes(svc.dataDir) - before;
    expect(grown, `the data folder grew by ${(grown / MiB).toFixed(1)} MB`).toBeLessThan(2 * MiB);
  });

  it(`keeps only the newest REJECTIONS_PER_DEVICE (${CAP} here) of a device, and no other device's`, async () => {
    const [device, other] = await Promise.all([svc.provision('bp_monitor'), svc.provision('scale')]);
    expect((await svc.postReadings(other.token, 'not json from the other device')).status).toBe(400);
    for (let i = 0; i < CAP + 3; i++) {
      expect((await svc.postReadings(device.token, `not json ${i}`)).status).toBe(400);
    }
    const kept = await rejectionsOf(device.deviceId);
    expect(kept.map((r) => r.rawPayload)).toEqual(
      Array.from({ length: CAP }, (_, i) => `not json ${CAP + 2 - i}`), // newest first
    );
    // Trimmed in the database, not only in the answer.
    const db = new Database(path.join(svc.dataDir, 'homewatch.db'), { readonly: true });
    try {
      const count = (id: string) =>
        (db.prepare('select count(*) as n from rejections where device_id = ?').get(id) as { n: number }).n;
      expect(count(device.deviceId)).toBe(CAP);
      expect(count(other.deviceId)).toBe(1);
    } finally {
      db.close();
    }
    expect((await rejectionsOf(other.deviceId)).map((r) => r.rawPayload)).toEqual(['not json from the other device']);
  });

  it('of a payload over 16 KiB keeps its first 4 KiB, its size and its SHA-256, and says so', async () => {
    const device = await svc.provision('bp_monitor');
    const body = `not json ${'y'.repeat(20 * KiB)}`;
    expect((await svc.postReadings(device.token, body)).status).toBe(400);
    const small = 'not json, and small';
    expect((await svc.postReadings(device.token, small)).status).toBe(400);
    const [smallOne, large] = await rejectionsOf(device.deviceId);
    expect(large).toMatchObject({
      reason: 'malformed',
      truncated: true,
      bytes: Buffer.byteLength(body),
      sha256: sha256(body),
      rawPayload: body.slice(0, 4 * KiB),
      payload: body.slice(0, 4 * KiB),
    });
    expect(smallOne).toMatchObject({ rawPayload: small, payload: small });
    expect(smallOne).not.toHaveProperty('truncated');
  });
});

describe('rejections are served as stored', () => {
  const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

  it('a device that sent JSON 20,000 levels deep (refused, 400) still has its rejections listed', async () => {
    const device = await svc.provision('bp_monitor');
    const deep = nested(20_000);
    const response = await svc.postReadings(device.token, deep);
    expect(response.status).toBe(400);
    const [rejection] = await rejectionsOf(device.deviceId);
    expect(rejection).toMatchObject({ truncated: true, bytes: deep.length, sha256: sha256(deep) });
  });

  it('JSON nested deeply but under 16 KiB is served as its text, not parsed again', async () => {
    const device = await svc.provision('bp_monitor');
    const deep = nested(5000);
    expect((await svc.postReadings(device.token, deep)).status).toBe(400);
    const batch = `{"readings":[${deep}]}`;
    expect((await svc.postReadings(device.token, batch)).status).toBe(422);
    const [item, whole] = await rejectionsOf(device.deviceId);
    expect(whole).toMatchObject({ reason: 'malformed', payload: deep, rawPayload: deep });
    expect(item).toMatchObject({ reason: 'invalid' });
    expect(typeof item!.payload).toBe('string');
  });

  it('a small, shallow JSON payload is still given parsed, beside its text', async () => {
    const device = await svc.provision('bp_monitor');
    const reading = { type: 'blood_pressure', measuredAt: new Date().toISOString(), systolic: 999, diastolic: 80 };
    expect((await svc.postReadings(device.token, reading)).status).toBe(422);
    const [rejection] = await rejectionsOf(device.deviceId);
    expect(rejection).toMatchObject({ reason: 'invalid', payload: reading, rawPayload: JSON.stringify(reading) });
  });
});
