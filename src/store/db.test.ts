import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { GroupCommit, openDatabase } from './db.ts';
import { patients } from './schema.ts';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

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
    const results = await Promise.all(['a', 'b', 'c'].map((id) => commits.run((tx) => tx.insert(patients).values(patient(id)).run().changes)));
    expect(results).toEqual([1, 1, 1]);
    expect(batches).toEqual([3]);
    // Visible to a second connection on the same file: committed, not just written.
    const other = open(dataDir);
    expect(other.db.select().from(patients).all().map((p) => p.id)).toEqual(['a', 'b', 'c']);
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
    expect(db.select().from(patients).all().map((p) => p.id).sort()).toEqual(['a', 'c']);
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
    await expect(commits.run(() => {
      throw new Error('bad job');
    })).rejects.toThrow('bad job');
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
    expect(other.db.select().from(patients).all().map((p) => p.id)).toEqual(['now']);
    await queued;
    expect(other.db.select().from(patients).all().map((p) => p.id)).toEqual(['now', 'queued']);
    other.sqlite.close();
    expect(() => commits.runNow(() => {
      throw new Error('bad bookkeeping');
    })).toThrow('bad bookkeeping');
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
