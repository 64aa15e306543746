import type { Metric } from '../../domain/measurements.ts';
import type { Op, Rule } from '../../domain/rule.ts';

/** Care-plan rules in the words and units a clinician reads them: "Systolic ≥ 180 mmHg". Pure. */

const KG_PER_LB = 0.45359237;
export const OP_SYMBOLS: Record<Op, string> = { '>': '>', '>=': '≥', '<': '<', '<=': '≤' };
export const METRIC_LABEL: Record<string, string> = {
  systolic: 'Systolic',
  diastolic: 'Diastolic',
  pulse: 'Pulse',
  weight: 'Weight',
  spo2: 'SpO2',
};
const UNIT: Record<Metric, string> = { systolic: 'mmHg', diastolic: 'mmHg', pulse: 'bpm', weight: 'kg', spo2: '%' };

/** "120 mmHg", "95%". */
export const withUnit = (value: number, unit: string): string => (unit === '%' ? `${value}%` : `${value} ${unit}`);

/** The unit a rule's value is written in: its own, or its metric's. */
export function ruleUnit(rule: Rule): string {
  return ('unit' in rule.when && rule.when.unit) || UNIT[rule.metric];
}

export function conditionText(rule: Rule): string {
  const w = rule.when;
  const name = METRIC_LABEL[rule.metric] || rule.metric;
  switch (w.kind) {
    case 'threshold':
      return `${name} ${OP_SYMBOLS[w.op]} ${withUnit(w.value, ruleUnit(rule))}`;
    case 'consecutive':
      return `${name} ${OP_SYMBOLS[w.op]} ${withUnit(w.value, ruleUnit(rule))} on ${w.count} readings in a row`;
    case 'average':
      return `Average of the last ${w.count} ${name.toLowerCase()} readings ${OP_SYMBOLS[w.op]} ${withUnit(w.value, ruleUnit(rule))}`;
    case 'change':
      return `${name} change ${OP_SYMBOLS[w.op]} ${w.value > 0 ? '+' : ''}${withUnit(w.value, ruleUnit(rule))} within ${w.within}`;
    case 'missing':
      return `No ${name.toLowerCase()} reading for ${w.for}`;
  }
}

/** A rule's level in kg (weight) or its metric's unit; undefined for rules that are not a level. */
export function ruleLevel(rule: Rule): number | undefined {
  const w = rule.when;
  if (w.kind !== 'threshold' && w.kind !== 'consecutive' && w.kind !== 'average') return undefined;
  if (rule.metric !== 'weight') return w.value;
  return w.unit === 'lb' ? w.value * KG_PER_LB : w.unit === 'g' ? w.value / 1000 : w.value;
}
