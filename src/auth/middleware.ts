import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { AppError } from '../domain/errors.ts';
import type { DeviceDirectory, DeviceIdentity } from '../devices/directory.ts';
import type { ClinicianRole, SessionStore, SignedInClinician } from './sessions.ts';
import { secretsEqual } from './tokens.ts';

/**
 * Who is calling. `id` is what the audit trail records as the actor. The admin token acts as an admin
 * clinician would; devices open only the device protocol.
 */
export type Principal =
  | { kind: 'admin-token'; id: 'admin-token'; role: 'admin' }
  | { kind: 'clinician'; id: string; role: ClinicianRole; clinician: SignedInClinician }
  | { kind: 'device'; id: string; device: DeviceIdentity };

export type AppEnv = {
  Variables: {
    principal: Principal | undefined;
    /** How the principal was signed in: the session cookie is sent by the browser on its own (CSRF). */
    credential: 'bearer' | 'cookie' | undefined;
    requestId: string;
    sessionToken: string | undefined;
    /** Set once this request's refusal is in the audit trail (src/audit/refusals.ts). */
    refusalAudited: boolean | undefined;
  };
};

/** The web app's session cookie: HttpOnly, SameSite=Strict, so scripts cannot read it and other sites cannot send it. */
export const SESSION_COOKIE = 'homewatch_session';

export interface AuthenticateOptions {
  adminToken: string | undefined;
  devices: DeviceDirectory;
  sessions: SessionStore;
}

/**
 * Reads the bearer token (or the session cookie) and records who it belongs to; refusing is left to
 * `requireRole`, `requireDevice` and the patient scope. Token kinds are told apart by prefix
 * (`hwd_` device, `hws_` session), so a device token is never looked up as a session or the reverse.
 */
export function authenticate({ adminToken, devices, sessions }: AuthenticateOptions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.set('principal', undefined);
    c.set('sessionToken', undefined);
    const bearer = c.req.header('authorization')?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
    const token = bearer ?? getCookie(c, SESSION_COOKIE);
    if (token?.startsWith('hws_')) {
      const clinician = sessions.resolve(token);
      if (clinician) {
        c.set('principal', { kind: 'clinician', id: clinician.id, role: clinician.role, clinician });
        c.set('sessionToken', token);
      }
    } else if (token?.startsWith('hwd_')) {
      const device = devices.byToken(token);
      if (device) c.set('principal', { kind: 'device', id: device.id, device });
    } else if (bearer && adminToken && secretsEqual(bearer, adminToken)) {
      c.set('principal', { kind: 'admin-token', id: 'admin-token', role: 'admin' });
    }
    c.set('credential', c.get('principal') ? (bearer ? 'bearer' : 'cookie') : undefined);
    await next();
  };
}

export const isAdmin = (principal: Principal | undefined) =>
  principal !== undefined && principal.kind !== 'device' && principal.role === 'admin';

/** The signed-in caller (admin token or clinician); 401 without one, 403 for a device. */
export function requireUser(c: Context<AppEnv>): Exclude<Principal, { kind: 'device' }> {
  const principal = c.get('principal');
  if (!principal) throw new AppError('unauthorized', 'Sign in first: a valid bearer token or session is required');
  if (principal.kind === 'device') throw new AppError('forbidden', 'Device tokens open only the device protocol');
  return principal;
}

/** Endpoints for some roles only: 401 when nobody is signed in, 403 for anyone else. */
export function requireRole(...roles: ClinicianRole[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = requireUser(c);
    if (!roles.includes(principal.role)) {
      throw new AppError(
        'forbidden',
        roles.length === 1 && roles[0] === 'admin'
          ? 'This endpoint is for administrators'
          : `This endpoint is for: ${roles.join(', ')}`,
      );
    }
    await next();
  };
}

export const requireAdmin = () => requireRole('admin');

/** The device behind the request's token; 401 for a missing or unknown device token. */
export function requireDevice(c: Context<AppEnv>): DeviceIdentity {
  const principal = c.get('principal');
  if (principal?.kind === 'device') return principal.device;
  if (principal) throw new AppError('forbidden', 'Only a device token may post readings');
  throw new AppError('unauthorized', 'A valid device token is required (Authorization: Bearer <device token>)');
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** The content types a cross-site HTML form cannot send: JSON needs a CORS preflight, which we never grant. */
const JSON_CONTENT_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;

export interface CsrfGuardOptions {
  /** Other origins trusted to send the cookie (CORS_ORIGINS), besides the service's own. */
  trustedOrigins?: string[];
}

/**
 * Cross-site request forgery: the session cookie is SameSite=Strict, but "site" ignores ports and
 * sub-domains, so a page elsewhere on the same host can still make the browser send it. A state-changing
 * request signed in by the cookie must therefore come from our own origin (its `Origin`, or
 * `Sec-Fetch-Site: same-origin`; neither can be set by a page), and carry its body as JSON, which no
 * HTML form can send. Otherwise 403 `csrf`. Bearer tokens are never sent by the browser on its own.
 */
export function csrfGuard({ trustedOrigins = [] }: CsrfGuardOptions = {}): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (STATE_CHANGING.has(c.req.method) && c.get('credential') === 'cookie') {
      const origin = c.req.header('origin');
      const sameOrigin =
        c.req.header('sec-fetch-site') === 'same-origin' ||
        (origin !== undefined && (origin === ownOrigin(c) || trustedOrigins.includes(origin)));
      if (!sameOrigin) {
        throw new AppError(
          'csrf',
          "A change made with the session cookie must come from Homewatch's own pages (Origin or Sec-Fetch-Site)",
        );
      }
      const hasBody =
        (c.req.header('content-length') ?? '0') !== '0' || c.req.header('transfer-encoding') !== undefined;
      if (hasBody && !JSON_CONTENT_TYPE.test(c.req.header('content-type') ?? '')) {
        throw new AppError('csrf', 'A change made with the session cookie must send its body as application/json');
      }
    }
    await next();
  };
}

/**
 * The origin the browser sees us at: the Host it asked for, with the scheme a TLS-terminating proxy
 * reports in X-Forwarded-Proto (a page cannot set that header on a cross-site request), else our own.
 */
function ownOrigin(c: Context<AppEnv>): string {
  const forwarded = c.req.header('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
  const scheme = forwarded === 'https' || forwarded === 'http' ? forwarded : new URL(c.req.url).protocol.slice(0, -1);
  return `${scheme}://${c.req.header('host')}`;
}
