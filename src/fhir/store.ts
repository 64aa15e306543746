import { and, asc, desc, eq, gt, gte, isNotNull, lt, lte, max, or, sql, type SQL } from 'drizzle-orm';
import type { ReadingType, StoredReading } from '../domain/reading.ts';
import type { Db } from '../store/db.ts';
import { patients, readings } from '../store/schema.ts';
import { toStored } from '../store/sqlite-reading-store.ts';

/**
 * The FHIR API's queries. Readings are read from SQLite even with the InfluxDB backend: SQLite is the
 * ingest log every reading is committed to (and never deleted from), and FHIR needs what the ReadingStore
 * interface does not give, newest-first pages and a reading by its id.
 */

/** One reading type's part of an Observation search: a page of readings in the search's order. */
export interface ReadingPageQuery {
  patientId: string;
  type: ReadingType;
  /** Inclusive, epoch ms. */
  from?: number;
  /** Exclusive, epoch ms. */
  to?: number;
  descending: boolean;
  /** Start at this reading (included), for the page after the one it was on. */
  startAt?: { at: number; id: string };
  /** Only readings sent with a pulse (a search for heart rates alone). */
  withPulse: boolean;
  limit: number;
}

/**
 * How far apart, in received time, two readings next to each other in arrival order may be and still be
 * found by id: more than the server's clock would ever step back (see `readingById`).
 */
const CLOCK_STEP_MS = 10_000;

export class FhirStore {
  readonly #firstFrom;
  readonly #lastSeq;

  constructor(private readonly db: Db) {
    this.#firstFrom = db
      .select({ seq: readings.seq, receivedAt: readings.receivedAt })
      .from(readings)
      .where(gte(readings.seq, sql.placeholder('seq')))
      .orderBy(asc(readings.seq))
      .limit(1)
      .prepare();
    this.#lastSeq = db
      .select({ seq: max(readings.seq) })
      .from(readings)
      .prepare();
  }

  /**
   * One page of a patient's readings of one type, on the (patient, type, measured time) index: the
   * search merges the pages of the types it asks for.
   */
  readingPage(query: ReadingPageQuery): StoredReading[] {
    const conditions: SQL[] = [eq(readings.patientId, query.patientId), eq(readings.type, query.type)];
    if (query.from !== undefined) conditions.push(gte(readings.measuredAt, query.from));
    if (query.to !== undefined) conditions.push(lt(readings.measuredAt, query.to));
    if (query.withPulse) conditions.push(isNotNull(readings.pulse));
    const start = query.startAt;
    if (start) {
      // The range on measured_at first, so that the index narrows it; the id only breaks ties.
      conditions.push(
        query.descending
          ? and(lte(readings.measuredAt, start.at), or(lt(readings.measuredAt, start.at), lte(readings.id, start.id)))!
          : and(gte(readings.measuredAt, start.at), or(gt(readings.measuredAt, start.at), gte(readings.id, start.id)))!,
      );
    }
    const order = query.descending
      ? [desc(readings.measuredAt), desc(readings.id)]
      : [asc(readings.measuredAt), asc(readings.id)];
    return this.db
      .select()
      .from(readings)
      .where(and(...conditions))
      .orderBy(...order)
      .limit(query.limit)
      .all()
      .map(toStored);
  }

  /**
   * A reading by its id, without an index on ids (ingest keeps none: one B-tree fewer per insert). The id
   * is a UUIDv7 whose time is when the reading was received, and readings are stored in the order they
   * are received (ingest takes that time as it queues the message, and commits in queue order), so the
   * rows received around that time are found by binary search on `seq`, the arrival order. Only a reading
   * received while the server's clock stepped back by more than CLOCK_STEP_MS can be missed; it is still
   * found by search. Never a scan of the whole table: that would stall ingest on a large database.
   */
  readingById(id: string): StoredReading | undefined {
    const receivedAt = uuidv7Time(id);
    if (receivedAt === undefined) return undefined;
    const last = this.#lastSeq.get()?.seq;
    if (typeof last !== 'number') return undefined;
    const first = this.#firstReceivedAtOrAfter(receivedAt - CLOCK_STEP_MS, last);
    const end = this.#firstReceivedAtOrAfter(receivedAt + CLOCK_STEP_MS + 1, last);
    const row = this.db
      .select()
      .from(readings)
      .where(and(gte(readings.seq, first), lt(readings.seq, end), eq(readings.id, id)))
      .get();
    return row && toStored(row);
  }

  /** The first `seq` (up to last + 1) of a reading received at or after `at`, assuming arrival order. */
  #firstReceivedAtOrAfter(at: number, last: number): number {
    let low = 0;
    let high = last + 1;
    while (low < high) {
      const middle = Math.floor((low + high) / 2);
      const row = this.#firstFrom.get({ seq: middle });
      if (!row) high = middle;
      else if (row.receivedAt < at) low = row.seq + 1;
      else high = middle;
    }
    return low;
  }

  /** The patient whose externalId this is. */
  patientByExternalId(externalId: string) {
    return this.db.select().from(patients).where(eq(patients.externalId, externalId)).get();
  }
}

/** The Unix milliseconds of a UUIDv7 (its first 48 bits); undefined for anything else. */
export function uuidv7Time(id: string): number | undefined {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)) return undefined;
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
