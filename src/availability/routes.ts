import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import { isAdmin, requireAdmin, requireUser, type AppEnv } from '../auth/middleware.ts';
import type { ClinicianStore } from '../clinicians/store.ts';
import { AppError, parseOrThrow } from '../domain/errors.ts';
import type { AvailabilityStore } from './store.ts';

const instant = z.iso.datetime({ offset: true }).transform((text) => Date.parse(text));

const fromBeforeUntil = { path: ['until'], message: 'must be after from' };

export const awayPeriodsSchema = z.strictObject({
  periods: z
    .array(
      z
        .strictObject({ from: instant, until: instant, note: z.string().trim().max(200).optional() })
        .refine((p) => p.from < p.until, fromBeforeUntil),
    )
    .max(100),
});

export const onCallShiftsSchema = z.strictObject({
  shifts: z
    .array(
      z
        .strictObject({
          clinicianId: z.string().min(1),
          from: instant,
          until: instant,
          /** Output only (GET names the clinician); a rota sent back as it was read may carry it. */
          name: z.string().nullable().optional(),
        })
        .refine((p) => p.from < p.until, fromBeforeUntil),
    )
    .max(1000),
});

const iso = (ms: number) => new Date(ms).toISOString();

export interface AvailabilityRouteOptions {
  availability: AvailabilityStore;
  clinicians: ClinicianStore;
  audit: AuditLog;
}

/**
 * `/v1/clinicians/:id/away` (admin, or that clinician): away periods, during which routing skips them.
 * Mounted before the admin-only `/v1/clinicians` routes, so a nurse can set her own.
 */
export function awayRoute({ availability, clinicians, audit }: AvailabilityRouteOptions) {
  const own = (c: Context<AppEnv>) => {
    const principal = requireUser(c);
    const id = c.req.param('id')!;
    if (!isAdmin(principal) && principal.id !== id)
      throw new AppError('forbidden', 'Away periods are set by the clinician themselves or an administrator');
    if (!clinicians.get(id)) throw new AppError('not_found', 'No such clinician');
    return { principal, id };
  };
  const present = (id: string) => ({
    periods: availability
      .awayPeriods(id)
      .map((p) => ({ from: iso(p.from), until: iso(p.until), note: p.note ?? undefined })),
  });
  return new Hono<AppEnv>()
    .get('/:id/away', (c) => c.json(present(own(c).id)))
    .put('/:id/away', async (c) => {
      const { principal, id } = own(c);
      const { periods } = parseOrThrow(awayPeriodsSchema, await c.req.json());
      availability.setAwayPeriods(
        id,
        periods.map((p) => ({ from: p.from, until: p.until, note: p.note ?? null })),
      );
      await audit.record({
        at: Date.now(),
        actorId: principal.id,
        action: 'clinician.away.update',
        patientId: null,
        outcome: 'success',
        requestId: c.get('requestId'),
      });
      return c.json(present(id));
    });
}

/** `/v1/on-call`: the agency's rota, read by every clinician and set by admins. */
export function onCallRoute({ availability, clinicians, audit }: AvailabilityRouteOptions) {
  // Names too: a nurse cannot list the clinicians, but must know whom she can call.
  const present = () => {
    const shifts = availability.shifts();
    const now = availability.onCallAt(Date.now());
    const names = clinicians.names([...shifts.map((s) => s.clinicianId), now]);
    return {
      shifts: shifts.map((s) => ({
        clinicianId: s.clinicianId,
        name: names.get(s.clinicianId) ?? null,
        from: iso(s.from),
        until: iso(s.until),
      })),
      now,
      nowName: now === null ? null : (names.get(now) ?? null),
    };
  };
  return new Hono<AppEnv>()
    .get('/', (c) => {
      requireUser(c);
      return c.json(present());
    })
    .put('/', requireAdmin(), async (c) => {
      const { shifts } = parseOrThrow(onCallShiftsSchema, await c.req.json());
      const active = clinicians.activeRoles(shifts.map((s) => s.clinicianId));
      const problems = shifts.flatMap((shift, i) =>
        active.has(shift.clinicianId) && active.get(shift.clinicianId) !== 'admin'
          ? []
          : [{ path: `shifts.${i}.clinicianId`, message: 'is not an active nurse or physician' }],
      );
      if (problems.length) throw new AppError('validation_failed', 'The on-call rota is not valid', problems);
      availability.setShifts(shifts.map(({ clinicianId, from, until }) => ({ clinicianId, from, until })));
      await audit.record({
        at: Date.now(),
        actorId: c.get('principal')!.id,
        action: 'on_call.update',
        patientId: null,
        outcome: 'success',
        requestId: c.get('requestId'),
      });
      return c.json(present());
    });
}
