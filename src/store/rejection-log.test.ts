import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from './db.ts';
import { KEPT_HEAD_BYTES, KEPT_WHOLE_BYTES, keptPayload, RejectionLog, type Rejection } from './rejection-log.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function open(perDevice: number) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'homewatch-rejections-'));
  dirs.push(dataDir);
  const { db, sqlite } = openDatabase({ dataDir });
  sqlite.pragma('synchronous = OFF'); // no fsync per insert: durability is not what is tested here
  const count = (deviceId: string) =>
    (sqlite.prepare('select count(*) as n from rejections where device_id = ?').get(deviceId) as { n: number }).n;
  return { db, log: new RejectionLog(db, { perDevice }), count, sqlite };
}

const rejection = (deviceId: string, payload: Rejection['payload']): Rejection => ({
  deviceId,
  receivedAt: 0,
  transport: 'http',
  reason: 'malformed',
  payload,
  errors: [{ path: '', message: 'must be valid JSON' }],
});

describe('RejectionLog', () => {
  it('keeps at most perDevice rejections per device, the newest, trimming a tenth at a time', () => {
    const { log, count, sqlite } = open(20);
    for (let i = 0; i < 100; i++) {
      log.add(rejection('a', `a${i}`));
      expect(count('a')).toBeLessThanOrEqual(20);
      if (i >= 20) expect(count('a')).toBeGreaterThanOrEqual(18);
    }
    const kept = log.list('a', 1000).map((r) => r.payload);
    expect(kept[0]).toBe('a99');
    expect(kept).toEqual(kept.map((_, i) => `a${99 - i}`));
    sqlite.close();
  });

  it('trims each device on its own, and a device over the cap from before on its next rejection', () => {
    const before = open(1000);
    for (let i = 0; i < 30; i++) before.log.add(rejection('old', `o${i}`));
    before.log.add(rejection('other', 'x'));
    const { sqlite } = before;
    // The same database with a smaller cap, as after a restart with REJECTIONS_PER_DEVICE lowered.
    const after = new RejectionLog(before.db, { perDevice: 5 });
    expect(after.list('old', 1000)).toHaveLength(5);
    after.add(rejection('old', 'o30'));
    expect(before.count('old')).toBe(5);
    expect(before.count('other')).toBe(1);
    expect(after.list('old', 1000).map((r) => r.payload)).toEqual(['o30', 'o29', 'o28', 'o27', 'o26']);
    sqlite.close();
  });
});

describe('keptPayload', () => {
  it('keeps a payload up to 16 KiB whole', () => {
    const text = 'é'.repeat(KEPT_WHOLE_BYTES / 2);
    expect(keptPayload(text)).toEqual({ payload: text, truncated: false, bytes: KEPT_WHOLE_BYTES, sha256: null });
    expect(keptPayload(Buffer.from(text))).toMatchObject({ payload: text, truncated: false });
  });

  it('of a larger one, its first 4 KiB, its size and its SHA-256', () => {
    const text = 'x'.repeat(KEPT_WHOLE_BYTES + 1);
    expect(keptPayload(text)).toEqual({
      payload: 'x'.repeat(KEPT_HEAD_BYTES),
      truncated: true,
      bytes: KEPT_WHOLE_BYTES + 1,
      sha256: createHash('sha256').update(text).digest('hex'),
    });
  });

  it('of one not read whole, its head and its declared size, without a hash', () => {
    const head = Buffer.from('y'.repeat(KEPT_HEAD_BYTES + 10));
    expect(keptPayload({ head, bytes: 5_000_000 })).toEqual({
      payload: 'y'.repeat(KEPT_HEAD_BYTES),
      truncated: true,
      bytes: 5_000_000,
      sha256: null,
    });
  });
});
