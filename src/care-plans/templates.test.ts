import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../domain/duration.ts';
import { templateSchema, type Rule, type Template } from '../domain/rule.ts';
import { toKg } from '../normalize/reading.ts';
import { expandCarePlan, loadTemplates } from './store.ts';
import { compileRule, evaluate, isMissing, type Point } from '../rules/evaluate.ts';

/**
 * The care-plan templates in rules/: every file must load as the service loads it, and the rules a
 * physician would check first must fire exactly where the template says they do.
 */

const RULES_DIR = path.resolve(import.meta.dirname, '../../rules');
const files = readdirSync(RULES_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();
const templates: Array<{ file: string; template: Template }> = files.map((file) => ({
  file,
  template: templateSchema.parse(JSON.parse(readFileSync(path.join(RULES_DIR, file), 'utf8'))),
}));
const byName = new Map(templates.map(({ template }) => [template.name, template]));

function rule(template: string, id: string): Rule {
  const found = byName.get(template)?.rules.find((r) => r.id === id);
  if (!found) throw new Error(`rules/${template}.json has no rule "${id}"`);
  return found;
}

const HOUR = 3_600_000;
const T0 = Date.parse('2026-11-20T07:00:00Z');
let seq = 0;
const point = (t: number, value: number): Point => ({ t, receivedAt: t, value, readingId: `r${++seq}` });
/** A weight as the store keeps it: sent in lb, stored in kg rounded to 0.1 g. */
const lb = (pounds: number) => toKg(pounds, 'lb');
/** Evaluates a rule on a history of [hoursFromT0, value] pairs, oldest first. */
const decide = (r: Rule, history: Array<[number, number]>) =>
  evaluate(
    compileRule(r),
    history.map(([h, v]) => point(T0 + h * HOUR, v)),
  );

describe('rules/ templates', () => {
  it('the three clinical templates are there', () => {
    expect(files).toEqual(expect.arrayContaining(['copd.json', 'heart-failure.json', 'hypertension.json']));
  });

  it.each(files)('%s is named after its file', (file) => {
    const { template } = templates.find((t) => t.file === file)!;
    expect(`${template.name}.json`).toBe(file);
    expect(template.title.trim()).not.toBe('');
    expect(template.description.trim()).not.toBe('');
    expect(template.rules.length).toBeGreaterThan(0);
  });

  it('rule ids are unique across all templates, so templates can be combined', () => {
    const ids = templates.flatMap(({ template }) => template.rules.map((r) => r.id));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('each template prefixes its ids with its own prefix', () => {
    const prefixes = templates.map(({ template }) => {
      const own = new Set(template.rules.map((r) => r.id.split('-')[0]));
      expect(own.size, `${template.name}: ${[...own].join(', ')}`).toBe(1);
      return [...own][0];
    });
    expect(new Set(prefixes).size).toBe(prefixes.length);
  });

  it('every rule cites a source, has a clinician message, and compiles', () => {
    for (const { template } of templates) {
      for (const r of template.rules) {
        const where = `${template.name}/${r.id}`;
        expect(r.source.trim().length, where).toBeGreaterThan(20);
        expect(r.message.length, where).toBeLessThanOrEqual(300);
        const compiled = compileRule(r);
        expect(compiled.metric, where).toBe(r.metric);
        if (r.when.kind === 'change') expect(compiled.withinMs, where).toBeGreaterThan(0);
        if (r.when.kind === 'missing') expect(compiled.forMs, where).toBeGreaterThan(0);
      }
    }
  });

  it('the service loads them all; all three applied together keep every rule, identical ones merged', () => {
    const loaded = loadTemplates(RULES_DIR);
    expect([...loaded.keys()].sort()).toEqual(templates.map((t) => t.template.name).sort());
    const { rules, problems } = expandCarePlan({ templates: [...loaded.keys()], rules: [] }, loaded);
    expect(problems).toEqual([]);
    const inForce = rules.flatMap((r) => r.mergedFrom ?? [r.id]).sort();
    expect(inForce).toEqual(templates.flatMap(({ template }) => template.rules.map((r) => r.id)).sort());
  });

  it('no template repeats a condition of its own (merging is for rules of different templates)', () => {
    for (const { template } of templates) {
      const { rules } = expandCarePlan({ templates: [template.name], rules: [] }, byName);
      expect(
        rules.filter((r) => r.mergedFrom),
        template.name,
      ).toEqual([]);
    }
  });
});

describe('heart-failure', () => {
  const dayGain = rule('heart-failure', 'hf-weight-gain-day');
  const weekGain = rule('heart-failure', 'hf-weight-gain-week');

  it('day gain: fires for +2.2 lb in 23 h, not for +1.8 lb', () => {
    expect(
      decide(dayGain, [
        [0, lb(180)],
        [23, lb(182.2)],
      ]),
    ).toBe(true);
    expect(
      decide(dayGain, [
        [0, lb(180)],
        [23, lb(181.8)],
      ]),
    ).toBe(false);
  });

  it('day gain: exactly +2 lb fires despite the 0.1 g rounding of stored weights', () => {
    for (const base of [120, 150.4, 180, 215.6, 299.9]) {
      expect(
        decide(dayGain, [
          [0, lb(base)],
          [24, lb(base + 2)],
        ]),
        `${base} lb`,
      ).toBe(true);
    }
  });

  it('day gain: a weigh-in a few hours later than yesterday still compares with yesterday (30 h window)', () => {
    expect(parseDuration((dayGain.when as { within: string }).within)).toBe(30 * HOUR);
    expect(
      decide(dayGain, [
        [0, lb(180)],
        [29.5, lb(182.5)],
      ]),
    ).toBe(true);
    // Two days apart is no longer "a day": the week rule covers it.
    expect(
      decide(dayGain, [
        [0, lb(180)],
        [48, lb(182.5)],
      ]),
    ).toBe(false);
  });

  it('day gain: a loss never fires', () => {
    expect(
      decide(dayGain, [
        [0, lb(185)],
        [24, lb(180)],
      ]),
    ).toBe(false);
  });

  it('week gain: +5.25 lb over seven daily weigh-ins fires although no single day reached 2 lb', () => {
    const week: Array<[number, number]> = [0, 1, 2, 3, 4, 5, 6, 7].map((d) => [
      d * 24 + (d % 2) * 1.5,
      lb(180 + d * 0.75),
    ]);
    expect(decide(weekGain, week)).toBe(true); // 180 → 185.25 lb over 169.5 h
    expect(decide(dayGain, week)).toBe(false);
    expect(
      decide(
        weekGain,
        week.map(([h, v], i) => [h, i === 7 ? lb(184.5) : v]),
      ),
    ).toBe(false); // +4.5 lb
  });

  it('two-day gain: 180 lb, a skipped day, then 184.8 lb fires; the day and week rules miss it', () => {
    const twoDays = rule('heart-failure', 'hf-weight-gain-2days');
    expect(parseDuration((twoDays.when as { within: string }).within)).toBe(54 * HOUR);
    const skipped: Array<[number, number]> = [
      [0, lb(180)],
      [48, lb(184.8)],
    ];
    expect(decide(twoDays, skipped)).toBe(true);
    expect(decide(dayGain, skipped)).toBe(false);
    expect(decide(weekGain, skipped)).toBe(false);
    // A weigh-in half an hour later than two days before still counts (54 h window); three days later does not.
    expect(
      decide(twoDays, [
        [0, lb(180)],
        [48.5, lb(183)],
      ]),
    ).toBe(true);
    expect(
      decide(twoDays, [
        [0, lb(180)],
        [72, lb(184.8)],
      ]),
    ).toBe(false);
    // 1 lb a day is 2 lb over two days: quiet (the week rule watches slow gains).
    expect(
      decide(
        twoDays,
        [0, 1, 2, 3].map((d): [number, number] => [d * 24, lb(180 + d)]),
      ),
    ).toBe(false);
    expect(
      decide(twoDays, [
        [0, lb(180)],
        [48, lb(182.9)],
      ]),
    ).toBe(false);
  });

  it('two-day loss: 180 → 177 → 174 lb fires on the second day (−6 lb), not the first (−3 lb)', () => {
    const loss = rule('heart-failure', 'hf-weight-loss-2days');
    expect(loss.when).toMatchObject({ kind: 'change', op: '<=', value: -4, unit: 'lb', within: '54h' });
    const days: Array<[number, number]> = [
      [0, lb(180)],
      [24, lb(177)],
      [48, lb(174)],
    ];
    expect(decide(loss, days.slice(0, 2))).toBe(false);
    expect(decide(loss, days)).toBe(true);
    expect(
      decide(loss, [
        [0, lb(180)],
        [48, lb(176.1)],
      ]),
    ).toBe(false); // −3.9 lb
    expect(
      decide(loss, [
        [0, lb(180)],
        [48, lb(176)],
      ]),
    ).toBe(true); // −4.0 lb
    // A gain never fires it, and a loss never fires the gain rules.
    expect(
      decide(
        loss,
        days.map(([h, v]): [number, number] => [h, 2 * lb(180) - v]),
      ),
    ).toBe(false);
    expect(decide(rule('heart-failure', 'hf-weight-gain-2days'), days)).toBe(false);
  });

  it('a kg scale: 81.647 then 82.554 kg is a 2.0 lb gain and fires the day rule, as the same gain in lb does', () => {
    expect(
      decide(dayGain, [
        [0, toKg(81.647, 'kg')],
        [24, toKg(82.554, 'kg')],
      ]),
    ).toBe(true);
    expect(
      decide(dayGain, [
        [0, toKg(81.647, 'kg')],
        [24, toKg(82.5, 'kg')],
      ]),
    ).toBe(false); // 1.9 lb
  });

  it('pulse: 38 fires the critical and the warning rule; 150 the same on the fast side; 50 to 110 is quiet', () => {
    const firing = (pulse: number) =>
      byName
        .get('heart-failure')!
        .rules.filter((r) => r.metric === 'pulse' && decide(r, [[0, pulse]]))
        .map((r) => `${r.id}:${r.severity}`);
    expect(firing(38)).toEqual(['hf-pulse-low:warning', 'hf-pulse-critical-low:critical']);
    expect(firing(40)).toEqual(['hf-pulse-low:warning', 'hf-pulse-critical-low:critical']);
    expect(firing(41)).toEqual(['hf-pulse-low:warning']);
    expect(firing(49)).toEqual(['hf-pulse-low:warning']);
    for (const quiet of [50, 72, 110]) expect(firing(quiet), `${quiet}`).toEqual([]);
    expect(firing(111)).toEqual(['hf-pulse-high:warning']);
    expect(firing(130)).toEqual(['hf-pulse-high:warning']);
    expect(firing(131)).toEqual(['hf-pulse-high:warning', 'hf-pulse-critical-high:critical']);
    expect(firing(150)).toEqual(['hf-pulse-high:warning', 'hf-pulse-critical-high:critical']);
  });

  it('missing weight: info after 36 h without a weigh-in, and the description explains the windows', () => {
    const missing = compileRule(rule('heart-failure', 'hf-weight-missing'));
    expect(isMissing(missing, T0, T0 - 100 * HOUR, T0 + 36 * HOUR - 1)).toBe(false);
    expect(isMissing(missing, T0, T0 - 100 * HOUR, T0 + 36 * HOUR)).toBe(true);
    expect(byName.get('heart-failure')!.description).toMatch(/30 h/);
    expect(byName.get('heart-failure')!.description).toMatch(/54 h/);
    expect(byName.get('heart-failure')!.description).toMatch(/174 h/);
  });

  it('low systolic and low SpO2 fire below their thresholds only', () => {
    expect(decide(rule('heart-failure', 'hf-systolic-low'), [[0, 89]])).toBe(true);
    expect(decide(rule('heart-failure', 'hf-systolic-low'), [[0, 90]])).toBe(false);
    expect(decide(rule('heart-failure', 'hf-spo2-low'), [[0, 89]])).toBe(true);
    expect(decide(rule('heart-failure', 'hf-spo2-low'), [[0, 90]])).toBe(false);
    expect(decide(rule('heart-failure', 'hf-spo2-critical'), [[0, 87]])).toBe(true);
    expect(decide(rule('heart-failure', 'hf-spo2-critical'), [[0, 88]])).toBe(false);
  });
});

describe('hypertension', () => {
  it('crisis: systolic 180 fires as critical, 179 does not', () => {
    const crisis = rule('hypertension', 'htn-crisis-systolic');
    expect(crisis.severity).toBe('critical');
    expect(decide(crisis, [[0, 180]])).toBe(true);
    expect(decide(crisis, [[0, 179]])).toBe(false);
  });

  it('crisis: diastolic 120 fires as critical, 119 does not', () => {
    const crisis = rule('hypertension', 'htn-crisis-diastolic');
    expect(crisis.severity).toBe('critical');
    expect(decide(crisis, [[0, 120]])).toBe(true);
    expect(decide(crisis, [[0, 119]])).toBe(false);
  });

  it('sustained high is an average of at least three readings, and one high reading is not enough', () => {
    const avg = rule('hypertension', 'htn-average-systolic-high');
    expect(avg.when.kind).toBe('average');
    const count = (avg.when as { count: number }).count;
    expect(count).toBeGreaterThanOrEqual(3);
    const highs: Array<[number, number]> = Array.from({ length: count }, (_, i) => [i * 12, 142]);
    expect(decide(avg, highs.slice(1))).toBe(false); // one reading short
    expect(decide(avg, highs)).toBe(true);
    expect(decide(avg, [...highs.map(([h]): [number, number] => [h, 128]).slice(1), [count * 12, 175]])).toBe(false);
    const diastolic = rule('hypertension', 'htn-average-diastolic-high');
    expect(
      decide(
        diastolic,
        Array.from({ length: count }, (_, i): [number, number] => [i * 12, 90]),
      ),
    ).toBe(true);
    expect(
      decide(
        diastolic,
        Array.from({ length: count }, (_, i): [number, number] => [i * 12, 89]),
      ),
    ).toBe(false);
  });

  it('sustained high counts only readings of the past 7 days: six highs over three weeks do not fire', () => {
    const avg = rule('hypertension', 'htn-average-systolic-high');
    expect(avg.when).toMatchObject({ count: 6, within: '7d' });
    const daily = Array.from({ length: 6 }, (_, i): [number, number] => [i * 24, 142]);
    expect(decide(avg, daily)).toBe(true);
    const spread = Array.from({ length: 6 }, (_, i): [number, number] => [i * 4 * 24, 142]);
    expect(decide(avg, spread)).toBe(false);
    expect(
      decide(
        rule('hypertension', 'htn-average-diastolic-high'),
        spread.map(([h]) => [h, 95]),
      ),
    ).toBe(false);
  });

  it('pulse with low pressure: 92/48 with pulse 38, and 96/58 with pulse 150, alert on the pulse', () => {
    const reading = (systolic: number, diastolic: number, pulse: number) =>
      byName
        .get('hypertension')!
        .rules.filter((r) => {
          const value = { systolic, diastolic, pulse, weight: Number.NaN, spo2: Number.NaN }[r.metric];
          return r.when.kind === 'threshold' && decide(r, [[0, value]]);
        })
        .map((r) => `${r.id}:${r.severity}`);
    expect(reading(92, 48, 38)).toEqual(['htn-pulse-low:warning', 'htn-pulse-critical-low:critical']);
    expect(reading(96, 58, 150)).toEqual(['htn-pulse-high:warning', 'htn-pulse-critical-high:critical']);
    expect(reading(88, 50, 72)).toEqual(['htn-systolic-low:warning']);
    expect(reading(128, 78, 72)).toEqual([]);
  });

  it('low systolic: 89 fires, 90 does not', () => {
    expect(decide(rule('hypertension', 'htn-systolic-low'), [[0, 89]])).toBe(true);
    expect(decide(rule('hypertension', 'htn-systolic-low'), [[0, 90]])).toBe(false);
  });
});

describe('copd', () => {
  it('critical SpO2 fires at 87, not at 88', () => {
    const critical = rule('copd', 'copd-spo2-critical');
    expect(critical.severity).toBe('critical');
    expect(decide(critical, [[0, 87]])).toBe(true);
    expect(decide(critical, [[0, 88]])).toBe(false);
  });

  it('sustained low SpO2 needs three readings in a row below 90', () => {
    const sustained = rule('copd', 'copd-spo2-low-sustained');
    expect(
      decide(sustained, [
        [0, 89],
        [4, 89],
      ]),
    ).toBe(false);
    expect(
      decide(sustained, [
        [0, 89],
        [4, 89],
        [8, 88],
      ]),
    ).toBe(true);
    expect(
      decide(sustained, [
        [0, 89],
        [4, 90],
        [8, 88],
      ]),
    ).toBe(false);
  });

  it('sustained low SpO2 counts readings within 54 h: three 89 % over 21 days do not fire, over 2 hours do', () => {
    const sustained = rule('copd', 'copd-spo2-low-sustained');
    const at = (hours: number[]) => hours.map((h): [number, number] => [h, 89]);
    expect(decide(sustained, at([0, 10.5 * 24, 21 * 24]))).toBe(false);
    expect(decide(sustained, at([0, 1, 2]))).toBe(true);
    // Three daily readings, the last a little later in the day than the first: still within 54 h.
    expect(decide(sustained, at([0, 24.5, 49]))).toBe(true);
  });

  it('tachycardia: two readings above 100 a week apart are not two in a row', () => {
    const pulse = rule('copd', 'copd-pulse-high');
    expect(
      decide(pulse, [
        [0, 118],
        [7 * 24, 118],
      ]),
    ).toBe(false);
    expect(
      decide(pulse, [
        [0, 118],
        [25, 118],
      ]),
    ).toBe(true);
  });

  it('tachycardia needs two resting pulses in a row above 100', () => {
    const pulse = rule('copd', 'copd-pulse-high');
    expect(
      decide(pulse, [
        [0, 80],
        [1, 118],
      ]),
    ).toBe(false);
    expect(
      decide(pulse, [
        [0, 101],
        [1, 118],
      ]),
    ).toBe(true);
    expect(
      decide(pulse, [
        [0, 100],
        [1, 118],
      ]),
    ).toBe(false);
  });
});
