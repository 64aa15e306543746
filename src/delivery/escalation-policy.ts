import type { CareTeamRole } from '../domain/care-team.ts';
import type { Severity } from '../domain/rule.ts';

/**
 * Who is told about an alert, when, and what happens when nobody acts: pure functions of (escalation
 * state, care team, availability, time, policy). The runner (alert-delivery.ts) does the I/O (pushes,
 * rows) and asks these functions what comes next, so every rule below is tested without a clock.
 *
 * The promise: an alert that is `open` always has a next notification due, until someone acknowledges
 * or resolves it. After the last tier it repeats to everyone notified so far, every escalation delay;
 * an alert that reached nobody goes at once to the on-call clinician, and if even that fails the whole
 * chain is tried again after the delay. An acknowledgement is a promise to act that expires.
 */
export interface EscalationPolicy {
  /** Care-team roles per tier, first tier first. The agency's on-call clinician is the tier after these. */
  tiers: CareTeamRole[][];
  /** How long an open alert of each severity waits before the next tier (and between repeats). */
  escalationMs: Record<Severity, number>;
  /** How long an acknowledgement holds while the alert stays active; then the alert is reopened. */
  acknowledgementMs: Record<Severity, number>;
  /** Severities that are pushed and escalated; the others only reach the inbox and webhooks. */
  pushed: Severity[];
}

export function defaultEscalationPolicy(options: {
  escalation: { critical: number; warning: number };
  acknowledgement: { critical: number; warning: number };
}): EscalationPolicy {
  const { escalation, acknowledgement } = options;
  return {
    tiers: [['primary_nurse'], ['backup_nurse'], ['pcp']],
    escalationMs: { critical: escalation.critical, warning: escalation.warning, info: escalation.warning },
    acknowledgementMs: {
      critical: acknowledgement.critical,
      warning: acknowledgement.warning,
      info: acknowledgement.warning,
    },
    pushed: ['critical', 'warning'],
  };
}

/** The on-call tier's index: right after the care-team tiers. */
export const onCallTier = (policy: EscalationPolicy) => policy.tiers.length;
/** `nextTier` of an escalation that has been through every tier and now repeats. */
export const repeatTier = (policy: EscalationPolicy) => policy.tiers.length + 1;

export type EscalationState = 'pending' | 'acknowledged' | 'done' | 'cancelled';

/** An alert's delivery timer, as stored (one row per alert): what is due next, and when. */
export interface Escalation {
  /** The tier to notify when due: a care-team tier, the on-call tier, or `repeatTier`. */
  nextTier: number;
  dueAt: number;
  /**
   * `pending`: a notification is due at `dueAt`. `acknowledged`: the acknowledgement expires at
   * `dueAt`. `done`: nothing more is due (acknowledged and the condition cleared, or not pushed).
   * `cancelled`: resolved.
   */
  state: EscalationState;
  /** Repeats sent after the last tier. */
  repeat: number;
  reachedAnyone: boolean;
  /** The last pass through the tiers reached nobody at all (listed for admins). */
  unreachable: boolean;
}

export interface CareTeamMember {
  clinicianId: string;
  role: CareTeamRole;
}

/** Who can be reached now: the care team, who of it is away (or disabled), and the on-call clinician on shift. */
export interface Availability {
  team: readonly CareTeamMember[];
  unavailable: ReadonlySet<string>;
  onCall: string | null;
}

/** A new (or reopened) alert of a pushed severity: tier 1 at once. */
export function startEscalation(at: number): Escalation {
  return { nextTier: 0, dueAt: at, state: 'pending', repeat: 0, reachedAnyone: false, unreachable: false };
}

/** Whether an alert of this severity is pushed at all. */
export const isPushed = (severity: Severity, policy: EscalationPolicy) => policy.pushed.includes(severity);

/**
 * The alert's rule was raised to a more urgent severity while it escalates: the next step is due no
 * later than the new severity allows.
 */
export function hasten(escalation: Escalation, severity: Severity, at: number, policy: EscalationPolicy): Escalation {
  if (escalation.state !== 'pending') return escalation;
  return { ...escalation, dueAt: Math.min(escalation.dueAt, at + policy.escalationMs[severity]) };
}

/** Acknowledged: no more notifications, but the acknowledgement expires after its severity's timeout. */
export function acknowledgeEscalation(
  escalation: Escalation,
  severity: Severity,
  at: number,
  policy: EscalationPolicy,
): Escalation {
  return { ...escalation, state: 'acknowledged', dueAt: at + policy.acknowledgementMs[severity] };
}

/**
 * An acknowledgement's time is up. `reopen`: the alert is still active, so it goes back to open and
 * routes again from tier 1. `done`: the condition cleared meanwhile; the acknowledgement stands, and a
 * new episode will reopen the alert by itself.
 */
export function acknowledgementExpired(alert: { status: string; active: boolean }): 'reopen' | 'done' {
  return alert.status === 'acknowledged' && alert.active ? 'reopen' : 'done';
}

/** Who the step due now reaches, and which step it is. */
export interface Step {
  tier: number;
  /** 0 for a tier's first notification; n for the n-th repeat. */
  repeat: number;
  clinicianIds: string[];
}

/**
 * The clinicians the due step notifies: the tier's members who are not away, the on-call clinician for
 * the on-call tier, and for a repeat everyone in every tier (on-call included) who can be reached now.
 */
export function dueStep(escalation: Escalation, availability: Availability, policy: EscalationPolicy): Step {
  const { team, unavailable, onCall } = availability;
  const reachable = (ids: Iterable<string>) => [...new Set(ids)].filter((id) => !unavailable.has(id));
  const tierMembers = (tier: number) =>
    team.filter((member) => policy.tiers[tier]!.includes(member.role)).map((member) => member.clinicianId);
  if (escalation.nextTier < onCallTier(policy)) {
    return { tier: escalation.nextTier, repeat: 0, clinicianIds: reachable(tierMembers(escalation.nextTier)) };
  }
  if (escalation.nextTier === onCallTier(policy)) {
    return { tier: escalation.nextTier, repeat: 0, clinicianIds: reachable(onCall ? [onCall] : []) };
  }
  const everyone = policy.tiers.flatMap((_, tier) => tierMembers(tier));
  return {
    tier: escalation.nextTier,
    repeat: escalation.repeat + 1,
    clinicianIds: reachable(onCall ? [...everyone, onCall] : everyone),
  };
}

/**
 * What is due after a step was tried. `reached`: at least one of its pushes was delivered.
 *
 * - A tier reached: the next tier after the escalation delay.
 * - A tier nobody could be reached in (empty, away, no subscription, pushes failed): the next tier at once.
 * - Past the on-call tier, having reached someone: repeats, every escalation delay (the first at once when
 *   the on-call tier itself reached nobody, so the last tier told waits one delay, not two).
 * - Past the on-call tier, having reached nobody: flagged unreachable, and the whole chain again after the
 *   delay (someone may subscribe or come back meanwhile).
 * - A repeat: the next repeat after the delay, whether or not it reached anyone.
 */
export function afterStep(
  escalation: Escalation,
  step: Step,
  reached: boolean,
  severity: Severity,
  now: number,
  policy: EscalationPolicy,
): Escalation {
  const delay = policy.escalationMs[severity];
  const reachedAnyone = escalation.reachedAnyone || reached;
  // Reached now: no longer an alert that reached nobody (admins' list of unreachable alerts).
  const unreachable = reached ? false : escalation.unreachable;
  if (step.repeat > 0) return { ...escalation, repeat: step.repeat, dueAt: now + delay, reachedAnyone, unreachable };
  const next = step.tier + 1;
  if (next < repeatTier(policy)) {
    return { ...escalation, nextTier: next, dueAt: reached ? now + delay : now, reachedAnyone, unreachable };
  }
  // An on-call tier that reached nobody (no rota, or the on-call clinician away) is skipped at once like any
  // other tier: its slot, one delay after the last tier that was told, is the first repeat.
  if (reachedAnyone)
    return {
      ...escalation,
      nextTier: repeatTier(policy),
      dueAt: reached ? now + delay : now,
      reachedAnyone,
      unreachable,
    };
  return { ...escalation, nextTier: 0, dueAt: now + delay, reachedAnyone, unreachable: true };
}

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };
export const moreSevere = (a: Severity, b: Severity) => SEVERITY_RANK[a] > SEVERITY_RANK[b];

/** One notification for one clinician: every alert the same reading raised for them, at the highest severity. */
export interface Notification {
  clinicianId: string;
  alertIds: string[];
  severity: Severity;
  /** The highest-severity alert: its step (tier, repeat) is what the notification reports. */
  lead: string;
}

/**
 * One push per reading per clinician: the steps due for alerts that the same reading raised (or for
 * alerts due together) become one notification per clinician, carrying every alert id and the highest
 * severity, instead of one push per alert.
 */
export function groupNotifications(
  due: ReadonlyArray<{ alertId: string; severity: Severity; clinicianIds: readonly string[]; fresh?: boolean }>,
): Notification[] {
  const byClinician = new Map<string, Notification & { leadFresh: boolean }>();
  for (const { alertId, severity, clinicianIds, fresh = false } of due) {
    for (const clinicianId of clinicianIds) {
      const notification = byClinician.get(clinicianId);
      if (!notification) {
        byClinician.set(clinicianId, { clinicianId, alertIds: [alertId], severity, lead: alertId, leadFresh: fresh });
        continue;
      }
      if (!notification.alertIds.includes(alertId)) notification.alertIds.push(alertId);
      // The most severe leads; among equals, news (a first notification) before a repeat of an older alert.
      const leads =
        moreSevere(severity, notification.severity) ||
        (severity === notification.severity && fresh && !notification.leadFresh);
      if (leads) {
        notification.severity = severity;
        notification.lead = alertId;
        notification.leadFresh = fresh;
      }
    }
  }
  return [...byClinician.values()].map(({ leadFresh: _, ...notification }) => notification);
}
