import { describe, expect, it } from 'vitest';
import { adherenceOf, localDate } from './summary.ts';

const at = (iso: string) => Date.parse(iso);

describe('adherenceOf', () => {
  it('counts local days, not UTC days', () => {
    // 03:30 UTC on the 10th is still the evening of the 9th in Chicago (UTC-6 in November).
    const now = at('2026-11-20T18:00:00Z');
    const readings = [at('2026-11-10T03:30:00Z'), at('2026-11-10T15:00:00Z')];
    expect(adherenceOf(readings, 'America/Chicago', now).days).toBe(2);
    expect(adherenceOf(readings, 'UTC', now).days).toBe(1);
  });

  it('uses the 30 local days ending today, today included', () => {
    const now = at('2026-11-30T12:00:00Z');
    const result = adherenceOf(
      [at('2026-10-31T12:00:00Z'), at('2026-11-01T12:00:00Z'), at('2026-11-30T11:00:00Z')],
      'UTC',
      now,
    );
    expect(result).toMatchObject({ from: '2026-11-01', to: '2026-11-30', days: 2, windowDays: 30 });
  });

  it('flags fewer than 16 days (CPT 99454) and not 16', () => {
    const now = at('2026-11-30T12:00:00Z');
    const days = (n: number) => Array.from({ length: n }, (_, i) => now - i * 86_400_000);
    expect(adherenceOf(days(15), 'UTC', now)).toMatchObject({ days: 15, low: true });
    expect(adherenceOf(days(16), 'UTC', now)).toMatchObject({ days: 16, low: false });
    expect(adherenceOf([], 'UTC', now)).toMatchObject({ days: 0, low: true });
  });

  it('handles the 25-hour day when clocks go back, and half-hour time zones', () => {
    // US clocks go back on 2026-11-01: that local day has 25 hours, still one day.
    const now = at('2026-11-02T18:00:00Z');
    const fallBack = [at('2026-11-01T05:30:00Z'), at('2026-11-02T05:30:00Z')];
    expect(adherenceOf(fallBack, 'America/New_York', now).days).toBe(2);
    expect(localDate(at('2026-11-01T18:29:00Z'), 'Asia/Kolkata')).toBe('2026-11-01');
    expect(localDate(at('2026-11-01T18:30:00Z'), 'Asia/Kolkata')).toBe('2026-11-02');
  });
});
