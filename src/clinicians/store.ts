import { randomUUID } from 'node:crypto';
import { asc, count, eq, inArray } from 'drizzle-orm';
import { z } from 'zod';
import { hashPassword, newPasswordSchema } from '../auth/passwords.ts';
import { AppError } from '../domain/errors.ts';
import type { Db } from '../store/db.ts';
import { clinicians, sessions } from '../store/schema.ts';

export const CLINICIAN_ROLES = ['admin', 'nurse', 'physician'] as const;

export const createClinicianSchema = z.strictObject({
  name: z.string().trim().min(1).max(200),
  email: z
    .email()
    .max(254)
    .transform((email) => email.toLowerCase()),
  role: z.enum(CLINICIAN_ROLES),
  password: newPasswordSchema,
});

/** `PATCH /v1/clinicians/{id}`: what an admin may change about an account. */
export const updateClinicianSchema = z.strictObject({
  /** true ends the clinician's sessions, refuses their sign-in and takes them out of routing; false undoes it. */
  disabled: z.boolean(),
});

export type Clinician = typeof clinicians.$inferSelect;

/** A clinician as the API shows them; the password hash never leaves the database. */
export function presentClinician(clinician: Pick<Clinician, 'id' | 'name' | 'email' | 'role'>) {
  return { id: clinician.id, name: clinician.name, email: clinician.email, role: clinician.role };
}

/** Clinician accounts: the one place their rows are read and written, for the API, the CLI and sign-in. */
export class ClinicianStore {
  constructor(private readonly db: Db) {}

  async create(input: z.output<typeof createClinicianSchema>): Promise<Clinician> {
    if (this.findByEmail(input.email)) {
      throw new AppError('conflict', 'A clinician with this email exists', [
        { path: 'email', message: 'is already in use' },
      ]);
    }
    const passwordHash = await hashPassword(input.password);
    return this.db
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

  get(id: string): Clinician | undefined {
    return this.db.select().from(clinicians).where(eq(clinicians.id, id)).get();
  }

  findByEmail(email: string): Clinician | undefined {
    return this.db.select().from(clinicians).where(eq(clinicians.email, email)).get();
  }

  list(): Clinician[] {
    return this.db.select().from(clinicians).orderBy(asc(clinicians.createdAt)).all();
  }

  count(): number {
    return this.db.select({ n: count() }).from(clinicians).get()?.n ?? 0;
  }

  /** Only active accounts (not disabled), with their roles: a care team is made of these. */
  activeRoles(ids: readonly string[]): Map<string, Clinician['role']> {
    if (ids.length === 0) return new Map();
    return new Map(
      this.db
        .select({ id: clinicians.id, role: clinicians.role, disabledAt: clinicians.disabledAt })
        .from(clinicians)
        .where(inArray(clinicians.id, [...ids]))
        .all()
        .filter((row) => row.disabledAt === null)
        .map((row) => [row.id, row.role]),
    );
  }

  /** id → name, for showing who acted on an alert. */
  names(ids: ReadonlyArray<string | null>): Map<string, string> {
    const wanted = [...new Set(ids.filter((id): id is string => id !== null))];
    if (wanted.length === 0) return new Map();
    return new Map(
      this.db
        .select({ id: clinicians.id, name: clinicians.name })
        .from(clinicians)
        .where(inArray(clinicians.id, wanted))
        .all()
        .map((row) => [row.id, row.name]),
    );
  }

  /**
   * Disables or re-enables an account; undefined for an unknown id. Disabling also ends every session of
   * the clinician, in the same transaction (sign-in and session checks refuse a disabled account too, so
   * nothing can slip in between); re-enabling brings none of them back.
   */
  setDisabled(id: string, disabled: boolean, now = Date.now()): Clinician | undefined {
    return this.db.transaction((tx) => {
      const current = tx.select().from(clinicians).where(eq(clinicians.id, id)).get();
      if (!current) return undefined;
      if (disabled) tx.delete(sessions).where(eq(sessions.clinicianId, id)).run();
      if (disabled === (current.disabledAt !== null)) return current;
      return tx
        .update(clinicians)
        .set({ disabledAt: disabled ? now : null })
        .where(eq(clinicians.id, id))
        .returning()
        .get();
    });
  }

  async setPassword(id: string, password: string): Promise<void> {
    const passwordHash = await hashPassword(password);
    this.db.update(clinicians).set({ passwordHash }).where(eq(clinicians.id, id)).run();
  }
}
