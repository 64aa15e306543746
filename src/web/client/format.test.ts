import { describe, expect, it } from 'vitest';
import { readingText, weight } from './format.ts';

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
