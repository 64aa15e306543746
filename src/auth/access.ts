import { and, eq } from 'drizzle-orm';
import type { MiddlewareHandler } from 'hono';
import type { AuditLog } from '../audit/audit-log.ts';
import { AppError } from '../domain/errors.ts';
import type { Db } from '../store/db.ts';
import { careTeamMembers, patients } from '../store/schema.ts';
import { isAdmin, requireUser, type AppEnv, type Principal } from './middleware.ts';

/**
 * Who may see which patient, decided here and nowhere else: admins see every patient; a nurse or
 * physician sees a patient only while on that patient's care team. For anyone else the patient does not
 * exist (404), so an id cannot be probed.
 */
export class PatientAccess {
  constructor(private readonly db: Db) {}

  canSee(principal: Principal, patientId: string): boolean {
    if (principal.kind === 'device') return false;
    if (isAdmin(principal)) return this.db.select({ id: patients.id }).from(patients).where(eq(patients.id, patientId)).get() !== undefined;
    return (
      this.db
        .select({ patientId: careTeamMembers.patientId })
        .from(careTeamMembers)
        .where(and(eq(careTeamMembers.patientId, patientId), eq(careTeamMembers.clinicianId, principal.id)))
        .get() !== undefined
    );
  }

  /** The patients the principal may see: undefined for every patient (admins). */
  visiblePatientIds(principal: Principal): string[] | undefined {
    if (isAdmin(principal)) return undefined;
    if (principal.kind === 'device') return [];
    return this.db
      .select({ id: careTeamMembers.patientId })
      .from(careTeamMembers)
      .where(eq(careTeamMembers.clinicianId, principal.id))
      .all()
      .map((row) => row.id);
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
export function patientScope({ access, audit }: PatientScopeOptions, action: string): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = requireUser(c);
    const patientId = c.req.param('id') ?? null;
    const entry = { actorId: principal.id, action, patientId, requestId: c.get('requestId') ?? null };
    if (!patientId || !access.canSee(principal, patientId)) {
      await audit.record({ ...entry, at: Date.now(), outcome: 'denied' });
      throw new AppError('not_found', 'No such patient');
    }
    try {
      await next();
    } finally {
      await audit.record({ ...entry, at: Date.now(), outcome: c.res.status < 400 && !c.error ? 'success' : 'failure' });
    }
  };
}
