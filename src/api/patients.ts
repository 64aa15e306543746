import { randomUUID } from 'node:crypto';
import { asc, eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import { requireAdmin, type AppEnv } from '../auth/middleware.ts';
import { AppError, parseOrThrow } from '../domain/errors.ts';
import { presentReading, READING_TYPES } from '../domain/reading.ts';
import type { Db } from '../store/db.ts';
import { BUCKET_SIZES, type ReadingStore, type TrendBucket } from '../store/reading-store.ts';
import { patients } from '../store/schema.ts';

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
  .refine((q) => !q.from || !q.to || Date.parse(q.from) < Date.parse(q.to), { path: ['from'], message: 'must be before to' });

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
}

/** `/v1/patients`: provisioning and each patient's readings. */
export function patientsRoute({ db, readingStore }: PatientsRouteOptions) {
  const findPatient = (id: string): Patient => {
    const patient = db.select().from(patients).where(eq(patients.id, id)).get();
    if (!patient) throw new AppError('not_found', 'No such patient');
    return patient;
  };

  return new Hono<AppEnv>()
    .use(requireAdmin())
    .post('/', async (c) => {
      const input = parseOrThrow(createPatientSchema, await c.req.json());
      if (input.externalId && db.select().from(patients).where(eq(patients.externalId, input.externalId)).get()) {
        throw new AppError('conflict', 'A patient with this externalId exists', [{ path: 'externalId', message: 'is already in use' }]);
      }
      const patient = db
        .insert(patients)
        .values({ id: randomUUID(), createdAt: Date.now(), ...input })
        .returning()
        .get();
      return c.json(presentPatient(patient), 201);
    })
    .get('/', (c) => c.json({ patients: db.select().from(patients).orderBy(asc(patients.createdAt)).all().map(presentPatient) }))
    .get('/:id', (c) => c.json(presentPatient(findPatient(c.req.param('id')))))
    .get('/:id/readings', async (c) => {
      const patient = findPatient(c.req.param('id'));
      const query = parseOrThrow(readingsQuerySchema, c.req.query(), 'query');
      const range = {
        patientId: patient.id,
        from: query.from ? Date.parse(query.from) : undefined,
        to: query.to ? Date.parse(query.to) : undefined,
      };
      if (query.bucket && query.type) {
        const buckets = await readingStore.buckets({ ...range, type: query.type, bucket: query.bucket });
        return c.json({ type: query.type, bucket: query.bucket, buckets: buckets.map(presentBucket) });
      }
      const page = await readingStore.list({ ...range, type: query.type, limit: query.limit, after: query.cursor });
      return c.json({ type: query.type ?? null, readings: page.readings.map(presentReading), ...(page.next ? { next: page.next } : {}) });
    });
}

function presentBucket(bucket: TrendBucket) {
  return { ...bucket, start: new Date(bucket.start).toISOString() };
}
