import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { normalizeReading } from '../normalize/reading.ts';
import { mapBodyTrace } from './bodytrace.ts';

const sample = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../../devices/bodytrace/samples/${name}.json`, import.meta.url), 'utf8'));

const SCALE = '1322700312544';
const RECEIVED = Date.parse('2026-11-22T00:00:00Z');

describe('mapBodyTrace', () => {
  it('maps a scale message to a weight in grams, the device id given as a number', () => {
    expect(mapBodyTrace(sample('valid-weight'))).toEqual({
      readings: [
        {
          vendorDeviceId: SCALE,
          reading: {
            id: 'bodytrace:2026-11-21T07:12:00.000Z:weight',
            type: 'weight',
            measuredAt: 1795245120000,
            value: 83240,
            unit: 'g',
          },
          source: [sample('valid-weight')],
        },
      ],
      problems: [],
      ignored: 0,
    });
  });

  it('corrects the weight by a tare beyond 100 g, as BodyTrace advises, and not by a smaller one', () => {
    expect(mapBodyTrace(sample('valid-weight-tare')).readings[0]?.reading).toMatchObject({ value: 83300, unit: 'g' });
    const small = { deviceId: SCALE, ts: 1795245120000, values: { unit: 1, weight: 83240, tare: 60 } };
    expect(mapBodyTrace(small).readings[0]?.reading).toMatchObject({ value: 83240 });
  });

  it('maps a blood pressure message with its pulse', () => {
    const { readings } = mapBodyTrace(sample('valid-blood-pressure'));
    expect(readings).toEqual([
      {
        vendorDeviceId: '1355810047212',
        reading: {
          id: 'bodytrace:2026-11-21T20:31:00.000Z:blood_pressure',
          type: 'blood_pressure',
          measuredAt: 1795293060000,
          systolic: 158,
          diastolic: 97,
          pulse: 84,
        },
        source: [sample('valid-blood-pressure')],
      },
    ]);
    expect(normalizeReading(readings[0]!.reading, RECEIVED).ok).toBe(true);
  });

  it('acknowledges a heartbeat (empty values) without keeping it', () => {
    expect(mapBodyTrace(sample('ignored-heartbeat'))).toEqual({ readings: [], problems: [], ignored: 1 });
  });

  it('keeps a message without values, and one with values it cannot read, naming the fields', () => {
    expect(mapBodyTrace(sample('unusable-no-values')).problems).toEqual([
      {
        vendorDeviceId: SCALE,
        payload: sample('unusable-no-values'),
        errors: [{ path: 'values', message: 'is required (an object)' }],
      },
    ]);
    const bad = mapBodyTrace({ ts: 'soon', values: { systolic: 'high', diastolic: 80 } });
    expect(bad.problems[0]?.vendorDeviceId).toBeNull();
    expect(bad.problems[0]?.errors.map((e) => e.path)).toEqual(['deviceId', 'ts', 'values.systolic']);
    expect(mapBodyTrace({ deviceId: SCALE, ts: 1795245120000, values: { glucose: 5.4 } }).problems[0]?.errors).toEqual([
      { path: 'values', message: 'holds neither a weight nor a blood pressure (systolic, diastolic)' },
    ]);
  });

  it('leaves plausibility to the pipeline: 1500 g maps, and is refused there as too light', () => {
    const { readings } = mapBodyTrace(sample('implausible-weight'));
    expect(normalizeReading(readings[0]!.reading, RECEIVED)).toMatchObject({ ok: false, errors: [{ path: 'value' }] });
  });
});
