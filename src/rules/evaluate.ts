import { parseDuration } from '../domain/duration.ts';
import { KG_PER_UNIT, type StoredReading, type WeightUnit } from '../domain/reading.ts';
import { METRIC_UNITS, type Metric, type Op, type Rule } from '../domain/rule.ts';

/**
 * Rule evaluation: pure functions of (rule, the metric's recent history, now) → decision. No I/O, no
 * clock of their own; the caller keeps the history and saves what the decision asks for.
 */

/** One value of a metric: when it was measured, when it arrived, and which reading carried it. */
export interface Point {
  t: number;
  receivedAt: number;
  value: number;
  readingId: string;
}

/** A rule compiled for evaluation: a test of values in the metric's unit (kg for weight), durations in ms. */
export interface CompiledRule {
  rule: Rule;
  metric: Metric;
  /** Does a value in the metric's unit (a reading, a mean or a change; kg for weight) satisfy `op value`? */
  test: (value: number) => boolean;
  count: number;
  /**
   * The window, in ms: of a `change` rule, or of a `consecutive` or `average` rule written with `within`
   * (0 when it has none: every one of the last `count` readings counts, however old).
   */
  withinMs: number;
  forMs: number;
}

/**
 * Weight is compared at the resolution of the rule's unit, as a scale displays it: the compared quantity (a
 * reading, a mean or a change, in kg) is converted to the rule's unit, rounded to this step, then compared
 * exactly. So a change that rounds to the rule's value matches it whatever unit the scale sent: a kg scale
 * showing 81.647 then 82.554 kg (0.907 kg, 1.9996 lb) has gained 2.0 lb and matches `change >= 2 lb`.
 */
export const WEIGHT_RESOLUTION: Record<WeightUnit, number> = { lb: 0.1, kg: 0.05, g: 50 };

/**
 * Other metrics are compared as the device sent them (whole mmHg, bpm and %); the margin only absorbs
 * binary floating-point noise, so that the mean of 97.3, 97.1 and 97.2 equals 97.2.
 */
const FLOAT_NOISE = 1e-9;

/** The unit a rule is written in: its `unit`, or the metric's own (mmHg, bpm, kg, %). */
export function ruleUnit(rule: Rule): string {
  return (rule.when.kind === 'missing' ? undefined : rule.when.unit) ?? METRIC_UNITS[rule.metric][0]!;
}

/**
 * Rounds to a multiple of `step`, half away from zero (a gain and a loss of the same size round alike).
 * Dividing by a whole number of steps per unit keeps 0.3 lb the same double as the literal 0.3.
 */
export function roundToStep(value: number, step: number): number {
  const half = (x: number) => Math.sign(x) * Math.round(Math.abs(x));
  if (step >= 1) return half(value / step) * step;
  const perUnit = Math.round(1 / step);
  return half(value * perUnit) / perUnit;
}

export function compileRule(rule: Rule): CompiledRule {
  const when = rule.when;
  const compiled: CompiledRule = { rule, metric: rule.metric, test: () => false, count: 1, withinMs: 0, forMs: 0 };
  if (when.kind === 'missing') {
    compiled.forMs = parseDuration(when.for)!;
    return compiled;
  }
  if (rule.metric === 'weight') {
    const unit = ruleUnit(rule) as WeightUnit;
    const perKg = KG_PER_UNIT[unit];
    const step = WEIGHT_RESOLUTION[unit];
    const compare = comparator(when.op, when.value, 0);
    compiled.test = (kg) => compare(roundToStep(kg / perKg, step));
  } else {
    compiled.test = comparator(when.op, when.value, FLOAT_NOISE);
  }
  if (when.kind === 'consecutive' || when.kind === 'average') compiled.count = when.count;
  if (when.kind !== 'threshold' && when.within !== undefined) compiled.withinMs = parseDuration(when.within)!;
  return compiled;
}

function comparator(op: Op, threshold: number, margin: number): (value: number) => boolean {
  switch (op) {
    case '>':
      return (v) => v > threshold + margin;
    case '>=':
      return (v) => v >= threshold - margin;
    case '<':
      return (v) => v < threshold - margin;
    case '<=':
      return (v) => v <= threshold + margin;
  }
}

/**
 * Does the newest point of `history` (sorted oldest first, including the new reading) make the rule
 * true? `missing` rules are not decided here but by `isMissing`, on a clock.
 */
export function evaluate(rule: CompiledRule, history: readonly Point[]): boolean {
  const newest = history.at(-1);
  if (!newest) return false;
  switch (rule.rule.when.kind) {
    case 'threshold':
      return rule.test(newest.value);
    case 'consecutive': {
      const first = lastCount(rule, history);
      if (first < 0) return false;
      for (let i = first; i < history.length; i++) if (!rule.test(history[i]!.value)) return false;
      return true;
    }
    case 'average': {
      const first = lastCount(rule, history);
      if (first < 0) return false;
      let sum = 0;
      for (let i = first; i < history.length; i++) sum += history[i]!.value;
      return rule.test(sum / rule.count);
    }
    case 'change': {
      // The oldest point inside [newest - within, newest]; a change needs two points.
      const start = newest.t - rule.withinMs;
      const oldest = history.find((p) => p.t >= start)!;
      return oldest !== newest && rule.test(newest.value - oldest.value);
    }
    case 'missing':
      return false;
  }
}

/**
 * Where the last `count` points of a consecutive or average rule start, or -1 when there are fewer than
 * `count`, or (with `within`) when the oldest of them was measured outside the window of the newest: the
 * history is sorted, so the points inside the window are its tail, and "the last count readings inside
 * the window" are the last count readings, all of them inside it.
 */
function lastCount(rule: CompiledRule, history: readonly Point[]): number {
  const first = history.length - rule.count;
  if (first < 0) return -1;
  if (rule.withinMs > 0 && history[first]!.t < history.at(-1)!.t - rule.withinMs) return -1;
  return first;
}

/** A `missing` rule holds when nothing of the metric has arrived for `for`, counting from the later of the last arrival and the rule's start. */
export function isMissing(
  rule: CompiledRule,
  lastArrival: number | undefined,
  ruleSince: number,
  now: number,
): boolean {
  return now - missingSince(lastArrival, ruleSince) >= rule.forMs;
}

/** Where a missing-data clock counts from: the last arrival, or the rule's start if that is later. */
export function missingSince(lastArrival: number | undefined, ruleSince: number): number {
  return Math.max(lastArrival ?? ruleSince, ruleSince);
}

/** A value with the time it was measured (epoch ms), as an alert shows where a change went from and to. */
export interface ObservedPoint {
  value: number;
  measuredAt: number;
}

/**
 * What a rule saw, as the contract's alert field `observed` reports it, in the rule's unit (`lb` for a rule
 * written in lb; mmHg, bpm, kg or % otherwise). Times are epoch ms; the API layer formats them.
 */
export type Observed =
  | { kind: 'reading'; value: number; unit: string }
  | { kind: 'mean'; value: number; unit: string; count: number }
  | { kind: 'change'; value: number; unit: string; from: ObservedPoint; to: ObservedPoint }
  | { kind: 'missing'; since: number };

/**
 * What the rule sees in `history` (sorted oldest first, as `evaluate` takes it): the newest value for a
 * threshold or consecutive rule, the mean of the readings averaged, the signed change from the oldest
 * point of the window. A `missing` rule needs its clock instead (the last arrival and when the rule entered
 * the plan, as `isMissing` takes them); without it, or with an empty history, there is nothing to report.
 * Weights are shown at the resolution they are compared at (0.1 lb, 0.05 kg, 50 g), so the value shown is
 * the value compared; other metrics to 0.1.
 *
 * @example
 * observe(compileRule(spo2Below88), history) // { kind: 'reading', value: 86, unit: '%' }
 */
export function observe(
  rule: CompiledRule,
  history: readonly Point[],
  clock?: { lastArrival: number | undefined; ruleSince: number },
): Observed | undefined {
  const when = rule.rule.when;
  if (when.kind === 'missing')
    return clock && { kind: 'missing', since: missingSince(clock.lastArrival, clock.ruleSince) };
  const newest = history.at(-1);
  if (!newest) return undefined;
  const unit = ruleUnit(rule.rule);
  const shown = display(rule.rule, unit);
  switch (when.kind) {
    case 'threshold':
    case 'consecutive':
      return { kind: 'reading', value: shown(newest.value), unit };
    case 'average': {
      // The readings the rule averages: the last `count`, or fewer when fewer lie inside the window.
      let first = Math.max(0, history.length - rule.count);
      if (rule.withinMs > 0) while (history[first]!.t < newest.t - rule.withinMs) first++;
      let sum = 0;
      for (let i = first; i < history.length; i++) sum += history[i]!.value;
      const count = history.length - first;
      return { kind: 'mean', value: shown(sum / count), unit, count };
    }
    case 'change': {
      const oldest = history.find((p) => p.t >= newest.t - rule.withinMs)!;
      return {
        kind: 'change',
        value: shown(newest.value - oldest.value),
        unit,
        from: { value: shown(oldest.value), measuredAt: oldest.t },
        to: { value: shown(newest.value), measuredAt: newest.t },
      };
    }
  }
}

/** From the metric's unit to what an alert shows: weight in the rule's unit at its resolution, others to 0.1. */
function display(rule: Rule, unit: string): (value: number) => number {
  if (rule.metric === 'weight') {
    const perKg = KG_PER_UNIT[unit as WeightUnit];
    const step = WEIGHT_RESOLUTION[unit as WeightUnit];
    return (kg) => roundToStep(kg / perKg, step) + 0; // + 0 turns a rounded -0 into 0
  }
  return (value) => roundToStep(value, 0.1) + 0;
}

/**
 * How many points, and how far back, a set of rules needs of a metric's history: the last `count` points,
 * and every point within `windowMs` of the newest. A `within` on a consecutive or average rule adds no
 * window: it only narrows the last `count` points (they must all lie inside it), which are kept anyway.
 */
export function historyNeeds(rules: readonly CompiledRule[]): { count: number; windowMs: number } {
  let count = 1;
  let windowMs = 0;
  for (const rule of rules) {
    count = Math.max(count, rule.count);
    if (rule.rule.when.kind === 'change') windowMs = Math.max(windowMs, rule.withinMs);
  }
  return { count, windowMs };
}

/** The values a reading carries, per metric: a blood pressure reading gives systolic, diastolic and pulse. */
export function metricValues(
  reading: Pick<StoredReading, 'type' | 'systolic' | 'diastolic' | 'pulse' | 'value'>,
): Array<[Metric, number]> {
  const values: Array<[Metric, number]> = [];
  if (reading.type === 'blood_pressure') {
    values.push(['systolic', reading.systolic!], ['diastolic', reading.diastolic!]);
    if (reading.pulse != null) values.push(['pulse', reading.pulse]);
  } else if (reading.type === 'weight') {
    values.push(['weight', reading.value!]);
  } else {
    values.push(['spo2', reading.value!]);
    if (reading.pulse != null) values.push(['pulse', reading.pulse]);
  }
  return values;
}
