import { closeSync, fdatasync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Param, Placeholder } from 'drizzle-orm';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import * as schema from './schema.ts';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

const MIGRATIONS = fileURLToPath(new URL('./migrations', import.meta.url));

export interface OpenDatabaseOptions {
  dataDir: string;
}

/**
 * Opens (creating if needed) `DATA_DIR/homewatch.db` and applies pending migrations.
 * WAL with synchronous=FULL: a commit is fsynced before it returns, so whatever we acknowledge survives
 * a crash or a power cut. GroupCommit batches get the same guarantee with the fsync off the event loop.
 */
export function openDatabase({ dataDir }: OpenDatabaseOptions): { db: Db; sqlite: Database.Database } {
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (error) {
    throw new Error(
      `DATA_DIR ${JSON.stringify(dataDir)} cannot be created (${(error as NodeJS.ErrnoException).code}); set DATA_DIR to a writable folder`,
    );
  }
  const file = path.join(dataDir, 'homewatch.db');
  let sqlite: Database.Database;
  try {
    sqlite = new Database(file);
    sqlite.pragma('journal_mode = WAL');
  } catch (error) {
    throw new Error(
      `DATA_DIR ${JSON.stringify(dataDir)}: the database ${file} cannot be opened (${(error as Error).message}); set DATA_DIR to a writable folder`,
    );
  }
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // Checkpoint every ~32 MB of WAL rather than every 4 MB: index pages that ingest dirties over and over
  // are then copied back once, not each time (docs/performance.md).
  sqlite.pragma('wal_autocheckpoint = 8000');
  const db = drizzle(sqlite, { schema });
  migrate(db, { migrationsFolder: MIGRATIONS });
  return { db, sqlite };
}

/**
 * A drizzle-built write, run through better-sqlite3 directly: drizzle writes the SQL from the schema
 * once, and each call only binds values by placeholder name, read through `value(name)` (no object is
 * built per call). For the ingest hot path, where drizzle's per-call parameter handling was a fifth of
 * the time. Column encoders still apply.
 */
export function compileWrite(query: { toSQL(): { sql: string; params: unknown[] } }, sqlite: Database.Database) {
  const { sql, params } = query.toSQL();
  const statement = sqlite.prepare(sql);
  const binders = params.map((param): ((value: (name: string) => unknown) => unknown) => {
    const constant = param instanceof Param ? param.value : param;
    const encode =
      param instanceof Param && param.encoder
        ? (v: unknown) => (v === null || v === undefined ? null : param.encoder!.mapToDriverValue(v))
        : (v: unknown) => v ?? null;
    return constant instanceof Placeholder ? (value) => encode(value(constant.name)) : () => encode(constant);
  });
  const args: unknown[] = new Array(binders.length);
  return (value: (name: string) => unknown) => {
    // Bound synchronously by run(), so one array serves every call.
    for (let i = 0; i < binders.length; i++) args[i] = binders[i]!(value);
    return statement.run(args);
  };
}

type Job = { work: (tx: Db) => unknown; resolve: (value: unknown) => void; reject: (error: unknown) => void };

export interface GroupCommitOptions {
  /** Called with the number of jobs and the seconds a batch took, after it committed. */
  onCommit?: (jobs: number, seconds: number) => void;
  /** Called when a batch rolled back, so in-memory state derived from its work can be dropped. */
  onRollback?: () => void;
}

/**
 * Group commit: work queued in the same turn of the event loop runs in one transaction, and every
 * promise settles only after that transaction is durable.
 *
 * Durable, but without stalling the event loop on the disk: the batch commits with synchronous=NORMAL
 * (SQLite writes the WAL but does not fsync it), then the WAL is fdatasync'ed in libuv's thread pool, and
 * only then do the batch's promises settle; batches committed meanwhile share the next fdatasync. What
 * settles is therefore on disk exactly as with synchronous=FULL, which everything written outside a
 * GroupCommit still uses. Checkpoints under NORMAL sync the WAL before and the database after, as FULL.
 *
 * Bookkeeping that a crash may only make repeat can skip both the batch and the wait: `runNow`.
 *
 * Optimistic: the batch runs without savepoints; if anything in it throws, it is rolled back and each job
 * runs again in a transaction of its own, so only the failing job fails.
 */
export class GroupCommit {
  #queue: Job[] = [];
  #scheduled = false;
  #idle: Array<() => void> = [];
  /** Committed, waiting for an fdatasync that starts after their commit. */
  #unsynced: Array<{ job: Job; value: unknown }> = [];
  #syncing = false;
  readonly #transaction: (jobs: Job[]) => unknown[];
  readonly #sqlite: Database.Database;
  readonly #wal: number;

  constructor(
    db: Db,
    sqlite: Database.Database,
    private readonly options: GroupCommitOptions = {},
  ) {
    // better-sqlite3's own wrapper: BEGIN IMMEDIATE/COMMIT as cached statements, nothing built per batch.
    this.#transaction = sqlite.transaction((jobs: Job[]) => jobs.map((job) => job.work(db))).immediate;
    this.#sqlite = sqlite;
    // Only ever fsync'ed, never written through, and kept open until close(): a WAL-mode database has
    // its -wal file from the moment it is opened.
    this.#wal = openSync(`${sqlite.name}-wal`, 'r');
  }

  run<T>(work: (tx: Db) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /**
   * Runs `work` now, in a transaction of its own, and returns what it returns. It waits neither for a
   * batch nor for an fdatasync, and is on disk with the next batch (the WAL is synced in order). For
   * bookkeeping that a crash may only make repeat; not from inside a job. A failure rolls back and
   * throws; onRollback is not called.
   */
  runNow<T>(work: (tx: Db) => T): T {
    return this.#commit([{ work, resolve: () => {}, reject: () => {} }])[0] as T;
  }

  /** Resolves once everything queued so far has committed and is on disk (for a clean shutdown). */
  drain(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Drains, then closes the WAL's file descriptor: nothing may be queued afterwards. */
  async close(): Promise<void> {
    await this.drain();
    closeSync(this.#wal);
  }

  #flush() {
    const jobs = this.#queue;
    this.#queue = [];
    this.#scheduled = false;
    const started = performance.now();
    try {
      const values = this.#commit(jobs);
      this.options.onCommit?.(jobs.length, (performance.now() - started) / 1000);
      for (const [i, job] of jobs.entries()) this.#unsynced.push({ job, value: values[i] });
    } catch {
      this.options.onRollback?.();
      // Nothing of the batch is stored; run each job alone so that one bad job cannot fail the others.
      for (const job of jobs) {
        try {
          this.#unsynced.push({ job, value: this.#commit([job])[0] });
        } catch (error) {
          this.options.onRollback?.();
          job.reject(error);
        }
      }
    }
    this.#sync();
  }

  #commit(jobs: Job[]): unknown[] {
    // exec, not a prepared statement: this pragma takes effect when it is compiled, not when it runs.
    this.#sqlite.exec('PRAGMA synchronous = NORMAL');
    try {
      return this.#transaction(jobs);
    } finally {
      this.#sqlite.exec('PRAGMA synchronous = FULL');
    }
  }

  /** One fdatasync at a time, for every commit made before it started. */
  #sync() {
    if (this.#syncing) return;
    if (this.#unsynced.length === 0) {
      this.#settleIdle();
      return;
    }
    const batch = this.#unsynced;
    this.#unsynced = [];
    this.#syncing = true;
    fdatasync(this.#wal, (error) => {
      this.#syncing = false;
      // Committed but not known to be on disk: not acknowledged, so the sender tries again (and finds a duplicate).
      for (const { job, value } of batch) error ? job.reject(error) : job.resolve(value);
      this.#sync();
    });
  }

  #isIdle() {
    return !this.#scheduled && !this.#syncing && this.#unsynced.length === 0;
  }

  #settleIdle() {
    if (this.#isIdle()) for (const resolve of this.#idle.splice(0)) resolve();
  }
}
