import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { AuditLog } from './audit-log.ts';
import type { AppEnv } from '../auth/middleware.ts';
import { AppError } from '../domain/errors.ts';

/** Refusals of a known caller that the trail keeps: a role or CSRF (403), a body too large (413), too many requests (429). */
const AUDITED_STATUSES = new Set([403, 413, 429]);

/**
 * Audits every request refused to a known caller (clinician, admin token, device) as `denied`, with the
 * error code, the method and the route as its action (`forbidden POST /v1/patients`), and the patient
 * when the route is one patient's. Patient-scope 404s are audited where they are decided
 * (requireVisible), which marks the request so it is not audited twice.
 *
 * Not audited here: refusals of nobody in particular (no or an unknown token), which anyone can send in
 * any number and which the request log keeps, like 401s; and a device's 413 and 429 on the device
 * protocol, which are kept among its rejections (capped per device).
 */
export function auditRefusals(audit: AuditLog): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    const principal = c.get('principal');
    const { status } = c.res;
    if (!principal || !AUDITED_STATUSES.has(status) || c.get('refusalAudited')) return;
    if (principal.kind === 'device' && status !== 403) return;
    const code = c.error instanceof AppError ? c.error.code : String(status);
    const route = endpointOf(c);
    await audit.record({
      at: Date.now(),
      actorId: principal.id,
      action: `${code} ${c.req.method} ${route}`,
      patientId: route.startsWith('/v1/patients/:id') ? patientIdOf(c.req.path) : null,
      outcome: 'denied',
      requestId: c.get('requestId'),
    });
  };
}

/** The route pattern of the endpoint the request was for (not of a middleware), as registered. */
function endpointOf(c: Context<AppEnv>): string {
  const routes = matchedRoutes(c);
  return (routes.findLast((route) => route.method !== 'ALL') ?? routes.at(-1))?.path ?? '*';
}

function patientIdOf(path: string): string | null {
  const segment = /^\/v1\/patients\/([^/]{1,200})/.exec(path)?.[1];
  if (!segment) return null;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
