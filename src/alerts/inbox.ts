import { Hono } from 'hono';
import { z } from 'zod';
import { type AlertStore, presentEscalation } from './store.ts';
import { presentAlert, type Alert } from './lifecycle.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { recordAccess, requireVisible, type PatientAccess } from '../care-team/access.ts';
import { requireUser, type AppEnv } from '../auth/middleware.ts';
import { parseOrThrow } from '../domain/errors.ts';
import { SEVERITIES } from '../domain/rule.ts';
import { defaultEscalationPolicy } from '../delivery/escalation-policy.ts';
import type { CareTeamMember, CareTeamStore } from '../care-team/store.ts';
import type { ClinicianStore } from '../clinicians/store.ts';
import type { PatientStore } from '../patients/store.ts';

export const inboxQuerySchema = z.strictObject({
  /** Only this patient's alerts (the patient page's alert history). */
  patientId: z.string().min(1).optional(),
  /** How many resolved alerts to add after the unresolved ones, newest first. */
  resolved: z.coerce.number().int().min(0).max(500).default(10),
});

/** Unresolved alerts shown at most; beyond this the inbox says how many were left out. */
const UNRESOLVED_LIMIT = 500;

const STATUS_RANK = { open: 0, acknowledged: 1, resolved: 2 } as const;
/** SEVERITIES runs info → critical, so a higher index is more severe. */
const SEVERITY_RANK = Object.fromEntries(SEVERITIES.map((s, i) => [s, i])) as Record<
  (typeof SEVERITIES)[number],
  number
>;

/** The order a nurse works in: open before acknowledged before resolved, then by severity, then newest first. */
export function inboxOrder(a: Alert, b: Alert): number {
  return (
    STATUS_RANK[a.status] - STATUS_RANK[b.status] ||
    SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] ||
    b.openedAt - a.openedAt ||
    (a.id < b.id ? -1 : 1)
  );
}

/** Care-team roles of each routing tier, for naming who an alert escalates to next (the tiers are not configurable). */
const TIER_ROLES = defaultEscalationPolicy({
  escalation: { critical: 0, warning: 0 },
  acknowledgement: { critical: 0, warning: 0 },
}).tiers;

type TeamMember = Pick<CareTeamMember, 'clinicianId' | 'name' | 'role'>;

/** Who a pending escalation reaches next: the first tier from `tier` on with anyone in it, as the router skips empty tiers. */
function nextTierMembers(team: readonly TeamMember[], tier: number): TeamMember[] {
  for (let t = tier; t < TIER_ROLES.length; t++) {
    const members = team.filter((m) => TIER_ROLES[t]!.includes(m.role));
    if (members.length) return members.map(({ clinicianId, name, role }) => ({ clinicianId, name, role }));
  }
  return [];
}

export interface InboxRouteOptions {
  patients: PatientStore;
  clinicians: ClinicianStore;
  careTeams: CareTeamStore;
  alerts: AlertStore;
  access: PatientAccess;
  audit: AuditLog;
}

/**
 * `GET /v1/inbox`: what the web app's inbox shows in one request, so that polling it costs a handful of queries
 * and one audit entry rather than one per alert: the unresolved alerts of the patients the caller may
 * see (in working order) and the latest resolved ones, each with the patient's name, who acted on it,
 * and who was notified (web push deliveries, escalation state).
 */
export function inboxRoute({ patients, clinicians, careTeams, alerts, access, audit }: InboxRouteOptions) {
  return new Hono<AppEnv>().get('/', async (c) => {
    const principal = requireUser(c);
    const query = parseOrThrow(inboxQuerySchema, c.req.query(), 'query');
    if (query.patientId) await requireVisible({ access, audit }, c, 'alerts.inbox', query.patientId);
    const scope = { patientIds: access.visiblePatientIds(principal), patientId: query.patientId };
    const unresolved = [
      ...alerts.list({ ...scope, status: 'open', limit: UNRESOLVED_LIMIT }),
      ...alerts.list({ ...scope, status: 'acknowledged', limit: UNRESOLVED_LIMIT }),
    ];
    const resolved = query.resolved > 0 ? alerts.list({ ...scope, status: 'resolved', limit: query.resolved }) : [];
    const shown = [...unresolved.sort(inboxOrder).slice(0, UNRESOLVED_LIMIT), ...resolved];

    const deliveries = alerts.deliveriesFor(shown.map((alert) => alert.id));
    const patientNames = patients.names(shown.map((a) => a.patientId));
    const clinicianNames = clinicians.names(
      shown.flatMap((a) => [
        a.acknowledgedBy,
        a.resolvedBy,
        ...(deliveries.get(a.id)?.attempts.map((d) => d.clinicianId) ?? []),
      ]),
    );
    const teams = careTeams.teamsOf(shown.map((a) => a.patientId));
    const nameOf = (id: string | null) =>
      id === null ? null : (clinicianNames.get(id) ?? (id === 'admin-token' ? 'Administrator (token)' : 'Unknown'));

    await recordAccess(audit, c, 'alerts.inbox', query.patientId ?? null, 'success');
    return c.json({
      generatedAt: new Date().toISOString(),
      unresolvedLeftOut: Math.max(0, unresolved.length - UNRESOLVED_LIMIT),
      alerts: shown.map((alert) => {
        const { escalation, attempts } = deliveries.get(alert.id)!;
        const notified = new Map<
          string,
          { clinicianId: string; name: string | null; at: string; tier: number | null }
        >();
        for (const d of attempts) {
          if (d.channel === 'web_push' && d.status === 'delivered' && d.clinicianId && !notified.has(d.clinicianId)) {
            notified.set(d.clinicianId, {
              clinicianId: d.clinicianId,
              name: nameOf(d.clinicianId),
              at: new Date(d.at).toISOString(),
              tier: d.tier,
            });
          }
        }
        return {
          ...presentAlert(alert),
          patient: { id: alert.patientId, name: patientNames.get(alert.patientId) ?? null },
          acknowledgedByName: nameOf(alert.acknowledgedBy),
          resolvedByName: nameOf(alert.resolvedBy),
          notified: [...notified.values()],
          webhooksDelivered: attempts.filter((d) => d.channel === 'webhook' && d.status === 'delivered').length,
          escalation: escalation && {
            ...presentEscalation(escalation),
            /** Who is told next if nobody acknowledges by `dueAt`. */
            next:
              escalation.state === 'pending'
                ? nextTierMembers(teams.get(alert.patientId) ?? [], escalation.nextTier)
                : [],
          },
        };
      }),
    });
  });
}
