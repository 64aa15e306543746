import { Hono } from 'hono';
import type { AuditLog } from '../audit/audit-log.ts';
import { requireAdmin, type AppEnv } from '../auth/middleware.ts';
import { parseOrThrow } from '../domain/errors.ts';
import { type ClinicianStore, createClinicianSchema, presentClinician } from './store.ts';

export interface CliniciansRouteOptions {
  clinicians: ClinicianStore;
  audit: AuditLog;
}

/** `/v1/clinicians` (admin): accounts for nurses, physicians and admins. */
export function cliniciansRoute({ clinicians, audit }: CliniciansRouteOptions) {
  return new Hono<AppEnv>()
    .use(requireAdmin())
    .post('/', async (c) => {
      const clinician = await clinicians.create(parseOrThrow(createClinicianSchema, await c.req.json()));
      const principal = c.get('principal')!;
      await audit.record({
        at: Date.now(),
        actorId: principal.id,
        action: 'clinician.create',
        patientId: null,
        outcome: 'success',
        requestId: c.get('requestId'),
      });
      return c.json(presentClinician(clinician), 201);
    })
    .get('/', (c) => c.json({ clinicians: clinicians.list().map(presentClinician) }));
}
