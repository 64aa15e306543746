import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AppError } from '../domain/errors.ts';
import { normalizeReading, normalizeWithSchema, quickNormalize, splitBody, toKg } from './reading.ts';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const bp = (fields: Record<string, unknown>) => ({
  type: 'blood_pressure',
  measuredAt: NOW - 60_000,
  systolic: 120,
  diastolic: 80,
  ...fields,
});

describe('normalizeReading', () => {
  it('accepts the bounds themselves and refuses one step beyond', () => {
    for (const fields of [
      { systolic: 300, diastolic: 200 },
      { systolic: 50, diastolic: 20 },
      { pulse: 20 },
      { pulse: 250 },
    ]) {
      expect(normalizeReading(bp(fields), NOW).ok, JSON.stringify(fields)).toBe(true);
    }
    for (const fields of [{ systolic: 300.1 }, { systolic: 49.9 }, { diastolic: 19.9 }, { pulse: 250.5 }]) {
      expect(normalizeReading(bp(fields), NOW).ok, JSON.stringify(fields)).toBe(false);
    }
    expect(normalizeReading({ type: 'spo2', measuredAt: NOW, value: 100 }, NOW).ok).toBe(true);
    expect(normalizeReading({ type: 'spo2', measuredAt: NOW, value: 50 }, NOW).ok).toBe(true);
  });

  it('weight bounds apply after conversion to kg', () => {
    const weight = (value: number, unit: string) =>
      normalizeReading({ type: 'weight', measuredAt: NOW, value, unit }, NOW);
    expect(weight(2000, 'g')).toMatchObject({ ok: true, reading: { value: 2, unit: 'g' } });
    expect(weight(1999, 'g').ok).toBe(false);
    expect(weight(400, 'kg').ok).toBe(true);
    expect(weight(881.8, 'lb')).toMatchObject({ ok: true, reading: { value: 399.9778, unit: 'lb' } });
    expect(weight(881.85, 'lb').ok).toBe(false); // 400.0004 kg
    expect(weight(882, 'lb')).toEqual({
      ok: false,
      errors: [{ path: 'value', message: 'must be from 2 to 400 kg after conversion' }],
    });
  });

  it('converts lb with the exact factor 0.45359237, to a tenth of a gram', () => {
    expect(toKg(1, 'lb')).toBe(0.4536);
    expect(toKg(181.5, 'lb')).toBe(82.327);
    expect(toKg(82_000, 'g')).toBe(82);
  });

  it('takes RFC 3339 with any offset or epoch ms, and stores epoch ms', () => {
    const reading = (measuredAt: unknown) => normalizeReading(bp({ measuredAt }), Date.parse('2026-11-23T00:00:00Z'));
    expect(reading('2026-11-22T07:58:00-05:00')).toMatchObject({
      ok: true,
      reading: { measuredAt: Date.parse('2026-11-22T12:58:00Z') },
    });
    expect(reading('2026-11-22T12:58:00.250Z')).toMatchObject({
      ok: true,
      reading: { measuredAt: Date.parse('2026-11-22T12:58:00.250Z') },
    });
    expect(reading(1_795_000_000_000)).toMatchObject({ ok: true, reading: { measuredAt: 1_795_000_000_000 } });
    for (const bad of ['2026-11-22 07:58', '2026-11-22T07:58:00', 'yesterday', -1, 1.5, null]) {
      expect(reading(bad).ok, String(bad)).toBe(false);
    }
  });

  it('allows a device clock up to 10 minutes ahead, not more', () => {
    expect(normalizeReading(bp({ measuredAt: NOW + 10 * 60_000 }), NOW).ok).toBe(true);
    expect(normalizeReading(bp({ measuredAt: NOW + 10 * 60_000 + 1 }), NOW)).toEqual({
      ok: false,
      errors: [{ path: 'measuredAt', message: 'must not be more than 10 minutes after the time it is received' }],
    });
    expect(normalizeReading(bp({ measuredAt: '2019-12-31T23:59:59.999Z' }), NOW).ok).toBe(false);
    expect(normalizeReading(bp({ measuredAt: '2020-01-01T00:00:00Z' }), NOW).ok).toBe(true);
  });

  it('names every problem of a reading, each by its field', () => {
    const outcome = normalizeReading(
      { type: 'blood_pressure', systolic: 'high', diastolic: 500, extra: true, other: 1 },
      NOW,
    );
    expect(outcome).toEqual({
      ok: false,
      errors: expect.arrayContaining([
        { path: 'measuredAt', message: 'is required' },
        { path: 'systolic', message: 'must be a number, not a string' },
        { path: 'diastolic', message: 'must be at most 200' },
        { path: 'extra', message: 'is not a known field' },
        { path: 'other', message: 'is not a known field' },
      ]),
    });
  });

  it('keeps the message id, and nulls for fields the type does not have', () => {
    expect(normalizeReading({ id: 'a-1', type: 'spo2', measuredAt: NOW, value: 97, pulse: 64 }, NOW)).toEqual({
      ok: true,
      reading: {
        messageId: 'a-1',
        type: 'spo2',
        measuredAt: NOW,
        systolic: null,
        diastolic: null,
        pulse: 64,
        value: 97,
        unit: null,
      },
    });
  });
});

describe('the hand-checked path for everyday readings', () => {
  // Mostly plausible readings of each type, every field sometimes replaced by something on or past a
  // bound, or of the wrong kind, and now and then a field the type does not have.
  const odd = fc.oneof(
    fc.constantFrom(0, -1, 1.5, 19.9, 20, 49.9, 50, 100, 100.1, 199.9, 200, 250, 250.5, 300, 300.1, 881.85, 1999, 2000),
    fc.double(),
    fc.constantFrom(Number.NaN, Infinity, -Infinity, '95', null, undefined, true, 'mmHg', 'kg', '%'),
  );
  const mostly = <T>(usual: fc.Arbitrary<T>) =>
    fc.oneof({ weight: 6, arbitrary: usual }, { weight: 1, arbitrary: odd });
  const time = mostly(
    fc.oneof(
      fc.integer({ min: Date.parse('2020-01-01T00:00:00Z') - 2, max: NOW + 10 * 60_000 + 2 }),
      fc.constantFrom(NOW + 0.5, 2 ** 60, '2026-11-22T11:00:00Z', '2026-11-22 11:00'),
    ),
  );
  const id = fc.oneof(
    fc.string({ minLength: 1, maxLength: 8 }),
    fc.constantFrom('', 'x'.repeat(128), 'x'.repeat(129), 7),
  );
  const common = { id, measuredAt: time, pulse: mostly(fc.double({ min: 15, max: 260 })), extra: fc.constant(1) };
  const optional = ['id', 'pulse', 'unit', 'extra'];
  const typed = (type: string, fields: Record<string, fc.Arbitrary<unknown>>) => {
    const model: Record<string, fc.Arbitrary<unknown>> = { type: mostly(fc.constant(type)), ...common, ...fields };
    return fc.record(model, { requiredKeys: Object.keys(model).filter((k) => !optional.includes(k)) });
  };
  const reading = fc.oneof(
    typed('spo2', { value: mostly(fc.double({ min: 45, max: 105 })) }),
    typed('blood_pressure', {
      systolic: mostly(fc.double({ min: 45, max: 310 })),
      diastolic: mostly(fc.double({ min: 15, max: 210 })),
      unit: mostly(fc.constant('mmHg')),
    }),
    typed('weight', {
      value: mostly(fc.double({ min: 0, max: 900_000 })),
      unit: mostly(fc.constantFrom('kg', 'lb', 'g')),
    }),
  );

  it("gives exactly the schema's answer whenever it answers, for any input", () => {
    let answered = 0;
    fc.assert(
      fc.property(reading, (item) => {
        const quick = quickNormalize(item, NOW);
        if (quick === undefined) return;
        answered++;
        expect(quick).toEqual(normalizeWithSchema(item, NOW));
      }),
      { numRuns: 20_000 },
    );
    expect(answered).toBeGreaterThan(20);
  });

  it('answers for everyday readings, leaving only the unusual to the schema', () => {
    const everyday = [
      { id: 'm1', type: 'spo2', measuredAt: NOW - 1000, value: 95, pulse: 72 },
      { type: 'blood_pressure', measuredAt: NOW - 1000, systolic: 128, diastolic: 82, pulse: 64, unit: 'mmHg' },
      { type: 'weight', measuredAt: NOW - 1000, value: 181.5, unit: 'lb' },
    ];
    for (const item of everyday)
      expect(quickNormalize(item, NOW), JSON.stringify(item)).toEqual(normalizeWithSchema(item, NOW));
    // Edges a random search rarely hits.
    for (const edge of [
      { systolic: 120, diastolic: 120 },
      { systolic: 120.5, diastolic: 120.5 },
      { systolic: 50, diastolic: 49.99 },
    ]) {
      const item = { type: 'blood_pressure', measuredAt: NOW, ...edge };
      expect(quickNormalize(item, NOW) ?? normalizeWithSchema(item, NOW), JSON.stringify(edge)).toEqual(
        normalizeWithSchema(item, NOW),
      );
    }
    expect(quickNormalize({ type: 'spo2', measuredAt: '2026-11-22T11:00:00Z', value: 95 }, NOW)).toBeUndefined();
    expect(quickNormalize({ type: 'spo2', measuredAt: NOW, value: 95, note: 'x' }, NOW)).toBeUndefined();
  });
});

describe('splitBody', () => {
  it('takes one reading or a readings array', () => {
    expect(splitBody({ type: 'spo2' })).toEqual([{ type: 'spo2' }]);
    expect(splitBody({ readings: [1, 2] })).toEqual([1, 2]);
  });

  it('refuses other shapes as 400 and more than 1000 readings as 413', () => {
    const codeOf = (body: unknown) => {
      try {
        splitBody(body);
      } catch (error) {
        return (error as AppError).status;
      }
      return 'accepted';
    };
    expect(codeOf([])).toBe(400);
    expect(codeOf('text')).toBe(400);
    expect(codeOf({ readings: {} })).toBe(400);
    expect(codeOf({ readings: new Array(1000).fill({}) })).toBe('accepted');
    expect(codeOf({ readings: new Array(1001).fill({}) })).toBe(413);
  });
});
