import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { localStarts, nextLocal, startOfLocal } from './calendar.ts';

const CHICAGO = 'America/Chicago';

describe('local days and weeks', () => {
  it("a Chicago patient's 07:00 and 19:00 weights fall in one local day", () => {
    const morning = Date.parse('2026-03-02T07:00:00-06:00');
    const evening = Date.parse('2026-03-02T19:00:00-06:00'); // 01:00 UTC the next day
    expect(startOfLocal(morning, 'day', CHICAGO)).toBe(Date.parse('2026-03-02T00:00:00-06:00'));
    expect(startOfLocal(evening, 'day', CHICAGO)).toBe(startOfLocal(morning, 'day', CHICAGO));
  });

  it('days are 23 and 25 hours long at the daylight-saving changes', () => {
    const spring = Date.parse('2026-03-08T00:00:00-06:00');
    expect(nextLocal(spring, 'day', CHICAGO) - spring).toBe(23 * 3_600_000);
    const fall = Date.parse('2026-11-01T00:00:00-05:00');
    expect(nextLocal(fall, 'day', CHICAGO) - fall).toBe(25 * 3_600_000);
  });

  it('weeks start on Monday at local midnight', () => {
    const thursday = Date.parse('2026-03-05T12:00:00-06:00');
    expect(startOfLocal(thursday, 'week', CHICAGO)).toBe(Date.parse('2026-03-02T00:00:00-06:00'));
    expect(startOfLocal(Date.parse('2026-03-05T12:00:00Z'), 'week', 'UTC')).toBe(Date.parse('2026-03-02T00:00:00Z'));
  });

  it('for any instant and zone, the day holding it starts at or before it and the next starts after it', () => {
    const zones = fc.constantFrom(
      'UTC',
      CHICAGO,
      'Europe/Berlin',
      'Asia/Kolkata',
      'Australia/Lord_Howe',
      'Pacific/Chatham',
    );
    fc.assert(
      fc.property(fc.integer({ min: Date.parse('2020-01-01'), max: Date.parse('2030-01-01') }), zones, (t, zone) => {
        for (const unit of ['day', 'week'] as const) {
          const start = startOfLocal(t, unit, zone);
          expect(start).toBeLessThanOrEqual(t);
          expect(nextLocal(start, unit, zone)).toBeGreaterThan(t);
        }
      }),
    );
  });

  it('lists the same starts as walking day by day with nextLocal, for any range and zone', () => {
    const zones = fc.constantFrom('UTC', CHICAGO, 'Europe/Berlin', 'Australia/Lord_Howe', 'America/Santiago');
    fc.assert(
      fc.property(
        fc.integer({ min: Date.parse('2020-01-01'), max: Date.parse('2030-01-01') }),
        fc.integer({ min: 1, max: 400 }),
        zones,
        fc.constantFrom('day' as const, 'week' as const),
        (from, days, zone, unit) => {
          const to = from + days * 86_400_000;
          const walked: number[] = [];
          for (let start = startOfLocal(from, unit, zone); start < to; start = nextLocal(start, unit, zone))
            walked.push(start);
          expect(localStarts(from, to, unit, zone)).toEqual(walked);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('lists the starts that meet a range', () => {
    const from = Date.parse('2026-03-07T12:00:00-06:00');
    expect(localStarts(from, from + 2 * 86_400_000, 'day', CHICAGO).map((t) => new Date(t).toISOString())).toEqual([
      '2026-03-07T06:00:00.000Z',
      '2026-03-08T06:00:00.000Z',
      '2026-03-09T05:00:00.000Z',
    ]);
  });
});
