import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GroupCommit, openDatabase, type GroupCommitOptions } from './db.ts';

/**
 * In memory where Linux has it: these tests are about decisions, not durability (db.test.ts tests that),
 * and an fdatasync on a busy disk took 6 ms, which a test committing a hundred times pays a hundred times.
 */
const TEST_DIR = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

/**
 * For in-process tests: a real database in a folder of its own, migrated as at start, with the real
 * GroupCommit. `close` drains the commits, closes the database and removes the folder.
 */
export function openTestDatabase(options: GroupCommitOptions = {}) {
  const dataDir = mkdtempSync(path.join(TEST_DIR, 'homewatch-test-'));
  const { db, sqlite } = openDatabase({ dataDir });
  const commits = new GroupCommit(db, sqlite, options);
  return {
    db,
    sqlite,
    commits,
    dataDir,
    async close(): Promise<void> {
      await commits.close();
      sqlite.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
