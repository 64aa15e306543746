/**
 * Device clocks, judged from the device's messages (pure). A blood pressure cuff whose clock reset after
 * a battery change stamps every reading in the past: accepted as "late", such readings never alerted, and
 * the patient went silent. A device that had sent current readings and then sends three messages in a row
 * measured more than an hour before they arrived has a clock problem; its readings are then evaluated as
 * measured when they arrived, until it sends a current one again.
 *
 * "Had sent current readings" means either a reading measured within the hour of its arrival, or, for a
 * device that always syncs late (through a phone or a hub), readings of the patient measured more than an
 * hour after these: the clock went backwards. A backlog sent in one message (a device catching up after
 * being offline) is not a clock problem: only messages of one reading count, and a batch whose newest
 * reading is current shows a working clock.
 */
export const STALE_AFTER_MS = 60 * 60_000;
export const STALE_MESSAGES = 3;

export interface DeviceClock {
  /** When the device last sent a current reading (null: never). */
  currentAt: number | null;
  /** Stale one-reading messages in a row since then. */
  staleRun: number;
  /** Since when its clock is judged wrong (null: it is fine). */
  offSince: number | null;
}

export const UNKNOWN_CLOCK: DeviceClock = { currentAt: null, staleRun: 0, offSince: null };

export const isStale = (reading: { measuredAt: number; receivedAt: number }) =>
  reading.receivedAt - reading.measuredAt > STALE_AFTER_MS;

/** The clock after one message; `event` says when it went wrong or right again. */
export function clockAfterMessage(
  clock: DeviceClock,
  readings: ReadonlyArray<{ measuredAt: number; receivedAt: number }>,
  now: number,
  /** The newest measurement time already known for what the message measures (the patient's metric). */
  knownNewest?: number,
): { clock: DeviceClock; event?: 'off' | 'restored' } {
  const newest = readings.reduce<(typeof readings)[number] | undefined>(
    (a, r) => (a === undefined || r.measuredAt > a.measuredAt ? r : a),
    undefined,
  );
  if (!newest) return { clock };
  if (!isStale(newest)) {
    const current = { currentAt: now, staleRun: 0, offSince: null };
    return clock.offSince !== null ? { clock: current, event: 'restored' } : { clock: current };
  }
  const wentBackwards = knownNewest !== undefined && newest.measuredAt < knownNewest - STALE_AFTER_MS;
  if (readings.length !== 1 || (clock.currentAt === null && !wentBackwards)) return { clock };
  const staleRun = clock.staleRun + 1;
  if (clock.offSince === null && staleRun >= STALE_MESSAGES)
    return { clock: { ...clock, staleRun, offSince: now }, event: 'off' };
  return { clock: { ...clock, staleRun } };
}
