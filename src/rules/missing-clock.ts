import type { Logger } from '../ops/log.ts';
import type { GroupCommit } from '../store/db.ts';
import type { AlertChange, RuleEngine } from './engine.ts';

/** The contract: missing-data rules are checked at start and at least once a minute. */
const SWEEP_EVERY_MS = 60_000;
/** Kicks that come this close together share one sweep. */
const KICK_DELAY_MS = 50;
/** Waking for a deadline sooner than this is not worth a sweep of its own. */
const MIN_WAIT_MS = 250;

export interface MissingDataClockOptions {
  engine: RuleEngine;
  commits: GroupCommit;
  log: Logger;
  onAlertChanges: (changes: AlertChange[]) => void;
}

/**
 * Runs the `missing` rules on a clock: at start, then at the next deadline or after a minute, whichever
 * is first, so an alert opens when the data is due rather than up to a minute late.
 */
export class MissingDataClock {
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #kicked = false;
  #running: Promise<void> = Promise.resolve();

  constructor(private readonly options: MissingDataClockOptions) {}

  start(): Promise<void> {
    return this.#sweep();
  }

  /**
   * Deadlines changed (a plan was saved, data arrived): sweep shortly rather than at the old schedule.
   * Kicks within KICK_DELAY_MS share one sweep, so provisioning a thousand care plans is not a
   * thousand sweeps.
   */
  kick(): void {
    if (this.#stopped || this.#kicked) return;
    this.#kicked = true;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#kicked = false;
      void this.#running.then(() => {
        if (!this.#stopped) void this.#sweep();
      });
    }, KICK_DELAY_MS);
  }

  async close(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  #sweep(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const { engine, commits, log, onAlertChanges } = this.options;
    this.#running = commits
      .run(() => engine.sweepMissing(Date.now()))
      .then(
        ({ changes, nextDeadline }) => {
          if (changes.length) onAlertChanges(changes);
          this.#schedule(nextDeadline === undefined ? SWEEP_EVERY_MS : nextDeadline - Date.now());
        },
        (error: unknown) => {
          // A failed sweep is retried at the next tick: the deadlines are in the database, nothing is lost.
          log.error({ event: 'missing_sweep_failed', err: error }, 'The missing-data check failed; retrying');
          this.#schedule(SWEEP_EVERY_MS / 6);
        },
      );
    return this.#running;
  }

  #schedule(waitMs: number) {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#kicked = false;
    this.#timer = setTimeout(() => void this.#sweep(), Math.min(SWEEP_EVERY_MS, Math.max(MIN_WAIT_MS, waitMs)));
    this.#timer.unref();
  }
}
