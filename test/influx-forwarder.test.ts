import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredReading } from '../src/domain/reading.ts';
import { createLogger } from '../src/ops/log.ts';
import { Metrics } from '../src/ops/metrics.ts';
import { openDatabase } from '../src/store/db.ts';
import { InfluxForwarder } from '../src/store/influx-forwarder.ts';
import { InfluxReadingStore } from '../src/store/influx-reading-store.ts';
import { SqliteReadingStore } from '../src/store/sqlite-reading-store.ts';
import { influxdAvailable, requireBinary, startInfluxd, type RunningInfluxd } from './helpers/influxd.ts';

describe.skipIf(!requireBinary('influxd', influxdAvailable()))('InfluxDB forwarder', () => {
  let influx: RunningInfluxd;
  let dataDir: string;
  beforeAll(async () => {
    influx = await startInfluxd();
    dataDir = await mkdtemp(path.join(tmpdir(), 'homewatch-forwarder-'));
  }, 30_000);
  afterAll(async () => {
    await influx?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function until(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    while (!(await probe())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('creates a missing 1.x database, sends in batches, and keeps same-millisecond readings of one device apart', async () => {
    const { db, sqlite } = openDatabase({ dataDir });
    const database = `never_created_${randomUUID().replaceAll('-', '')}`;
    const store = new InfluxReadingStore({ url: influx.url, database });
    const metrics = new Metrics();
    const forwarder = new InfluxForwarder({
      db,
      store,
      backlogLimit: 1000,
      metrics,
      log: createLogger('silent'),
      batchSize: 7,
      intervalMs: 50,
    });
    try {
      const patientId = randomUUID();
      const at = Date.parse('2026-03-02T08:00:00Z');
      const rows: StoredReading[] = Array.from({ length: 30 }, (_, i) => ({
        id: randomUUID(),
        deviceId: 'oximeter-1',
        patientId,
        type: 'spo2',
        // Three readings at each millisecond, told apart only by their message ids.
        measuredAt: at + Math.floor(i / 3),
        receivedAt: at + 1000,
        messageId: `m-${i}`,
        systolic: null,
        diastolic: null,
        pulse: null,
        value: 90 + (i % 10),
        unit: null,
      }));
      await new SqliteReadingStore(db).append(rows);
      expect(forwarder.backlog()).toBe(30);

      forwarder.start();
      await until('the backlog to drain', () => forwarder.backlog() === 0);
      expect(forwarder.state()).toMatchObject({ status: 'up', backlog: 0 });
      const listed = await store.list({ patientId, limit: 100 });
      expect(listed.readings).toEqual([...rows].sort((a, b) => a.measuredAt - b.measuredAt || (a.id < b.id ? -1 : 1)));
      const text = await metrics.registry.metrics();
      expect(text).toContain('homewatch_influx_points_written_total 30');
      expect(text).toContain('homewatch_influx_backlog_readings 0');
      expect(text).toContain('homewatch_influx_up 1');
    } finally {
      await forwarder.close();
      sqlite.close();
    }
  });
});
