import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { type AlertActions, type AlertStore, presentEscalation } from './store.ts';
import { acknowledge, presentAlert, resolve, type Alert } from './lifecycle.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { recordAccess, requireVisible, type PatientAccess } from '../care-team/access.ts';
import { requireUser, type AppEnv } from '../auth/middleware.ts';
import { cursorParam, encodeCursor } from '../domain/cursor.ts';
import { DURATION_PATTERN, parseDuration } from '../domain/duration.ts';
import { parseOrThrow } from '../domain/errors.ts';
import { SEVERITIES } from '../domain/rule.ts';
import type { AlertChange } from '../rules/engine.ts';

export const alertsQuerySchema = z.strictObject({
  status: z.enum(['open', 'acknowledged', 'resolved']).optional(),
  patientId: z.string().min(1).optional(),
  severity: z.enum(SEVERITIES).optional(),
  /** `true`: only alerts that reached nobody on the care team (for admins to follow up). */
  unreachable: z.enum(['true', 'false']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  /** The `next` value of the previous page. */
  cursor: z.string().min(1).optional(),
});

/** The longest a resolve may silence its rule for the patient. */
const QUIET_FOR_MAX_MS = 30 * 86_400_000;

export const resolveSchema = z.strictObject({
  note: z.string().trim().max(2000).optional(),
  /** "7d": the rule opens no new alert for this patient for that long (at most 30d). */
  quietFor: z
    .string()
    .regex(DURATION_PATTERN, 'must be a duration such as 12h or 7d')
    .transform((text) => parseDuration(text)!)
    .refine((ms) => ms <= QUIET_FOR_MAX_MS, 'must be at most 30d')
    .optional(),
});

export interface AlertsRouteOptions {
  alerts: AlertStore;
  access: PatientAccess;
  audit: AuditLog;
  actions: AlertActions;
  /** A rule was quieted for a patient (resolve with quietFor): the rules must know before the next reading. */
  onRuleQuieted: (patientId: string) => void;
  onAlertChanges: (changes: AlertChange[]) => void;
}

/** `/v1/alerts`: the care team's inbox, newest first; acknowledge and resolve. */
export function alertsRoute({ alerts, actions, access, audit, onAlertChanges, onRuleQuieted }: AlertsRouteOptions) {
  const record = (c: Context<AppEnv>, action: string, patientId: string | null, outcome: 'success' | 'denied') =>
    recordAccess(audit, c, action, patientId, outcome);

  /** The alert, if the caller may see its patient; otherwise 404 (audited), as for patients. */
  const findAlert = async (c: Context<AppEnv>, action: string): Promise<Alert> => {
    const alert = alerts.get(c.req.param('id') ?? '');
    await requireVisible({ access, audit }, c, action, alert?.patientId, 'No such alert');
    return alert!;
  };

  /** Applies a clinician's transition and audits it. */
  const transition = async (
    c: Context<AppEnv>,
    action: string,
    change: (alert: Alert, by: string, at: number) => Alert,
    event: 'acknowledged' | 'resolved',
  ) => {
    const alert = await findAlert(c, action);
    const by = requireUser(c).id;
    const updated = await actions.apply(alert.id, change, by, event);
    await record(c, action, alert.patientId, 'success');
    onAlertChanges([{ alert: updated, event }]);
    return c.json(presentAlert(updated));
  };

  return new Hono<AppEnv>()
    .get('/', async (c) => {
      const principal = requireUser(c);
      const query = parseOrThrow(alertsQuerySchema, c.req.query(), 'query');
      // One patient's alerts: 404 (audited) for a patient the caller may not see, as everywhere else.
      if (query.patientId) await requireVisible({ access, audit }, c, 'alerts.list', query.patientId);
      const before = query.cursor ? cursorParam(query.cursor) : undefined;
      const page = alerts.list({
        ...query,
        unreachable: query.unreachable === 'true',
        patientIds: access.visiblePatientIds(principal),
        before,
        limit: query.limit + 1,
      });
      const last = page[query.limit - 1];
      await record(c, 'alerts.list', query.patientId ?? null, 'success');
      return c.json({
        alerts: page.slice(0, query.limit).map(presentAlert),
        ...(page.length > query.limit && last ? { next: encodeCursor(last.openedAt, last.id) } : {}),
      });
    })
    .get('/:id', async (c) => {
      const alert = await findAlert(c, 'alert.read');
      await record(c, 'alert.read', alert.patientId, 'success');
      return c.json(presentAlert(alert));
    })
    .get('/:id/deliveries', async (c) => {
      const alert = await findAlert(c, 'alert.deliveries.read');
      await record(c, 'alert.deliveries.read', alert.patientId, 'success');
      const { escalation, attempts } = alerts.deliveriesFor([alert.id]).get(alert.id)!;
      const iso = (ms: number) => new Date(ms).toISOString();
      return c.json({
        escalation: escalation && presentEscalation(escalation),
        deliveries: attempts.map((d) => ({
          at: iso(d.at),
          event: d.event,
          channel: d.channel,
          tier: d.tier,
          round: d.round,
          repeat: d.repeat,
          clinicianId: d.clinicianId,
          status: d.status,
          httpStatus: d.httpStatus,
          attempt: d.attempt,
          error: d.error,
        })),
      });
    })
    .post('/:id/acknowledge', (c) => transition(c, 'alert.acknowledge', acknowledge, 'acknowledged'))
    .post('/:id/resolve', async (c) => {
      const text = await c.req.text();
      const { note, quietFor } = parseOrThrow(resolveSchema, text ? JSON.parse(text) : {});
      const answer = await transition(
        c,
        'alert.resolve',
        (alert, by, at) => resolve(alert, by, at, note ?? null),
        'resolved',
      );
      if (quietFor !== undefined) {
        const alert = alerts.get(c.req.param('id'))!;
        await actions.quiet(alert.patientId, alert.ruleId, Date.now() + quietFor, requireUser(c).id);
        onRuleQuieted(alert.patientId);
      }
      return answer;
    });
}
