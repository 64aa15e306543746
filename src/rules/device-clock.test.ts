import { describe, expect, it } from 'vitest';
import { clockAfterMessage, type DeviceClock, UNKNOWN_CLOCK } from './device-clock.ts';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const HOUR = 3_600_000;
const at = (measuredAt: number, receivedAt = NOW) => ({ measuredAt, receivedAt });
const reset = Date.parse('2025-01-01T00:00:00Z');

function play(messages: Array<Array<{ measuredAt: number; receivedAt: number }>>) {
  let clock: DeviceClock = UNKNOWN_CLOCK;
  const events: Array<string | undefined> = [];
  for (const [i, message] of messages.entries()) {
    const next = clockAfterMessage(clock, message, NOW + i);
    clock = next.clock;
    events.push(next.event);
  }
  return { clock, events };
}

describe('device clocks', () => {
  it('a cuff that sent current readings, then three readings stamped 2025: its clock is off from the third', () => {
    const { clock, events } = play([
      [at(NOW - 2 * HOUR + 60_000, NOW - 2 * HOUR + 90_000)],
      [at(reset)],
      [at(reset + 1)],
      [at(reset + 2)],
    ]);
    expect(events).toEqual([undefined, undefined, undefined, 'off']);
    expect(clock.offSince).toBe(NOW + 3);
  });

  it('a cuff that always syncs late, whose clock then reset: found when its readings go back in time', () => {
    // 132/82 measured 2 h ago, arriving now (a hub that syncs late): not current, but known.
    const lateBp = NOW - 2 * HOUR;
    let clock = clockAfterMessage(UNKNOWN_CLOCK, [at(lateBp)], NOW).clock;
    expect(clock.staleRun).toBe(0);
    const events = [];
    for (let i = 1; i <= 3; i++) {
      const next = clockAfterMessage(clock, [at(reset + i)], NOW + i, lateBp);
      clock = next.clock;
      events.push(next.event);
    }
    expect(events).toEqual([undefined, undefined, 'off']);
  });

  it('a device syncing its history oldest first, one reading a message, has no clock problem', () => {
    let clock = UNKNOWN_CLOCK;
    let known: number | undefined;
    for (let i = 0; i < 10; i++) {
      const measuredAt = NOW - (10 - i) * 3 * HOUR;
      clock = clockAfterMessage(clock, [at(measuredAt)], NOW + i, known).clock;
      known = Math.max(known ?? 0, measuredAt);
    }
    expect(clock.offSince).toBe(null);
  });

  it('is right again with the first current reading', () => {
    const { clock, events } = play([[at(NOW)], [at(reset)], [at(reset)], [at(reset)], [at(NOW)]]);
    expect(events.at(-1)).toBe('restored');
    expect(clock).toEqual({ currentAt: NOW + 4, staleRun: 0, offSince: null });
  });

  it('a backlog sent in one message is not a clock problem, nor a device that never sent a current reading', () => {
    expect(play([[at(NOW)], [at(reset), at(reset + 1), at(reset + 2)], [at(reset)], [at(reset)]]).clock.offSince).toBe(
      null,
    );
    expect(play([[at(reset)], [at(reset)], [at(reset)], [at(reset)]]).clock.offSince).toBe(null);
  });

  it('a current message in between starts the count again', () => {
    expect(play([[at(NOW)], [at(reset)], [at(reset)], [at(NOW)], [at(reset)], [at(reset)]]).clock.offSince).toBe(null);
  });
});
