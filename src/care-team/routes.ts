import { Hono } from 'hono';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import { requireAdmin, type AppEnv } from '../auth/middleware.ts';
import type { ClinicianStore } from '../clinicians/store.ts';
import { CARE_TEAM_ROLES } from '../domain/care-team.ts';
import { AppError, parseOrThrow } from '../domain/errors.ts';
import { type PatientAccess, patientScope } from './access.ts';
import { type CareTeamStore, TEAM_ROLE_NEEDS } from './store.ts';

export const careTeamSchema = z.strictObject({
  members: z
    .array(z.strictObject({ clinicianId: z.string().min(1), role: z.enum(CARE_TEAM_ROLES) }))
    .max(50)
    .refine(
      (members) => new Set(members.map((m) => m.clinicianId)).size === members.length,
      'must list each clinician once',
    )
    .refine(
      (members) => members.filter((m) => m.role === 'primary_nurse').length <= 1,
      'must have at most one primary_nurse',
    ),
});

export interface CareTeamRouteOptions {
  careTeams: CareTeamStore;
  clinicians: ClinicianStore;
  access: PatientAccess;
  audit: AuditLog;
}

/** `/v1/patients/:id/care-team`: read by the team, set by admins. */
export function careTeamRoute(options: CareTeamRouteOptions) {
  const { careTeams, clinicians } = options;
  const present = (patientId: string) => ({ patientId, members: careTeams.members(patientId) });
  return new Hono<AppEnv>()
    .get('/:id/care-team', patientScope(options, 'care_team.read'), (c) => c.json(present(c.req.param('id'))))
    .put('/:id/care-team', requireAdmin(), patientScope(options, 'care_team.update'), async (c) => {
      const patientId = c.req.param('id');
      const { members } = parseOrThrow(careTeamSchema, await c.req.json());
      const active = clinicians.activeRoles(members.map((m) => m.clinicianId));
      const problems = members.flatMap((member, i) => {
        const role = active.get(member.clinicianId);
        if (!role) return [{ path: `members.${i}.clinicianId`, message: 'is not an active clinician' }];
        const needs = TEAM_ROLE_NEEDS[member.role];
        return role === needs
          ? []
          : [{ path: `members.${i}.role`, message: `${member.role} must be a ${needs}, not a ${role}` }];
      });
      if (problems.length) throw new AppError('validation_failed', 'The care team is not valid', problems);
      careTeams.replace(patientId, members);
      return c.json(present(patientId));
    });
}
