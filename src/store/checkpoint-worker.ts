/**
 * The WAL checkpointer's thread (see checkpointer.ts): its own connection copies committed pages from the
 * WAL into the database file, PASSIVE, so the writer on the main thread never waits for it, and runs
 * again at once while the WAL keeps growing, so that the writer can start the WAL over.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export interface CheckpointWorkerOptions {
  file: string;
  idleMs: number;
}

const { file, idleMs } = workerData as CheckpointWorkerOptions;
const db = new Database(file);
let timer: NodeJS.Timeout | undefined;
let stopped = false;

function checkpoint() {
  if (stopped) return;
  let behind = false;
  try {
    const [result] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    behind = result !== undefined && result.checkpointed < result.log;
  } catch (error) {
    parentPort!.postMessage({ type: 'failed', message: (error as Error).message });
  }
  timer = setTimeout(checkpoint, behind ? 0 : idleMs);
}

parentPort!.on('message', () => {
  stopped = true;
  clearTimeout(timer);
  db.close();
  parentPort!.postMessage({ type: 'closed' });
});

checkpoint();
