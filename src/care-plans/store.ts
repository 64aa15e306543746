import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { desc, eq } from 'drizzle-orm';
import type { ErrorDetail } from '../domain/errors.ts';
import { plainErrors, toDetails } from '../domain/errors.ts';
import { templateSchema, type Rule, type Template } from '../domain/rule.ts';
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
 * The rules in force for a plan: each template's rules in order, then the per-patient rules, a
 * per-patient rule replacing the template rule with the same id. Pure; problems name their path.
 */
export function expandCarePlan(
  input: { templates?: string[]; rules: Rule[] },
  templates: ReadonlyMap<string, Template>,
): { rules: Rule[]; problems: ErrorDetail[] } {
  const problems: ErrorDetail[] = [];
  const byId = new Map<string, Rule>();
  (input.templates ?? []).forEach((name, i) => {
    const template = templates.get(name);
    if (!template) {
      problems.push({
        path: `templates.${i}`,
        message: `is not a known template (${[...templates.keys()].join(', ')})`,
      });
      return;
    }
    for (const rule of template.rules) byId.set(rule.id, { ...rule, template: name });
  });
  const seen = new Set<string>();
  input.rules.forEach((rule, i) => {
    if (seen.has(rule.id))
      problems.push({ path: `rules.${i}.id`, message: `"${rule.id}" is used by another rule of this plan` });
    seen.add(rule.id);
    byId.set(rule.id, rule);
  });
  return { rules: [...byId.values()], problems };
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
