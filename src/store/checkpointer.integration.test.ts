import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it } from 'vitest';
import { createLogger } from '../ops/log.ts';
import { startCheckpointer } from './checkpointer.ts';
import { openDatabase } from './db.ts';
import { patients } from './schema.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

it('copies committed pages into the database file from its own thread, long before the WAL is big', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'homewatch-checkpoint-'));
  dirs.push(dataDir);
  const { db, sqlite } = openDatabase({ dataDir });
  const file = path.join(dataDir, 'homewatch.db');
  const checkpointer = await startCheckpointer(sqlite, createLogger('silent'));
  // The main connection now leaves checkpoints to the thread until the WAL is 64 MB.
  expect(sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(16_000);
  const before = statSync(file).size;
  sqlite.transaction(() => {
    for (let i = 0; i < 5_000; i++)
      db.insert(patients)
        .values({ id: `p${i}`, name: `Patient ${i} ${'x'.repeat(200)}`, createdAt: i })
        .run();
  })();
  const written = statSync(`${file}-wal`).size;
  expect(written).toBeGreaterThan(1_000_000);
  let after = statSync(file).size;
  for (let waited = 0; after - before < written / 2 && waited < 5_000; waited += 50) {
    await sleep(50);
    after = statSync(file).size;
  }
  expect(after - before).toBeGreaterThan(written / 2);
  await checkpointer.close();
  expect(sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(8_000);
  sqlite.close();
});
