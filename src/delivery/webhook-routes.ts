import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import { requireAdmin, type AppEnv } from '../auth/middleware.ts';
import { AppError, parseOrThrow } from '../domain/errors.ts';
import type { DeliveryTargetStore, Webhook } from './store.ts';
import { type Resolve, resolveAll, webhookUrlProblem } from './webhook.ts';

export const createWebhookSchema = z.strictObject({
  url: z.url({ protocol: /^https$/, error: 'must be an https URL' }).max(2048),
  /** Given, or generated and shown once. */
  secret: z.string().min(16).max(256).optional(),
});

export interface WebhooksRouteOptions {
  targets: DeliveryTargetStore;
  audit: AuditLog;
  /** WEBHOOK_ALLOWED_HOSTS: hosts a webhook may reach although they are not public. */
  allowedHosts: readonly string[];
  resolve?: Resolve;
}

/** `/v1/webhooks` (admin): agency endpoints that receive every alert event, signed with HMAC-SHA256. */
export function webhooksRoute({ targets, audit, allowedHosts, resolve = resolveAll }: WebhooksRouteOptions) {
  const present = (hook: Webhook) => ({
    id: hook.id,
    url: hook.url,
    createdAt: new Date(hook.createdAt).toISOString(),
  });
  return new Hono<AppEnv>()
    .use(requireAdmin())
    .post('/', async (c) => {
      const input = parseOrThrow(createWebhookSchema, await c.req.json(), 'webhook');
      // Checked again at every connection (WebhookAgent): the name may resolve elsewhere by then.
      const problem = await webhookUrlProblem(input.url, allowedHosts, resolve);
      if (problem)
        throw new AppError('validation_failed', 'The webhook is not valid', [{ path: 'url', message: problem }]);
      const secret = input.secret ?? randomBytes(32).toString('base64url');
      const hook = targets.createWebhook(input.url, secret);
      await audit.record({
        at: Date.now(),
        actorId: c.get('principal')!.id,
        action: 'webhook.create',
        patientId: null,
        outcome: 'success',
        requestId: c.get('requestId'),
      });
      return c.json({ ...present(hook), secret }, 201);
    })
    .get('/', (c) => c.json({ webhooks: targets.listWebhooks().map(present) }))
    .delete('/:id', async (c) => {
      const removed = targets.removeWebhook(c.req.param('id'));
      if (!removed) throw new AppError('not_found', 'No such webhook');
      await audit.record({
        at: Date.now(),
        actorId: c.get('principal')!.id,
        action: 'webhook.delete',
        patientId: null,
        outcome: 'success',
        requestId: c.get('requestId'),
      });
      return c.body(null, 204);
    });
}
