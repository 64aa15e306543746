import { describe, expect, it } from 'vitest';
import type { Rule } from '../../domain/rule.ts';
import { conditionText, ruleLevel } from './rule-text.ts';

const rule = (metric: Rule['metric'], when: Rule['when']): Rule => ({
  id: 'r',
  metric,
  when,
  severity: 'warning',
  message: 'Call the patient.',
});

describe('care-plan rules in words', () => {
  it('names the metric, the comparison and the unit, its own or its metric’s', () => {
    expect(conditionText(rule('systolic', { kind: 'threshold', op: '>=', value: 180 }))).toBe('Systolic ≥ 180 mmHg');
    expect(conditionText(rule('spo2', { kind: 'consecutive', op: '<', value: 88, count: 2 }))).toBe(
      'SpO2 < 88% on 2 readings in a row',
    );
    expect(conditionText(rule('weight', { kind: 'change', op: '>', value: 2, within: '24h', unit: 'lb' }))).toBe(
      'Weight change > +2 lb within 24h',
    );
    expect(conditionText(rule('pulse', { kind: 'average', op: '>', value: 110, count: 3 }))).toBe(
      'Average of the last 3 pulse readings > 110 bpm',
    );
    expect(conditionText(rule('weight', { kind: 'missing', for: '3d' }))).toBe('No weight reading for 3d');
    expect(conditionText(rule('spo2', { kind: 'missing', for: '2d' }))).toBe('No SpO2 reading for 2d');
  });

  it('says the window of a consecutive or average rule that has one', () => {
    expect(conditionText(rule('spo2', { kind: 'consecutive', op: '<', value: 90, count: 3, within: '48h' }))).toBe(
      'SpO2 < 90% on 3 readings in a row, all within 48h',
    );
    expect(conditionText(rule('systolic', { kind: 'average', op: '>=', value: 140, count: 6, within: '7d' }))).toBe(
      'Average of the last 6 systolic readings ≥ 140 mmHg, all within 7d',
    );
  });

  it('draws weight levels in kg whatever unit the rule is written in, and no level for a change', () => {
    expect(ruleLevel(rule('weight', { kind: 'threshold', op: '>', value: 220, unit: 'lb' }))).toBeCloseTo(99.79, 2);
    expect(ruleLevel(rule('weight', { kind: 'threshold', op: '>', value: 90_000, unit: 'g' }))).toBe(90);
    expect(ruleLevel(rule('weight', { kind: 'average', op: '>', value: 90, count: 3 }))).toBe(90);
    expect(ruleLevel(rule('weight', { kind: 'change', op: '>', value: 2, within: '24h' }))).toBeUndefined();
  });
});
