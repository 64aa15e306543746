import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { carePlanInputSchema, type Rule, type Template } from '../domain/rule.ts';
import { compileRule, evaluate, type Point } from '../rules/evaluate.ts';
import { openDatabase } from '../store/db.ts';
import { carePlans, patients } from '../store/schema.ts';
import { CarePlanStore, expandCarePlan, loadTemplates } from './store.ts';

/**
 * expandCarePlan with the real templates in rules/: what a physician gets when combining them, and how
 * per-patient rules and plans saved before merging behave.
 */

const templates = loadTemplates();
const T0 = Date.parse('2026-11-20T07:00:00Z');
const HOUR = 3_600_000;

const expand = (names: string[], rules: Rule[] = []) => {
  const result = expandCarePlan({ templates: names, rules }, templates);
  expect(result.problems).toEqual([]);
  return result.rules;
};
/** The rules of a plan that a reading of `metric` at `value` makes fire (history of one reading). */
const firing = (rules: readonly Rule[], metric: Rule['metric'], value: number) =>
  rules
    .filter((r) => r.metric === metric && r.when.kind !== 'missing')
    .filter((r) => evaluate(compileRule(r), [{ t: T0, receivedAt: T0, value, readingId: 'r' } satisfies Point]));
const rule = (
  id: string,
  metric: Rule['metric'],
  when: Rule['when'],
  severity: Rule['severity'] = 'warning',
): Rule => ({
  id,
  metric,
  when,
  severity,
  message: `${id} message`,
  source: `${id} source`,
});

describe('expandCarePlan: merged template rules', () => {
  it('heart-failure + hypertension: 88/50 opens one hypotension alert, not two', () => {
    const rules = expand(['heart-failure', 'hypertension']);
    const low = firing(rules, 'systolic', 88);
    expect(low.map((r) => r.id)).toEqual(['hf-systolic-low']);
    expect(low[0]).toMatchObject({
      template: 'heart-failure',
      templates: ['heart-failure', 'hypertension'],
      mergedFrom: ['hf-systolic-low', 'htn-systolic-low'],
    });
    expect(firing(rules, 'diastolic', 50)).toEqual([]);
    expect(rules.some((r) => r.id === 'htn-systolic-low')).toBe(false);
  });

  it('heart-failure + hypertension: pulse 38 and 150 each open one alert per threshold, not one per template', () => {
    const rules = expand(['heart-failure', 'hypertension']);
    const ids = (value: number) => firing(rules, 'pulse', value).map((r) => [r.id, r.severity, r.mergedFrom]);
    expect(ids(38)).toEqual([
      ['hf-pulse-low', 'warning', ['hf-pulse-low', 'htn-pulse-low']],
      ['hf-pulse-critical-low', 'critical', ['hf-pulse-critical-low', 'htn-pulse-critical-low']],
    ]);
    expect(ids(150)).toEqual([
      ['hf-pulse-high', 'warning', ['hf-pulse-high', 'htn-pulse-high']],
      ['hf-pulse-critical-high', 'critical', ['hf-pulse-critical-high', 'htn-pulse-critical-high']],
    ]);
  });

  it('heart-failure + copd: SpO2 87 opens one critical alert and one low-SpO2 warning', () => {
    const rules = expand(['heart-failure', 'copd']);
    expect(firing(rules, 'spo2', 87).map((r) => [r.id, r.severity, r.mergedFrom])).toEqual([
      ['hf-spo2-low', 'warning', undefined],
      ['hf-spo2-critical', 'critical', ['hf-spo2-critical', 'copd-spo2-critical']],
    ]);
  });

  it('every template rule is in force, or merged into one that is; each merged group has one condition', () => {
    const names = [...templates.keys()];
    const rules = expand(names);
    const covered = new Set(rules.flatMap((r) => r.mergedFrom ?? [r.id]));
    for (const template of templates.values())
      for (const r of template.rules) expect(covered.has(r.id), `${template.name}/${r.id}`).toBe(true);
    const all = new Map([...templates.values()].flatMap((t) => t.rules.map((r) => [r.id, r])));
    for (const merged of rules.filter((r) => r.mergedFrom)) {
      for (const id of merged.mergedFrom!) {
        expect(all.get(id)!.metric).toBe(merged.metric);
        expect(all.get(id)!.when).toEqual(merged.when);
      }
    }
    // One template alone merges nothing: its rules are as written, marked with its name.
    expect(expand(['hypertension'])).toEqual(
      templates.get('hypertension')!.rules.map((r) => ({ ...r, template: 'hypertension' })),
    );
  });

  it('the higher severity wins with its message and source; the first rule keeps its id and place', () => {
    const a: Template = {
      name: 'a',
      title: 'A',
      description: 'a',
      rules: [
        rule('a-first', 'pulse', { kind: 'threshold', op: '>', value: 100 }) as Template['rules'][number],
        rule('a-low', 'spo2', { kind: 'threshold', op: '<', value: 90 }) as Template['rules'][number],
      ],
    };
    const b: Template = {
      name: 'b',
      title: 'B',
      description: 'b',
      rules: [
        rule('b-low', 'spo2', { kind: 'threshold', op: '<', value: 90 }, 'critical') as Template['rules'][number],
      ],
    };
    const own = new Map([
      ['a', a],
      ['b', b],
    ]);
    const { rules } = expandCarePlan({ templates: ['a', 'b'], rules: [] }, own);
    expect(rules).toEqual([
      { ...a.rules[0], template: 'a' },
      {
        ...a.rules[1],
        severity: 'critical',
        message: 'b-low message',
        source: 'b-low source',
        template: 'a',
        templates: ['a', 'b'],
        mergedFrom: ['a-low', 'b-low'],
      },
    ]);
    // Listed the other way round, b's rule comes first and keeps its id.
    expect(expandCarePlan({ templates: ['b', 'a'], rules: [] }, own).rules.map((r) => r.id)).toEqual([
      'b-low',
      'a-first',
    ]);
  });

  it('what counts as the same condition: unit and durations as meant, not as written; count, within and op matter', () => {
    const make = (id: string, when: Rule['when']) => rule(id, 'weight', when) as Template['rules'][number];
    const t = (name: string, rules: Template['rules']): [string, Template] => [
      name,
      { name, title: name, description: name, rules },
    ];
    const own = new Map([
      t('x', [
        make('x-kg', { kind: 'threshold', op: '>', value: 100 }),
        make('x-gain', { kind: 'change', op: '>=', value: 1, within: '48h' }),
        make('x-run', { kind: 'consecutive', op: '>', value: 100, count: 3, within: '2d' }),
        make('x-none', { kind: 'missing', for: '1d' }),
      ]),
      t('y', [
        make('y-kg', { kind: 'threshold', op: '>', value: 100, unit: 'kg' }),
        make('y-gain', { kind: 'change', op: '>=', value: 1, unit: 'kg', within: '2d' }),
        make('y-run', { kind: 'consecutive', op: '>', value: 100, count: 2, within: '2d' }),
        make('y-run-any-age', { kind: 'consecutive', op: '>', value: 100, count: 3 }),
        make('y-none', { kind: 'missing', for: '24h' }),
        make('y-strict', { kind: 'threshold', op: '>=', value: 100 }),
        make('y-lb', { kind: 'threshold', op: '>', value: 100, unit: 'lb' }),
      ]),
    ]);
    const { rules } = expandCarePlan({ templates: ['x', 'y'], rules: [] }, own);
    expect(rules.map((r) => r.mergedFrom ?? r.id)).toEqual([
      ['x-kg', 'y-kg'],
      ['x-gain', 'y-gain'],
      'x-run',
      ['x-none', 'y-none'],
      'y-run',
      'y-run-any-age',
      'y-strict',
      'y-lb',
    ]);
  });
});

describe('expandCarePlan: per-patient rules', () => {
  const lowerSystolic = (id: string) => rule(id, 'systolic', { kind: 'threshold', op: '<', value: 85 }, 'critical');

  it('a per-patient rule with a template rule id replaces it in its place (as in version 1)', () => {
    const override = rule('hf-spo2-low', 'spo2', { kind: 'threshold', op: '<', value: 92 });
    const rules = expand(['heart-failure'], [override]);
    const hf = templates.get('heart-failure')!.rules.map((r) => r.id);
    expect(rules.map((r) => r.id)).toEqual(hf);
    expect(rules[hf.indexOf('hf-spo2-low')]).toEqual(override);
  });

  it('overriding a merged rule, by either of its ids, replaces the merged rule: no template copy comes back', () => {
    for (const id of ['hf-systolic-low', 'htn-systolic-low']) {
      const rules = expand(['heart-failure', 'hypertension'], [lowerSystolic(id)]);
      const systolicLow = rules.filter(
        (r) => r.metric === 'systolic' && r.when.kind === 'threshold' && r.when.op === '<',
      );
      expect(systolicLow).toEqual([lowerSystolic(id)]);
      expect(firing(rules, 'systolic', 88)).toEqual([]);
    }
  });

  it('a per-patient rule repeating a template condition under a new id is kept beside it: written on purpose', () => {
    const mine = rule('my-systolic-low', 'systolic', { kind: 'threshold', op: '<', value: 90 }, 'critical');
    const rules = expand(['heart-failure', 'hypertension'], [mine]);
    expect(firing(rules, 'systolic', 88).map((r) => r.id)).toEqual(['hf-systolic-low', 'my-systolic-low']);
    expect(rules.at(-1)).toEqual(mine);
  });

  it('a duplicate per-patient id is still a problem, named by its path', () => {
    const { problems } = expandCarePlan(
      { templates: ['heart-failure'], rules: [lowerSystolic('x'), lowerSystolic('x')] },
      templates,
    );
    expect(problems).toEqual([{ path: 'rules.1.id', message: '"x" is used by another rule of this plan' }]);
  });

  it('the rules of a plan as read can be sent back: template, templates and mergedFrom are dropped on input', () => {
    const inForce = expand(['heart-failure', 'hypertension']);
    const merged = inForce.find((r) => r.mergedFrom)!;
    const parsed = carePlanInputSchema.parse({ templates: ['heart-failure', 'hypertension'], rules: [merged] });
    const { template: _t, templates: _ts, mergedFrom: _m, ...plain } = merged;
    expect(parsed.rules).toEqual([plain]);
    // Still strict about anything else.
    expect(carePlanInputSchema.safeParse({ rules: [{ ...plain, colour: 'red' }] }).success).toBe(false);
  });
});

describe('plans saved before merging', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** Rules as version 1 stored them for heart-failure + hypertension: the two systolic-low rules apart. */
  const v1Rules = [
    {
      id: 'hf-weight-gain-day',
      metric: 'weight',
      when: { kind: 'change', op: '>=', value: 2, unit: 'lb', within: '30h' },
      severity: 'warning',
      message: 'Weight up 2 lb or more since the previous day.',
      source: 'AHA/ACC/HFSA 2022',
      template: 'heart-failure',
    },
    {
      id: 'hf-systolic-low',
      metric: 'systolic',
      when: { kind: 'threshold', op: '<', value: 90 },
      severity: 'warning',
      message: 'Systolic BP below 90 mmHg.',
      source: 'NHLBI',
      template: 'heart-failure',
    },
    {
      id: 'htn-systolic-low',
      metric: 'systolic',
      when: { kind: 'threshold', op: '<', value: 90 },
      severity: 'warning',
      message: 'Systolic BP below 90 mmHg: possible over-treatment.',
      source: 'NHLBI',
      template: 'hypertension',
    },
    {
      id: 'copd-spo2-low-sustained',
      metric: 'spo2',
      when: { kind: 'consecutive', op: '<', value: 90, count: 3 },
      severity: 'warning',
      message: 'Three SpO2 readings in a row below 90%.',
      source: 'BTS 2017',
      template: 'copd',
    },
  ];

  it('load as stored and decide as before; saved again, the plan merges', () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'homewatch-plans-'));
    dirs.push(dataDir);
    const { db, sqlite } = openDatabase({ dataDir });
    try {
      db.insert(patients).values({ id: 'p1', name: 'P', createdAt: 0 }).run();
      db.insert(carePlans)
        .values({
          patientId: 'p1',
          version: 1,
          templates: JSON.stringify(['heart-failure', 'hypertension', 'copd']),
          rules: JSON.stringify(v1Rules),
          ruleSince: JSON.stringify(Object.fromEntries(v1Rules.map((r) => [r.id, T0]))),
          createdAt: T0,
          createdBy: 'admin',
        })
        .run();
      const store = new CarePlanStore(db);
      const plan = store.current('p1')!;
      expect(plan.rules).toEqual(v1Rules);
      // As before: both systolic-low rules are in force until the plan is saved again.
      expect(firing(plan.rules, 'systolic', 88).map((r) => r.id)).toEqual(['hf-systolic-low', 'htn-systolic-low']);
      const byId = new Map(plan.rules.map((r) => [r.id, compileRule(r)]));
      const at = (hours: number[], values: number[]) =>
        hours.map((h, i) => ({ t: T0 + h * HOUR, receivedAt: T0 + h * HOUR, value: values[i]!, readingId: `r${i}` }));
      expect(evaluate(byId.get('hf-weight-gain-day')!, at([0, 23], [81.6466, 82.6445]))).toBe(true); // +2.2 lb
      // A consecutive rule without within: any age, as in version 1.
      expect(evaluate(byId.get('copd-spo2-low-sustained')!, at([0, 240, 480], [89, 89, 89]))).toBe(true);

      // Saved again (the same templates, no own rules), the two become one, keeping the first id's clock.
      const rules = expand(plan.templates);
      const v2 = store.save('p1', plan.templates, rules, 'admin', T0 + 100 * HOUR);
      expect(firing(v2.rules, 'systolic', 88).map((r) => r.id)).toEqual(['hf-systolic-low']);
      expect(v2.ruleSince['hf-systolic-low']).toBe(T0);
    } finally {
      sqlite.close();
    }
  });
});
