import { Hono } from 'hono';
import { patientScope, type PatientAccess } from '../auth/access.ts';
import { requireUser, type AppEnv } from '../auth/middleware.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { AppError, parseOrThrow } from '../domain/errors.ts';
import { carePlanInputSchema, type Template } from '../domain/rule.ts';
import { expandCarePlan, type CarePlan, type CarePlanStore } from '../rules/care-plans.ts';

export interface CarePlanRouteOptions {
  access: PatientAccess;
  audit: AuditLog;
  carePlans: CarePlanStore;
  templates: ReadonlyMap<string, Template>;
  /** Called after a plan changed, so the next reading is evaluated against it. */
  onCarePlanChanged: (patientId: string) => void;
}

function presentPlan(plan: CarePlan | undefined) {
  if (!plan) return { version: 0, templates: [], rules: [], updatedAt: null, updatedBy: null };
  return { version: plan.version, templates: plan.templates, rules: plan.rules, updatedAt: new Date(plan.createdAt).toISOString(), updatedBy: plan.createdBy };
}

/** `/v1/patients/:id/care-plan`: read by the care team, changed by admins and the team's physicians. */
export function carePlanRoute(options: CarePlanRouteOptions) {
  const { access, carePlans, templates, onCarePlanChanged } = options;
  return new Hono<AppEnv>()
    .get('/:id/care-plan', patientScope(options, 'care_plan.read'), (c) => c.json(presentPlan(carePlans.current(c.req.param('id')))))
    .get('/:id/care-plan/versions', patientScope(options, 'care_plan.read'), (c) =>
      c.json({
        versions: carePlans.versions(c.req.param('id')).map((v) => ({ version: v.version, updatedAt: new Date(v.createdAt).toISOString(), updatedBy: v.createdBy })),
      }),
    )
    .put('/:id/care-plan', patientScope(options, 'care_plan.update'), async (c) => {
      const principal = requireUser(c);
      const patientId = c.req.param('id');
      const physicianOnTeam = principal.role === 'physician' && access.teamRole(principal, patientId) !== undefined;
      if (principal.role !== 'admin' && !physicianOnTeam) {
        throw new AppError('forbidden', 'Care plans are changed by an administrator or a physician on the care team');
      }
      const input = parseOrThrow(carePlanInputSchema, await c.req.json(), 'care plan');
      const { rules, problems } = expandCarePlan(input, templates);
      if (problems.length) throw new AppError('validation_failed', 'The care plan is not valid', problems);
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
