import { Hono } from 'hono';
import { z } from 'zod';
import type { AuditLog } from './audit-log.ts';
import { requireAdmin, type AppEnv } from '../auth/middleware.ts';
import { parseOrThrow } from '../domain/errors.ts';

export const auditQuerySchema = z.strictObject({
  patientId: z.string().min(1).optional(),
  actorId: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
});

/** `/v1/audit` (admin): who touched which patient's data, newest first; `/verify` checks the hash chain. */
export function auditRoute({ audit }: { audit: AuditLog }) {
  return new Hono<AppEnv>()
    .use(requireAdmin())
    .get('/', (c) => {
      const query = parseOrThrow(auditQuerySchema, c.req.query(), 'query');
      return c.json({
        events: audit.list(query).map((e) => ({
          at: new Date(e.at).toISOString(),
          actorId: e.actorId,
          action: e.action,
          patientId: e.patientId,
          outcome: e.outcome,
          requestId: e.requestId,
        })),
      });
    })
    .get('/verify', (c) => c.json(audit.verify()));
}
