import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { normalizeReading } from '../normalize/reading.ts';
import { mapTenovi } from './tenovi.ts';

const sample = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../../devices/tenovi/samples/${name}.json`, import.meta.url), 'utf8'));

const BPM = '7c1b4f0e-3d2a-4f57-9a61-2f0c8e5d9b13';
const RECEIVED = Date.parse('2026-11-22T00:00:00Z');

describe('mapTenovi', () => {
  it('joins a blood pressure and the pulse of the same device and timestamp (Post as Array)', () => {
    const batch = mapTenovi(sample('valid-blood-pressure-array'));
    expect(batch).toEqual({
      readings: [
        {
          vendorDeviceId: BPM,
          reading: {
            id: 'tenovi:2026-11-21T12:58:00.000Z:blood_pressure',
            type: 'blood_pressure',
            measuredAt: Date.parse('2026-11-21T12:58:00Z'),
            systolic: 142,
            diastolic: 91,
            pulse: 72,
          },
          source: sample('valid-blood-pressure-array'),
        },
      ],
      problems: [],
      ignored: 0,
    });
    // What the mapping writes is a reading of the device protocol: the pipeline accepts it as it is.
    expect(normalizeReading(batch.readings[0]!.reading, RECEIVED).ok).toBe(true);
  });

  it('maps a weight in lb, numeric strings included', () => {
    const { readings } = mapTenovi(sample('valid-weight'));
    expect(readings.map((r) => r.reading)).toEqual([
      {
        id: 'tenovi:2026-11-21T12:14:00.000Z:weight',
        type: 'weight',
        measuredAt: Date.parse('2026-11-21T12:14:00Z'),
        value: 181.5,
        unit: 'lb',
      },
    ]);
  });

  it('joins SpO2 and its pulse, and drops the battery level and perfusion index', () => {
    const batch = mapTenovi(sample('valid-spo2-array'));
    expect(batch.readings.map((r) => r.reading)).toEqual([
      {
        id: 'tenovi:2026-11-21T13:05:00.000Z:spo2',
        type: 'spo2',
        measuredAt: Date.parse('2026-11-21T13:05:00Z'),
        value: 94,
        pulse: 80,
      },
    ]);
    expect(batch.ignored).toBe(2);
    expect(batch.problems).toEqual([]);
  });

  it('keeps a pulse that has no blood pressure or SpO2 to join, saying why', () => {
    const batch = mapTenovi(sample('unusable-pulse-alone'));
    expect(batch.readings).toEqual([]);
    expect(batch.problems).toEqual([
      {
        vendorDeviceId: BPM,
        payload: sample('unusable-pulse-alone'),
        errors: [{ path: 'value_1', message: expect.stringMatching(/Post as Array/) }],
      },
    ]);
  });

  it('keeps an item without a timestamp, naming the field', () => {
    const batch = mapTenovi(sample('unusable-missing-timestamp'));
    expect(batch.problems).toEqual([
      {
        vendorDeviceId: BPM,
        payload: expect.any(Object),
        errors: [{ path: 'timestamp', message: 'must be a date-time in UTC' }],
      },
    ]);
  });

  it('leaves plausibility to the pipeline: an implausible systolic maps, and Ingest refuses it', () => {
    const { readings } = mapTenovi(sample('implausible-systolic'));
    expect(readings).toHaveLength(1);
    expect(normalizeReading(readings[0]!.reading, RECEIVED)).toMatchObject({
      ok: false,
      errors: [{ path: 'systolic', message: 'must be at most 300' }],
    });
  });

  it('refuses what is not a measurement object, and metrics Homewatch does not record', () => {
    const irregular = {
      metric: 'irregular_heartbeat',
      hwi_device_id: BPM,
      value_1: 1,
      timestamp: '2026-11-21T12:58:00Z',
    };
    const batch = mapTenovi([42, { metric: 'weight', timestamp: '2026-11-21T12:58:00Z' }, irregular]);
    expect(batch.readings).toEqual([]);
    expect(batch.problems.map((p) => [p.vendorDeviceId, p.errors.map((e) => e.path)])).toEqual([
      [null, ['0']],
      [null, ['hwi_device_id']],
      [BPM, ['metric']],
    ]);
    expect(mapTenovi('not a payload').problems).toHaveLength(1);
    expect(mapTenovi([])).toEqual({ readings: [], problems: [], ignored: 0 });
  });

  it('reads timestamps as UTC when they carry no offset, with or without fractions', () => {
    const at = (timestamp: string) =>
      mapTenovi({ metric: 'spO2', hwi_device_id: 'x', value_1: 95, timestamp }).readings[0]?.reading.measuredAt;
    expect(at('2026-11-21T12:58:00')).toBe(Date.parse('2026-11-21T12:58:00Z'));
    expect(at('2026-11-21 12:58:00.250000')).toBe(Date.parse('2026-11-21T12:58:00.250Z'));
    expect(at('2026-11-21T07:58:00-05:00')).toBe(Date.parse('2026-11-21T12:58:00Z'));
    expect(at('yesterday')).toBeUndefined();
  });

  it('gives a replayed payload the same reading ids, so the pipeline finds the duplicates', () => {
    expect(mapTenovi(sample('valid-blood-pressure-array'))).toEqual(mapTenovi(sample('valid-blood-pressure-array')));
  });
});
