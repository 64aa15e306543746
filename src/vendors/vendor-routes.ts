import { type Context, Hono } from 'hono';
import type { AppEnv } from '../auth/middleware.ts';
import { hashToken, secretsEqual } from '../auth/tokens.ts';
import { AppError } from '../domain/errors.ts';
import { MAX_BODY_BYTES } from '../ingest/http.ts';
import { readBody } from '../ops/body-limit.ts';
import { KEPT_HEAD_BYTES } from '../store/rejection-log.ts';
import type { PushVendor } from './mapping.ts';
import { PUSH_VENDORS, WITHINGS } from './registry.ts';
import type { Integration, IntegrationStore } from './store.ts';
import type { VendorIngest } from './vendor-ingest.ts';
import type { WithingsSync } from './withings-sync.ts';

export interface VendorRoutesOptions {
  integrations: IntegrationStore;
  receiver: VendorIngest;
  withings: WithingsSync;
}

/**
 * `/v1/vendors/{vendor}`: the vendors' clouds post here. Authenticated by the integration's secret, as
 * each vendor can send it; then the payload goes through the vendor's mapping and the one pipeline.
 * Answers: 200 once everything is stored or kept (unknown devices and unreadable payloads are kept among
 * the integration's rejections, since sending them again would not help), 401 for a wrong secret, 413
 * over 1 MiB, 503 when the service or Withings cannot take it now (the vendor sends it again).
 */
export function vendorRoutes({ integrations, receiver, withings }: VendorRoutesOptions) {
  /** The body, at most 1 MiB; over it, its head is kept among the integration's rejections and 413 answered. */
  const bodyOf = async (c: Context<AppEnv>, integration: Integration): Promise<string> => {
    const body = await readBody(c, MAX_BODY_BYTES, KEPT_HEAD_BYTES);
    if ('body' in body) return body.body.toString('utf8');
    const error = new AppError('payload_too_large', 'The body is over 1 MiB');
    await receiver.keep(integration, body.tooLarge.toString('utf8'), 'malformed', [
      { path: '', message: 'the body is over 1 MiB; its first 4 KiB are kept' },
    ]);
    throw error;
  };
  const app = new Hono<AppEnv>();

  for (const vendor of Object.values(PUSH_VENDORS)) {
    app.post(`/${vendor.name}`, async (c) => {
      const integration = authenticate(c, integrations, vendor);
      if (integration instanceof Response) return integration;
      const raw = await bodyOf(c, integration);
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        await receiver.keep(integration, raw, 'malformed', [{ path: '', message: 'must be valid JSON' }]);
        return c.json({ accepted: 0, duplicates: 0, rejected: 1, ignored: 0, unknownDevices: [] });
      }
      return c.json(await receiver.receive(integration, vendor.map(body)));
    });
  }

  const withingsIntegration = (c: Context<AppEnv>) => {
    const integration = integrations.findBySecret(c.req.query('secret') ?? '');
    if (integration?.vendor !== WITHINGS) {
      throw new AppError('unauthorized', 'The secret in the notification URL is not that of a Withings integration');
    }
    return integration;
  };
  // Withings checks that a callback URL answers (a HEAD, which Hono serves from GET) before it subscribes it.
  app.get(`/${WITHINGS}`, (c) => {
    withingsIntegration(c);
    return c.json({ vendor: WITHINGS, ready: true });
  });
  app.post(`/${WITHINGS}`, async (c) => {
    const integration = withingsIntegration(c);
    const raw = await bodyOf(c, integration);
    const form = Object.fromEntries(new URLSearchParams(raw));
    return c.json(await withings.notify(integration, form, raw));
  });
  return app;
}

/**
 * The integration the request's secret belongs to, if it is one of this vendor's: a bearer token, or
 * HTTP Basic with the integration's id as user. Otherwise the 401 to answer.
 */
function authenticate(c: Context<AppEnv>, integrations: IntegrationStore, vendor: PushVendor): Integration | Response {
  const header = c.req.header('authorization') ?? '';
  let integration: Integration | undefined;
  if (vendor.auth === 'bearer') {
    const secret = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
    integration = secret ? integrations.findBySecret(secret) : undefined;
  } else {
    const credentials = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header)?.[1];
    const [user, ...password] = credentials ? Buffer.from(credentials, 'base64').toString('utf8').split(':') : [];
    const candidate = user ? integrations.get(user) : undefined;
    // Compared as hashes, in constant time: the stored hash is all there is.
    if (candidate && secretsEqual(hashToken(password.join(':')), candidate.secretHash)) integration = candidate;
  }
  if (integration?.vendor === vendor.name) return integration;
  const error = new AppError('unauthorized', `Not the secret of a ${vendor.title} integration`);
  const challenge = vendor.auth === 'bearer' ? 'Bearer' : `Basic realm="homewatch", charset="UTF-8"`;
  return c.json(error.toBody(), 401, { 'WWW-Authenticate': challenge });
}
