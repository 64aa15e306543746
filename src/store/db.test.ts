import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { afterEach, describe, expect, it } from 'vitest';
import { GroupCommit, openDatabase } from './db.ts';
import { patients } from './schema.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function open(dataDir = mkdtempSync(path.join(tmpdir(), 'homewatch-db-'))) {
  dirs.push(dataDir);
  return { ...openDatabase({ dataDir }), dataDir };
}

const patient = (id: string) => ({ id, name: `Patient ${id}`, createdAt: 0 });

describe('GroupCommit', () => {
  it('commits work queued together in one transaction, settling after the commit', async () => {
    const { db, sqlite, dataDir } = open();
    const batches: number[] = [];
    const commits = new GroupCommit(db, sqlite, { onCommit: (jobs) => batches.push(jobs) });
    const results = await Promise.all(
      ['a', 'b', 'c'].map((id) => commits.run((tx) => tx.insert(patients).values(patient(id)).run().changes)),
    );
    expect(results).toEqual([1, 1, 1]);
    expect(batches).toEqual([3]);
    // Visible to a second connection on the same file: committed, not just written.
    const other = open(dataDir);
    expect(
      other.db
        .select()
        .from(patients)
        .all()
        .map((p) => p.id),
    ).toEqual(['a', 'b', 'c']);
    other.sqlite.close();
  });

  it('a job that throws fails alone; the rest of its batch still commits', async () => {
    const { db, sqlite } = open();
    let rollbacks = 0;
    const commits = new GroupCommit(db, sqlite, { onRollback: () => rollbacks++ });
    const outcomes = await Promise.allSettled([
      commits.run((tx) => tx.insert(patients).values(patient('a')).run()),
      commits.run((tx) => {
        tx.insert(patients).values(patient('half')).run();
        throw new Error('bad job');
      }),
      commits.run((tx) => tx.insert(patients).values(patient('c')).run()),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason.message).toBe('bad job');
    expect(
      db
        .select()
        .from(patients)
        .all()
        .map((p) => p.id)
        .sort(),
    ).toEqual(['a', 'c']);
    expect(db.select().from(patients).where(eq(patients.id, 'half')).get()).toBeUndefined();
    expect(rollbacks).toBe(2); // the batch, then the bad job alone
  });

  it('commits its batches with the fsync off the event loop, and leaves the connection at synchronous=FULL for other writes', async () => {
    const { db, sqlite } = open();
    const commits = new GroupCommit(db, sqlite);
    const FULL = 2;
    const during = await commits.run(() => sqlite.pragma('synchronous', { simple: true }));
    expect(during).toBe(1); // NORMAL: GroupCommit fdatasyncs the WAL itself before settling
    expect(sqlite.pragma('synchronous', { simple: true })).toBe(FULL);
    await expect(
      commits.run(() => {
        throw new Error('bad job');
      }),
    ).rejects.toThrow('bad job');
    expect(sqlite.pragma('synchronous', { simple: true })).toBe(FULL);
    await commits.close();
  });

  it('runNow commits at once, outside the batch, and returns what its work returns', async () => {
    const { db, sqlite, dataDir } = open();
    const commits = new GroupCommit(db, sqlite);
    const queued = commits.run((tx) => tx.insert(patients).values(patient('queued')).run());
    expect(commits.runNow((tx) => tx.insert(patients).values(patient('now')).run().changes)).toBe(1);
    // Committed before the batch queued earlier: a second connection sees it alone.
    const other = open(dataDir);
    expect(
      other.db
        .select()
        .from(patients)
        .all()
        .map((p) => p.id),
    ).toEqual(['now']);
    await queued;
    expect(
      other.db
        .select()
        .from(patients)
        .all()
        .map((p) => p.id),
    ).toEqual(['now', 'queued']);
    other.sqlite.close();
    expect(() =>
      commits.runNow(() => {
        throw new Error('bad bookkeeping');
      }),
    ).toThrow('bad bookkeeping');
    expect(sqlite.pragma('synchronous', { simple: true })).toBe(2); // FULL again for other writes
    await commits.close();
  });

  it('drain waits for queued work', async () => {
    const { db, sqlite } = open();
    const commits = new GroupCommit(db, sqlite);
    void commits.run((tx) => tx.insert(patients).values(patient('x')).run());
    await commits.drain();
    expect(db.select().from(patients).all()).toHaveLength(1);
  });
});

describe('migrations', () => {
  it('0007 keeps every reading and its seq, and new readings continue after the last', () => {
    // A database as the previous release left it: migrated up to 0006, with readings in it.
    const migrations = fileURLToPath(new URL('./migrations', import.meta.url));
    const before = mkdtempSync(path.join(tmpdir(), 'homewatch-migrations-'));
    dirs.push(before);
    cpSync(migrations, before, { recursive: true });
    const journalFile = path.join(before, 'meta', '_journal.json');
    const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as { entries: Array<{ tag: string }> };
    const upTo = journal.entries.findIndex((entry) => entry.tag.startsWith('0007_'));
    expect(upTo).toBeGreaterThan(0);
    writeFileSync(journalFile, JSON.stringify({ ...journal, entries: journal.entries.slice(0, upTo) }));
    const dataDir = mkdtempSync(path.join(tmpdir(), 'homewatch-db-'));
    dirs.push(dataDir);
    const old = new Database(path.join(dataDir, 'homewatch.db'));
    migrate(drizzle(old), { migrationsFolder: before });
    const insert = old.prepare(
      `insert into readings (id, device_id, patient_id, type, measured_at, received_at, value, dedupe_key) values (?, 'd1', 'p1', 'weight', ?, ?, 80, ?)`,
    );
    for (let i = 1; i <= 3; i++) insert.run(`r${i}`, i, i, `at:weight:${i}`);
    old.prepare('delete from readings where seq = 2').run();
    old.close();

    const { sqlite } = open(dataDir);
    const table = sqlite.prepare(`select sql from sqlite_master where name = 'readings'`).get() as { sql: string };
    expect(table.sql).not.toMatch(/AUTOINCREMENT/i);
    expect(sqlite.prepare('select seq, id from readings order by seq').all()).toEqual([
      { seq: 1, id: 'r1' },
      { seq: 3, id: 'r3' },
    ]);
    sqlite
      .prepare(
        `insert into readings (id, device_id, patient_id, type, measured_at, received_at, value, dedupe_key) values ('r4', 'd1', 'p1', 'weight', 4, 4, 80, 'at:weight:4')`,
      )
      .run();
    expect(sqlite.prepare(`select seq from readings where id = 'r4'`).get()).toEqual({ seq: 4 });
    // The de-duplication index came back with the table.
    expect(() =>
      sqlite
        .prepare(
          `insert into readings (id, device_id, patient_id, type, measured_at, received_at, value, dedupe_key) values ('r5', 'd1', 'p1', 'weight', 3, 5, 80, 'at:weight:3')`,
        )
        .run(),
    ).toThrow(/UNIQUE/);
    sqlite.close();
  });

  it('0008 puts the key before the device in the de-duplication index, which the lookup still searches', () => {
    const { sqlite } = open();
    const columns = sqlite.prepare(`select name from pragma_index_info('readings_dedupe_device') order by seqno`).all();
    expect(columns).toEqual([{ name: 'dedupe_key' }, { name: 'device_id' }]);
    const plan = sqlite
      .prepare(`explain query plan select * from readings where device_id = ? and dedupe_key = ?`)
      .all('d1', 'id:m1') as Array<{ detail: string }>;
    expect(plan.map((step) => step.detail)).toEqual([
      'SEARCH readings USING INDEX readings_dedupe_device (dedupe_key=? AND device_id=?)',
    ]);
    sqlite.close();
  });
});
