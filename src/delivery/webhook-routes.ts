import { randomBytes, randomUUID } from 'node:crypto';
import { asc, eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import { requireAdmin, type AppEnv } from '../auth/middleware.ts';
import { AppError, parseOrThrow } from '../domain/errors.ts';
import type { Db } from '../store/db.ts';
import { webhooks } from '../store/schema.ts';

export const createWebhookSchema = z.strictObject({
  url: z.url({ protocol: /^https$/, error: 'must be an https URL' }).max(2048),
  /** Given, or generated and shown once. */
  secret: z.string().min(16).max(256).optional(),
});

/** `/v1/webhooks` (admin): agency endpoints that receive every alert event, signed with HMAC-SHA256. */
export function webhooksRoute({ db, audit }: { db: Db; audit: AuditLog }) {
  const present = (hook: typeof webhooks.$inferSelect) => ({
    id: hook.id,
    url: hook.url,
    createdAt: new Date(hook.createdAt).toISOString(),
  });
  return new Hono<AppEnv>()
    .use(requireAdmin())
    .post('/', async (c) => {
      const input = parseOrThrow(createWebhookSchema, await c.req.json(), 'webhook');
      const secret = input.secret ?? randomBytes(32).toString('base64url');
      const hook = db
        .insert(webhooks)
        .values({ id: randomUUID(), url: input.url, secret, createdAt: Date.now() })
        .returning()
        .get();
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
    .get('/', (c) =>
      c.json({ webhooks: db.select().from(webhooks).orderBy(asc(webhooks.createdAt)).all().map(present) }),
    )
    .delete('/:id', async (c) => {
      const removed = db
        .delete(webhooks)
        .where(eq(webhooks.id, c.req.param('id')))
        .returning()
        .get();
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
