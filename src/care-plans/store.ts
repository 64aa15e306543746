import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { desc, eq } from 'drizzle-orm';
import type { ErrorDetail } from '../domain/errors.ts';
import { plainErrors, toDetails } from '../domain/errors.ts';
import { parseDuration } from '../domain/duration.ts';
import { METRIC_UNITS, templateSchema, type Rule, type Severity, type Template } from '../domain/rule.ts';
import type { Db } from '../store/db.ts';
import { carePlans } from '../store/schema.ts';

export const TEMPLATES_DIR = path.resolve(import.meta.dirname, '../../rules');

/** Reads and validates every template in rules/; a broken template stops the start, naming the file. */
export function loadTemplates(dir = TEMPLATES_DIR): Map<string, Template> {
  const templates = new Map<string, Template>();
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const parsed = templateSchema.safeParse(JSON.parse(readFileSync(path.join(dir, file), 'utf8')), {
      error: plainErrors,
    });
    if (!parsed.success) {
      const problems = toDetails(parsed.error).map((d) => `${d.path} ${d.message}`);
      throw new Error(`Care-plan template rules/${file} is not valid: ${problems.join('; ')}`);
    }
    if (`${parsed.data.name}.json` !== file)
      throw new Error(`Care-plan template rules/${file} must be named "${file.replace(/\.json$/, '')}"`);
    templates.set(parsed.data.name, parsed.data);
  }
  return templates;
}

/**
 * The rules in force for a plan: each template's rules in order, then the per-patient rules. Pure;
 * problems name their path.
 *
 * - Template rules that watch the same condition (same metric, kind, op, value, unit, count, within and
 *   for) are one rule in force, so one reading opens one alert: the first one's id and place, the highest
 *   severity with its message and source, and `templates` and `mergedFrom` saying what it stands for.
 * - A per-patient rule with the id of a template rule replaces it, in its place; when that rule was merged,
 *   it replaces the merged rule (the rule the care team sees), whichever of the merged ids it names.
 * - A per-patient rule with a new id is added, even when it watches the same condition as a template rule:
 *   the physician wrote it on purpose.
 */
export function expandCarePlan(
  input: { templates?: string[]; rules: Rule[] },
  templates: ReadonlyMap<string, Template>,
): { rules: Rule[]; problems: ErrorDetail[] } {
  const problems: ErrorDetail[] = [];
  // Template rules by id: a template listed twice gives its rules once.
  const fromTemplates = new Map<string, Rule>();
  (input.templates ?? []).forEach((name, i) => {
    const template = templates.get(name);
    if (!template) {
      problems.push({
        path: `templates.${i}`,
        message: `is not a known template (${[...templates.keys()].join(', ')})`,
      });
      return;
    }
    for (const rule of template.rules) fromTemplates.set(rule.id, { ...rule, template: name });
  });
  const own = new Map<string, Rule>();
  input.rules.forEach((rule, i) => {
    if (own.has(rule.id))
      problems.push({ path: `rules.${i}.id`, message: `"${rule.id}" is used by another rule of this plan` });
    own.set(rule.id, rule);
  });

  const byCondition = new Map<string, Rule[]>();
  for (const rule of fromTemplates.values()) {
    const key = conditionKey(rule);
    byCondition.set(key, [...(byCondition.get(key) ?? []), rule]);
  }
  const rules: Rule[] = [];
  const placed = new Set<string>();
  for (const group of byCondition.values()) {
    const overrides = group.filter((rule) => own.has(rule.id));
    if (overrides.length === 0) {
      rules.push(mergeRules(group));
      continue;
    }
    for (const { id } of overrides) {
      rules.push(own.get(id)!);
      placed.add(id);
    }
  }
  for (const [id, rule] of own) if (!placed.has(id)) rules.push(rule);
  return { rules, problems };
}

/** What makes two rules watch the same thing; an absent unit is the metric's own, durations compare in ms. */
function conditionKey({ metric, when }: Rule): string {
  if (when.kind === 'missing') return JSON.stringify([metric, when.kind, parseDuration(when.for)]);
  return JSON.stringify([
    metric,
    when.kind,
    when.op,
    when.value,
    when.unit ?? METRIC_UNITS[metric][0],
    'count' in when ? when.count : null,
    when.kind !== 'threshold' && when.within !== undefined ? parseDuration(when.within) : null,
  ]);
}

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

/** One rule in force for template rules with the same condition (a group of one is the rule itself). */
function mergeRules(group: readonly Rule[]): Rule {
  const [first] = group;
  if (group.length === 1) return first!;
  // The highest severity decides what the alert says; among equals, the first template's rule.
  const lead = group.reduce((a, b) => (SEVERITY_RANK[b.severity] > SEVERITY_RANK[a.severity] ? b : a));
  return {
    ...first!,
    severity: lead.severity,
    message: lead.message,
    source: lead.source,
    templates: [...new Set(group.map((rule) => rule.template!))],
    mergedFrom: group.map((rule) => rule.id),
  };
}

export interface CarePlan {
  patientId: string;
  version: number;
  templates: string[];
  rules: Rule[];
  /** Rule id → when the rule entered the plan. */
  ruleSince: Record<string, number>;
  createdAt: number;
  createdBy: string;
}

/** Care plans, every version kept. */
export class CarePlanStore {
  constructor(private readonly db: Db) {}

  current(patientId: string): CarePlan | undefined {
    const row = this.db
      .select()
      .from(carePlans)
      .where(eq(carePlans.patientId, patientId))
      .orderBy(desc(carePlans.version))
      .limit(1)
      .get();
    return row && toPlan(row);
  }

  versions(patientId: string): Array<Pick<CarePlan, 'version' | 'createdAt' | 'createdBy'>> {
    return this.db
      .select({ version: carePlans.version, createdAt: carePlans.createdAt, createdBy: carePlans.createdBy })
      .from(carePlans)
      .where(eq(carePlans.patientId, patientId))
      .orderBy(desc(carePlans.version))
      .all();
  }

  /** Every patient who has a care plan. */
  patientIds(): string[] {
    return this.db
      .selectDistinct({ patientId: carePlans.patientId })
      .from(carePlans)
      .all()
      .map((row) => row.patientId);
  }

  /**
   * Saves a new version. A rule that was already in the plan (same id and metric) keeps the time it
   * entered, so editing a plan does not restart a missing-data clock; a new rule starts now.
   */
  save(patientId: string, templates: string[], rules: Rule[], createdBy: string, now: number): CarePlan {
    return this.db.transaction((tx) => {
      const previous = new CarePlanStore(tx as unknown as Db).current(patientId);
      const ruleSince: Record<string, number> = {};
      for (const rule of rules) {
        const before = previous?.rules.find((r) => r.id === rule.id && r.metric === rule.metric);
        ruleSince[rule.id] = before ? (previous!.ruleSince[rule.id] ?? now) : now;
      }
      const plan: CarePlan = {
        patientId,
        version: (previous?.version ?? 0) + 1,
        templates,
        rules,
        ruleSince,
        createdAt: now,
        createdBy,
      };
      tx.insert(carePlans)
        .values({
          ...plan,
          templates: JSON.stringify(templates),
          rules: JSON.stringify(rules),
          ruleSince: JSON.stringify(ruleSince),
        })
        .run();
      return plan;
    });
  }
}

function toPlan(row: typeof carePlans.$inferSelect): CarePlan {
  return {
    ...row,
    templates: JSON.parse(row.templates) as string[],
    rules: JSON.parse(row.rules) as Rule[],
    ruleSince: JSON.parse(row.ruleSince) as Record<string, number>,
  };
}
