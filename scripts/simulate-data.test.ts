import { describe, it, expect } from 'vitest';
import {
  DAY,
  createLiveClock,
  chunk,
  formatWithOffset,
  generateReadings,
  localTimeToUtc,
  makePatientProfile,
  mixSeed,
  timeZoneOffsetMs,
  toReadingPayload,
} from './simulate-data.ts';
import type { SimReading } from './simulate-data.ts';

const LB_TO_KG = 0.45359237;
const FROM = Date.parse('2026-08-01T00:00:00Z');
const TO = Date.parse('2026-11-01T00:00:00Z'); // 92 days, across the end of US and EU summer time
const PROFILES = Array.from({ length: 12 }, (_, i) => makePatientProfile(mixSeed(20261122, i)));

/** The contract's plausibility rules ("Reading"), restated here so the generator is checked against them. */
function contractViolations(reading: SimReading): string[] {
  const problems: string[] = [];
  const within = (name: string, value: number, min: number, max: number) => {
    if (!Number.isFinite(value) || value < min || value > max) problems.push(`${name} ${value} not in ${min}-${max}`);
  };
  if (reading.measuredAt < Date.parse('2020-01-01T00:00:00Z')) problems.push('measuredAt before 2020');
  switch (reading.type) {
    case 'blood_pressure':
      within('systolic', reading.systolic, 50, 300);
      within('diastolic', reading.diastolic, 20, 200);
      within('pulse', reading.pulse, 20, 250);
      if (!(reading.systolic > reading.diastolic)) problems.push('systolic not above diastolic');
      break;
    case 'weight':
      within('weight kg', reading.value * LB_TO_KG, 2, 400);
      break;
    case 'spo2':
      within('spo2', reading.value, 50, 100);
      within('pulse', reading.pulse, 20, 250);
      break;
  }
  return problems;
}

function localHour(utcMs: number, timeZone: string): number {
  return new Date(utcMs + timeZoneOffsetMs(utcMs, timeZone)).getUTCHours();
}

describe('generateReadings', () => {
  it('produces only readings the contract finds plausible, inside the range, oldest first', () => {
    for (const profile of PROFILES) {
      const readings = generateReadings(profile, FROM, TO);
      expect(readings.length).toBeGreaterThan(0);
      for (const reading of readings) {
        expect(contractViolations(reading), JSON.stringify(reading)).toEqual([]);
        expect(reading.measuredAt).toBeGreaterThanOrEqual(FROM);
        expect(reading.measuredAt).toBeLessThan(TO);
        expect(reading.measuredAt % 1000).toBe(0);
      }
      for (let i = 1; i < readings.length; i++) {
        expect(readings[i]!.measuredAt).toBeGreaterThanOrEqual(readings[i - 1]!.measuredAt);
      }
    }
  });

  it('keeps to realistic home values: pulse 55-95 on the cuff, SpO2 86-100, diastolic well below systolic', () => {
    for (const profile of PROFILES) {
      for (const reading of generateReadings(profile, FROM, TO)) {
        if (reading.type === 'blood_pressure') {
          expect(reading.pulse).toBeGreaterThanOrEqual(55);
          expect(reading.pulse).toBeLessThanOrEqual(95);
          expect(reading.systolic - reading.diastolic).toBeGreaterThanOrEqual(25);
          expect(Number.isInteger(reading.systolic) && Number.isInteger(reading.diastolic)).toBe(true);
        }
        if (reading.type === 'spo2') {
          expect(reading.value).toBeGreaterThanOrEqual(86);
          expect(Number.isInteger(reading.value)).toBe(true);
        }
      }
    }
  });

  it('measures blood pressure twice a day, weight once each morning and SpO2 two or three times, in local time', () => {
    const days = (TO - FROM) / DAY;
    for (const profile of PROFILES) {
      const readings = generateReadings(profile, FROM, TO);
      const count = (type: SimReading['type']) => readings.filter((r) => r.type === type).length;
      expect(count('blood_pressure') / days).toBeGreaterThan(1.5);
      expect(count('blood_pressure') / days).toBeLessThanOrEqual(2);
      expect(count('weight') / days).toBeGreaterThan(0.8);
      expect(count('weight') / days).toBeLessThanOrEqual(1);
      expect(count('spo2') / days).toBeGreaterThanOrEqual(2);
      expect(count('spo2') / days).toBeLessThanOrEqual(3);
      for (const reading of readings) {
        const hour = localHour(reading.measuredAt, profile.timezone);
        if (reading.type === 'blood_pressure') expect([5, 6, 7, 8, 16, 17, 18, 19, 20]).toContain(hour);
        if (reading.type === 'weight') expect([6, 7]).toContain(hour);
      }
    }
  });

  it('includes heart-failure-like weight gains (2 lb in a day or 5 lb in a week) and SpO2 dips below 90', () => {
    let gains = 0;
    let dips = 0;
    for (const profile of PROFILES) {
      const weights = generateReadings(profile, FROM, TO).filter((r) => r.type === 'weight');
      for (let i = 0; i < weights.length; i++) {
        for (let j = i + 1; j < weights.length; j++) {
          const days = (weights[j]!.measuredAt - weights[i]!.measuredAt) / DAY;
          const gain = weights[j]!.value - weights[i]!.value;
          if ((days <= 1.1 && gain >= 2) || (days <= 7.1 && gain >= 5)) gains++;
        }
      }
      dips += generateReadings(profile, FROM, TO).filter((r) => r.type === 'spo2' && r.value < 90).length;
    }
    expect(gains).toBeGreaterThan(PROFILES.length); // roughly one episode per 10 days per patient
    expect(dips).toBeGreaterThan(0);
  });

  it('is deterministic, and a range split in pieces gives the same readings (live mode relies on it)', () => {
    const profile = PROFILES[3]!;
    const whole = generateReadings(profile, FROM, TO);
    expect(generateReadings(makePatientProfile(profile.seed), FROM, TO)).toEqual(whole);
    const pieces: SimReading[] = [];
    for (let from = FROM; from < TO; from += 7 * 3_600_000) {
      pieces.push(...generateReadings(profile, from, Math.min(TO, from + 7 * 3_600_000)));
    }
    expect(pieces).toEqual(whole);
  });

  it('gives different patients different names, baselines and data', () => {
    expect(new Set(PROFILES.map((p) => p.seed)).size).toBe(PROFILES.length);
    expect(generateReadings(PROFILES[0]!, FROM, TO)).not.toEqual(generateReadings(PROFILES[1]!, FROM, TO));
    for (const profile of PROFILES) {
      expect(profile.systolic).toBeGreaterThanOrEqual(120);
      expect(profile.systolic).toBeLessThanOrEqual(150);
      expect(profile.name).toMatch(/^\S+ \S+$/);
    }
  });

  it('returns nothing for an empty range', () => {
    expect(generateReadings(PROFILES[0]!, TO, TO)).toEqual([]);
    expect(generateReadings(PROFILES[0]!, TO, FROM)).toEqual([]);
  });
});

describe('time zones', () => {
  it('finds local 07:00 across a DST change', () => {
    const day = (ms: number) => Math.floor(ms / DAY);
    // New York: 2026-11-01 is the first day of standard time (UTC-5); the day before is UTC-4.
    expect(localTimeToUtc(day(Date.parse('2026-10-31T00:00:00Z')), 7 * 60, 'America/New_York')).toBe(
      Date.parse('2026-10-31T07:00:00-04:00'),
    );
    expect(localTimeToUtc(day(Date.parse('2026-11-02T00:00:00Z')), 7 * 60, 'America/New_York')).toBe(
      Date.parse('2026-11-02T07:00:00-05:00'),
    );
    expect(localTimeToUtc(day(Date.parse('2026-11-02T00:00:00Z')), 7 * 60, 'Asia/Kolkata')).toBe(
      Date.parse('2026-11-02T07:00:00+05:30'),
    );
  });

  it('formats RFC 3339 with the local offset', () => {
    const at = Date.parse('2026-11-21T12:58:00Z');
    expect(formatWithOffset(at, 'America/New_York')).toBe('2026-11-21T07:58:00-05:00');
    expect(formatWithOffset(at, 'Asia/Kolkata')).toBe('2026-11-21T18:28:00+05:30');
    expect(formatWithOffset(at, 'UTC')).toBe('2026-11-21T12:58:00Z');
  });
});

describe('toReadingPayload', () => {
  const at = Date.parse('2026-11-21T12:58:00Z');
  const bp: SimReading = { type: 'blood_pressure', measuredAt: at, systolic: 142, diastolic: 91, pulse: 72 };

  it('writes the contract fields and nothing else, with the chosen measuredAt format', () => {
    expect(toReadingPayload(bp, { id: 'BPM-1-7', format: 'offset', timezone: 'America/New_York' })).toEqual({
      id: 'BPM-1-7',
      type: 'blood_pressure',
      measuredAt: '2026-11-21T07:58:00-05:00',
      systolic: 142,
      diastolic: 91,
      pulse: 72,
      unit: 'mmHg',
    });
    const weight: SimReading = { type: 'weight', measuredAt: at, value: 181.5, unit: 'lb' };
    expect(toReadingPayload(weight, { id: 'SCL-1-1', format: 'epoch', timezone: 'UTC' })).toEqual({
      id: 'SCL-1-1',
      type: 'weight',
      measuredAt: at,
      value: 181.5,
      unit: 'lb',
    });
    const spo2: SimReading = { type: 'spo2', measuredAt: at, value: 94, pulse: 80 };
    expect(toReadingPayload(spo2, { id: 'OXI-1-1', format: 'utc', timezone: 'Europe/Berlin' })).toEqual({
      id: 'OXI-1-1',
      type: 'spo2',
      measuredAt: '2026-11-21T12:58:00Z',
      value: 94,
      pulse: 80,
    });
  });

  it('adds clock skew to measuredAt', () => {
    const payload = toReadingPayload(bp, { id: 'x', format: 'epoch', timezone: 'UTC', skewMinutes: -15 });
    expect(payload.measuredAt).toBe(at - 15 * 60_000);
  });
});

describe('helpers', () => {
  it('chunks into batches of at most the given size', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunk([], 500)).toEqual([]);
  });

  it('maps simulated time to the wall clock without running ahead of it', () => {
    const realStart = Date.parse('2026-11-22T12:00:00Z');
    const clock = createLiveClock({ simStart: realStart - DAY, realStart, speed: 60 });
    const realNow = realStart + 10_000;
    const simNow = clock.simAt(realNow);
    expect(simNow).toBe(realStart - DAY + 10 * 3_600_000); // 10 s real = 10 h simulated
    expect(clock.realAt(simNow)).toBe(realNow);
    expect(clock.realAt(simNow - 3_600_000)).toBe(realNow - 1000);
  });
});
