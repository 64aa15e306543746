import { Hono } from 'hono';
import type { AuditLog } from '../audit/audit-log.ts';
import { requireAdmin, type AppEnv } from '../auth/middleware.ts';
import { AppError, parseOrThrow } from '../domain/errors.ts';
import {
  type Clinician,
  type ClinicianStore,
  createClinicianSchema,
  presentClinician,
  updateClinicianSchema,
} from './store.ts';

export interface CliniciansRouteOptions {
  clinicians: ClinicianStore;
  audit: AuditLog;
}

/** A clinician as admins see them in the account list: with whether the account is disabled. */
const presentAccount = (clinician: Clinician) => ({
  ...presentClinician(clinician),
  disabled: clinician.disabledAt !== null,
});

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
    .get('/', (c) => c.json({ clinicians: clinicians.list().map(presentAccount) }))
    .patch('/:id', async (c) => {
      const { disabled } = parseOrThrow(updateClinicianSchema, await c.req.json());
      const principal = c.get('principal')!;
      const id = c.req.param('id');
      // An admin locking themselves out by mistake would need the admin token or the CLI to get back in.
      if (disabled && principal.id === id) throw new AppError('conflict', 'You cannot disable your own account');
      const clinician = clinicians.setDisabled(id, disabled);
      if (!clinician) throw new AppError('not_found', 'No such clinician');
      await audit.record({
        at: Date.now(),
        actorId: principal.id,
        action: disabled ? 'clinician.disable' : 'clinician.enable',
        patientId: null,
        outcome: 'success',
        requestId: c.get('requestId'),
      });
      return c.json(presentAccount(clinician));
    });
}
