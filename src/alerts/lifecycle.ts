import { AppError } from '../domain/errors.ts';
import type { Severity } from '../domain/rule.ts';

/**
 * An alert's life, as pure transitions: open → acknowledged → resolved (by a clinician). While it is not
 * resolved, further breaches of its rule update it rather than open another, so one condition never
 * becomes fifty notifications; after it is resolved, the next breach opens a new one.
 *
 * An acknowledgement is a promise to act, not a mute button: an acknowledged alert goes back to `open`
 * (and is routed again from the first tier) on a new episode (its condition cleared, then came back), on
 * a more severe breach of its metric, and when the acknowledgement expires while the condition holds.
 */
export type ReopenReason = 'new_episode' | 'higher_severity' | 'acknowledgement_expired';

export interface Alert {
  id: string;
  patientId: string;
  ruleId: string;
  carePlanVersion: number;
  metric: string;
  severity: Severity;
  status: 'open' | 'acknowledged' | 'resolved';
  active: boolean;
  message: string;
  openedAt: number;
  lastTriggeredAt: number;
  count: number;
  /** The reading that last triggered it, as the API shows readings; null for missing data. */
  reading: Record<string, unknown> | null;
  acknowledgedBy: string | null;
  acknowledgedAt: number | null;
  resolvedBy: string | null;
  resolvedAt: number | null;
  note: string | null;
  /** 1, then one more each time the alert is reopened by a new episode. */
  episode: number;
  reopenedAt: number | null;
  reopenReason: ReopenReason | null;
  /** The triggering reading was measured before the newest one already received (a late critical). */
  late: boolean;
  /** What the rule measured when it last fired, in the rule's unit (the contract's `observed`). */
  observed: Record<string, unknown> | null;
}

/** What a breach knows when it opens or updates an alert. */
export type Trigger = Pick<
  Alert,
  'id' | 'patientId' | 'ruleId' | 'carePlanVersion' | 'metric' | 'severity' | 'message' | 'reading'
> &
  Partial<Pick<Alert, 'late' | 'observed'>> & { at: number };

export function openAlert(trigger: Trigger): Alert {
  return {
    id: trigger.id,
    patientId: trigger.patientId,
    ruleId: trigger.ruleId,
    carePlanVersion: trigger.carePlanVersion,
    metric: trigger.metric,
    severity: trigger.severity,
    status: 'open',
    active: true,
    message: trigger.message,
    openedAt: trigger.at,
    lastTriggeredAt: trigger.at,
    count: 1,
    reading: trigger.reading,
    acknowledgedBy: null,
    acknowledgedAt: null,
    resolvedBy: null,
    resolvedAt: null,
    note: null,
    episode: 1,
    reopenedAt: null,
    reopenReason: null,
    late: trigger.late ?? false,
    observed: trigger.observed ?? null,
  };
}

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

/** Back to open, to be routed again from the first tier; a new episode counts one more. */
export function reopen(alert: Alert, reason: ReopenReason, at: number): Alert {
  return {
    ...alert,
    status: 'open',
    episode: reason === 'new_episode' ? alert.episode + 1 : alert.episode,
    reopenedAt: at,
    reopenReason: reason,
    acknowledgedBy: null,
    acknowledgedAt: null,
  };
}

export type BreachTrigger = Pick<Trigger, 'reading' | 'at' | 'severity' | 'message'> &
  Partial<Pick<Alert, 'late' | 'observed'>>;

/**
 * A further breach of an unresolved alert's rule: counted, no new alert. It takes the rule's current
 * severity and message, so a physician who raises a rule to critical sees the open alert escalate as one.
 * An acknowledged alert is reopened when the breach starts a new episode (the condition had cleared) or
 * is more severe than the alert was.
 */
export function breach(alert: Alert, trigger: BreachTrigger): { alert: Alert; event: 'updated' | 'reopened' } {
  const updated: Alert = {
    ...alert,
    active: true,
    count: alert.count + 1,
    lastTriggeredAt: trigger.at,
    reading: trigger.reading ?? alert.reading,
    severity: trigger.severity,
    message: trigger.message,
    late: trigger.late ?? false,
    observed: trigger.observed ?? alert.observed,
  };
  if (alert.status !== 'acknowledged') return { alert: updated, event: 'updated' };
  if (!alert.active) return { alert: reopen(updated, 'new_episode', trigger.at), event: 'reopened' };
  if (SEVERITY_RANK[trigger.severity] > SEVERITY_RANK[alert.severity])
    return { alert: reopen(updated, 'higher_severity', trigger.at), event: 'reopened' };
  return { alert: updated, event: 'updated' };
}

/**
 * Another rule of the same metric breached at `severity`: an acknowledged alert of a lower severity is
 * reopened (the patient got worse than what was acknowledged). Undefined when nothing changes.
 */
export function escalatedBySibling(alert: Alert, severity: Severity, at: number): Alert | undefined {
  if (alert.status !== 'acknowledged' || SEVERITY_RANK[severity] <= SEVERITY_RANK[alert.severity]) return undefined;
  return reopen(alert, 'higher_severity', at);
}

/** The acknowledgement ran out while the condition still holds: back to open. Undefined when nothing changes. */
export function expireAcknowledgement(alert: Alert, at: number): Alert | undefined {
  if (alert.status !== 'acknowledged' || !alert.active) return undefined;
  return reopen(alert, 'acknowledgement_expired', at);
}

/** The newest reading no longer breaches the rule (or data arrived again): the alert stays until a clinician resolves it. */
export function deactivate(alert: Alert): Alert {
  return { ...alert, active: false };
}

export function acknowledge(alert: Alert, by: string, at: number): Alert {
  if (alert.status === 'resolved') throw new AppError('conflict', 'The alert is already resolved');
  if (alert.status === 'acknowledged') return alert; // acknowledging twice changes nothing
  return { ...alert, status: 'acknowledged', acknowledgedBy: by, acknowledgedAt: at };
}

/** Resolving also acknowledges an alert nobody acknowledged, so the record says who took it. */
export function resolve(alert: Alert, by: string, at: number, note: string | null): Alert {
  if (alert.status === 'resolved') throw new AppError('conflict', 'The alert is already resolved');
  return {
    ...alert,
    status: 'resolved',
    acknowledgedBy: alert.acknowledgedBy ?? by,
    acknowledgedAt: alert.acknowledgedAt ?? at,
    resolvedBy: by,
    resolvedAt: at,
    note,
  };
}

/** The contract's alert shape. */
export function presentAlert(alert: Alert) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: alert.id,
    patientId: alert.patientId,
    ruleId: alert.ruleId,
    carePlanVersion: alert.carePlanVersion,
    metric: alert.metric,
    severity: alert.severity,
    status: alert.status,
    active: alert.active,
    message: alert.message,
    openedAt: new Date(alert.openedAt).toISOString(),
    lastTriggeredAt: new Date(alert.lastTriggeredAt).toISOString(),
    count: alert.count,
    reading: alert.reading,
    acknowledgedBy: alert.acknowledgedBy,
    acknowledgedAt: iso(alert.acknowledgedAt),
    resolvedBy: alert.resolvedBy,
    resolvedAt: iso(alert.resolvedAt),
    note: alert.note,
    episode: alert.episode,
    reopenedAt: iso(alert.reopenedAt),
    reopenReason: alert.reopenReason,
    late: alert.late,
    observed: alert.observed,
  };
}
