import { KG_PER_UNIT, METRIC_LABELS, METRIC_UNITS, type WeightUnit } from '../../domain/measurements.ts';
import type { Op, Rule } from '../../domain/rule.ts';
import { inSentence, withUnit } from './format.ts';

/** Care-plan rules in the words and units a clinician reads them: "Systolic ≥ 180 mmHg". Pure. */

export const OP_SYMBOLS: Record<Op, string> = { '>': '>', '>=': '≥', '<': '<', '<=': '≤' };

/** The unit a rule's value is written in: its own, or its metric's. */
export function ruleUnit(rule: Rule): string {
  return ('unit' in rule.when && rule.when.unit) || METRIC_UNITS[rule.metric][0];
}

/** A consecutive or average rule's optional window: only readings measured within it of the newest count. */
const within = (window: string | undefined) => (window ? `, all within ${window}` : '');

export function conditionText(rule: Rule): string {
  const w = rule.when;
  const name = METRIC_LABELS[rule.metric];
  switch (w.kind) {
    case 'threshold':
      return `${name} ${OP_SYMBOLS[w.op]} ${withUnit(w.value, ruleUnit(rule))}`;
    case 'consecutive':
      return `${name} ${OP_SYMBOLS[w.op]} ${withUnit(w.value, ruleUnit(rule))} on ${w.count} readings in a row${within(w.within)}`;
    case 'average':
      return `Average of the last ${w.count} ${inSentence(name)} readings ${OP_SYMBOLS[w.op]} ${withUnit(w.value, ruleUnit(rule))}${within(w.within)}`;
    case 'change':
      return `${name} change ${OP_SYMBOLS[w.op]} ${w.value > 0 ? '+' : ''}${withUnit(w.value, ruleUnit(rule))} within ${w.within}`;
    case 'missing':
      return `No ${inSentence(name)} reading for ${w.for}`;
  }
}

/** A rule's level in kg (weight) or its metric's unit; undefined for rules that are not a level. */
export function ruleLevel(rule: Rule): number | undefined {
  const w = rule.when;
  if (w.kind !== 'threshold' && w.kind !== 'consecutive' && w.kind !== 'average') return undefined;
  if (rule.metric !== 'weight') return w.value;
  return w.value * KG_PER_UNIT[(w.unit ?? 'kg') as WeightUnit];
}
