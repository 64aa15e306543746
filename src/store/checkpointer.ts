import type Database from 'better-sqlite3';
import type { Logger } from '../ops/log.ts';
import { startWorker } from '../ops/worker-thread.ts';
import type { CheckpointWorkerOptions } from './checkpoint-worker.ts';

/** How often the checkpointer looks at the WAL when it has caught up. */
const IDLE_MS = 200;
/**
 * Past this many WAL pages (64 MB) the main connection checkpoints too, inside a commit, as SQLite does
 * by default: under a sustained flood the thread never catches up to the last frame, and only then can
 * the WAL start over. What it copies then is little, the thread having copied the rest.
 */
const MAIN_CHECKPOINT_PAGES = 16_000;

/**
 * WAL checkpoints off the event loop. SQLite's own (automatic) checkpoint runs inside the commit that
 * crosses the threshold and copies thousands of pages, fsyncs included: tens of milliseconds during which
 * the event loop, and every alert behind it, waits. Here a thread with a connection of its own
 * checkpoints, PASSIVE, so neither waits for the other; the main connection only finishes the job when
 * the WAL passes MAIN_CHECKPOINT_PAGES.
 */
export async function startCheckpointer(sqlite: Database.Database, log: Logger): Promise<{ close(): Promise<void> }> {
  const worker = startWorker(new URL('./checkpoint-worker', import.meta.url), {
    file: sqlite.name,
    idleMs: IDLE_MS,
  } satisfies CheckpointWorkerOptions);
  let closed: () => void;
  const done = new Promise<void>((resolve) => (closed = resolve));
  worker.on('message', (message: { type: 'failed' | 'closed'; message?: string }) => {
    if (message.type === 'closed') return closed();
    log.error({ event: 'checkpoint_failed', err: { message: message.message } }, 'WAL checkpoint failed; retrying');
  });
  const automatic = sqlite.pragma('wal_autocheckpoint', { simple: true }) as number;
  worker.on('error', (error) => {
    // Back to SQLite's own checkpoints, or the WAL would grow without end.
    sqlite.pragma(`wal_autocheckpoint = ${automatic}`);
    log.error(
      { event: 'checkpoint_failed', err: error },
      'The WAL checkpointer stopped; the main connection checkpoints again',
    );
    closed();
  });
  await new Promise((resolve) => worker.once('online', resolve));
  sqlite.pragma(`wal_autocheckpoint = ${MAIN_CHECKPOINT_PAGES}`);
  return {
    async close() {
      worker.postMessage('close');
      await done;
      await worker.terminate();
      // What is left is checkpointed by the main connection when it closes.
      sqlite.pragma(`wal_autocheckpoint = ${automatic}`);
    },
  };
}
