import { Hono } from 'hono';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import { patientScope, type PatientAccess } from '../care-team/access.ts';
import { requireAdmin, requireUser, type AppEnv } from '../auth/middleware.ts';
import { cursorParam } from '../domain/cursor.ts';
import { AppError, parseOrThrow } from '../domain/errors.ts';
import { presentReading, READING_TYPES } from '../domain/reading.ts';
import { BUCKET_SIZES, type ReadingStore, type TrendBucket } from '../store/reading-store.ts';
import { type DeviceStore, presentDevice } from '../devices/store.ts';
import { PATIENT_STATUSES, type PatientStatus, statusAt } from './status.ts';
import { type PatientStore, presentPatient } from './store.ts';

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const createPatientSchema = z.strictObject({
  name: z.string().trim().min(1).max(200),
  birthDate: z.iso.date().optional(),
  timezone: z.string().refine(isTimeZone, 'must be an IANA time zone such as America/Chicago').default('UTC'),
  externalId: z.string().min(1).max(128).optional(),
});

export const readingsQuerySchema = z
  .strictObject({
    type: z.enum(READING_TYPES).optional(),
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
    limit: z.coerce.number().int().min(1).max(10_000).default(1000),
    bucket: z.enum(BUCKET_SIZES).optional(),
    /** The `next` value of the previous page. */
    cursor: z.string().min(1).optional(),
  })
  .refine((q) => !q.bucket || q.type, { path: ['type'], message: 'is required with bucket' })
  .refine((q) => !q.from || !q.to || Date.parse(q.from) < Date.parse(q.to), {
    path: ['from'],
    message: 'must be before to',
  });

export const patientStatusSchema = z
  .strictObject({
    status: z.enum(PATIENT_STATUSES),
    /** Only with paused: the pause ends by itself then. */
    until: z.iso
      .datetime({ offset: true })
      .transform((text) => Date.parse(text))
      .optional(),
    reason: z.string().trim().min(1).max(500).optional(),
  })
  .refine((s) => s.until === undefined || s.status === 'paused', {
    path: ['until'],
    message: 'is only for a pause',
  });

export const patientsQuerySchema = z.strictObject({
  /** `all` lists discharged patients too; the default leaves them out. */
  status: z.enum(['all', ...PATIENT_STATUSES]).optional(),
});

export interface PatientsRouteOptions {
  patients: PatientStore;
  devices: DeviceStore;
  readingStore: ReadingStore;
  access: PatientAccess;
  audit: AuditLog;
  /** After a status change: the rules stop or start, and a discharge resolves the open alerts. */
  onStatusChanged: (patientId: string, status: PatientStatus, by: string) => Promise<void>;
}

/**
 * `/v1/patients`: provisioning (admin), and each patient's data for the care team. Every route under
 * `/:id` goes through `patientScope`, which refuses with 404 and audits.
 */
export function patientsRoute(options: PatientsRouteOptions) {
  const { patients, devices, readingStore, access, audit, onStatusChanged } = options;
  const scoped = (action: string) => patientScope(options, action);

  return new Hono<AppEnv>()
    .post('/', requireAdmin(), async (c) => {
      const patient = patients.create(parseOrThrow(createPatientSchema, await c.req.json()));
      await audit.record({
        at: Date.now(),
        actorId: c.get('principal')!.id,
        action: 'patient.create',
        patientId: patient.id,
        outcome: 'success',
        requestId: c.get('requestId'),
      });
      return c.json(presentPatient(patient), 201);
    })
    .get('/', async (c) => {
      const principal = requireUser(c);
      const { status } = parseOrThrow(patientsQuerySchema, c.req.query(), 'query');
      const now = Date.now();
      const visible = patients
        .list(access.visiblePatientIds(principal))
        .filter((patient) =>
          status === 'all' ? true : status ? statusAt(patient, now) === status : patient.status !== 'discharged',
        );
      await audit.record({
        at: Date.now(),
        actorId: principal.id,
        action: 'patients.list',
        patientId: null,
        outcome: 'success',
        requestId: c.get('requestId'),
      });
      return c.json({ patients: visible.map(presentPatient) });
    })
    .get('/:id', scoped('patient.read'), (c) => c.json(presentPatient(patients.get(c.req.param('id'))!)))
    .patch('/:id', scoped('patient.status.update'), async (c) => {
      const principal = requireUser(c);
      const patientId = c.req.param('id');
      if (principal.role !== 'admin' && access.teamRole(principal, patientId) === undefined) {
        throw new AppError('forbidden', 'A patient’s status is changed by an administrator or their care team');
      }
      const change = parseOrThrow(patientStatusSchema, await c.req.json());
      const patient = patients.setStatus(
        patientId,
        { status: change.status, until: change.until ?? null, reason: change.reason ?? null },
        principal.id,
        Date.now(),
      );
      await onStatusChanged(patientId, change.status, principal.id);
      return c.json(presentPatient(patient));
    })
    .get('/:id/status-history', scoped('patient.read'), (c) =>
      c.json({
        history: patients.statusHistory(c.req.param('id')).map((entry) => ({
          version: entry.version,
          status: entry.status,
          until: entry.until === null ? null : new Date(entry.until).toISOString(),
          reason: entry.reason,
          changedBy: entry.changedBy,
          changedAt: new Date(entry.changedAt).toISOString(),
        })),
      }),
    )
    .get('/:id/readings', scoped('readings.read'), async (c) => {
      const patientId = c.req.param('id');
      const query = parseOrThrow(readingsQuerySchema, c.req.query(), 'query');
      const range = {
        patientId,
        from: query.from ? Date.parse(query.from) : undefined,
        to: query.to ? Date.parse(query.to) : undefined,
      };
      if (query.bucket && query.type) {
        const timeZone = patients.get(patientId)!.timezone;
        const buckets = await readingStore.buckets({ ...range, type: query.type, bucket: query.bucket, timeZone });
        return c.json({ type: query.type, bucket: query.bucket, buckets: buckets.map(presentBucket) });
      }
      if (query.cursor) cursorParam(query.cursor);
      const page = await readingStore.list({ ...range, type: query.type, limit: query.limit, after: query.cursor });
      return c.json({
        type: query.type ?? null,
        readings: page.readings.map(presentReading),
        ...(page.next ? { next: page.next } : {}),
      });
    })
    .get('/:id/devices', scoped('devices.read'), (c) =>
      c.json({ devices: devices.listForPatient(c.req.param('id')).map(presentDevice) }),
    );
}

function presentBucket(bucket: TrendBucket) {
  return { ...bucket, start: new Date(bucket.start).toISOString() };
}
