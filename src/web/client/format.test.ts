import { describe, expect, it } from 'vitest';
import { inSentence, near, readingText, weight } from './format.ts';

describe('readings as a nurse reads them aloud', () => {
  const base = { id: 'x', deviceId: 'd', measuredAt: '2026-03-01T12:00:00Z', receivedAt: '2026-03-01T12:00:01Z' };
  it('gives blood pressure with its pulse, SpO2 as a percentage, and weight in the unit asked for', () => {
    expect(
      readingText({ ...base, type: 'blood_pressure', systolic: 142, diastolic: 91, pulse: 72, unit: 'mmHg' }),
    ).toBe('142/91 mmHg, pulse 72');
    expect(readingText({ ...base, type: 'spo2', value: 95, pulse: null, unit: '%' })).toBe('SpO2 95%');
    const scale = { ...base, type: 'weight', value: 90.7, unit: 'kg', sentUnit: 'lb' } as const;
    expect(readingText(scale)).toBe('200 lb');
    expect(readingText(scale, 'kg')).toBe('90.7 kg');
    expect(weight(0.45359237, 'lb')).toBe('1 lb');
  });
});

describe('times near now', () => {
  const tz = 'America/Chicago';
  // Sunday 8 March 2026, 10:00 in Chicago: clocks went forward at 2:00 that morning (a 23-hour day).
  const now = Date.parse('2026-03-08T15:00:00Z');
  it('say today, yesterday or tomorrow in the time zone, and the date otherwise', () => {
    expect(near('2026-03-08T06:30:00Z', now, tz)).toBe('12:30 AM today');
    expect(near('2026-03-08T05:30:00Z', now, tz)).toBe('11:30 PM yesterday');
    expect(near('2026-03-07T06:00:00Z', now, tz)).toBe('12:00 AM yesterday');
    expect(near('2026-03-07T05:59:00Z', now, tz)).toBe('Mar 6, 11:59 PM');
    expect(near('2026-03-09T04:59:00Z', now, tz)).toBe('11:59 PM today');
    expect(near('2026-03-09T05:00:00Z', now, tz)).toBe('12:00 AM tomorrow');
    expect(near('2026-03-10T05:00:00Z', now, tz)).toBe('Mar 10, 12:00 AM');
  });

  it('keep acronyms as they are inside a sentence', () => {
    expect(inSentence('Weight')).toBe('weight');
    expect(inSentence('SpO2')).toBe('SpO2');
  });
});
