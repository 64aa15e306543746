import { randomUUID } from 'node:crypto';
import { asc, eq, inArray } from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import { patientScope, type PatientAccess } from '../care-team/access.ts';
import { requireAdmin, requireUser, type AppEnv } from '../auth/middleware.ts';
import { cursorParam } from '../domain/cursor.ts';
import { AppError, parseOrThrow } from '../domain/errors.ts';
import { CARE_TEAM_ROLES } from '../domain/care-team.ts';
import { presentReading, READING_TYPES } from '../domain/reading.ts';
import type { Db } from '../store/db.ts';
import { BUCKET_SIZES, type ReadingStore, type TrendBucket } from '../store/reading-store.ts';
import { careTeamMembers, clinicians, devices, patients } from '../store/schema.ts';
import { presentDevice } from '../devices/routes.ts';

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

/** Which kind of clinician may hold each care-team role: routing pages nurses first, then the physician. */
const TEAM_ROLE_NEEDS = {
  primary_nurse: 'nurse',
  backup_nurse: 'nurse',
  pcp: 'physician',
  specialist: 'physician',
} as const;

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

export type Patient = typeof patients.$inferSelect;

export function presentPatient(patient: Patient) {
  return {
    id: patient.id,
    name: patient.name,
    birthDate: patient.birthDate,
    timezone: patient.timezone,
    externalId: patient.externalId,
    createdAt: new Date(patient.createdAt).toISOString(),
  };
}

export interface PatientsRouteOptions {
  db: Db;
  readingStore: ReadingStore;
  access: PatientAccess;
  audit: AuditLog;
}

/**
 * `/v1/patients`: provisioning (admin), and each patient's data for the care team. Every route under
 * `/:id` goes through `patientScope`, which refuses with 404 and audits.
 */
export function patientsRoute(options: PatientsRouteOptions) {
  const { db, readingStore, audit } = options;
  const scoped = (action: string) => patientScope(options, action);
  const findPatient = (id: string): Patient => db.select().from(patients).where(eq(patients.id, id)).get()!;
  const careTeam = (patientId: string) => ({
    patientId,
    members: db
      .select({
        clinicianId: careTeamMembers.clinicianId,
        role: careTeamMembers.role,
        name: clinicians.name,
        clinicianRole: clinicians.role,
      })
      .from(careTeamMembers)
      .innerJoin(clinicians, eq(clinicians.id, careTeamMembers.clinicianId))
      .where(eq(careTeamMembers.patientId, patientId))
      .orderBy(asc(careTeamMembers.role), asc(clinicians.name))
      .all(),
  });

  return new Hono<AppEnv>()
    .post('/', requireAdmin(), async (c) => {
      const input = parseOrThrow(createPatientSchema, await c.req.json());
      if (input.externalId && db.select().from(patients).where(eq(patients.externalId, input.externalId)).get()) {
        throw new AppError('conflict', 'A patient with this externalId exists', [
          { path: 'externalId', message: 'is already in use' },
        ]);
      }
      const patient = db
        .insert(patients)
        .values({ id: randomUUID(), createdAt: Date.now(), ...input })
        .returning()
        .get();
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
      const ids = options.access.visiblePatientIds(principal);
      const visible = db
        .select()
        .from(patients)
        .where(ids ? inArray(patients.id, ids) : undefined)
        .orderBy(asc(patients.createdAt))
        .all();
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
    .get('/:id', scoped('patient.read'), (c) => c.json(presentPatient(findPatient(c.req.param('id')))))
    .get('/:id/readings', scoped('readings.read'), async (c) => {
      const patientId = c.req.param('id');
      const query = parseOrThrow(readingsQuerySchema, c.req.query(), 'query');
      const range = {
        patientId,
        from: query.from ? Date.parse(query.from) : undefined,
        to: query.to ? Date.parse(query.to) : undefined,
      };
      if (query.bucket && query.type) {
        const buckets = await readingStore.buckets({ ...range, type: query.type, bucket: query.bucket });
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
      c.json({
        devices: db
          .select()
          .from(devices)
          .where(eq(devices.patientId, c.req.param('id')))
          .orderBy(asc(devices.createdAt))
          .all()
          .map(presentDevice),
      }),
    )
    .get('/:id/care-team', scoped('care_team.read'), (c) => c.json(careTeam(c.req.param('id'))))
    .put('/:id/care-team', requireAdmin(), scoped('care_team.update'), async (c) => {
      const patientId = c.req.param('id');
      const { members } = parseOrThrow(careTeamSchema, await c.req.json());
      const known = new Map(
        db
          .select({ id: clinicians.id, role: clinicians.role, disabledAt: clinicians.disabledAt })
          .from(clinicians)
          .where(
            inArray(
              clinicians.id,
              members.map((m) => m.clinicianId),
            ),
          )
          .all()
          .map((row) => [row.id, row]),
      );
      const problems = members.flatMap((member, i) => {
        const clinician = known.get(member.clinicianId);
        if (!clinician || clinician.disabledAt !== null)
          return [{ path: `members.${i}.clinicianId`, message: 'is not an active clinician' }];
        const needs = TEAM_ROLE_NEEDS[member.role];
        return clinician.role === needs
          ? []
          : [{ path: `members.${i}.role`, message: `${member.role} must be a ${needs}, not a ${clinician.role}` }];
      });
      if (problems.length) throw new AppError('validation_failed', 'The care team is not valid', problems);
      db.transaction((tx) => {
        tx.delete(careTeamMembers).where(eq(careTeamMembers.patientId, patientId)).run();
        if (members.length)
          tx.insert(careTeamMembers)
            .values(members.map((m) => ({ ...m, patientId })))
            .run();
      });
      return c.json(careTeam(patientId));
    });
}

function presentBucket(bucket: TrendBucket) {
  return { ...bucket, start: new Date(bucket.start).toISOString() };
}
