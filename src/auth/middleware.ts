import type { Context, MiddlewareHandler } from 'hono';
import { AppError } from '../domain/errors.ts';
import type { DeviceDirectory, DeviceIdentity } from './device-directory.ts';
import { secretsEqual } from './tokens.ts';

/** Who is calling. Clinician sign-in adds a third kind; every endpoint asks for the kind it serves. */
export type Principal = { kind: 'admin'; id: 'admin-token' } | { kind: 'device'; device: DeviceIdentity };

export type AppEnv = { Variables: { principal: Principal | undefined; requestId: string } };

export interface AuthenticateOptions {
  adminToken: string | undefined;
  devices: DeviceDirectory;
}

/** Reads the bearer token, if any, and records who it belongs to; refusing is left to `require*`. */
export function authenticate({ adminToken, devices }: AuthenticateOptions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.set('principal', undefined);
    const header = c.req.header('authorization');
    const token = header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
    if (token) {
      if (adminToken && secretsEqual(token, adminToken)) {
        c.set('principal', { kind: 'admin', id: 'admin-token' });
      } else if (token.startsWith('hwd_')) {
        const device = devices.byToken(token);
        if (device) c.set('principal', { kind: 'device', device });
      }
    }
    await next();
  };
}

const unauthorized = () => new AppError('unauthorized', 'A valid bearer token is required');

/** Admin-only endpoints: 401 without a known token, 403 for anyone else. */
export function requireAdmin(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = c.get('principal');
    if (!principal) throw unauthorized();
    if (principal.kind !== 'admin') throw new AppError('forbidden', 'This endpoint is for administrators');
    await next();
  };
}

/** The device behind the request's token; 401 for a missing or unknown device token. */
export function requireDevice(c: Context<AppEnv>): DeviceIdentity {
  const principal = c.get('principal');
  if (principal?.kind === 'device') return principal.device;
  if (principal) throw new AppError('forbidden', 'Only a device token may post readings');
  throw new AppError('unauthorized', 'A valid device token is required (Authorization: Bearer <device token>)');
}
