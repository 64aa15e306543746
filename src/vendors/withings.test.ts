import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { normalizeReading } from '../normalize/reading.ts';
import { mapWithingsMeasures, parseWithingsNotification } from './withings.ts';

const file = (name: string) => readFileSync(new URL(`../../devices/withings/samples/${name}`, import.meta.url), 'utf8');
const measuregrps = (name: string): unknown => JSON.parse(file(`${name}.json`)).body.measuregrps;
const form = (name: string) => Object.fromEntries(new URLSearchParams(file(`${name}.txt`)));

const USER = '36521947';
const RECEIVED = Date.parse('2026-11-22T00:00:00Z');

describe('parseWithingsNotification', () => {
  it('reads the documented form fields', () => {
    expect(parseWithingsNotification(form('notification-weight'))).toEqual({
      userid: USER,
      appli: 1,
      startdate: 1795244940,
      enddate: 1795245060,
    });
  });

  it('names each missing or malformed field', () => {
    expect(parseWithingsNotification({ appli: '4', startdate: 'today' })).toEqual({
      errors: [
        { path: 'userid', message: 'must be a Withings user id' },
        { path: 'startdate', message: 'must be a whole number' },
        { path: 'enddate', message: 'must be a whole number' },
      ],
    });
    expect(parseWithingsNotification({ userid: USER, appli: '1', startdate: '20', enddate: '10' })).toMatchObject({
      errors: [{ path: 'enddate' }],
    });
  });

  it('needs no window for event categories, which carry none', () => {
    expect(parseWithingsNotification({ userid: USER, appli: '46', action: 'unlink' })).toEqual({
      userid: USER,
      appli: 46,
      startdate: 0,
      enddate: 0,
    });
  });
});

describe('mapWithingsMeasures', () => {
  it('makes one weight reading of a scale group (value × 10^unit, kg), keeps the ambiguous one, ignores height', () => {
    const batch = mapWithingsMeasures(USER, measuregrps('getmeas-weight'));
    expect(batch.readings).toEqual([
      {
        vendorDeviceId: USER,
        reading: {
          id: 'withings:2026-11-21T07:10:00.000Z:weight',
          type: 'weight',
          measuredAt: 1795245000000,
          value: 83.24,
          unit: 'kg',
        },
        source: [expect.objectContaining({ grpid: 5120448731 })],
      },
    ]);
    expect(batch.problems).toEqual([
      {
        vendorDeviceId: USER,
        payload: expect.objectContaining({ grpid: 5120448902, attrib: 1 }),
        errors: [{ path: 'attrib', message: expect.stringMatching(/ambiguous/) }],
      },
    ]);
    expect(batch.ignored).toBe(1);
  });

  it('makes a blood pressure with its pulse, and an SpO2 with its pulse', () => {
    const { readings, problems } = mapWithingsMeasures(USER, measuregrps('getmeas-blood-pressure'));
    expect(problems).toEqual([]);
    expect(readings.map((r) => r.reading)).toEqual([
      {
        id: 'withings:2026-11-21T20:31:00.000Z:blood_pressure',
        type: 'blood_pressure',
        measuredAt: 1795293060000,
        systolic: 151,
        diastolic: 92,
        pulse: 77,
      },
      { id: 'withings:2026-11-21T20:35:00.000Z:spo2', type: 'spo2', measuredAt: 1795293300000, value: 95, pulse: 74 },
    ]);
    for (const { reading } of readings) expect(normalizeReading(reading, RECEIVED).ok).toBe(true);
  });

  it('scales by powers of ten without float noise', () => {
    const group = (value: number, unit: number) => [
      { grpid: 1, attrib: 0, date: 1795245000, category: 1, measures: [{ type: 1, value, unit }] },
    ];
    expect(mapWithingsMeasures(USER, group(58788, -3)).readings[0]?.reading).toMatchObject({ value: 58.788 });
    expect(mapWithingsMeasures(USER, group(7, 1)).readings[0]?.reading).toMatchObject({ value: 70 });
  });

  it('ignores user objectives (category 2), and keeps groups it cannot read', () => {
    const objective = {
      grpid: 2,
      attrib: 0,
      date: 1795245000,
      category: 2,
      measures: [{ type: 1, value: 75, unit: 0 }],
    };
    const half = { grpid: 3, attrib: 0, date: 1795245000, category: 1, measures: [{ type: 10, value: 150, unit: 0 }] };
    const garbled = { grpid: 4, date: 'now', measures: [] };
    const batch = mapWithingsMeasures(USER, [objective, half, garbled, null]);
    expect(batch.ignored).toBe(1);
    expect(batch.problems.map((p) => p.errors[0]?.path)).toEqual(['measures', 'date', '']);
    expect(mapWithingsMeasures(USER, undefined).problems[0]?.errors).toEqual([
      { path: 'measuregrps', message: 'must be an array' },
    ]);
  });
});
