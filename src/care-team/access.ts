import { and, eq, ne } from 'drizzle-orm';
import type { Context, MiddlewareHandler } from 'hono';
import type { AuditLog, AuditOutcome } from '../audit/audit-log.ts';
import { AppError } from '../domain/errors.ts';
import type { Db } from '../store/db.ts';
import { alerts, careTeamMembers, deliveries, patients } from '../store/schema.ts';
import { isAdmin, requireUser, type AppEnv, type Principal } from '../auth/middleware.ts';

/**
 * Who may see which patient, decided here and nowhere else: admins see every patient; a nurse or
 * physician sees a patient only while on that patient's care team. For anyone else the patient does not
 * exist (404), so an id cannot be probed.
 */
export class PatientAccess {
  /**
   * @param onCallTier the routing tier of the agency's on-call clinician: while an alert pushed to them is
   *   unresolved, they may see that patient as the care team does.
   */
  constructor(
    private readonly db: Db,
    private readonly onCallTier = 3,
  ) {}

  canSee(principal: Principal, patientId: string): boolean {
    if (principal.kind === 'device') return false;
    if (isAdmin(principal))
      return this.db.select({ id: patients.id }).from(patients).where(eq(patients.id, patientId)).get() !== undefined;
    return (
      this.db
        .select({ patientId: careTeamMembers.patientId })
        .from(careTeamMembers)
        .where(and(eq(careTeamMembers.patientId, patientId), eq(careTeamMembers.clinicianId, principal.id)))
        .get() !== undefined || this.onCallPatientIds(principal.id, patientId).length > 0
    );
  }

  /**
   * Patients whose unresolved alert was pushed to this clinician as the on-call clinician (or, with
   * `patientId`, that one patient if so).
   */
  onCallPatientIds(clinicianId: string, patientId?: string): string[] {
    return this.db
      .selectDistinct({ id: alerts.patientId })
      .from(deliveries)
      .innerJoin(alerts, eq(alerts.id, deliveries.alertId))
      .where(
        and(
          eq(deliveries.clinicianId, clinicianId),
          eq(deliveries.tier, this.onCallTier),
          eq(deliveries.status, 'delivered'),
          ne(alerts.status, 'resolved'),
          patientId === undefined ? undefined : eq(alerts.patientId, patientId),
        ),
      )
      .all()
      .map((row) => row.id);
  }

  /** The patients the principal may see: undefined for every patient (admins). */
  visiblePatientIds(principal: Principal): string[] | undefined {
    if (isAdmin(principal)) return undefined;
    if (principal.kind === 'device') return [];
    const team = this.db
      .select({ id: careTeamMembers.patientId })
      .from(careTeamMembers)
      .where(eq(careTeamMembers.clinicianId, principal.id))
      .all()
      .map((row) => row.id);
    return [...new Set([...team, ...this.onCallPatientIds(principal.id)])];
  }

  /** The team role the principal holds for the patient, if any (e.g. only the team's physicians edit care plans). */
  teamRole(principal: Principal, patientId: string) {
    return this.db
      .select({ role: careTeamMembers.role })
      .from(careTeamMembers)
      .where(and(eq(careTeamMembers.patientId, patientId), eq(careTeamMembers.clinicianId, principal.id)))
      .get()?.role;
  }
}

export interface PatientScopeOptions {
  access: PatientAccess;
  audit: AuditLog;
}

/**
 * For every route under `/v1/patients/:id`: refuses (404) and audits as denied anyone who may not see the
 * patient, and audits every allowed access with its outcome. `action` names what the route does to the
 * patient's data (`readings.read`, `care_team.update`, ...).
 */
export function patientScope(options: PatientScopeOptions, action: string): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const patientId = await requireVisible(options, c, action, c.req.param('id'));
    try {
      await next();
    } finally {
      const outcome = c.res.status < 400 && !c.error ? 'success' : c.res.status === 403 ? 'denied' : 'failure';
      await recordAccess(options.audit, c, action, patientId, outcome);
    }
  };
}

/** Appends the caller's access to a patient's data (or to none, `null`) to the audit trail. */
export function recordAccess(
  audit: AuditLog,
  c: Context<AppEnv>,
  action: string,
  patientId: string | null,
  outcome: AuditOutcome,
): Promise<void> {
  // This request's refusal is in the trail now: auditRefusals need not add another row for it.
  if (outcome !== 'success') c.set('refusalAudited', true);
  return audit.record({
    at: Date.now(),
    actorId: requireUser(c).id,
    action,
    patientId,
    outcome,
    requestId: c.get('requestId') ?? null,
  });
}

/**
 * The patient id, if the caller may see that patient; otherwise the attempt is audited as denied and
 * answered 404, as for a patient that does not exist (`notFound` names what was asked for).
 */
export async function requireVisible(
  { access, audit }: PatientScopeOptions,
  c: Context<AppEnv>,
  action: string,
  patientId: string | null | undefined,
  notFound = 'No such patient',
): Promise<string> {
  if (!patientId || !access.canSee(requireUser(c), patientId)) {
    await recordAccess(audit, c, action, patientId ?? null, 'denied');
    throw new AppError('not_found', notFound);
  }
  return patientId;
}
