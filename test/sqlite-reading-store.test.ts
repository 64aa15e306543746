import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDatabase } from '../src/store/db.ts';
import { SqliteReadingStore } from '../src/store/sqlite-reading-store.ts';
import { describeReadingStoreContract } from './reading-store.contract.ts';

describeReadingStoreContract('sqlite', async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'homewatch-store-'));
  const { db, sqlite } = openDatabase({ dataDir });
  const store = new SqliteReadingStore(db);
  return {
    store,
    async close() {
      await store.close();
      sqlite.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
});
