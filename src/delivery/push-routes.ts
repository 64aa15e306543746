import { Hono } from 'hono';
import { z } from 'zod';
import { requireUser, type AppEnv } from '../auth/middleware.ts';
import { AppError, parseOrThrow } from '../domain/errors.ts';
import { hostListed } from './allowed-hosts.ts';
import type { DeliveryTargetStore } from './store.ts';

const base64url = (bytes: number, what: string) =>
  z
    .string()
    .refine(
      (text) => /^[A-Za-z0-9_-]+={0,2}$/.test(text) && Buffer.from(text, 'base64url').length === bytes,
      `must be the ${what} (${bytes} bytes, base64url)`,
    );

/** A browser's `PushSubscription.toJSON()`. */
export const pushSubscriptionSchema = z.strictObject({
  endpoint: z.url({ protocol: /^https$/, error: 'must be an https URL' }).max(2048),
  expirationTime: z.number().nullable().optional(),
  keys: z.strictObject({ p256dh: base64url(65, 'P-256 public key'), auth: base64url(16, 'auth secret') }),
});

export const pushUnsubscribeSchema = z.strictObject({ endpoint: z.string().min(1) });

/**
 * Whether a push endpoint's host is one we may call: `PUSH_ENDPOINT_HOSTS` lists host names, `host:port`
 * pairs and `*.domain` wildcards. Without this, a subscription could aim the service's requests at an
 * internal address (SSRF).
 */
export function endpointAllowed(endpoint: string, allowed: readonly string[]): boolean {
  return hostListed(new URL(endpoint), allowed, 'https port only');
}

export interface PushRouteOptions {
  targets: DeliveryTargetStore;
  vapidPublicKey: string;
  pushEndpointHosts: string[];
}

/** `/v1/push`: the VAPID key for the browser, and the signed-in clinician's subscriptions. */
export function pushRoute({ targets, vapidPublicKey, pushEndpointHosts }: PushRouteOptions) {
  const clinicianOf = (c: Parameters<typeof requireUser>[0]) => {
    const principal = requireUser(c);
    if (principal.kind !== 'clinician')
      throw new AppError('forbidden', 'Push subscriptions belong to a signed-in clinician, not the admin token');
    return principal.id;
  };

  return new Hono<AppEnv>()
    .get('/public-key', (c) => c.json({ publicKey: vapidPublicKey }))
    .post('/subscriptions', async (c) => {
      const clinicianId = clinicianOf(c);
      const input = parseOrThrow(pushSubscriptionSchema, await c.req.json(), 'push subscription');
      if (!endpointAllowed(input.endpoint, pushEndpointHosts)) {
        throw new AppError('validation_failed', 'The push subscription is not valid', [
          {
            path: 'endpoint',
            message: `${new URL(input.endpoint).host} is not an allowed push service (PUSH_ENDPOINT_HOSTS)`,
          },
        ]);
      }
      const saved = targets.savePushSubscription({
        clinicianId,
        endpoint: input.endpoint,
        p256dh: input.keys.p256dh,
        auth: input.keys.auth,
      });
      if (saved.outcome === 'taken') {
        throw new AppError('conflict', 'This push subscription belongs to another clinician', [
          { path: 'endpoint', message: 'is registered to another clinician' },
        ]);
      }
      return c.json({ id: saved.id, endpoint: saved.endpoint }, 201);
    })
    .delete('/subscriptions', async (c) => {
      const clinicianId = clinicianOf(c);
      const { endpoint } = parseOrThrow(pushUnsubscribeSchema, await c.req.json());
      targets.removePushSubscription(clinicianId, endpoint);
      return c.body(null, 204);
    });
}
