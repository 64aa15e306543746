import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import { requireUser, SESSION_COOKIE, type AppEnv } from './middleware.ts';
import { verifyPassword } from './passwords.ts';
import type { SessionStore } from './sessions.ts';
import { AppError, parseOrThrow } from '../domain/errors.ts';
import { RateLimiter } from '../ingest/rate-limit.ts';
import { type ClinicianStore, presentClinician } from '../clinicians/store.ts';

/** Failed sign-ins allowed per account and per address in a 15-minute window, before 429. */
const FAILURES_PER_ACCOUNT = 5;
const FAILURES_PER_ADDRESS = 20;
const FAILURE_WINDOW_MS = 15 * 60_000;

export const loginSchema = z.strictObject({
  email: z.string().trim().toLowerCase().min(1).max(254),
  password: z.string().min(1).max(1024),
});

export interface AuthRouteOptions {
  clinicians: ClinicianStore;
  sessions: SessionStore;
  audit: AuditLog;
}

/** `/v1/auth`: sign-in (bearer token and session cookie), sign-out, and who am I. */
export function authRoute({ clinicians, sessions, audit }: AuthRouteOptions) {
  const accountFailures = new RateLimiter(FAILURES_PER_ACCOUNT, FAILURE_WINDOW_MS);
  const addressFailures = new RateLimiter(FAILURES_PER_ADDRESS, FAILURE_WINDOW_MS);

  return new Hono<AppEnv>()
    .post('/login', async (c) => {
      const { email, password } = parseOrThrow(loginSchema, await c.req.json());
      const address = getConnInfo(c).remote.address ?? 'unknown';
      const requestId = c.get('requestId');
      const clinician = clinicians.findByEmail(email);
      const entry = { actorId: clinician?.id ?? null, action: 'login', patientId: null, requestId };

      // Each attempt is counted before the (slow) password check and given back if it succeeds, so that
      // guesses sent all at once cannot all get past the limit while the first ones are still checked.
      const wait = Math.max(accountFailures.check(email), addressFailures.check(address));
      if (wait > 0) {
        await audit.record({ ...entry, at: Date.now(), outcome: 'denied' });
        throw new AppError('rate_limited', 'Too many failed sign-ins; wait before trying again', [], wait);
      }
      accountFailures.take(email);
      addressFailures.take(address);
      const valid = await verifyPassword(password, clinician?.passwordHash);
      if (!valid || !clinician || clinician.disabledAt !== null) {
        await audit.record({ ...entry, at: Date.now(), outcome: 'failure' });
        throw new AppError('unauthorized', 'The email or the password is wrong');
      }
      addressFailures.give(address);
      accountFailures.reset(email);
      const session = sessions.create(clinician.id);
      setCookie(c, SESSION_COOKIE, session.token, {
        httpOnly: true,
        sameSite: 'Strict',
        secure: new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https',
        path: '/',
        expires: new Date(session.expiresAt),
      });
      await audit.record({ ...entry, at: Date.now(), outcome: 'success' });
      return c.json({
        token: session.token,
        expiresAt: new Date(session.expiresAt).toISOString(),
        clinician: presentClinician(clinician),
      });
    })
    .post('/logout', async (c) => {
      const principal = requireUser(c);
      const token = c.get('sessionToken');
      if (token) sessions.revoke(token);
      deleteCookie(c, SESSION_COOKIE, { path: '/' });
      await audit.record({
        at: Date.now(),
        actorId: principal.id,
        action: 'logout',
        patientId: null,
        outcome: 'success',
        requestId: c.get('requestId'),
      });
      return c.body(null, 204);
    })
    .get('/me', (c) => {
      const principal = requireUser(c);
      if (principal.kind === 'admin-token') return c.json({ clinician: null, role: 'admin', actorId: principal.id });
      return c.json({ clinician: principal.clinician, role: principal.role, actorId: principal.id });
    });
}
