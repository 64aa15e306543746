import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import * as schema from './schema.ts';

export type Db = BetterSQLite3Database<typeof schema>;

const MIGRATIONS = fileURLToPath(new URL('./migrations', import.meta.url));

export interface OpenDatabaseOptions {
  dataDir: string;
}

/**
 * Opens (creating if needed) `DATA_DIR/homewatch.db` and applies pending migrations.
 * WAL with synchronous=FULL: a commit is fsynced before it returns, so whatever we acknowledge survives
 * a crash or a power cut; group commits (GroupCommit) keep that to one fsync per batch, not per reading.
 */
export function openDatabase({ dataDir }: OpenDatabaseOptions): { db: Db; sqlite: Database.Database } {
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (error) {
    throw new Error(`DATA_DIR ${JSON.stringify(dataDir)} cannot be created (${(error as NodeJS.ErrnoException).code}); set DATA_DIR to a writable folder`);
  }
  const file = path.join(dataDir, 'homewatch.db');
  let sqlite: Database.Database;
  try {
    sqlite = new Database(file);
    sqlite.pragma('journal_mode = WAL');
  } catch (error) {
    throw new Error(`DATA_DIR ${JSON.stringify(dataDir)}: the database ${file} cannot be opened (${(error as Error).message}); set DATA_DIR to a writable folder`);
  }
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = drizzle(sqlite, { schema });
  migrate(db, { migrationsFolder: MIGRATIONS });
  return { db, sqlite };
}

type Job = { work: (tx: Db) => unknown; resolve: (value: unknown) => void; reject: (error: unknown) => void };

/**
 * Group commit: work queued in the same turn of the event loop runs in one transaction, and every
 * promise settles only after that transaction has committed. Each job runs in its own savepoint, so a
 * job that throws rolls back alone and the others still commit.
 */
export class GroupCommit {
  #queue: Job[] = [];
  #scheduled = false;
  #idle: Array<() => void> = [];

  constructor(
    private readonly db: Db,
    private readonly onCommit: (jobs: number, seconds: number) => void = () => {},
  ) {}

  run<T>(work: (tx: Db) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /** Resolves once everything queued so far has committed (for a clean shutdown). */
  drain(): Promise<void> {
    if (!this.#scheduled) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #flush() {
    const jobs = this.#queue;
    this.#queue = [];
    this.#scheduled = false;
    const started = performance.now();
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      this.db.transaction(
        (tx) => {
          for (const job of jobs) {
            try {
              outcomes.push({ ok: true, value: tx.transaction((savepoint) => job.work(savepoint as unknown as Db)) });
            } catch (error) {
              outcomes.push({ ok: false, error });
            }
          }
        },
        { behavior: 'immediate' },
      );
    } catch (error) {
      // The commit itself failed (disk full, I/O error): nothing of this batch is stored, so nobody is acknowledged.
      for (const job of jobs) job.reject(error);
      this.#settleIdle();
      return;
    }
    this.onCommit(jobs.length, (performance.now() - started) / 1000);
    jobs.forEach((job, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) job.resolve(outcome.value);
      else job.reject(outcome.error);
    });
    this.#settleIdle();
  }

  #settleIdle() {
    if (this.#scheduled) return;
    for (const resolve of this.#idle.splice(0)) resolve();
  }
}
