import { randomUUID } from 'node:crypto';
import { asc, eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import { requireAdmin, type AppEnv } from '../auth/middleware.ts';
import { hashPassword, PASSWORD_MIN_LENGTH } from '../auth/passwords.ts';
import { AppError, parseOrThrow } from '../domain/errors.ts';
import type { Db } from '../store/db.ts';
import { clinicians } from '../store/schema.ts';

export const CLINICIAN_ROLES = ['admin', 'nurse', 'physician'] as const;

export const createClinicianSchema = z.strictObject({
  name: z.string().trim().min(1).max(200),
  email: z
    .email()
    .max(254)
    .transform((email) => email.toLowerCase()),
  role: z.enum(CLINICIAN_ROLES),
  password: z.string().min(PASSWORD_MIN_LENGTH).max(1024),
});

type Clinician = typeof clinicians.$inferSelect;

/** A clinician as the API shows them; the password hash never leaves the database. */
export function presentClinician(clinician: Pick<Clinician, 'id' | 'name' | 'email' | 'role'>) {
  return { id: clinician.id, name: clinician.name, email: clinician.email, role: clinician.role };
}

/** Creates a clinician account; shared by the API and the command-line tool. */
export async function createClinician(db: Db, input: z.output<typeof createClinicianSchema>): Promise<Clinician> {
  if (db.select({ id: clinicians.id }).from(clinicians).where(eq(clinicians.email, input.email)).get()) {
    throw new AppError('conflict', 'A clinician with this email exists', [
      { path: 'email', message: 'is already in use' },
    ]);
  }
  const passwordHash = await hashPassword(input.password);
  return db
    .insert(clinicians)
    .values({
      id: randomUUID(),
      name: input.name,
      email: input.email,
      role: input.role,
      passwordHash,
      createdAt: Date.now(),
    })
    .returning()
    .get();
}

export interface CliniciansRouteOptions {
  db: Db;
  audit: AuditLog;
}

/** `/v1/clinicians` (admin): accounts for nurses, physicians and admins. */
export function cliniciansRoute({ db, audit }: CliniciansRouteOptions) {
  return new Hono<AppEnv>()
    .use(requireAdmin())
    .post('/', async (c) => {
      const clinician = await createClinician(db, parseOrThrow(createClinicianSchema, await c.req.json()));
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
    .get('/', (c) =>
      c.json({
        clinicians: db.select().from(clinicians).orderBy(asc(clinicians.createdAt)).all().map(presentClinician),
      }),
    );
}
