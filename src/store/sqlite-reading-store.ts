import { localStarts } from '../domain/calendar.ts';
import { and, asc, eq, gt, gte, lt, max, min, or, sql, type Placeholder, type SQL } from 'drizzle-orm';
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
  readonly #valueBucket;
  readonly #bloodPressureBucket;

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
    const placeholder = sql.placeholder;
    const bucket = and(
      ...rangeConditions({
        patientId: placeholder('patientId'),
        type: placeholder('type'),
        from: placeholder('from'),
        to: placeholder('to'),
      }),
    );
    this.#valueBucket = db.select(valueStats).from(readings).where(bucket).prepare();
    this.#bloodPressureBucket = db.select(bloodPressureStats).from(readings).where(bucket).prepare();
    this.#findByKey = db
      .select()
      .from(readings)
      .where(
        and(eq(readings.deviceId, sql.placeholder('deviceId')), eq(readings.dedupeKey, sql.placeholder('dedupeKey'))),
      )
      .prepare();
  }

  /** Inserts unless the device already sent this key; true when the row is new. Call inside a transaction. */
  insert(reading: StoredReading, dedupeKey: string): boolean {
    return (
      this.#insert((name) => (name === 'dedupeKey' ? dedupeKey : reading[name as keyof StoredReading])).changes === 1
    );
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
    return rows.length > query.limit && last
      ? { readings: page, next: encodeCursor(last.measuredAt, last.id) }
      : { readings: page };
  }

  /**
   * One aggregate query per bucket, over the readings index in time order: a single GROUP BY over the
   * range would first sort every reading into its bucket, which dominates a long daily trend. Past
   * MAX_BUCKET_QUERIES buckets (hourly over months) the per-query overhead wins and one GROUP BY costs less.
   */
  async buckets(query: BucketQuery): Promise<TrendBucket[]> {
    const span = this.#span(query);
    if (!span) return [];
    const statement = query.type === 'blood_pressure' ? this.#bloodPressureBucket : this.#valueBucket;
    const bucket = (start: number, end: number) =>
      statement.get({
        patientId: query.patientId,
        type: query.type,
        from: Math.max(start, span.from),
        to: Math.min(end, span.to),
      });
    const buckets: TrendBucket[] = [];
    if (query.bucket !== '1h') {
      // Days and weeks of the patient's calendar: found by the calendar, each a query of its own.
      const unit = query.bucket === '1d' ? 'day' : 'week';
      const zone = query.timeZone ?? 'UTC';
      const starts = localStarts(span.from, span.to, unit, zone);
      for (const [i, start] of starts.entries()) {
        // The next start is the end; past the last one, the span ends first anyway.
        const row = bucket(start, starts[i + 1] ?? span.to);
        if (row?.count) buckets.push(toBucket(start, row));
      }
      return buckets;
    }
    const size = BUCKET_MS[query.bucket];
    const offset = BUCKET_OFFSET_MS[query.bucket];
    const first = Math.floor((span.from - offset) / size) * size + offset;
    if ((span.to - first) / size > MAX_BUCKET_QUERIES) return this.#groupedBuckets(query);
    for (let start = first; start < span.to; start += size) {
      const row = bucket(start, start + size);
      if (row?.count) buckets.push(toBucket(start, row));
    }
    return buckets;
  }

  /** The query's range narrowed to the readings' own first and last times; undefined when there are none. */
  #span(query: BucketQuery): { from: number; to: number } | undefined {
    const within = and(...rangeConditions(query));
    // Two queries, not one: SQLite answers a lone min() or max() from one end of the index.
    const from =
      query.from ??
      this.db
        .select({ at: min(readings.measuredAt) })
        .from(readings)
        .where(within)
        .get()?.at;
    const newest =
      query.to === undefined
        ? this.db
            .select({ at: max(readings.measuredAt) })
            .from(readings)
            .where(within)
            .get()?.at
        : undefined;
    const to = query.to ?? (typeof newest === 'number' ? newest + 1 : undefined);
    return typeof from === 'number' && to !== undefined && from < to ? { from, to } : undefined;
  }

  #groupedBuckets(query: BucketQuery): TrendBucket[] {
    // Constants from a fixed table, so sql.raw is safe; integer division floors positive times.
    const size = sql.raw(String(BUCKET_MS[query.bucket]));
    const offset = sql.raw(String(BUCKET_OFFSET_MS[query.bucket]));
    const start = sql<number>`((${readings.measuredAt} - ${offset}) / ${size}) * ${size} + ${offset}`;
    const stats = query.type === 'blood_pressure' ? bloodPressureStats : valueStats;
    return this.db
      .select({ start, ...stats })
      .from(readings)
      .where(and(...rangeConditions(query)))
      .groupBy(sql`1`)
      .orderBy(sql`1`)
      .all()
      .map((row) => toBucket(Number(row.start), row));
  }

  async close(): Promise<void> {
    // The database handle belongs to the composition root, which closes it last.
  }
}

/** The conditions of a patient's readings of a type in [from, to); values, or placeholders for a prepared query. */
function rangeConditions(query: {
  patientId: string | Placeholder;
  type?: StoredReading['type'] | Placeholder;
  from?: number | Placeholder;
  to?: number | Placeholder;
}): SQL[] {
  const conditions: SQL[] = [eq(readings.patientId, query.patientId)];
  if (query.type) conditions.push(eq(readings.type, query.type));
  if (query.from !== undefined) conditions.push(gte(readings.measuredAt, query.from));
  if (query.to !== undefined) conditions.push(lt(readings.measuredAt, query.to));
  return conditions;
}

/** A row of `readings` as the StoredReading it holds. */
export function toStored(row: typeof readings.$inferSelect): StoredReading {
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

/** Past this many buckets in the range, `buckets` groups in one query rather than one query a bucket. */
const MAX_BUCKET_QUERIES = 1000;

const valueStats = {
  count: sql<number>`count(*)`,
  min: sql<number>`min(${readings.value})`,
  max: sql<number>`max(${readings.value})`,
  mean: sql<number>`avg(${readings.value})`,
};

const bloodPressureStats = {
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
};

type Stats<T> = { [K in keyof T]: T[K] extends SQL<infer V> ? V : never };

function toBucket(start: number, row: Stats<typeof valueStats> | Stats<typeof bloodPressureStats>): TrendBucket {
  if (!('minSystolic' in row)) return { start, count: row.count, min: row.min, max: row.max, mean: row.mean };
  return {
    start,
    count: row.count,
    min: { systolic: row.minSystolic, diastolic: row.minDiastolic, pulse: row.minPulse },
    max: { systolic: row.maxSystolic, diastolic: row.maxDiastolic, pulse: row.maxPulse },
    mean: { systolic: row.meanSystolic, diastolic: row.meanDiastolic, pulse: row.meanPulse },
  };
}
