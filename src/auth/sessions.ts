import { randomBytes } from 'node:crypto';
import { eq, lt, or } from 'drizzle-orm';
import type { Db } from '../store/db.ts';
import { clinicians, sessions } from '../store/schema.ts';
import { hashToken } from './tokens.ts';

export type ClinicianRole = (typeof clinicians.$inferSelect)['role'];

export interface SignedInClinician {
  id: string;
  name: string;
  email: string;
  role: ClinicianRole;
}

export interface SessionOptions {
  /** Signed out after this long without a request (automatic logoff, HIPAA 164.312(a)(2)(iii)). */
  idleMs: number;
  /** Signed out this long after signing in, however active. */
  maxAgeMs: number;
}

/** last_seen_at is written at most this often (or every half idle timeout, if shorter), so reads do not each cost a write. */
const TOUCH_EVERY_MS = 60_000;

/**
 * Opaque session tokens stored as SHA-256 hashes: revocable at once (sign-out, disabled account), with
 * idle and absolute expiry checked on every request.
 */
export class SessionStore {
  constructor(
    private readonly db: Db,
    private readonly options: SessionOptions,
  ) {}

  create(clinicianId: string, now = Date.now()): { token: string; expiresAt: number } {
    const token = `hws_${randomBytes(32).toString('base64url')}`;
    const expiresAt = now + this.options.maxAgeMs;
    this.db
      .insert(sessions)
      .values({ tokenHash: hashToken(token), clinicianId, createdAt: now, lastSeenAt: now, expiresAt })
      .run();
    // Expired sessions of anyone are useless; clear them while we are here.
    this.db
      .delete(sessions)
      .where(or(lt(sessions.expiresAt, now), lt(sessions.lastSeenAt, now - this.options.idleMs)))
      .run();
    return { token, expiresAt };
  }

  /** The signed-in clinician, or undefined for an unknown, expired, idle or disabled session. */
  resolve(token: string, now = Date.now()): SignedInClinician | undefined {
    const tokenHash = hashToken(token);
    const row = this.db
      .select({
        lastSeenAt: sessions.lastSeenAt,
        expiresAt: sessions.expiresAt,
        id: clinicians.id,
        name: clinicians.name,
        email: clinicians.email,
        role: clinicians.role,
        disabledAt: clinicians.disabledAt,
      })
      .from(sessions)
      .innerJoin(clinicians, eq(clinicians.id, sessions.clinicianId))
      .where(eq(sessions.tokenHash, tokenHash))
      .get();
    if (!row) return undefined;
    if (row.expiresAt <= now || row.lastSeenAt + this.options.idleMs <= now || row.disabledAt !== null) {
      this.db.delete(sessions).where(eq(sessions.tokenHash, tokenHash)).run();
      return undefined;
    }
    if (now - row.lastSeenAt >= Math.min(TOUCH_EVERY_MS, this.options.idleMs / 2)) {
      this.db.update(sessions).set({ lastSeenAt: now }).where(eq(sessions.tokenHash, tokenHash)).run();
    }
    return { id: row.id, name: row.name, email: row.email, role: row.role };
  }

  revoke(token: string): void {
    this.db
      .delete(sessions)
      .where(eq(sessions.tokenHash, hashToken(token)))
      .run();
  }

  /** Signs a clinician out everywhere (password reset, account disabled). */
  revokeAll(clinicianId: string): void {
    this.db.delete(sessions).where(eq(sessions.clinicianId, clinicianId)).run();
  }
}
