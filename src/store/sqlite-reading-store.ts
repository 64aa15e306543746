import { and, asc, eq, gt, gte, lt, or, sql, type SQL } from 'drizzle-orm';
import { decodeCursor, encodeCursor } from '../domain/cursor.ts';
import { dedupeKey, type StoredReading } from '../domain/reading.ts';
import { compileWrite, type Db } from './db.ts';
import { readings } from './schema.ts';
import {
  BUCKET_MS,
  BUCKET_OFFSET_MS,
  type BucketQuery,
  type ReadingPage,
  type ReadingQuery,
  type ReadingStore,
  type TrendBucket,
} from './reading-store.ts';

/**
 * Readings in the embedded SQLite database. This table is also the ingest log: ingest writes to it in the
 * same transaction as de-duplication, through `insert` and `findByDedupeKey`, which run synchronously
 * inside a GroupCommit job.
 */
export class SqliteReadingStore implements ReadingStore {
  readonly #insert;
  readonly #findByKey;

  constructor(private readonly db: Db) {
    // Built once and bound per reading: the ingest hot path must not rebuild SQL for every reading.
    this.#insert = compileWrite(
      db
      .insert(readings)
      .values({
        id: sql.placeholder('id'),
        deviceId: sql.placeholder('deviceId'),
        patientId: sql.placeholder('patientId'),
        type: sql.placeholder('type'),
        measuredAt: sql.placeholder('measuredAt'),
        receivedAt: sql.placeholder('receivedAt'),
        systolic: sql.placeholder('systolic'),
        diastolic: sql.placeholder('diastolic'),
        pulse: sql.placeholder('pulse'),
        value: sql.placeholder('value'),
        unit: sql.placeholder('unit'),
        messageId: sql.placeholder('messageId'),
        dedupeKey: sql.placeholder('dedupeKey'),
      })
      .onConflictDoNothing(),
      db.$client,
    );
    this.#findByKey = db
      .select()
      .from(readings)
      .where(and(eq(readings.deviceId, sql.placeholder('deviceId')), eq(readings.dedupeKey, sql.placeholder('dedupeKey'))))
      .prepare();
  }

  /** Inserts unless the device already sent this key; true when the row is new. Call inside a transaction. */
  insert(reading: StoredReading, dedupeKey: string): boolean {
    return this.#insert((name) => (name === 'dedupeKey' ? dedupeKey : reading[name as keyof StoredReading])).changes === 1;
  }

  findByDedupeKey(deviceId: string, dedupeKey: string): StoredReading | undefined {
    const row = this.#findByKey.get({ deviceId, dedupeKey });
    return row && toStored(row);
  }

  async append(batch: StoredReading[]): Promise<void> {
    this.db.transaction(() => {
      for (const reading of batch) this.insert(reading, dedupeKey(reading));
    });
  }

  async list(query: ReadingQuery): Promise<ReadingPage> {
    const conditions = rangeConditions(query);
    const cursor = query.after === undefined ? undefined : decodeCursor(query.after);
    if (cursor) {
      conditions.push(
        or(gt(readings.measuredAt, cursor.at), and(eq(readings.measuredAt, cursor.at), gt(readings.id, cursor.id)))!,
      );
    }
    const rows = this.db
      .select()
      .from(readings)
      .where(and(...conditions))
      .orderBy(asc(readings.measuredAt), asc(readings.id))
      .limit(query.limit + 1)
      .all();
    const page = rows.slice(0, query.limit).map(toStored);
    const last = page.at(-1);
    return rows.length > query.limit && last ? { readings: page, next: encodeCursor(last.measuredAt, last.id) } : { readings: page };
  }

  async buckets(query: BucketQuery): Promise<TrendBucket[]> {
    // Constants from a fixed table, so sql.raw is safe; integer division floors positive times.
    const size = sql.raw(String(BUCKET_MS[query.bucket]));
    const offset = sql.raw(String(BUCKET_OFFSET_MS[query.bucket]));
    const start = sql<number>`((${readings.measuredAt} - ${offset}) / ${size}) * ${size} + ${offset}`;
    const where = and(...rangeConditions(query));
    if (query.type === 'blood_pressure') {
      const rows = this.db
        .select({
          start,
          count: sql<number>`count(*)`,
          minSystolic: sql<number>`min(${readings.systolic})`,
          maxSystolic: sql<number>`max(${readings.systolic})`,
          meanSystolic: sql<number>`avg(${readings.systolic})`,
          minDiastolic: sql<number>`min(${readings.diastolic})`,
          maxDiastolic: sql<number>`max(${readings.diastolic})`,
          meanDiastolic: sql<number>`avg(${readings.diastolic})`,
          minPulse: sql<number | null>`min(${readings.pulse})`,
          maxPulse: sql<number | null>`max(${readings.pulse})`,
          meanPulse: sql<number | null>`avg(${readings.pulse})`,
        })
        .from(readings)
        .where(where)
        .groupBy(sql`1`)
        .orderBy(sql`1`)
        .all();
      return rows.map((r) => ({
        start: Number(r.start),
        count: r.count,
        min: { systolic: r.minSystolic, diastolic: r.minDiastolic, pulse: r.minPulse },
        max: { systolic: r.maxSystolic, diastolic: r.maxDiastolic, pulse: r.maxPulse },
        mean: { systolic: r.meanSystolic, diastolic: r.meanDiastolic, pulse: r.meanPulse },
      }));
    }
    return this.db
      .select({
        start,
        count: sql<number>`count(*)`,
        min: sql<number>`min(${readings.value})`,
        max: sql<number>`max(${readings.value})`,
        mean: sql<number>`avg(${readings.value})`,
      })
      .from(readings)
      .where(where)
      .groupBy(sql`1`)
      .orderBy(sql`1`)
      .all()
      .map((r) => ({ ...r, start: Number(r.start) }));
  }

  async close(): Promise<void> {
    // The database handle belongs to the composition root, which closes it last.
  }
}

function rangeConditions(query: { patientId: string; type?: StoredReading['type']; from?: number; to?: number }): SQL[] {
  const conditions: SQL[] = [eq(readings.patientId, query.patientId)];
  if (query.type) conditions.push(eq(readings.type, query.type));
  if (query.from !== undefined) conditions.push(gte(readings.measuredAt, query.from));
  if (query.to !== undefined) conditions.push(lt(readings.measuredAt, query.to));
  return conditions;
}

function toStored(row: typeof readings.$inferSelect): StoredReading {
  return {
    id: row.id,
    deviceId: row.deviceId,
    patientId: row.patientId,
    type: row.type,
    measuredAt: row.measuredAt,
    receivedAt: row.receivedAt,
    messageId: row.messageId,
    systolic: row.systolic,
    diastolic: row.diastolic,
    pulse: row.pulse,
    value: row.value,
    unit: row.unit,
  };
}
