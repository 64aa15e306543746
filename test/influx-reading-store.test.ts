import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReadingType, StoredReading } from '../src/domain/reading.ts';
import { openDatabase } from '../src/store/db.ts';
import type { BucketSize, ReadingStore } from '../src/store/reading-store.ts';
import { SqliteReadingStore } from '../src/store/sqlite-reading-store.ts';
import { InfluxReadingStore, stringLiteral, toLineProtocol } from '../src/store/influx-reading-store.ts';
import { influxdAvailable, requireBinary, startInfluxd, type RunningInfluxd } from './helpers/influxd.ts';
import { describeReadingStoreContract } from './reading-store.contract.ts';

/** POST /query: CREATE DATABASE and the like. */
async function influxCommand(url: string, q: string): Promise<void> {
  const response = await fetch(`${url}/query`, { method: 'POST', body: new URLSearchParams({ q }) });
  if (response.status !== 200) throw new Error(`${q}: ${response.status} ${await response.text()}`);
}

describe.skipIf(!requireBinary('influxd', influxdAvailable()))('InfluxDB reading store', () => {
  let influx: RunningInfluxd;
  beforeAll(async () => {
    influx = await startInfluxd();
  }, 30_000);
  afterAll(async () => {
    await influx?.stop();
  });

  /** A store on a database of its own, created for the suite. */
  async function openStore() {
    const database = `homewatch_${randomUUID().replaceAll('-', '')}`;
    await influxCommand(influx.url, `CREATE DATABASE "${database}"`);
    const store = new InfluxReadingStore({ url: influx.url, database });
    return { store, database, close: () => store.close() };
  }

  describeReadingStoreContract('influxdb', openStore);

  const reading = (patientId: string, fields: Partial<StoredReading>): StoredReading => ({
    id: randomUUID(),
    deviceId: 'device-1',
    patientId,
    type: 'spo2',
    measuredAt: Date.parse('2026-03-02T08:00:00Z'),
    receivedAt: Date.parse('2026-03-02T08:00:01Z'),
    messageId: null,
    systolic: null,
    diastolic: null,
    pulse: null,
    value: 95,
    unit: null,
    ...fields,
  });

  it('writes the documented schema: a measurement per type, patient and device tags, ms timestamps', () => {
    const line = toLineProtocol(
      reading('p 1', {
        type: 'blood_pressure',
        systolic: 142,
        diastolic: 91,
        pulse: null,
        value: null,
        unit: 'mmHg',
        messageId: 'm"1',
        deviceId: 'd,1',
      }),
    );
    expect(line).toMatch(/^blood_pressure,device_id=d\\,1,patient_id=p\\ 1 /);
    expect(line).toContain('diastolic=91,');
    expect(line).toContain('message_id="m\\"1"');
    expect(line).toContain(`received_at=${Date.parse('2026-03-02T08:00:01Z')}i`);
    expect(line).not.toContain('pulse');
    expect(line.endsWith(` ${Date.parse('2026-03-02T08:00:00Z')}`)).toBe(true);
  });

  it('escapes InfluxQL string literals', () => {
    expect(stringLiteral(`a'b\\c`)).toBe(`'a\\'b\\\\c'`);
  });

  it('keeps readings one device took at the same millisecond apart, and queries a patient id with quotes safely', async () => {
    const { store } = await openStore();
    const patient = `o'brien\\${randomUUID()}`;
    const twins = [reading(patient, { messageId: 'a', value: 91 }), reading(patient, { messageId: 'b', value: 92 })];
    await store.append(twins);
    const listed = await store.list({ patientId: patient, limit: 10 });
    expect(listed.readings).toHaveLength(2);
    expect(new Set(listed.readings.map((r) => r.id))).toEqual(new Set(twins.map((r) => r.id)));
    expect(await store.list({ patientId: `o'brien`, limit: 10 })).toEqual({ readings: [] });
  });

  it('answers exactly as the SQLite store for the same data: pages through large same-time groups, ranges, buckets', async () => {
    const { store: influxStore } = await openStore();
    const dataDir = await mkdtemp(path.join(tmpdir(), 'homewatch-compare-'));
    const { db, sqlite } = openDatabase({ dataDir });
    const sqliteStore = new SqliteReadingStore(db);
    try {
      // A seeded generator, so a failure can be replayed.
      let seed = 42;
      const random = () => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      const patient = randomUUID();
      const T0 = Date.parse('2026-03-01T22:00:00Z'); // a Sunday evening: buckets cross a week boundary
      const rows: StoredReading[] = [];
      for (let i = 0; i < 400; i++) {
        const type = (['blood_pressure', 'weight', 'spo2'] as const)[Math.floor(random() * 3)]!;
        // Clustered times: many readings share a millisecond (one group of 40), across devices.
        const at =
          i < 40
            ? T0 + 3_600_000
            : T0 + Math.floor(random() * 60) * 3_600_000 * 0.25 + (random() < 0.3 ? 0 : Math.floor(random() * 1000));
        const base = {
          type,
          measuredAt: at,
          deviceId: `d${i}`,
          receivedAt: at + 500,
          messageId: random() < 0.5 ? `m${i}` : null,
        };
        if (type === 'blood_pressure') {
          const systolic = 100 + Math.floor(random() * 60);
          rows.push(
            reading(patient, {
              ...base,
              systolic,
              diastolic: systolic - 40,
              pulse: random() < 0.3 ? null : 60 + Math.floor(random() * 30),
              value: null,
              unit: 'mmHg',
            }),
          );
        } else if (type === 'weight') {
          rows.push(reading(patient, { ...base, value: 70 + random() * 20, unit: random() < 0.5 ? 'lb' : 'kg' }));
        } else {
          rows.push(
            reading(patient, { ...base, value: 88 + Math.floor(random() * 12), pulse: random() < 0.5 ? null : 70 }),
          );
        }
      }
      await influxStore.append(rows);
      await sqliteStore.append(rows);

      const pages = async (
        store: ReadingStore,
        q: { type?: ReadingType; from?: number; to?: number; limit: number },
      ) => {
        const all: StoredReading[][] = [];
        let after: string | undefined;
        do {
          const page = await store.list({ patientId: patient, ...q, after });
          all.push(page.readings);
          after = page.next;
        } while (after);
        return all;
      };
      const queries = [
        { limit: 7 },
        { limit: 2, from: T0 + 3_600_000, to: T0 + 3_600_001 }, // the 40 readings at one millisecond
        { limit: 1000 },
        { limit: 13, type: 'weight' as const },
        { limit: 5, type: 'blood_pressure' as const, from: T0 + 3_600_000, to: T0 + 10 * 3_600_000 },
        { limit: 50, type: 'spo2' as const, from: T0 + 3_600_000 + 1 },
      ];
      for (const q of queries)
        expect(await pages(influxStore, q), JSON.stringify(q)).toEqual(await pages(sqliteStore, q));

      for (const type of ['blood_pressure', 'weight', 'spo2'] as const) {
        for (const bucket of ['1h', '1d', '1w'] as BucketSize[]) {
          const q = { patientId: patient, type, bucket, from: T0 + 1_800_000 };
          const [fromInflux, fromSqlite] = [await influxStore.buckets(q), await sqliteStore.buckets(q)];
          expect(fromInflux, `${type} ${bucket}`).toEqual(fromSqlite);
        }
      }
    } finally {
      sqlite.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('answers 503 unavailable when InfluxDB cannot be reached', async () => {
    const store = new InfluxReadingStore({ url: 'http://127.0.0.1:9', database: 'x', timeoutMs: 2000 });
    await expect(store.list({ patientId: 'p', limit: 1 })).rejects.toMatchObject({
      code: 'unavailable',
      retryAfter: 30,
    });
    expect(await store.writeLines(['spo2 value=1 1'])).toMatchObject({ ok: false });
  });
});
