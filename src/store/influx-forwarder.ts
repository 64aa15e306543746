import { asc, eq, gt, max, sql } from 'drizzle-orm';
import { AppError } from '../domain/errors.ts';
import type { Logger } from '../ops/log.ts';
import type { InfluxMetrics, Metrics } from '../ops/metrics.ts';
import type { Db } from './db.ts';
import { toLineProtocol, type InfluxReadingStore } from './influx-reading-store.ts';
import { outboxCursors, readings } from './schema.ts';

/** The row of `outbox_cursors` that records the last reading (by `seq`) InfluxDB has confirmed. */
const CURSOR = 'influxdb';
/** Lines per write: a few thousand keeps a request around a megabyte, well under InfluxDB's 25 MB limit. */
const BATCH_SIZE = 5000;
/** How often pending readings are sent when fewer than a batch are waiting. */
const INTERVAL_MS = 1000;
/** With nothing to send, a /ping this often keeps /readyz and homewatch_influx_up truthful. */
const PROBE_INTERVAL_MS = 10_000;
/**
 * Retry backoff, full jitter: a random wait up to 1 s, 2 s, 4 s … capped at 60 s, so an attempt every
 * 30 s on average once InfluxDB has been down for about two minutes, and many instances coming back at
 * once do not retry in step.
 */
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 60_000;
const RETRY_MIN_MS = 100;
/** On stop, how long the last sends may take before they are abandoned (they are sent again at start). */
const CLOSE_GRACE_MS = 3000;
/** What devices are told while the backlog is full. */
const ADMISSION_RETRY_AFTER_S = 60;

export interface InfluxForwarderOptions {
  db: Db;
  store: InfluxReadingStore;
  /** Readings waiting for InfluxDB beyond which ingest refuses new messages (INFLUX_BACKLOG_LIMIT). */
  backlogLimit: number;
  /** The forwarder registers its backlog, up and written-points metrics here. */
  metrics?: Metrics;
  log: Logger;
  /** For tests; defaults above. */
  intervalMs?: number;
  batchSize?: number;
}

export interface InfluxState {
  /** `unknown` until the first write or probe has answered. */
  status: 'unknown' | 'up' | 'down';
  /** Epoch ms of the last change of status. */
  since: number;
  /** Why the last attempt failed, while down. */
  error?: string;
  /** Readings committed to SQLite and not yet confirmed by InfluxDB. */
  backlog: number;
}

/**
 * Delivers readings to InfluxDB from SQLite, where ingest has already committed (and acknowledged) them.
 * The `readings` table is the durable queue: its `seq` is arrival order, and `outbox_cursors` keeps the
 * last `seq` InfluxDB confirmed. Each round reads the next rows after the cursor, writes them in one
 * request, and only then moves the cursor, in its own SQLite commit.
 *
 * A crash between InfluxDB's answer and that commit sends the batch again at the next start, and that
 * second write changes nothing: each reading becomes the same point (same measurement, tags, time and
 * fields; `ordinal` comes from SQLite's arrival order, so it is the same every time), and InfluxDB keeps
 * one point per series and time. So an outage of any length, a crash during it, or both, lose nothing
 * and leave each reading in InfluxDB once.
 */
export class InfluxForwarder {
  readonly #options: InfluxForwarderOptions;
  readonly #metrics: InfluxMetrics | undefined;
  readonly #readBatch;
  readonly #maxSeq;
  readonly #abort = new AbortController();
  #cursor = 0;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed = false;
  #state: Omit<InfluxState, 'backlog'> = { status: 'unknown', since: Date.now() };
  #failures = 0;
  #lastContact = 0;
  #triedCreate = false;
  #refusing = false;

  constructor(options: InfluxForwarderOptions) {
    this.#options = options;
    this.#metrics = options.metrics?.trackInflux(() => {
      const { backlog, status } = this.state();
      return { backlog, up: status === 'up' };
    });
    const { db } = options;
    this.#readBatch = db
      .select({
        seq: readings.seq,
        id: readings.id,
        deviceId: readings.deviceId,
        patientId: readings.patientId,
        type: readings.type,
        measuredAt: readings.measuredAt,
        receivedAt: readings.receivedAt,
        messageId: readings.messageId,
        systolic: readings.systolic,
        diastolic: readings.diastolic,
        pulse: readings.pulse,
        value: readings.value,
        unit: readings.unit,
        // Earlier readings of this device and type at the same millisecond (rare; the index
        // readings_patient_type_time finds them): the point's `ordinal` tag.
        ordinal: sql<number>`(${sql.raw(`select count(*) from readings as earlier
          where earlier.patient_id = readings.patient_id and earlier.type = readings.type
            and earlier.measured_at = readings.measured_at and earlier.device_id = readings.device_id
            and earlier.seq < readings.seq`)})`,
      })
      .from(readings)
      .where(gt(readings.seq, sql.placeholder('after')))
      .orderBy(asc(readings.seq))
      .limit(sql.placeholder('limit'))
      .prepare();
    this.#maxSeq = db
      .select({ seq: max(readings.seq) })
      .from(readings)
      .prepare();
  }

  /** Loads the cursor and starts delivering, at once: whatever a previous run left is sent first. */
  start(): void {
    const { db } = this.#options;
    this.#cursor =
      db.select({ seq: outboxCursors.seq }).from(outboxCursors).where(eq(outboxCursors.name, CURSOR)).get()?.seq ?? 0;
    this.#schedule(0);
  }

  /** Readings committed and not yet confirmed by InfluxDB. seq only grows, so this is one index lookup. */
  backlog(): number {
    return Math.max(0, (this.#maxSeq.get()?.seq ?? 0) - this.#cursor);
  }

  state(): InfluxState {
    return { ...this.#state, backlog: this.backlog() };
  }

  /**
   * Ingest's admission check: throws AppError 503 (`Retry-After`) once the backlog has reached the limit,
   * so a long outage makes devices hold their readings (HTTP 503, no MQTT PUBACK) instead of the
   * service growing an unbounded queue. Nothing is refused before then.
   */
  admit(): void {
    const backlog = this.backlog();
    const full = backlog >= this.#options.backlogLimit;
    if (full !== this.#refusing) {
      this.#refusing = full;
      const { log } = this.#options;
      if (full) {
        log.error(
          { event: 'influx_backlog_full', backlog, limit: this.#options.backlogLimit },
          'InfluxDB backlog is full (INFLUX_BACKLOG_LIMIT): refusing readings until InfluxDB takes some',
        );
      } else {
        log.warn(
          { event: 'influx_backlog_accepting', backlog },
          'InfluxDB backlog below the limit again: accepting readings',
        );
      }
    }
    if (full) {
      throw new AppError(
        'unavailable',
        `${backlog} readings are waiting for the time-series database, the most this service holds; retry later`,
        [],
        ADMISSION_RETRY_AFTER_S,
      );
    }
  }

  /**
   * Stops delivering. An in-flight write may finish, and what is still pending gets one more try, within
   * CLOSE_GRACE_MS; anything left is sent at the next start. Call before the database closes.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    const deadline = setTimeout(() => this.#abort.abort(), CLOSE_GRACE_MS);
    try {
      await this.#running;
      while (this.#state.status === 'up' && !this.#abort.signal.aborted) {
        if (!(await this.#deliverBatch()).full) break;
      }
    } catch {
      // Left for the next start.
    } finally {
      clearTimeout(deadline);
    }
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#round().finally(() => (this.#running = undefined));
    }, delayMs);
    // The servers keep the process alive; stop() closes this properly.
    this.#timer.unref();
  }

  async #round(): Promise<void> {
    const interval = this.#options.intervalMs ?? INTERVAL_MS;
    let full = false;
    try {
      ({ full } = await this.#deliverBatch());
    } catch (error) {
      if (this.#closed) return;
      if (!(error instanceof InfluxUnavailable)) {
        // SQLite itself failed (disk, I/O): nothing moved, try again on the next round.
        this.#options.log.error(
          { event: 'influx_forward_failed', err: error },
          'Could not read the readings to send to InfluxDB',
        );
        this.#schedule(interval);
        return;
      }
      this.#markDown(error.message);
      const cap = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (this.#failures - 1));
      this.#schedule(Math.max(RETRY_MIN_MS, Math.random() * cap));
      return;
    }
    this.#schedule(full ? 0 : interval);
  }

  /** Sends the next batch after the cursor (or probes when there is none); throws InfluxUnavailable on failure. */
  async #deliverBatch(): Promise<{ full: boolean }> {
    const { store, db } = this.#options;
    const metrics = this.#metrics;
    const batchSize = this.#options.batchSize ?? BATCH_SIZE;
    const rows = this.#readBatch.all({ after: this.#cursor, limit: batchSize });
    const signal = this.#abort.signal;
    if (rows.length === 0) {
      if (this.#state.status !== 'up' || Date.now() - this.#lastContact >= PROBE_INTERVAL_MS) {
        const ok = await store.ping(signal);
        if (!ok.ok) throw new InfluxUnavailable(ok.error.message);
        this.#markUp();
      }
      return { full: false };
    }
    const lines = rows.map((row) => toLineProtocol(row, row.ordinal));
    let outcome = await store.writeLines(lines, signal);
    if (!outcome.ok && outcome.error.databaseNotFound && !this.#triedCreate) {
      // InfluxDB 1.x answers this way for a database nobody created yet; CREATE DATABASE fixes it there
      // (2.x and 3.x refuse it: their bucket or DBRP mapping is made by their admin, see docs/influxdb.md).
      this.#triedCreate = true;
      const notFound = outcome.error.message;
      try {
        await store.createDatabase(signal);
        this.#options.log.warn(
          { event: 'influx_database_created', database: store.database },
          `Created the InfluxDB database ${store.database}`,
        );
        outcome = await store.writeLines(lines, signal);
      } catch (error) {
        throw new InfluxUnavailable(`${notFound}; CREATE DATABASE failed too: ${(error as Error).message}`);
      }
    }
    if (!outcome.ok) {
      metrics?.writeFailures.inc();
      throw new InfluxUnavailable(outcome.error.message);
    }
    if (outcome.droppedByRetention > 0) {
      metrics?.droppedByRetention.inc(outcome.droppedByRetention);
      this.#options.log.warn(
        { event: 'influx_retention_dropped', points: outcome.droppedByRetention },
        'InfluxDB dropped readings older than its retention policy keeps; they stay in SQLite',
      );
    }
    const last = rows.at(-1)!.seq;
    db.insert(outboxCursors)
      .values({ name: CURSOR, seq: last })
      .onConflictDoUpdate({ target: outboxCursors.name, set: { seq: last } })
      .run();
    this.#cursor = last;
    metrics?.pointsWritten.inc(rows.length);
    this.#markUp();
    return { full: rows.length === batchSize };
  }

  #markUp(): void {
    this.#lastContact = Date.now();
    this.#failures = 0;
    if (this.#state.status === 'up') return;
    const was = this.#state;
    this.#state = { status: 'up', since: Date.now() };
    this.#options.log.info(
      {
        event: 'influx_up',
        database: this.#options.store.database,
        downMs: was.status === 'down' ? Date.now() - was.since : undefined,
        backlog: this.backlog(),
      },
      was.status === 'down' ? 'InfluxDB is back: sending the readings that waited' : 'InfluxDB is reachable',
    );
  }

  #markDown(error: string): void {
    this.#failures++;
    if (this.#state.status === 'down') {
      this.#state.error = error;
      return;
    }
    this.#state = { status: 'down', since: Date.now(), error };
    this.#options.log.warn(
      { event: 'influx_down', error, backlog: this.backlog() },
      'InfluxDB is not taking writes: readings are still accepted and wait in SQLite; retrying with backoff',
    );
  }
}

/** InfluxDB did not take a write or answer a probe; the batch stays pending. */
class InfluxUnavailable extends Error {
  override name = 'InfluxUnavailable';
}

/** /readyz: InfluxDB down never makes the service unready, since ingest goes on; the body says so. */
export function influxReadiness(forwarder: InfluxForwarder) {
  return () => {
    const { status, since, error, backlog } = forwarder.state();
    const readings = `backlog ${backlog} readings`;
    const detail =
      status === 'down'
        ? `down since ${new Date(since).toISOString()} (${error}); ${readings}`
        : status === 'up'
          ? `up; ${readings}`
          : `not contacted yet; ${readings}`;
    return { name: 'influxdb', ok: status !== 'down', required: false, detail };
  };
}
