import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import { requireUser, SESSION_COOKIE, type AppEnv } from './middleware.ts';
import { verifyPassword } from './passwords.ts';
import type { SessionStore } from './sessions.ts';
import { clientAddress, SignInThrottle } from './sign-in-throttle.ts';
import { AppError, parseOrThrow } from '../domain/errors.ts';
import { type ClinicianStore, presentClinician } from '../clinicians/store.ts';

export const loginSchema = z.strictObject({
  email: z.string().trim().toLowerCase().min(1).max(254),
  password: z.string().min(1).max(1024),
});

export interface AuthRouteOptions {
  clinicians: ClinicianStore;
  sessions: SessionStore;
  audit: AuditLog;
  /** TRUST_PROXY: the client's address is the right-most X-Forwarded-For entry, not the connection's. */
  trustProxy?: boolean;
}

/** `/v1/auth`: sign-in (bearer token and session cookie), sign-out, and who am I. */
export function authRoute({ clinicians, sessions, audit, trustProxy = false }: AuthRouteOptions) {
  const throttle = new SignInThrottle();

  return new Hono<AppEnv>()
    .post('/login', async (c) => {
      const { email, password } = parseOrThrow(loginSchema, await c.req.json());
      const address = clientAddress(getConnInfo(c).remote.address, c.req.header('x-forwarded-for'), trustProxy);
      const requestId = c.get('requestId');
      const clinician = clinicians.findByEmail(email);
      const entry = { actorId: clinician?.id ?? null, action: 'login', patientId: null, requestId };

      // Failed passwords slow that account from that address down (and, gently, the address), never the
      // account everywhere: the right password from another address always gets in at once.
      const wait = throttle.attempt(email, address);
      if (wait > 0) {
        await audit.record({ ...entry, at: Date.now(), outcome: 'denied' });
        throw new AppError('rate_limited', 'Too many failed sign-ins from here; wait before trying again', [], wait);
      }
      const valid = await verifyPassword(password, clinician?.passwordHash);
      if (!valid || !clinician || clinician.disabledAt !== null) {
        throttle.failed(email, address);
        await audit.record({ ...entry, at: Date.now(), outcome: 'failure' });
        throw new AppError('unauthorized', 'The email or the password is wrong');
      }
      throttle.succeeded(email, address);
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
