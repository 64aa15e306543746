import { Hono } from 'hono';
import { patientScope, type PatientAccess } from '../care-team/access.ts';
import { requireUser, type AppEnv } from '../auth/middleware.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { AppError, plainErrors, toDetails } from '../domain/errors.ts';
import type { Rule } from '../domain/rule.ts';
import { carePlanInputSchema, type Template } from '../domain/rule.ts';
import { expandCarePlan, type CarePlan, type CarePlanStore } from './store.ts';

export interface CarePlanRouteOptions {
  access: PatientAccess;
  audit: AuditLog;
  carePlans: CarePlanStore;
  templates: ReadonlyMap<string, Template>;
  /** Called after a plan changed, so the next reading is evaluated against it. */
  onCarePlanChanged: (patientId: string) => void;
  /** The patient's rules quieted by a resolve with quietFor, still quiet now. */
  quietRules: (patientId: string) => Quiet;
}

type Quiet = ReadonlyMap<string, { until: number; setBy: string; setAt: number }>;

function presentPlan(plan: CarePlan | undefined, quiet: Quiet = new Map()) {
  if (!plan) return { version: 0, templates: [], rules: [], updatedAt: null, updatedBy: null };
  return {
    version: plan.version,
    templates: plan.templates,
    // A rule quieted by a resolve (quietFor) says until when, and who asked.
    rules: plan.rules.map((rule) => {
      const q = quiet.get(rule.id);
      return q ? { ...rule, quietUntil: new Date(q.until).toISOString(), quietSetBy: q.setBy } : rule;
    }),
    updatedAt: new Date(plan.createdAt).toISOString(),
    updatedBy: plan.createdBy,
  };
}

/** `/v1/patients/:id/care-plan`: read by the care team, changed by admins and the team's physicians. */
export function carePlanRoute(options: CarePlanRouteOptions) {
  const { access, carePlans, templates, onCarePlanChanged } = options;
  return new Hono<AppEnv>()
    .get('/:id/care-plan', patientScope(options, 'care_plan.read'), (c) =>
      c.json(presentPlan(carePlans.current(c.req.param('id')), options.quietRules(c.req.param('id')))),
    )
    .get('/:id/care-plan/versions', patientScope(options, 'care_plan.read'), (c) =>
      c.json({
        versions: carePlans
          .versions(c.req.param('id'))
          .map((v) => ({ version: v.version, updatedAt: new Date(v.createdAt).toISOString(), updatedBy: v.createdBy })),
      }),
    )
    .put('/:id/care-plan', patientScope(options, 'care_plan.update'), async (c) => {
      const principal = requireUser(c);
      const patientId = c.req.param('id');
      const physicianOnTeam = principal.role === 'physician' && access.teamRole(principal, patientId) !== undefined;
      if (principal.role !== 'admin' && !physicianOnTeam) {
        throw new AppError('forbidden', 'Care plans are changed by an administrator or a physician on the care team');
      }
      const body: unknown = await c.req.json();
      const parsed = carePlanInputSchema.safeParse(body, { error: plainErrors });
      // Template names and duplicate ids are checked even when a rule is malformed, so one answer names every problem.
      const { rules, problems } = expandCarePlan(parsed.success ? parsed.data : leniently(body), templates);
      const all = [...(parsed.success ? [] : toDetails(parsed.error)), ...problems];
      if (all.length || !parsed.success) throw new AppError('validation_failed', 'The care plan is not valid', all);
      const input = parsed.data;
      const plan = carePlans.save(patientId, input.templates ?? [], rules, principal.id, Date.now());
      onCarePlanChanged(patientId);
      return c.json(presentPlan(plan));
    });
}

/** `/v1/care-plan-templates`: the templates a physician can apply, with their rules and sources. */
export function templatesRoute({ templates }: Pick<CarePlanRouteOptions, 'templates'>) {
  return new Hono<AppEnv>().get('/', (c) => {
    requireUser(c);
    return c.json({ templates: [...templates.values()] });
  });
}

/** What can be read of a plan that did not parse: its template names and rule ids, for the cross-rule checks. */
function leniently(body: unknown): { templates: string[]; rules: Rule[] } {
  const plan = (typeof body === 'object' && body !== null ? body : {}) as { templates?: unknown; rules?: unknown };
  const templates = Array.isArray(plan.templates) ? plan.templates.map((t) => (typeof t === 'string' ? t : '')) : [];
  // A rule without a readable id keeps its place (so paths stay right) under a name no other rule has.
  const rules = Array.isArray(plan.rules)
    ? plan.rules.map((r, i) => {
        const id = (r as { id?: unknown })?.id;
        return { id: typeof id === 'string' && id ? id : `\u0000unnamed-${i}` } as Rule;
      })
    : [];
  return { templates, rules };
}
