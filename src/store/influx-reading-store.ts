import { Point } from '@influxdata/influxdb-client';
import { decodeCursor, encodeCursor, type Cursor } from '../domain/cursor.ts';
import { AppError } from '../domain/errors.ts';
import { READING_TYPES, type ReadingType, type StoredReading } from '../domain/reading.ts';
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
 * Readings in InfluxDB, through the v1-compatible HTTP API (line protocol on /write, InfluxQL on /query),
 * which InfluxDB 1.x serves natively and 2.x and 3.x serve for compatibility.
 *
 * Schema (also in docs/influxdb.md): one measurement per reading type (`blood_pressure`, `weight`, `spo2`);
 * tags `patient_id`, `device_id` and, only when one device sent several readings of a type at the same
 * millisecond, `ordinal` (1, 2, … in arrival order); fields `id` (the reading id), `systolic`,
 * `diastolic`, `pulse`, `value` (floats, only those the reading has), `unit`, `message_id` (strings, when
 * set) and `received_at` (integer, epoch ms); the point's time is `measuredAt`, millisecond precision.
 *
 * InfluxDB identifies a point by measurement, tags and time, and a second write of the same point
 * replaces the first. So writing a reading again writes the same point again and changes nothing: that
 * is what lets the forwarder retry a batch whose answer it never saw. `ordinal` keeps two distinct
 * readings at the same instant from replacing each other.
 *
 * The client library's Point does the line-protocol encoding and escaping. Its HTTP transport speaks only
 * the v2 API (/api/v2/write with an org and bucket), which InfluxDB 1.x before 1.8 lacks, so the two v1
 * endpoints are called with fetch.
 */
export class InfluxReadingStore implements ReadingStore {
  readonly #http: InfluxHttp;

  constructor(options: InfluxOptions) {
    this.#http = new InfluxHttp(options);
  }

  /** The database, as given (for messages). */
  get database(): string {
    return this.#http.database;
  }

  /**
   * Stores readings; appending one that is already stored rewrites the identical point. Readings of one
   * device at the same millisecond are told apart by their order in `batch`; the forwarder, which knows
   * the durable arrival order, writes through `writeLines` with ordinals from SQLite instead.
   */
  async append(batch: StoredReading[]): Promise<void> {
    const seen = new Map<string, number>();
    const ids = new Set<string>();
    const lines: string[] = [];
    for (const reading of batch) {
      if (ids.has(reading.id)) continue;
      ids.add(reading.id);
      const key = pointKey(reading);
      const ordinal = seen.get(key) ?? 0;
      seen.set(key, ordinal + 1);
      lines.push(toLineProtocol(reading, ordinal));
    }
    const outcome = await this.writeLines(lines);
    if (!outcome.ok) throw outcome.error;
  }

  /**
   * Writes line-protocol lines in one request. Resolves `{ok: true}` once InfluxDB has answered 204 (or
   * dropped points only because they fall outside its retention policy: the operator chose not to keep
   * them, and retrying would never succeed); `{ok: false, error}` otherwise, nothing is thrown.
   */
  async writeLines(lines: readonly string[], signal?: AbortSignal): Promise<WriteOutcome> {
    if (lines.length === 0) return { ok: true, droppedByRetention: 0 };
    return this.#http.write(lines.join('\n'), signal);
  }

  async list(query: ReadingQuery): Promise<ReadingPage> {
    const cursor = query.after === undefined ? undefined : decodeCursor(query.after);
    const want = query.limit + 1;
    const types = query.type ? [query.type] : READING_TYPES;
    const perType = await Promise.all(types.map((type) => this.#listType(type, query, cursor, want)));
    const rows = perType.flat().sort(byTimeThenId).slice(0, want);
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return rows.length > query.limit && last
      ? { readings: page, next: encodeCursor(last.measuredAt, last.id) }
      : { readings: page };
  }

  /**
   * Up to `want` readings of one type after the cursor, in the SQLite store's order (time, then id).
   * InfluxDB orders by time only, so a LIMIT can cut a group of readings taken at the same millisecond
   * anywhere: when a query comes back full, the group at its last time is fetched whole and the next
   * query starts after it.
   */
  async #listType(type: ReadingType, query: ReadingQuery, cursor: Cursor | undefined, want: number) {
    const upper = query.to ?? NO_UPPER_BOUND;
    let lower = Math.max(query.from ?? NO_LOWER_BOUND, cursor?.at ?? NO_LOWER_BOUND);
    const out: StoredReading[] = [];
    for (;;) {
      // A few extra rows, so a page that starts at a cursor inside a same-time group usually needs one query.
      const batch = want - out.length + TIE_SLACK;
      let rows = await this.#select(type, query.patientId, lower, upper, batch);
      let nextLower: number | undefined;
      if (rows.length === batch) {
        const lastTime = rows.at(-1)!.measuredAt;
        rows = [
          ...rows.filter((r) => r.measuredAt < lastTime),
          ...(await this.#select(type, query.patientId, lastTime, lastTime + 1)),
        ];
        nextLower = lastTime + 1;
      }
      rows.sort(byTimeThenId);
      for (const row of rows) {
        if (cursor && (row.measuredAt < cursor.at || (row.measuredAt === cursor.at && row.id <= cursor.id))) continue;
        out.push(row);
      }
      if (nextLower === undefined || nextLower >= upper || out.length >= want) return out.slice(0, want);
      lower = nextLower;
    }
  }

  async #select(
    type: ReadingType,
    patientId: string,
    from: number,
    to: number,
    limit?: number,
  ): Promise<StoredReading[]> {
    const q =
      `SELECT * FROM ${ident(type)} WHERE ${ident('patient_id')} = ${stringLiteral(patientId)} AND ${timeRange(from, to)}` +
      ` ORDER BY time ASC${limit === undefined ? '' : ` LIMIT ${limit}`}`;
    const [series] = await this.#http.query(q);
    return (series ? rowsOf(series) : []).map((row) => toStored(type, row));
  }

  async buckets(query: BucketQuery): Promise<TrendBucket[]> {
    // Both bucket constants come from reading-store.ts, so InfluxDB and SQLite cut the same buckets.
    // Days and weeks in the patient's zone: InfluxQL's tz() moves the boundaries to local midnight.
    const zone =
      query.bucket !== '1h' && query.timeZone && query.timeZone !== 'UTC'
        ? ` tz(${stringLiteral(query.timeZone)})`
        : '';
    const groupBy = `GROUP BY time(${BUCKET_MS[query.bucket]}ms, ${BUCKET_OFFSET_MS[query.bucket]}ms) fill(none)${zone}`;
    const where = `WHERE ${ident('patient_id')} = ${stringLiteral(query.patientId)} AND ${timeRange(query.from ?? NO_LOWER_BOUND, query.to ?? NO_UPPER_BOUND)}`;
    // min, max and mean of a field, named `min` … or, with a suffix, `min_systolic` …
    const stats = (field: string, suffix = '') =>
      ['min', 'max', 'mean']
        .map((fn) => `${fn}(${ident(field)}) AS ${ident(suffix ? `${fn}_${suffix}` : fn)}`)
        .join(', ');
    const numbers = (row: Record<string, unknown>, key: string) =>
      typeof row[key] === 'number' ? (row[key] as number) : null;

    if (query.type === 'blood_pressure') {
      const select = ['systolic', 'diastolic', 'pulse'].map((field) => stats(field, field)).join(', ');
      const [series] = await this.#http.query(
        `SELECT count(${ident('systolic')}) AS ${ident('count')}, ${select} FROM ${ident(query.type)} ${where} ${groupBy}`,
      );
      return (series ? rowsOf(series) : []).map((row) => ({
        start: row.time as number,
        count: row.count as number,
        min: {
          systolic: numbers(row, 'min_systolic'),
          diastolic: numbers(row, 'min_diastolic'),
          pulse: numbers(row, 'min_pulse'),
        },
        max: {
          systolic: numbers(row, 'max_systolic'),
          diastolic: numbers(row, 'max_diastolic'),
          pulse: numbers(row, 'max_pulse'),
        },
        mean: {
          systolic: numbers(row, 'mean_systolic'),
          diastolic: numbers(row, 'mean_diastolic'),
          pulse: numbers(row, 'mean_pulse'),
        },
      }));
    }
    const [series] = await this.#http.query(
      `SELECT count(${ident('value')}) AS ${ident('count')}, ${stats('value')} FROM ${ident(query.type)} ${where} ${groupBy}`,
    );
    return (series ? rowsOf(series) : []).map((row) => ({
      start: row.time as number,
      count: row.count as number,
      min: row.min as number,
      max: row.max as number,
      mean: row.mean as number,
    }));
  }

  /** GET /ping: whether InfluxDB answers at all (1.x and 2.x answer 204, 3.x 200). */
  ping(signal?: AbortSignal): Promise<{ ok: true } | { ok: false; error: InfluxError }> {
    return this.#http.ping(signal);
  }

  /** `CREATE DATABASE` (InfluxDB 1.x only; harmless when it exists). */
  createDatabase(signal?: AbortSignal): Promise<void> {
    return this.#http.command(`CREATE DATABASE ${ident(this.#http.database)}`, signal);
  }

  async close(): Promise<void> {
    // Nothing held open: every request is a fetch with its own timeout.
  }
}

export interface InfluxOptions {
  /** Base URL, e.g. `http://127.0.0.1:8086`. */
  url: string;
  database: string;
  /** Sent as `Authorization: Token …` (1.x with auth off ignores it). */
  token?: string;
  /** Per request; default 30 s. */
  timeoutMs?: number;
}

export type WriteOutcome = { ok: true; droppedByRetention: number } | { ok: false; error: InfluxError };

/** A failed request to InfluxDB; `status` is undefined when there was no answer (refused, timed out). */
export class InfluxError extends Error {
  override name = 'InfluxError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }

  /** The 1.x answer to a write into a database that does not exist. */
  get databaseNotFound(): boolean {
    return this.status === 404 && /database not found/i.test(this.message);
  }
}

/** Points of one device at the same millisecond would be one point in InfluxDB without `ordinal`. */
function pointKey(reading: StoredReading): string {
  return JSON.stringify([reading.type, reading.patientId, reading.deviceId, reading.measuredAt]);
}

/** One reading as a line of line protocol, millisecond precision (see the class comment for the schema). */
export function toLineProtocol(reading: StoredReading, ordinal = 0): string {
  const point = new Point(reading.type)
    .tag('patient_id', reading.patientId)
    .tag('device_id', reading.deviceId)
    .stringField('id', reading.id)
    .intField('received_at', reading.receivedAt)
    .timestamp(reading.measuredAt);
  if (ordinal > 0) point.tag('ordinal', String(ordinal));
  for (const field of ['systolic', 'diastolic', 'pulse', 'value'] as const) {
    const value = reading[field];
    if (value !== null) point.floatField(field, value);
  }
  if (reading.unit !== null) point.stringField('unit', reading.unit);
  if (reading.messageId !== null) point.stringField('message_id', reading.messageId);
  // A number timestamp is written as given; the request says precision=ms.
  return point.toLineProtocol({ convertTime: (time) => (time === undefined ? undefined : String(time)) })!;
}

type Row = Record<string, unknown>;
interface Series {
  name: string;
  columns: string[];
  values?: unknown[][];
}

function rowsOf(series: Series): Row[] {
  return (series.values ?? []).map((values) =>
    Object.fromEntries(series.columns.map((column, i) => [column, values[i]])),
  );
}

function toStored(type: ReadingType, row: Row): StoredReading {
  const number = (key: string) => (typeof row[key] === 'number' ? (row[key] as number) : null);
  const text = (key: string) => (typeof row[key] === 'string' ? (row[key] as string) : null);
  return {
    id: row.id as string,
    deviceId: row.device_id as string,
    patientId: row.patient_id as string,
    type,
    measuredAt: row.time as number,
    receivedAt: row.received_at as number,
    messageId: text('message_id'),
    systolic: number('systolic'),
    diastolic: number('diastolic'),
    pulse: number('pulse'),
    value: number('value'),
    unit: text('unit'),
  };
}

function byTimeThenId(a: StoredReading, b: StoredReading): number {
  return a.measuredAt - b.measuredAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

const TIE_SLACK = 16;
/**
 * Explicit bounds on every query: without an upper bound InfluxDB 1.x ends GROUP BY time() queries at
 * now(), and devices may send readings measured up to 10 minutes ahead of our clock. 9e12 ms is in 2255,
 * inside InfluxDB's int64-nanosecond range.
 */
const NO_LOWER_BOUND = 0;
const NO_UPPER_BOUND = 9_000_000_000_000;

function timeRange(from: number, to: number): string {
  return `time >= ${Math.trunc(from)}ms AND time < ${Math.trunc(to)}ms`;
}

/** An InfluxQL double-quoted identifier. */
export function ident(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** An InfluxQL single-quoted string literal (the scanner knows the escapes \\, \', \" and \n). */
export function stringLiteral(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

/** The two v1 endpoints (and /ping), over fetch. */
class InfluxHttp {
  readonly database: string;
  readonly #base: string;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;

  constructor({ url, database, token, timeoutMs = 30_000 }: InfluxOptions) {
    this.#base = url.replace(/\/+$/, '');
    this.database = database;
    this.#headers = token ? { authorization: `Token ${token}` } : {};
    this.#timeoutMs = timeoutMs;
  }

  async write(body: string, signal?: AbortSignal): Promise<WriteOutcome> {
    const url = `${this.#base}/write?${new URLSearchParams({ db: this.database, precision: 'ms' })}`;
    let response: Answer;
    try {
      response = await this.#request(
        url,
        { method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' }, body },
        signal,
      );
    } catch (error) {
      return { ok: false, error: unreachable(error) };
    }
    if (response.status === 204 || response.status === 200) return { ok: true, droppedByRetention: 0 };
    const message = errorMessage(response);
    // 1.x: "partial write: points beyond retention policy dropped=3". Every other point was written.
    const retention = /^partial write: points beyond retention policy dropped=(\d+)$/.exec(message);
    if (response.status === 400 && retention) return { ok: true, droppedByRetention: Number(retention[1]) };
    return {
      ok: false,
      error: new InfluxError(`InfluxDB refused the write (${response.status}): ${message}`, response.status),
    };
  }

  /**
   * A SELECT; resolves with the first statement's series. InfluxDB being unreachable, overloaded or
   * without the database is AppError 503 for the API's caller; a refused query is a bug, thrown as is.
   */
  async query(q: string): Promise<Series[]> {
    const url = `${this.#base}/query?${new URLSearchParams({ db: this.database, epoch: 'ms', q })}`;
    let response: Answer;
    try {
      response = await this.#request(url, { method: 'GET' });
    } catch (error) {
      throw unavailable(unreachable(error).message);
    }
    if (response.status !== 200) {
      const message = `InfluxDB refused a query (${response.status}): ${errorMessage(response)}`;
      if (response.status === 400) throw new InfluxError(`${message}\n${q}`, response.status);
      throw unavailable(message);
    }
    const body = JSON.parse(response.text) as {
      results?: Array<{ series?: Series[]; error?: string }>;
      error?: string;
    };
    const result = body.results?.[0];
    const error = body.error ?? result?.error;
    if (error && /database not found/i.test(error)) throw unavailable(`InfluxDB: ${error}`);
    if (error) throw new InfluxError(`InfluxDB refused a query: ${error}\n${q}`, response.status);
    return result?.series ?? [];
  }

  async ping(signal?: AbortSignal): Promise<{ ok: true } | { ok: false; error: InfluxError }> {
    try {
      const response = await this.#request(`${this.#base}/ping`, { method: 'GET' }, signal);
      if (response.status >= 200 && response.status < 300) return { ok: true };
      return { ok: false, error: new InfluxError(`InfluxDB answered /ping with ${response.status}`, response.status) };
    } catch (error) {
      return { ok: false, error: unreachable(error) };
    }
  }

  /** A statement that changes something (POST /query). */
  async command(q: string, signal?: AbortSignal): Promise<void> {
    let response: Answer;
    try {
      response = await this.#request(
        `${this.#base}/query`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ db: this.database, q }).toString(),
        },
        signal,
      );
    } catch (error) {
      throw unreachable(error);
    }
    let error: string | undefined;
    try {
      const body = JSON.parse(response.text) as { results?: Array<{ error?: string }>; error?: string };
      error = body.error ?? body.results?.find((r) => r.error)?.error;
    } catch {
      error = response.status === 200 ? undefined : response.text.slice(0, 300);
    }
    if (response.status !== 200 || error) {
      throw new InfluxError(
        `InfluxDB refused "${q}" (${response.status}): ${error ?? response.text.slice(0, 300)}`,
        response.status,
      );
    }
  }

  /**
   * One request, answer read in full, within the timeout and until `signal` aborts. (Not AbortSignal.any:
   * on Node 20 every call would leave a listener on the forwarder's long-lived signal.)
   */
  async #request(
    url: string,
    init: { method: string; headers?: Record<string, string>; body?: string },
    signal?: AbortSignal,
  ): Promise<Answer> {
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new TimeoutError(`no answer within ${this.#timeoutMs} ms`)),
      this.#timeoutMs,
    );
    const onAbort = () => controller.abort(signal!.reason);
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const response = await fetch(url, {
        ...init,
        headers: { ...this.#headers, ...init.headers },
        signal: controller.signal,
      });
      return { status: response.status, statusText: response.statusText, text: await response.text() };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

interface Answer {
  status: number;
  statusText: string;
  text: string;
}

class TimeoutError extends Error {
  override name = 'TimeoutError';
}

function errorMessage(response: Answer): string {
  try {
    const body = JSON.parse(response.text) as { error?: string; message?: string };
    return body.error ?? body.message ?? response.text.slice(0, 300);
  } catch {
    return response.text.slice(0, 300) || response.statusText;
  }
}

function unreachable(error: unknown): InfluxError {
  const cause = (error as Error).cause instanceof Error ? `: ${((error as Error).cause as Error).message}` : '';
  const what =
    (error as Error).name === 'TimeoutError'
      ? 'did not answer in time'
      : `is unreachable (${(error as Error).message}${cause})`;
  return new InfluxError(`InfluxDB ${what}`);
}

/** Retry-After for queries while InfluxDB is out of reach. */
const QUERY_RETRY_AFTER_S = 30;

function unavailable(message: string): AppError {
  return new AppError('unavailable', `Readings cannot be read right now: ${message}`, [], QUERY_RETRY_AFTER_S);
}
