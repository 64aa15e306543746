import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KG_PER_UNIT } from '../domain/reading.ts';
import { ruleSchema, type Metric, type Op, type Rule } from '../domain/rule.ts';
import { toKg } from '../normalize/reading.ts';
import {
  compileRule,
  evaluate,
  roundToStep,
  WEIGHT_RESOLUTION,
  historyNeeds,
  isMissing,
  metricValues,
  observe,
  type CompiledRule,
  type Point,
} from './evaluate.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.parse('2026-11-20T07:00:00Z');
const OPS: readonly Op[] = ['>', '>=', '<', '<='];

/** A rule as a clinician would write it, validated by the real schema, then compiled. */
function compile(metric: Metric, when: Record<string, unknown>): CompiledRule {
  return compileRule(ruleSchema.parse({ id: 'r', metric, when, severity: 'warning', message: 'm' }) as Rule);
}

let seq = 0;
const point = (t: number, value: number): Point => ({ t, receivedAt: t + 1000, value, readingId: `p${++seq}` });
/** Points one hour apart starting at T0, oldest first. */
const series = (values: readonly number[], stepMs = HOUR) => values.map((v, i) => point(T0 + i * stepMs, v));
/** The decision after each value is appended, as the engine makes it reading by reading. */
const firesAfterEach = (rule: CompiledRule, values: readonly number[]) =>
  values.map((_, i) => evaluate(rule, series(values.slice(0, i + 1))));

/** The comparison the contract means, written out independently of the evaluator. */
function holds(value: number, op: Op, threshold: number): boolean {
  if (op === '>') return value > threshold;
  if (op === '>=') return value >= threshold;
  if (op === '<') return value < threshold;
  return value <= threshold;
}

describe('threshold', () => {
  it('each op at equality: >= and <= fire on equal, > and < do not', () => {
    const at = (op: Op, value: number) =>
      evaluate(compile('systolic', { kind: 'threshold', op, value: 180 }), series([value]));
    expect([at('>=', 180), at('>', 180), at('<=', 180), at('<', 180)]).toEqual([true, false, true, false]);
    expect([at('>=', 179), at('>', 181), at('<=', 181), at('<', 179)]).toEqual([false, true, false, true]);
  });

  it('looks at the newest reading only', () => {
    const rule = compile('spo2', { kind: 'threshold', op: '<', value: 88 });
    expect(evaluate(rule, series([80, 80, 95]))).toBe(false);
    expect(evaluate(rule, series([95, 95, 87]))).toBe(true);
  });

  it('an empty history decides nothing', () => {
    for (const when of [
      { kind: 'threshold', op: '<', value: 200 },
      { kind: 'consecutive', op: '<', value: 200, count: 1 },
      { kind: 'average', op: '<', value: 200, count: 1 },
      { kind: 'change', op: '<=', value: 0, within: '1h' },
    ]) {
      expect(evaluate(compile('systolic', when), [])).toBe(false);
    }
  });

  it('a weight threshold in lb or g is converted to kg', () => {
    const over200lb = compile('weight', { kind: 'threshold', op: '>', value: 200, unit: 'lb' }); // 90.718474 kg
    expect(evaluate(over200lb, series([90.8]))).toBe(true);
    expect(evaluate(over200lb, series([90.7]))).toBe(false);
    const under50000g = compile('weight', { kind: 'threshold', op: '<', value: 50_000, unit: 'g' });
    expect(evaluate(under50000g, series([49.9]))).toBe(true);
    expect(evaluate(under50000g, series([50]))).toBe(false);
    const kg = compile('weight', { kind: 'threshold', op: '>=', value: 100 });
    expect(evaluate(kg, series([100]))).toBe(true);
    expect(evaluate(kg, series([99.9]))).toBe(false);
  });
});

describe('consecutive', () => {
  it('the contract example: 89, 95, 88, 87 against two in a row below 90 fires only on 87', () => {
    const rule = compile('spo2', { kind: 'consecutive', op: '<', value: 90, count: 2 });
    expect(firesAfterEach(rule, [89, 95, 88, 87])).toEqual([false, false, false, true]);
  });

  it('needs count readings even when every one satisfies', () => {
    const rule = compile('pulse', { kind: 'consecutive', op: '>', value: 100, count: 3 });
    expect(firesAfterEach(rule, [120, 130, 140, 150])).toEqual([false, false, true, true]);
  });

  it('one reading at the threshold breaks a strict run', () => {
    const rule = compile('pulse', { kind: 'consecutive', op: '>', value: 100, count: 2 });
    expect(firesAfterEach(rule, [101, 100, 101, 101])).toEqual([false, false, false, true]);
    const inclusive = compile('pulse', { kind: 'consecutive', op: '>=', value: 100, count: 2 });
    expect(firesAfterEach(inclusive, [101, 100, 101, 99])).toEqual([false, true, true, false]);
  });

  it('count 1 behaves as a threshold', () => {
    const rule = compile('spo2', { kind: 'consecutive', op: '<=', value: 88, count: 1 });
    expect(firesAfterEach(rule, [90, 88, 89, 80])).toEqual([false, true, false, true]);
  });
});

describe('average', () => {
  it('an average of three needs three readings', () => {
    const rule = compile('systolic', { kind: 'average', op: '>=', value: 140, count: 3 });
    expect(firesAfterEach(rule, [150, 150, 150])).toEqual([false, false, true]);
  });

  it('averages the last count readings only', () => {
    const rule = compile('systolic', { kind: 'average', op: '>=', value: 140, count: 3 });
    expect(evaluate(rule, series([100, 150, 140, 130]))).toBe(true); // (150+140+130)/3 = 140
    expect(evaluate(rule, series([200, 200, 130, 140, 140]))).toBe(false); // 136.7
  });

  it('each op at equality of the mean', () => {
    const at = (op: Op) =>
      evaluate(compile('diastolic', { kind: 'average', op, value: 90, count: 3 }), series([89, 90, 91]));
    expect([at('>='), at('>'), at('<='), at('<')]).toEqual([true, false, true, false]);
  });

  it('a mean that equals the threshold up to float noise counts as equal', () => {
    // SpO2 97.3, 97.1, 97.2: the mean is 97.19999999999999 in binary floating point, not 97.2.
    const values = [97.3, 97.1, 97.2];
    expect(values.reduce((a, b) => a + b, 0) / 3).toBeLessThan(97.2);
    const atLeast = compile('spo2', { kind: 'average', op: '>=', value: 97.2, count: 3 });
    const below = compile('spo2', { kind: 'average', op: '<', value: 97.2, count: 3 });
    expect(evaluate(atLeast, series(values))).toBe(true);
    expect(evaluate(below, series(values))).toBe(false);
  });
});

describe('within, on consecutive and average', () => {
  const DAY = 24 * HOUR;
  const lowRun = compile('spo2', { kind: 'consecutive', op: '<', value: 90, count: 3, within: '48h' });
  const at = (hours: readonly number[], values: readonly number[]) =>
    hours.map((h, i) => point(T0 + h * HOUR, values[i]!));

  it('the contract example: three 89 % readings spread over 21 days do not fire; three within 2 hours do', () => {
    expect(evaluate(lowRun, at([0, 10.5 * 24, 21 * 24], [89, 89, 89]))).toBe(false);
    expect(evaluate(lowRun, at([0, 1, 2], [89, 89, 89]))).toBe(true);
    // Without `within`, the 21-day spread fires as in version 1.
    const anyAge = compile('spo2', { kind: 'consecutive', op: '<', value: 90, count: 3 });
    expect(evaluate(anyAge, at([0, 10.5 * 24, 21 * 24], [89, 89, 89]))).toBe(true);
  });

  it('the window includes its boundary: the oldest of the run exactly `within` before the newest counts', () => {
    expect(evaluate(lowRun, [point(T0, 89), point(T0 + DAY, 89), point(T0 + 2 * DAY, 89)])).toBe(true);
    expect(evaluate(lowRun, [point(T0 - 1, 89), point(T0 + DAY, 89), point(T0 + 2 * DAY, 89)])).toBe(false);
  });

  it('an old reading outside the window neither completes a run nor breaks one', () => {
    // Two lows inside the window and one long before: not three inside.
    expect(evaluate(lowRun, at([0, 100, 101], [89, 89, 89]))).toBe(false);
    // A normal reading long before a run of three inside the window does not matter.
    expect(evaluate(lowRun, at([0, 100, 101, 102], [95, 89, 89, 89]))).toBe(true);
  });

  it('an average counts only readings within the window, and waits for count of them', () => {
    const avg = compile('systolic', { kind: 'average', op: '>=', value: 140, count: 3, within: '7d' });
    expect(evaluate(avg, at([0, 24, 48], [150, 150, 150]))).toBe(true);
    // The first of the three is 8 days before the newest: only two inside the window.
    expect(evaluate(avg, at([0, 7 * 24, 8 * 24], [150, 150, 150]))).toBe(false);
    // Old highs do not lift an average of recent normal readings, and the newest three decide.
    expect(evaluate(avg, at([0, 9 * 24, 9 * 24 + 12, 10 * 24], [200, 130, 135, 140]))).toBe(false);
  });

  it('compiles `within` to ms on consecutive and average; without it the window is 0', () => {
    expect(lowRun.withinMs).toBe(48 * HOUR);
    expect(compile('spo2', { kind: 'consecutive', op: '<', value: 90, count: 3 }).withinMs).toBe(0);
    expect(compile('systolic', { kind: 'average', op: '>=', value: 140, count: 6, within: '7d' }).withinMs).toBe(
      7 * DAY,
    );
  });

  it('the schema refuses a malformed within, and within on a threshold', () => {
    const parse = (when: Record<string, unknown>) =>
      ruleSchema.safeParse({ id: 'r', metric: 'spo2', when, severity: 'warning', message: 'm' }).success;
    expect(parse({ kind: 'consecutive', op: '<', value: 90, count: 3, within: '48h' })).toBe(true);
    expect(parse({ kind: 'average', op: '<', value: 90, count: 3, within: '0h' })).toBe(false);
    expect(parse({ kind: 'average', op: '<', value: 90, count: 3, within: '2 days' })).toBe(false);
    expect(parse({ kind: 'threshold', op: '<', value: 90, within: '48h' })).toBe(false);
  });
});

describe('change', () => {
  const within24h = (op: Op, value: number) => compile('weight', { kind: 'change', op, value, within: '24h' });

  it('compares the newest value with the oldest one inside [newest − within, newest], boundary included', () => {
    const history = [point(T0 - 30 * HOUR, 80), point(T0 - 24 * HOUR, 81), point(T0 - 12 * HOUR, 82), point(T0, 82.5)];
    // Oldest inside the window is the point exactly 24 h before the newest: +1.5 kg.
    expect(evaluate(within24h('>=', 1.5), history)).toBe(true);
    expect(evaluate(within24h('>=', 1.6), history)).toBe(false);
    // One millisecond further back, it leaves the window and the point 12 h back is the oldest: +0.5 kg.
    const shifted = [history[0]!, point(T0 - 24 * HOUR - 1, 81), history[2]!, history[3]!];
    expect(evaluate(within24h('>=', 0.6), shifted)).toBe(false);
    expect(evaluate(within24h('>=', 0.5), shifted)).toBe(true);
  });

  it('needs two points inside the window', () => {
    expect(evaluate(within24h('<=', 0), [point(T0, 80)])).toBe(false);
    expect(evaluate(within24h('>=', 0), [point(T0, 80)])).toBe(false);
    // The earlier point is outside the window: still only one point inside.
    expect(evaluate(within24h('<=', 10), [point(T0 - 25 * HOUR, 70), point(T0, 80)])).toBe(false);
    expect(evaluate(within24h('>=', 0), [point(T0 - 23 * HOUR, 80), point(T0, 80)])).toBe(true);
  });

  it('a loss is negative: change <= -2 lb fires on a 2.5 lb loss, not on 1.5 lb, and a gain rule ignores losses', () => {
    const loss = compile('weight', { kind: 'change', op: '<=', value: -2, unit: 'lb', within: '30h' });
    const gain = compile('weight', { kind: 'change', op: '>=', value: 2, unit: 'lb', within: '30h' });
    const weights = (from: number, to: number) => [point(T0, toKg(from, 'lb')), point(T0 + 24 * HOUR, toKg(to, 'lb'))];
    expect(evaluate(loss, weights(182.5, 180))).toBe(true);
    expect(evaluate(loss, weights(181.5, 180))).toBe(false);
    expect(evaluate(gain, weights(182.5, 180))).toBe(false);
    expect(evaluate(gain, weights(180, 182.5))).toBe(true);
  });

  it('converts the change to lb or g and compares it at 0.1 lb or 50 g', () => {
    expect(
      compile('weight', { kind: 'change', op: '>=', value: 2, unit: 'lb', within: '1d' }).test(2 * KG_PER_UNIT.lb),
    ).toBe(true);
    const grams = compile('weight', { kind: 'change', op: '>=', value: 1000, unit: 'g', within: '1d' });
    expect(evaluate(grams, [point(T0, 80), point(T0 + HOUR, 81)])).toBe(true);
    expect(evaluate(grams, [point(T0, 80), point(T0 + HOUR, 80.98)])).toBe(true); // 980 g is 1000 g at 50 g
    expect(evaluate(grams, [point(T0, 80), point(T0 + HOUR, 80.97)])).toBe(false); // 970 g is 950 g
    const moreGrams = compile('weight', { kind: 'change', op: '>=', value: 1001, unit: 'g', within: '1d' });
    expect(evaluate(moreGrams, [point(T0, 80), point(T0 + HOUR, 81)])).toBe(false);
  });

  it('exactly +2.000 lb fires ">= 2 lb" even though stored weights are rounded to 0.1 g', () => {
    const gain = compile('weight', { kind: 'change', op: '>=', value: 2, unit: 'lb', within: '30h' });
    const strict = compile('weight', { kind: 'change', op: '>', value: 2, unit: 'lb', within: '30h' });
    // 180 lb → 81.6466 kg, 182 lb → 82.5538 kg: the stored difference is 0.9072 kg, 2 lb is 0.90718474 kg.
    const cases: Array<[number, number]> = [
      [180, 182],
      [150.3, 152.3],
      [201.7, 203.7],
    ];
    for (const [from, to] of cases) {
      const history = [point(T0, toKg(from, 'lb')), point(T0 + 24 * HOUR, toKg(to, 'lb'))];
      expect(evaluate(gain, history), `${from} → ${to} lb`).toBe(true);
      expect(evaluate(strict, history), `${from} → ${to} lb`).toBe(false);
    }
  });

  it('property: any gain that rounds to 2.0 lb fires ">= 2 lb" and never "> 2 lb"; 1.94 lb fires neither', () => {
    const gain = compile('weight', { kind: 'change', op: '>=', value: 2, unit: 'lb', within: '30h' });
    const strict = compile('weight', { kind: 'change', op: '>', value: 2, unit: 'lb', within: '30h' });
    fc.assert(
      fc.property(
        fc.integer({ min: 10_000, max: 80_000 }),
        fc.integer({ min: 1, max: 30 * 60 }),
        (hundredthsLb, minutes) => {
          const from = hundredthsLb / 100;
          const at = (to: number) => [point(T0, toKg(from, 'lb')), point(T0 + minutes * MINUTE, toKg(to, 'lb'))];
          return (
            [2, 1.96, 2.04].every(
              (gained) => evaluate(gain, at(from + gained)) && !evaluate(strict, at(from + gained)),
            ) &&
            !evaluate(gain, at(from + 1.94)) &&
            !evaluate(strict, at(from + 1.94))
          );
        },
      ),
    );
  });

  it('property: any exact loss of 1000 g fires "<= -1000 g" and never "< -1000 g"', () => {
    const loss = compile('weight', { kind: 'change', op: '<=', value: -1000, unit: 'g', within: '7d' });
    const strict = compile('weight', { kind: 'change', op: '<', value: -1000, unit: 'g', within: '7d' });
    fc.assert(
      fc.property(fc.integer({ min: 20_000, max: 300_000 }), (grams) => {
        const history = [point(T0, toKg(grams, 'g')), point(T0 + 6 * 24 * HOUR, toKg(grams - 1000, 'g'))];
        return evaluate(loss, history) && !evaluate(strict, history);
      }),
    );
  });
});

describe('resolution of weight', () => {
  const lbRule = (kind: string, op: Op, value: number, extra: Record<string, unknown> = {}) =>
    compile('weight', { kind, op, value, unit: 'lb', ...extra });

  it('the contract example: a kg scale showing 81.647 then 82.554 kg (1.9996 lb) has gained 2.0 lb', () => {
    const kgScale = [point(T0, toKg(81.647, 'kg')), point(T0 + 24 * HOUR, toKg(82.554, 'kg'))];
    const lbScale = [point(T0, toKg(180, 'lb')), point(T0 + 24 * HOUR, toKg(182, 'lb'))];
    for (const history of [kgScale, lbScale]) {
      expect(evaluate(lbRule('change', '>=', 2, { within: '30h' }), history)).toBe(true);
      expect(evaluate(lbRule('change', '>', 2, { within: '30h' }), history)).toBe(false);
      expect(evaluate(lbRule('change', '>=', 2.1, { within: '30h' }), history)).toBe(false);
    }
  });

  it('a reading, a mean and every reading of a run are compared at 0.1 lb too', () => {
    // 81.647 kg is 179.9994 lb: 180.0 lb at 0.1 lb.
    expect(evaluate(lbRule('threshold', '>=', 180), series([81.647]))).toBe(true);
    expect(evaluate(lbRule('threshold', '>', 180), series([81.647]))).toBe(false);
    // 90.7 kg is 199.96 lb, shown as 200.0 lb.
    expect(evaluate(lbRule('average', '>=', 200, { count: 3 }), series([90.7, 90.7, 90.7]))).toBe(true);
    expect(evaluate(lbRule('average', '>', 200, { count: 3 }), series([90.7, 90.7, 90.7]))).toBe(false);
    expect(evaluate(lbRule('consecutive', '>=', 200, { count: 2 }), series([90.7, 90.7]))).toBe(true);
    expect(evaluate(lbRule('consecutive', '>=', 200, { count: 2 }), series([90.65, 90.7]))).toBe(false); // 199.85
  });

  it('a loss rounds as a gain of the same size does (half away from zero)', () => {
    const loss = lbRule('change', '<=', -2, { within: '30h' });
    expect(evaluate(loss, [point(T0, toKg(182.04, 'lb')), point(T0 + HOUR, toKg(180, 'lb'))])).toBe(true);
    expect(evaluate(loss, [point(T0, toKg(181.94, 'lb')), point(T0 + HOUR, toKg(180, 'lb'))])).toBe(false);
    expect(evaluate(lbRule('change', '<', -2, { within: '30h' }), [point(T0, 82.554), point(T0 + HOUR, 81.647)])).toBe(
      false,
    );
  });

  it('a rule in kg (or with no unit) compares at 0.05 kg', () => {
    const gain = compile('weight', { kind: 'change', op: '>=', value: 1, within: '1d' });
    const strict = compile('weight', { kind: 'change', op: '>', value: 1, unit: 'kg', within: '1d' });
    const from80 = (to: number) => [point(T0, 80), point(T0 + HOUR, to)];
    expect(evaluate(gain, from80(80.98))).toBe(true); // 0.98 kg is 1.00 kg at 0.05 kg
    expect(evaluate(gain, from80(80.97))).toBe(false); // 0.97 kg is 0.95 kg
    expect(evaluate(strict, from80(81.02))).toBe(false); // 1.02 kg is 1.00 kg
    expect(evaluate(strict, from80(81.03))).toBe(true); // 1.03 kg is 1.05 kg
  });

  it('roundToStep: half away from zero, and decimal steps give the same double as the literal', () => {
    expect(roundToStep(0.29999, 0.1)).toBe(0.3);
    expect(roundToStep(81.647, 0.05)).toBe(81.65);
    expect(roundToStep(75, 50)).toBe(100);
    expect(roundToStep(-75, 50)).toBe(-100);
    expect(roundToStep(1024, 50)).toBe(1000);
    expect(roundToStep(-19.996 / 10, 0.1)).toBe(-2);
    expect(WEIGHT_RESOLUTION).toEqual({ lb: 0.1, kg: 0.05, g: 50 });
  });

  it('other metrics stay exact: systolic 139.6 is not 140', () => {
    expect(evaluate(compile('systolic', { kind: 'threshold', op: '>=', value: 140 }), series([139.6]))).toBe(false);
  });
});

describe('observe: what an alert reports as `observed`', () => {
  it('reading: the newest value of a threshold or consecutive rule, in the metric unit', () => {
    expect(observe(compile('spo2', { kind: 'threshold', op: '<', value: 88 }), series([95, 86]))).toEqual({
      kind: 'reading',
      value: 86,
      unit: '%',
    });
    expect(
      observe(
        compile('pulse', { kind: 'consecutive', op: '>', value: 100, count: 2, within: '30h' }),
        series([118, 121]),
      ),
    ).toEqual({ kind: 'reading', value: 121, unit: 'bpm' });
    expect(observe(compile('systolic', { kind: 'threshold', op: '<', value: 90 }), series([88]))).toEqual({
      kind: 'reading',
      value: 88,
      unit: 'mmHg',
    });
  });

  it('reading of a weight: in the rule unit, at its resolution (lb 0.1, kg 0.05, g 50)', () => {
    const history = series([toKg(81.647, 'kg')]); // 179.9994 lb
    expect(observe(compile('weight', { kind: 'threshold', op: '>', value: 200, unit: 'lb' }), history)).toEqual({
      kind: 'reading',
      value: 180,
      unit: 'lb',
    });
    expect(observe(compile('weight', { kind: 'threshold', op: '>', value: 90 }), history)).toEqual({
      kind: 'reading',
      value: 81.65,
      unit: 'kg',
    });
    expect(observe(compile('weight', { kind: 'threshold', op: '>', value: 90_000, unit: 'g' }), history)).toEqual({
      kind: 'reading',
      value: 81_650,
      unit: 'g',
    });
  });

  it('mean: of the readings averaged, to 0.1, with how many there were', () => {
    const avg = compile('systolic', { kind: 'average', op: '>=', value: 140, count: 3 });
    expect(observe(avg, series([100, 150, 141, 133]))).toEqual({ kind: 'mean', value: 141.3, unit: 'mmHg', count: 3 });
    // With within, only those inside the window: two of the last three here.
    const recent = compile('systolic', { kind: 'average', op: '>=', value: 140, count: 3, within: '24h' });
    expect(observe(recent, [point(T0, 100), point(T0 + 48 * HOUR, 150), point(T0 + 50 * HOUR, 141)])).toEqual({
      kind: 'mean',
      value: 145.5,
      unit: 'mmHg',
      count: 2,
    });
    // Fewer readings than count: the mean of what there is.
    expect(observe(avg, series([150]))).toEqual({ kind: 'mean', value: 150, unit: 'mmHg', count: 1 });
  });

  it('change: signed, in the rule unit, from the oldest point of the window to the newest', () => {
    const gain = compile('weight', { kind: 'change', op: '>=', value: 2, unit: 'lb', within: '30h' });
    const history = [point(T0 - 40 * HOUR, 79), point(T0, toKg(81.647, 'kg')), point(T0 + 24 * HOUR, 82.554)];
    expect(observe(gain, history)).toEqual({
      kind: 'change',
      value: 2,
      unit: 'lb',
      from: { value: 180, measuredAt: T0 },
      to: { value: 182, measuredAt: T0 + 24 * HOUR },
    });
    const loss = compile('weight', { kind: 'change', op: '<=', value: -1, within: '2d' });
    expect(observe(loss, [point(T0, 80), point(T0 + 24 * HOUR, 78.62)])).toEqual({
      kind: 'change',
      value: -1.4,
      unit: 'kg',
      from: { value: 80, measuredAt: T0 },
      to: { value: 78.6, measuredAt: T0 + 24 * HOUR },
    });
    const systolic = compile('systolic', { kind: 'change', op: '<=', value: -30, within: '1d' });
    expect(observe(systolic, [point(T0, 150), point(T0 + HOUR, 118)])).toMatchObject({ value: -32, unit: 'mmHg' });
  });

  it('change with one point in the window: zero, from and to the same reading', () => {
    const gain = compile('weight', { kind: 'change', op: '>=', value: 2, unit: 'lb', within: '30h' });
    expect(observe(gain, [point(T0, 80)])).toEqual({
      kind: 'change',
      value: 0,
      unit: 'lb',
      from: { value: 176.4, measuredAt: T0 },
      to: { value: 176.4, measuredAt: T0 },
    });
  });

  it('missing: since when the clock counts, as isMissing counts it', () => {
    const rule = compile('weight', { kind: 'missing', for: '36h' });
    expect(observe(rule, [], { lastArrival: T0 + HOUR, ruleSince: T0 })).toEqual({ kind: 'missing', since: T0 + HOUR });
    expect(observe(rule, [], { lastArrival: undefined, ruleSince: T0 })).toEqual({ kind: 'missing', since: T0 });
    // An arrival before the rule entered the plan: the clock (and `since`) starts with the rule.
    expect(observe(rule, [], { lastArrival: T0 - HOUR, ruleSince: T0 })).toEqual({ kind: 'missing', since: T0 });
    expect(observe(rule, series([80]))).toBeUndefined();
  });

  it('an empty history has nothing to report', () => {
    expect(observe(compile('spo2', { kind: 'threshold', op: '<', value: 88 }), [])).toBeUndefined();
  });

  it('property: a firing weight rule reports the value it compared, which satisfies the rule', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 60_000, max: 140_000 }),
        fc.integer({ min: -3_000, max: 3_000 }),
        fc.constantFrom('lb', 'kg', 'g'),
        op,
        fc.integer({ min: -30, max: 30 }),
        (fromGrams, changeGrams, unit, o, tenths) => {
          const value = unit === 'g' ? tenths * 100 : tenths / 10;
          const rule = compile('weight', { kind: 'change', op: o, value, unit, within: '1d' });
          const history = [point(T0, fromGrams / 1000), point(T0 + HOUR, (fromGrams + changeGrams) / 1000)];
          const seen = observe(rule, history) as { value: number };
          return evaluate(rule, history) === holds(seen.value, o, value);
        },
      ),
    );
  });
});

describe('missing', () => {
  const rule = compile('weight', { kind: 'missing', for: '36h' });
  const since = T0;

  it('is never decided by a reading', () => {
    expect(evaluate(rule, series([80]))).toBe(false);
    expect(rule.forMs).toBe(36 * HOUR);
  });

  it('with nothing ever arrived, the clock starts when the rule entered the plan and fires exactly at "for"', () => {
    expect(isMissing(rule, undefined, since, since)).toBe(false);
    expect(isMissing(rule, undefined, since, since + 36 * HOUR - 1)).toBe(false);
    expect(isMissing(rule, undefined, since, since + 36 * HOUR)).toBe(true);
  });

  it('an arrival before the rule existed does not shorten the clock', () => {
    const longAgo = since - 10 * 24 * HOUR;
    expect(isMissing(rule, longAgo, since, since + 35 * HOUR)).toBe(false);
    expect(isMissing(rule, longAgo, since, since + 36 * HOUR)).toBe(true);
  });

  it('counts from the last arrival when it is later than the rule', () => {
    const last = since + 50 * HOUR;
    expect(isMissing(rule, last, since, last + 36 * HOUR - 1)).toBe(false);
    expect(isMissing(rule, last, since, last + 36 * HOUR)).toBe(true);
  });

  it('property: fires iff now − max(lastArrival, ruleSince) >= for', () => {
    fc.assert(
      fc.property(
        fc.option(fc.integer({ min: 0, max: 10 * 24 * 60 }), { nil: undefined }),
        fc.integer({ min: 0, max: 10 * 24 * 60 }),
        fc.integer({ min: 0, max: 20 * 24 * 60 }),
        (lastMin, sinceMin, nowMin) => {
          const start = Math.max(lastMin ?? sinceMin, sinceMin);
          fc.pre(nowMin >= start);
          const expected = nowMin - start >= 36 * 60;
          return (
            isMissing(
              rule,
              lastMin === undefined ? undefined : T0 + lastMin * MINUTE,
              T0 + sinceMin * MINUTE,
              T0 + nowMin * MINUTE,
            ) === expected
          );
        },
      ),
    );
  });
});

describe('historyNeeds', () => {
  it('no rules need one point and no window', () => {
    expect(historyNeeds([])).toEqual({ count: 1, windowMs: 0 });
  });

  it('takes the largest count and the longest change window; missing and threshold rules add nothing', () => {
    const rules = [
      compile('systolic', { kind: 'threshold', op: '>=', value: 180 }),
      compile('systolic', { kind: 'consecutive', op: '>=', value: 140, count: 3 }),
      compile('systolic', { kind: 'average', op: '>=', value: 140, count: 6 }),
      compile('weight', { kind: 'change', op: '>=', value: 2, unit: 'lb', within: '30h' }),
      compile('weight', { kind: 'change', op: '>=', value: 5, unit: 'lb', within: '174h' }),
      compile('weight', { kind: 'missing', for: '400h' }),
    ];
    expect(historyNeeds(rules)).toEqual({ count: 6, windowMs: 174 * HOUR });
    expect(historyNeeds(rules.slice(0, 1))).toEqual({ count: 1, windowMs: 0 });
    expect(historyNeeds(rules.slice(3, 4))).toEqual({ count: 1, windowMs: 30 * HOUR });
  });

  it('a within on consecutive or average adds no window: it only narrows the last count, kept anyway', () => {
    const rules = [
      compile('spo2', { kind: 'consecutive', op: '<', value: 90, count: 3, within: '54h' }),
      compile('spo2', { kind: 'average', op: '<', value: 92, count: 5, within: '7d' }),
    ];
    expect(historyNeeds(rules)).toEqual({ count: 5, windowMs: 0 });
  });
});

describe('metricValues', () => {
  const none = { systolic: null, diastolic: null, pulse: null, value: null };

  it('a blood pressure reading gives systolic, diastolic and pulse when present', () => {
    expect(metricValues({ ...none, type: 'blood_pressure', systolic: 142, diastolic: 91, pulse: 72 })).toEqual([
      ['systolic', 142],
      ['diastolic', 91],
      ['pulse', 72],
    ]);
    expect(metricValues({ ...none, type: 'blood_pressure', systolic: 142, diastolic: 91 })).toEqual([
      ['systolic', 142],
      ['diastolic', 91],
    ]);
  });

  it('a weight gives its kg value; an SpO2 reading gives spo2 and pulse when present', () => {
    expect(metricValues({ ...none, type: 'weight', value: 82.3271 })).toEqual([['weight', 82.3271]]);
    expect(metricValues({ ...none, type: 'spo2', value: 94, pulse: 80 })).toEqual([
      ['spo2', 94],
      ['pulse', 80],
    ]);
    expect(metricValues({ ...none, type: 'spo2', value: 94 })).toEqual([['spo2', 94]]);
  });
});

// ---------------------------------------------------------------------------------------------------
// Properties. Values are whole numbers (as BP, pulse and SpO2 devices send them), or weights on a 10 g
// grid against gram thresholds half a gram off it (weight is compared at 50 g, and a difference of
// 10 g steps is never halfway between two 50 g steps), or weights on the 0.1 lb grid a scale displays,
// so every reference below compares exactly and needs no tolerance of its own.
// ---------------------------------------------------------------------------------------------------

const op = fc.constantFrom(...OPS);
const integerValues = (minLength = 0) => fc.array(fc.integer({ min: 50, max: 200 }), { minLength, maxLength: 30 });

describe('properties', () => {
  it('(a) threshold equals the direct comparison of the newest value, whatever came before', () => {
    fc.assert(
      fc.property(
        integerValues(),
        fc.integer({ min: 50, max: 200 }),
        op,
        fc.integer({ min: 50, max: 200 }),
        (before, newest, o, threshold) => {
          const rule = compile('systolic', { kind: 'threshold', op: o, value: threshold });
          return evaluate(rule, series([...before, newest])) === holds(newest, o, threshold);
        },
      ),
    );
    // Fractional values and thresholds, away from the 1e-9 tolerance band.
    fc.assert(
      fc.property(
        fc.double({ min: 50, max: 100, noNaN: true }),
        op,
        fc.double({ min: 50, max: 100, noNaN: true }),
        (value, o, threshold) => {
          fc.pre(Math.abs(value - threshold) > 1e-6);
          return (
            evaluate(compile('spo2', { kind: 'threshold', op: o, value: threshold }), series([value])) ===
            holds(value, o, threshold)
          );
        },
      ),
    );
  });

  it('(b) consecutive fires iff the trailing run of satisfying readings is at least count long', () => {
    fc.assert(
      fc.property(
        integerValues(),
        fc.integer({ min: 1, max: 6 }),
        op,
        fc.integer({ min: 50, max: 200 }),
        (values, count, o, threshold) => {
          const rule = compile('pulse', { kind: 'consecutive', op: o, value: threshold, count });
          // Reference: length of the run of satisfying values that ends at the newest one.
          let run = 0;
          for (let i = values.length - 1; i >= 0 && holds(values[i]!, o, threshold); i--) run++;
          return evaluate(rule, series(values)) === run >= count;
        },
      ),
    );
  });

  it('(c) average fires iff the sum of the last count readings compares with count × threshold', () => {
    fc.assert(
      fc.property(
        integerValues(),
        fc.integer({ min: 1, max: 10 }),
        op,
        fc.integer({ min: 50, max: 200 }),
        (values, count, o, threshold) => {
          const rule = compile('systolic', { kind: 'average', op: o, value: threshold, count });
          // Reference in exact integer arithmetic: mean op t  ⇔  sum op t·count.
          const expected =
            values.length >= count &&
            holds(
              values.slice(-count).reduce((a, b) => a + b, 0),
              o,
              threshold * count,
            );
          return evaluate(rule, series(values)) === expected;
        },
      ),
    );
  });

  /** Sorted points with random gaps (some zero), weights on a 10 g grid. */
  const weightHistory = fc
    .array(
      fc.record({
        gapMin: fc.integer({ min: 0, max: 40 * 60 }),
        grams: fc.integer({ min: 7_800, max: 8_400 }).map((dag) => dag * 10),
      }),
      { minLength: 1, maxLength: 25 },
    )
    .map((items) => {
      let t = T0;
      return items.map(({ gapMin, grams }) => {
        t += gapMin * MINUTE;
        return point(t, grams / 1000);
      });
    });
  const withinHours = fc.integer({ min: 1, max: 200 });
  /** A change threshold in grams, half a gram off the grid so it never equals a difference of whole grams. */
  const halfGrams = fc.integer({ min: -4_000, max: 4_000 }).map((g) => g + 0.5);

  it('(d) change matches a reference that walks back from the newest point to the oldest one in the window', () => {
    fc.assert(
      fc.property(weightHistory, withinHours, op, halfGrams, (history, hours, o, grams) => {
        const rule = compile('weight', { kind: 'change', op: o, value: grams, unit: 'g', within: `${hours}h` });
        const newest = history.at(-1)!;
        let oldest = history.length - 1;
        while (oldest > 0 && history[oldest - 1]!.t >= newest.t - hours * HOUR) oldest--;
        // The change in whole grams, then to the nearest 50 g (never a tie on the 10 g grid).
        const changeGrams = Math.round((newest.value - history[oldest]!.value) * 1000);
        const expected = oldest < history.length - 1 && holds(Math.round(changeGrams / 50) * 50, o, grams);
        return evaluate(rule, history) === expected;
      }),
    );
  });

  it('(d) change on systolic in mmHg: exact comparisons including equality', () => {
    fc.assert(
      fc.property(
        integerValues(1),
        fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 30, maxLength: 30 }),
        fc.integer({ min: 1, max: 48 }),
        op,
        fc.integer({ min: -60, max: 60 }),
        (values, gaps, hours, o, delta) => {
          let t = T0;
          const history = values.map((v, i) => {
            t += gaps[i]! * MINUTE;
            return point(t, v);
          });
          const rule = compile('systolic', { kind: 'change', op: o, value: delta, within: `${hours}h` });
          const newest = history.at(-1)!;
          const inWindow = history.filter((p) => newest.t - p.t <= hours * HOUR);
          const expected = inWindow.length >= 2 && holds(newest.value - inWindow[0]!.value, o, delta);
          return evaluate(rule, history) === expected;
        },
      ),
    );
  });

  it('(e) points older than the window do not change a change decision', () => {
    fc.assert(
      fc.property(
        weightHistory,
        withinHours,
        op,
        halfGrams,
        fc.array(
          fc.record({
            ageMin: fc.integer({ min: 1, max: 30 * 24 * 60 }),
            grams: fc.integer({ min: 78_000, max: 84_000 }),
          }),
          { maxLength: 10 },
        ),
        (history, hours, o, grams, extra) => {
          const rule = compile('weight', { kind: 'change', op: o, value: grams, unit: 'g', within: `${hours}h` });
          const newest = history.at(-1)!;
          const edge = newest.t - hours * HOUR; // oldest time still inside the window
          const kept = history.filter((p) => p.t >= edge);
          const older = extra
            .map(({ ageMin, grams: g }) => point(edge - ageMin * MINUTE, g / 1000))
            .sort((a, b) => a.t - b.t);
          // Whatever lay outside the window before (kept vs full history), and whatever is added outside it now.
          const decision = evaluate(rule, kept);
          return evaluate(rule, history) === decision && evaluate(rule, [...older, ...kept]) === decision;
        },
      ),
    );
  });

  it('(e) readings before the last count do not change a consecutive or average decision', () => {
    fc.assert(
      fc.property(
        integerValues(),
        integerValues(),
        fc.integer({ min: 1, max: 6 }),
        op,
        fc.integer({ min: 50, max: 200 }),
        (earlier, recent, count, o, threshold) => {
          fc.pre(recent.length >= count);
          const consecutive = compile('spo2', { kind: 'consecutive', op: o, value: threshold, count });
          const average = compile('spo2', { kind: 'average', op: o, value: threshold, count });
          const longer = series([...earlier, ...recent]);
          const shorter = longer.slice(-count);
          return (
            evaluate(consecutive, longer) === evaluate(consecutive, shorter) &&
            evaluate(average, longer) === evaluate(average, shorter)
          );
        },
      ),
    );
  });

  /** Weights as a scale displays them in lb: whole tenths of a pound, 120.0 to 300.0 lb. */
  const tenthsLb = fc.integer({ min: 1_200, max: 3_000 });
  /** What is stored for a weight of `tenths` / 10 lb, sent by an lb scale or by a kg scale showing `decimals`. */
  const stored = (tenths: number, scale: 'lb' | 'kg3' | 'kg2') =>
    scale === 'lb'
      ? toKg(tenths / 10, 'lb')
      : toKg(Number(((tenths / 10) * KG_PER_UNIT.lb).toFixed(scale === 'kg3' ? 3 : 2)), 'kg');

  it('(i) weight rules in lb decide as on a 0.1 lb scale display, whether the scale sent lb or kg', () => {
    fc.assert(
      fc.property(
        tenthsLb,
        fc.array(fc.record({ gapMin: fc.integer({ min: 0, max: 30 * 60 }), step: fc.integer({ min: -30, max: 30 }) }), {
          minLength: 1,
          maxLength: 12,
        }),
        fc.integer({ min: 1, max: 5 }),
        op,
        fc.nat(),
        fc.integer({ min: -2, max: 2 }),
        fc.integer({ min: -2, max: 2 }),
        (base, items, count, o, pick, offLevel, offDelta) => {
          let t = T0;
          const times = items.map(({ gapMin }) => (t += gapMin * MINUTE));
          const tenths = items.map((i) => base + i.step);
          const inWindow = tenths.filter((_, i) => times[i]! >= times.at(-1)! - 30 * HOUR);
          // Thresholds at or next to the values, where resolution decides.
          const level = tenths[pick % tenths.length]! + offLevel;
          const delta = tenths.at(-1)! - inWindow[0]! + offDelta;
          // References in whole tenths of a pound, independent of the evaluator.
          const last = tenths.slice(-count);
          const sum = last.reduce((a, b) => a + b, 0);
          // The mean in tenths, to the nearest tenth; a mean exactly halfway is left out (either way is right).
          fc.pre(!(Number.isInteger((2 * sum) / count) && ((2 * sum) / count) % 2 !== 0));
          const meanTenths = Math.round(sum / count);
          const expected = {
            threshold: holds(tenths.at(-1)!, o, level),
            consecutive: tenths.length >= count && last.every((v) => holds(v, o, level)),
            average: tenths.length >= count && holds(meanTenths, o, level),
            change: inWindow.length >= 2 && holds(tenths.at(-1)! - inWindow[0]!, o, delta),
          };
          const rules = {
            threshold: compile('weight', { kind: 'threshold', op: o, value: level / 10, unit: 'lb' }),
            consecutive: compile('weight', { kind: 'consecutive', op: o, value: level / 10, count, unit: 'lb' }),
            average: compile('weight', { kind: 'average', op: o, value: level / 10, count, unit: 'lb' }),
            change: compile('weight', { kind: 'change', op: o, value: delta / 10, unit: 'lb', within: '30h' }),
          };
          return (['lb', 'kg3', 'kg2'] as const).every((scale) => {
            const history = tenths.map((v, i) => point(times[i]!, stored(v, scale)));
            return (Object.keys(rules) as Array<keyof typeof rules>).every(
              (kind) => evaluate(rules[kind], history) === expected[kind],
            );
          });
        },
      ),
    );
  });

  it('(j) a change of any size from a kg scale matches "± v lb" iff it is at least v − 0.05 lb', () => {
    const GRAMS_PER_LB = 1000 * KG_PER_UNIT.lb;
    fc.assert(
      fc.property(
        fc.integer({ min: 60_000, max: 140_000 }),
        fc.integer({ min: -4_000, max: 4_000 }),
        fc.integer({ min: -1, max: 1 }),
        (fromGrams, changeGrams, off) => {
          // A rule value at or next to the change, where resolution decides.
          const value = Math.max(1, Math.round(Math.abs(changeGrams) / GRAMS_PER_LB / 0.1) + off) / 10;
          // Rounded to 0.1 lb, |change| reaches v exactly when it is at least v − 0.05 lb, in grams:
          const reaches = Math.abs(changeGrams) >= (value - 0.05) * GRAMS_PER_LB;
          const history = [point(T0, fromGrams / 1000), point(T0 + HOUR, (fromGrams + changeGrams) / 1000)];
          const gain = compile('weight', { kind: 'change', op: '>=', value, unit: 'lb', within: '1d' });
          const loss = compile('weight', { kind: 'change', op: '<=', value: -value, unit: 'lb', within: '1d' });
          return (
            evaluate(gain, history) === (changeGrams > 0 && reaches) &&
            evaluate(loss, history) === (changeGrams < 0 && reaches)
          );
        },
      ),
    );
  });

  /** Sorted points with random gaps (0 to 30 h), SpO2-like whole values. */
  const spacedHistory = fc
    .array(fc.record({ gapMin: fc.integer({ min: 0, max: 30 * 60 }), value: fc.integer({ min: 80, max: 100 }) }), {
      minLength: 1,
      maxLength: 25,
    })
    .map((items) => {
      let t = T0;
      return items.map(({ gapMin, value }) => {
        t += gapMin * MINUTE;
        return point(t, value);
      });
    });

  it('(g) within: consecutive and average equal the version-1 rule applied to the points inside the window only', () => {
    fc.assert(
      fc.property(
        spacedHistory,
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 96 }),
        op,
        fc.integer({ min: 80, max: 100 }),
        (history, count, hours, o, threshold) => {
          const newest = history.at(-1)!;
          const inside = history.filter((p) => p.t >= newest.t - hours * HOUR);
          const windowed = (kind: string) =>
            compile('spo2', { kind, op: o, value: threshold, count, within: `${hours}h` });
          const unbounded = (kind: string) => compile('spo2', { kind, op: o, value: threshold, count });
          return (
            evaluate(windowed('consecutive'), history) === evaluate(unbounded('consecutive'), inside) &&
            evaluate(windowed('average'), history) === evaluate(unbounded('average'), inside)
          );
        },
      ),
    );
  });

  it('(g) within never counts a point older than the window: such points, added or removed, change nothing', () => {
    fc.assert(
      fc.property(
        spacedHistory,
        fc.array(
          fc.record({ ageMin: fc.integer({ min: 1, max: 60 * 24 * 60 }), value: fc.integer({ min: 80, max: 100 }) }),
          {
            maxLength: 10,
          },
        ),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 96 }),
        op,
        fc.integer({ min: 80, max: 100 }),
        (history, extra, count, hours, o, threshold) => {
          const edge = history.at(-1)!.t - hours * HOUR;
          const inside = history.filter((p) => p.t >= edge);
          const older = extra
            .map(({ ageMin, value }) => point(edge - ageMin * MINUTE, value))
            .sort((a, b) => a.t - b.t);
          return ['consecutive', 'average'].every((kind) => {
            const rule = compile('spo2', { kind, op: o, value: threshold, count, within: `${hours}h` });
            const decision = evaluate(rule, inside);
            return evaluate(rule, history) === decision && evaluate(rule, [...older, ...inside]) === decision;
          });
        },
      ),
    );
  });

  it('(h) history trimmed to historyNeeds (as the engine keeps it) decides every rule as the full history does', () => {
    /** The engine's trim: the last `count` points, and every point within `windowMs` of the newest. */
    const trimmed = (history: readonly Point[], needs: { count: number; windowMs: number }) => {
      const newest = history.at(-1)!;
      return history.filter((p, i) => i >= history.length - needs.count || p.t >= newest.t - needs.windowMs);
    };
    fc.assert(
      fc.property(
        spacedHistory,
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 96 }),
        fc.option(fc.integer({ min: 1, max: 96 }), { nil: undefined }),
        op,
        fc.integer({ min: 80, max: 100 }),
        (history, count, hours, changeHours, o, threshold) => {
          const rules = [
            compile('spo2', { kind: 'threshold', op: o, value: threshold }),
            compile('spo2', { kind: 'consecutive', op: o, value: threshold, count, within: `${hours}h` }),
            compile('spo2', { kind: 'average', op: o, value: threshold, count: count + 1, within: `${hours}h` }),
            compile('spo2', { kind: 'consecutive', op: o, value: threshold, count: count + 2 }),
          ];
          if (changeHours !== undefined)
            rules.push(compile('spo2', { kind: 'change', op: o, value: threshold - 90, within: `${changeHours}h` }));
          const kept = trimmed(history, historyNeeds(rules));
          return rules.every((rule) => evaluate(rule, kept) === evaluate(rule, history));
        },
      ),
    );
  });

  /**
   * Readings arrive out of order (late uploads, batches). With distinct measurement times, the decision on
   * the history sorted by time must equal one computed straight from the unordered set of points: newest =
   * the latest t, the last `count` = the `count` latest t, the window's oldest = the earliest t in range.
   */
  it('(f) unsorted arrival: sorting by t then evaluating equals a decision taken on the unordered set', () => {
    const distinctTimes = fc.uniqueArray(fc.integer({ min: 0, max: 14 * 24 * 60 }), { minLength: 1, maxLength: 25 });
    fc.assert(
      fc.property(
        distinctTimes,
        fc.array(fc.integer({ min: 80, max: 100 }), { minLength: 25, maxLength: 25 }),
        fc.array(fc.nat(), { minLength: 25, maxLength: 25 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 72 }),
        op,
        fc.integer({ min: 80, max: 100 }),
        (minutes, values, shuffleKeys, count, hours, o, threshold) => {
          const points = minutes.map((m, i) => point(T0 + m * MINUTE, values[i]!));
          const arrival = points
            .map((p, i) => ({ p, k: shuffleKeys[i]! }))
            .sort((a, b) => a.k - b.k)
            .map((x) => x.p);
          const sorted = [...arrival].sort((a, b) => a.t - b.t);

          // The unordered set's answers, by selection rather than by sorting the history.
          const latest = arrival.reduce((a, b) => (b.t > a.t ? b : a));
          const lastN = arrival.filter((p) => arrival.filter((q) => q.t > p.t).length < count);
          const inWindow = arrival.filter((p) => p.t >= latest.t - hours * HOUR);
          const earliestInWindow = inWindow.reduce((a, b) => (b.t < a.t ? b : a));

          const threshold_ = compile('spo2', { kind: 'threshold', op: o, value: threshold });
          const consecutive = compile('spo2', { kind: 'consecutive', op: o, value: threshold, count });
          const average = compile('spo2', { kind: 'average', op: o, value: threshold, count });
          const change = compile('spo2', { kind: 'change', op: o, value: threshold - 90, within: `${hours}h` });
          const sum = lastN.reduce((a, p) => a + p.value, 0);
          return (
            evaluate(threshold_, sorted) === holds(latest.value, o, threshold) &&
            evaluate(consecutive, sorted) ===
              (points.length >= count && lastN.every((p) => holds(p.value, o, threshold))) &&
            evaluate(average, sorted) === (points.length >= count && holds(sum, o, threshold * count)) &&
            evaluate(change, sorted) ===
              (inWindow.length >= 2 && holds(latest.value - earliestInWindow.value, o, threshold - 90))
          );
        },
      ),
    );
  });

  it('equal measurement times: the later element of the array is the newest, so the caller orders ties', () => {
    // Two readings measured in the same second (e.g. pulse from the cuff and from the oximeter). The
    // history is "sorted by t" either way, yet the decision differs: the evaluator is a function of the
    // array, and the caller (the engine inserts a tie after the points already there) decides the order.
    const rule = compile('pulse', { kind: 'threshold', op: '>', value: 100 });
    const [a, b] = [point(T0, 72), point(T0, 118)];
    expect(evaluate(rule, [a, b])).toBe(true);
    expect(evaluate(rule, [b, a])).toBe(false);
  });
});
