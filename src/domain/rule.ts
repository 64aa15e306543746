import { z } from 'zod';
import { DURATION_PATTERN } from './duration.ts';
import { METRIC_UNITS, METRICS, type Metric } from './measurements.ts';
import { SEVERITIES, type Severity } from './severity.ts';

/** Defined with the browser-safe vocabulary; exported here too, beside the schemas that use them. */
export { METRIC_UNITS, METRICS, SEVERITIES, type Metric, type Severity };

/**
 * A care-plan rule in the contract's format. Values are in the metric's unit (mmHg, bpm, kg, %) unless
 * `unit` says otherwise; weight rules may be written in lb or g, as US nurses do.
 */
export const OPS = ['>', '>=', '<', '<='] as const;
export type Op = (typeof OPS)[number];

const duration = z.string().regex(DURATION_PATTERN, 'must be a duration such as 30s, 30m, 36h or 7d');
const op = z.enum(OPS);
const count = z.number().int().min(1).max(100);

export const whenSchema = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({ kind: z.literal('threshold'), op, value: z.number(), unit: z.string().optional() }),
    // `within` on consecutive and average: only readings measured within that window of the newest count.
    z.strictObject({
      kind: z.literal('consecutive'),
      op,
      value: z.number(),
      count,
      within: duration.optional(),
      unit: z.string().optional(),
    }),
    z.strictObject({
      kind: z.literal('average'),
      op,
      value: z.number(),
      count,
      within: duration.optional(),
      unit: z.string().optional(),
    }),
    z.strictObject({ kind: z.literal('change'), op, value: z.number(), within: duration, unit: z.string().optional() }),
    z.strictObject({ kind: z.literal('missing'), for: duration }),
  ],
  {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? 'must be one of "threshold", "consecutive", "average", "change", "missing"'
        : undefined,
  },
);

export const ruleSchema = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'must be lower-case letters, digits and dashes (at most 64)'),
    metric: z.enum(METRICS),
    when: whenSchema,
    severity: z.enum(SEVERITIES),
    message: z.string().trim().min(1).max(300),
    /** Where the threshold comes from: a guideline, a paper, or the physician's own judgement. */
    source: z.string().max(500).optional(),
  })
  .superRefine((rule, ctx) => {
    if ('unit' in rule.when && rule.when.unit !== undefined && !METRIC_UNITS[rule.metric].includes(rule.when.unit)) {
      ctx.addIssue({
        code: 'custom',
        path: ['when', 'unit'],
        message: `must be ${METRIC_UNITS[rule.metric].map((u) => `"${u}"`).join(' or ')} for ${rule.metric}`,
      });
    }
  });

/**
 * A rule in force. The service adds, to a rule that came from a template, `template` (its name); to a rule
 * in force for several templates' identical rules (merged: one condition, one alert), `templates` (every
 * template it stands for) and `mergedFrom` (their rule ids, its own first).
 */
export type Rule = z.infer<typeof ruleSchema> & { template?: string; templates?: string[]; mergedFrom?: string[] };
export type When = Rule['when'];

/** Fields the service adds to rules in force: accepted and dropped on input, so a plan read can be sent back. */
/** Fields the API adds to a rule on output; a plan sent back as it was read drops them. */
const OUTPUT_ONLY = ['template', 'templates', 'mergedFrom', 'quietUntil', 'quietSetBy'];

export const carePlanInputSchema = z.strictObject({
  templates: z.array(z.string().min(1)).max(20).optional(),
  rules: z
    .array(
      z.preprocess(
        (rule) =>
          typeof rule === 'object' && rule !== null && !Array.isArray(rule)
            ? Object.fromEntries(Object.entries(rule).filter(([key]) => !OUTPUT_ONLY.includes(key)))
            : rule,
        ruleSchema,
      ),
    )
    .max(200)
    .default([]),
});

/** A template in rules/: a readable file of rules, each citing its clinical source. */
export const templateSchema = z.strictObject({
  name: z.string(),
  title: z.string(),
  description: z.string(),
  rules: z.array(ruleSchema.and(z.object({ source: z.string().min(1) }))),
});
export type Template = z.infer<typeof templateSchema>;
