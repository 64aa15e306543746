import type { Severity } from '../domain/rule.ts';

import type { CareTeamRole } from '../domain/care-team.ts';

export type { CareTeamRole };

/**
 * Who is told about an alert, in which order, and how long each tier has to acknowledge before the next
 * is told. The defaults live here and only here, so an agency can change them in one place.
 */
export interface RoutingPolicy {
  /** Care-team roles per tier, first tier first. */
  tiers: CareTeamRole[][];
  /** How long an alert of each severity may stay open before the next tier is told. */
  escalationMs: Record<Severity, number>;
  /** Severities that are pushed and escalated; the others only reach the inbox and webhooks. */
  pushed: Severity[];
}

export function defaultRoutingPolicy(escalation: { critical: number; warning: number }): RoutingPolicy {
  return {
    tiers: [['primary_nurse'], ['backup_nurse'], ['pcp']],
    escalationMs: { critical: escalation.critical, warning: escalation.warning, info: escalation.warning },
    pushed: ['critical', 'warning'],
  };
}

export interface CareTeamMember {
  clinicianId: string;
  role: CareTeamRole;
}

export interface RoutingStep {
  tier: number;
  clinicianIds: string[];
  /** When the tier is due if nobody acknowledges. */
  at: number;
  /** When the next tier is due after this one is reached. */
  nextAt: number;
}

/**
 * The tier due for an alert: pure (alert, care team, time, policy) → step. `undefined` when the policy
 * does not push this severity or the tiers are exhausted. A tier with no members comes back with no
 * clinicians; the caller passes the alert on to the next tier at once.
 */
export function routeAlert(
  alert: { severity: Severity },
  team: readonly CareTeamMember[],
  tier: number,
  now: number,
  policy: RoutingPolicy,
): RoutingStep | undefined {
  if (!policy.pushed.includes(alert.severity) || tier >= policy.tiers.length) return undefined;
  const roles = policy.tiers[tier]!;
  return {
    tier,
    clinicianIds: team.filter((member) => roles.includes(member.role)).map((member) => member.clinicianId),
    at: now,
    nextAt: now + policy.escalationMs[alert.severity],
  };
}
