import { type Context, Hono } from 'hono';
import { recordAccess } from '../care-team/access.ts';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import { type AppEnv, requireAdmin } from '../auth/middleware.ts';
import type { DeviceDirectory } from '../devices/directory.ts';
import { parsePayload, rejectionsQuerySchema } from '../devices/routes.ts';
import { DEVICE_KINDS, type DeviceStore } from '../devices/store.ts';
import { AppError, parseOrThrow } from '../domain/errors.ts';
import type { PatientStore } from '../patients/store.ts';
import { VENDOR_NAMES, WITHINGS } from './registry.ts';
import type { Integration, IntegrationStore } from './store.ts';

export const createIntegrationSchema = z.strictObject({ vendor: z.enum(VENDOR_NAMES) });

export const linkWithingsUserSchema = z.strictObject({
  withingsUserId: z.string().regex(/^\d{1,20}$/, 'must be the Withings user id (digits)'),
  patientId: z.string().min(1),
  accessToken: z.string().min(1).max(4096),
  refreshToken: z.string().min(1).max(4096),
  /** When the access token expires; Homewatch refreshes it then. */
  expiresAt: z.iso.datetime({ offset: true }),
  /** The kind the Withings user's device is provisioned as, when linking creates it. */
  kind: z.enum(DEVICE_KINDS).default('scale'),
});

/** Where the vendor posts, as an absolute URL from the request's own origin (a proxy in front: its host). */
function vendorUrl(c: Context<AppEnv>, integration: Integration, secret?: string): string {
  const url = new URL(`/v1/vendors/${integration.vendor}`, new URL(c.req.url).origin);
  // Withings can only carry the secret in the notification URL itself.
  if (integration.vendor === WITHINGS && secret) url.searchParams.set('secret', secret);
  return url.href;
}

const presentIntegration = (c: Context<AppEnv>, integration: Integration) => ({
  id: integration.id,
  vendor: integration.vendor,
  url: vendorUrl(c, integration),
  createdAt: new Date(integration.createdAt).toISOString(),
});

export interface IntegrationsRouteOptions {
  integrations: IntegrationStore;
  devices: DeviceStore;
  patients: PatientStore;
  directory: DeviceDirectory;
  audit: AuditLog;
}

/** `/v1/integrations` (admin): vendor integrations, their rejections, and the Withings users linked to them. */
export function integrationsRoute({ integrations, devices, patients, directory, audit }: IntegrationsRouteOptions) {
  const record = (c: Context<AppEnv>, action: string, patientId: string | null) =>
    recordAccess(audit, c, action, patientId, 'success');
  const findIntegration = (id: string): Integration => {
    const integration = integrations.get(id);
    if (!integration) throw new AppError('not_found', 'No such integration');
    return integration;
  };

  return new Hono<AppEnv>()
    .use(requireAdmin())
    .post('/', async (c) => {
      const { vendor } = parseOrThrow(createIntegrationSchema, await c.req.json());
      const { integration, secret } = integrations.create(vendor, c.get('principal')!.id);
      await record(c, 'integration.create', null);
      // The secret is shown this once; only its hash is kept.
      return c.json({ ...presentIntegration(c, integration), url: vendorUrl(c, integration, secret), secret }, 201);
    })
    .get('/', (c) => c.json({ integrations: integrations.list().map((i) => presentIntegration(c, i)) }))
    .get('/:id/rejections', (c) => {
      const integration = findIntegration(c.req.param('id'));
      const { limit } = parseOrThrow(rejectionsQuerySchema, c.req.query(), 'query');
      return c.json({
        rejections: integrations.rejections(integration, limit).map((r) => ({
          receivedAt: new Date(r.receivedAt).toISOString(),
          deviceId: r.deviceId,
          transport: r.transport,
          reason: r.reason,
          payload: parsePayload(r.payload),
          rawPayload: r.payload,
          errors: r.errors,
        })),
      });
    })
    .post('/:id/withings-users', async (c) => {
      const integration = findIntegration(c.req.param('id'));
      if (integration.vendor !== WITHINGS) {
        throw new AppError('conflict', `This integration is for ${integration.vendor}, not Withings`);
      }
      const input = parseOrThrow(linkWithingsUserSchema, await c.req.json());
      if (!patients.get(input.patientId)) {
        throw new AppError('validation_failed', 'The request body is not valid', [
          { path: 'patientId', message: 'is not a known patient' },
        ]);
      }
      // The Withings user is the device: its readings come from whatever Withings devices the user has.
      let device = devices.findByVendorId(WITHINGS, input.withingsUserId);
      if (!device) {
        device = devices.create({
          kind: input.kind,
          patientId: input.patientId,
          vendor: WITHINGS,
          vendorDeviceId: input.withingsUserId,
        }).device;
        await record(c, 'device.create', input.patientId);
      } else if (device.patientId !== input.patientId) {
        const previous = device.patientId;
        device = devices.assign(device.id, input.patientId)!;
        directory.forget(device.id);
        if (previous) await record(c, 'device.unassign', previous);
        await record(c, 'device.assign', input.patientId);
      }
      const tokens = {
        accessToken: input.accessToken,
        refreshToken: input.refreshToken,
        expiresAt: Date.parse(input.expiresAt),
      };
      const created = integrations.linkWithingsUser(integration.id, input.withingsUserId, tokens);
      await record(c, 'withings_user.link', input.patientId);
      // Never the tokens: they are sealed in the database and used only to call Withings.
      return c.json(
        {
          integrationId: integration.id,
          withingsUserId: input.withingsUserId,
          deviceId: device.id,
          patientId: device.patientId,
          expiresAt: new Date(tokens.expiresAt).toISOString(),
        },
        created ? 201 : 200,
      );
    });
}
