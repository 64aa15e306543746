import { parseDuration } from '../domain/duration.ts';
import { KG_PER_UNIT, type StoredReading } from '../domain/reading.ts';
import type { Metric, Op, Rule } from '../domain/rule.ts';

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

/** A rule compiled for evaluation: values converted to the metric's unit, durations in ms. */
export interface CompiledRule {
  rule: Rule;
  metric: Metric;
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
 * Stored weights are rounded to 0.1 g, so a difference of two of them can be off by up to 0.1 g: a gain of
 * exactly 2 lb must still count as ">= 2 lb". Other metrics are compared exactly as the device sent them.
 */
const TOLERANCE: Record<Metric, number> = { weight: 1e-4, systolic: 1e-9, diastolic: 1e-9, pulse: 1e-9, spo2: 1e-9 };

export function compileRule(rule: Rule): CompiledRule {
  const when = rule.when;
  const compiled: CompiledRule = { rule, metric: rule.metric, test: () => false, count: 1, withinMs: 0, forMs: 0 };
  if (when.kind === 'missing') {
    compiled.forMs = parseDuration(when.for)!;
    return compiled;
  }
  const threshold =
    rule.metric === 'weight' && when.unit
      ? when.value * KG_PER_UNIT[when.unit as keyof typeof KG_PER_UNIT]
      : when.value;
  compiled.test = comparator(when.op, threshold, TOLERANCE[rule.metric]);
  if (when.kind === 'consecutive' || when.kind === 'average') compiled.count = when.count;
  if (when.kind !== 'threshold' && when.within !== undefined) compiled.withinMs = parseDuration(when.within)!;
  return compiled;
}

function comparator(op: Op, threshold: number, tolerance: number): (value: number) => boolean {
  switch (op) {
    case '>':
      return (v) => v > threshold + tolerance;
    case '>=':
      return (v) => v >= threshold - tolerance;
    case '<':
      return (v) => v < threshold - tolerance;
    case '<=':
      return (v) => v <= threshold + tolerance;
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
  return now - Math.max(lastArrival ?? ruleSince, ruleSince) >= rule.forMs;
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
