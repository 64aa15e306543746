import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StoredReading } from '../src/domain/reading.ts';
import { openDatabase } from '../src/store/db.ts';
import { SqliteReadingStore } from '../src/store/sqlite-reading-store.ts';
import { describeReadingStoreContract } from './reading-store.contract.ts';

describeReadingStoreContract('sqlite', async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'homewatch-store-'));
  const { db, sqlite } = openDatabase({ dataDir });
  const store = new SqliteReadingStore(db);
  return {
    store,
    async close() {
      await store.close();
      sqlite.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
});

describe('SqliteReadingStore buckets', () => {
  it('gives the same buckets from one query a bucket as from one GROUP BY over a long range', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'homewatch-buckets-'));
    const { db, sqlite } = openDatabase({ dataDir });
    const store = new SqliteReadingStore(db);
    try {
      const patientId = randomUUID();
      const T0 = Date.parse('2026-01-05T00:00:00Z');
      // 60 days of blood pressure every 50 minutes, a pulse on two readings of three: 1,440 hourly buckets.
      const rows: StoredReading[] = Array.from({ length: 1728 }, (_, i) => ({
        id: randomUUID(),
        deviceId: 'cuff-1',
        patientId,
        type: 'blood_pressure',
        measuredAt: T0 + i * 50 * 60_000,
        receivedAt: T0 + i * 50 * 60_000,
        messageId: null,
        systolic: 110 + (i % 40),
        diastolic: 70 + (i % 25),
        pulse: i % 3 ? 60 + (i % 30) : null,
        value: null,
        unit: 'mmHg',
      }));
      await store.append(rows);
      const whole = await store.buckets({ patientId, type: 'blood_pressure', bucket: '1h' });
      expect(whole).toHaveLength(1440);
      expect(whole.reduce((sum, b) => sum + b.count, 0)).toBe(1728);
      // Split where no bucket is cut in two, each half is under the limit that switches to GROUP BY.
      const middle = T0 + 30 * 86_400_000;
      const halves = [
        ...(await store.buckets({ patientId, type: 'blood_pressure', bucket: '1h', to: middle })),
        ...(await store.buckets({ patientId, type: 'blood_pressure', bucket: '1h', from: middle })),
      ];
      expect(halves).toEqual(whole);
      const daily = await store.buckets({
        patientId,
        type: 'blood_pressure',
        bucket: '1d',
        from: T0 + 3_600_000,
        to: middle + 3_600_000,
      });
      expect(daily).toHaveLength(31);
      // The first bucket starts at its day's midnight but counts only what is in the range.
      expect(daily[0]).toMatchObject({
        start: T0,
        count: rows.filter((r) => r.measuredAt >= T0 + 3_600_000 && r.measuredAt < T0 + 86_400_000).length,
      });
      expect(daily.reduce((sum, b) => sum + b.count, 0)).toBe(
        rows.filter((r) => r.measuredAt >= T0 + 3_600_000 && r.measuredAt < middle + 3_600_000).length,
      );
    } finally {
      sqlite.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
