import { AppError } from '../domain/errors.ts';
import type { Severity } from '../domain/rule.ts';

/**
 * An alert's life, as pure transitions: open → acknowledged → resolved (by a clinician). While it is not
 * resolved, further breaches of its rule update it rather than open another, so one condition never
 * becomes fifty notifications; after it is resolved, the next breach opens a new one.
 */
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
}

/** What a breach knows when it opens or updates an alert. */
export type Trigger = Pick<
  Alert,
  'id' | 'patientId' | 'ruleId' | 'carePlanVersion' | 'metric' | 'severity' | 'message' | 'reading'
> & { at: number };

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
  };
}

/**
 * A further breach of an unresolved alert's rule: counted, no new alert. It takes the rule's current
 * severity and message, so a physician who raises a rule to critical sees the open alert escalate as one.
 */
export function retrigger(alert: Alert, trigger: Pick<Trigger, 'reading' | 'at' | 'severity' | 'message'>): Alert {
  return {
    ...alert,
    active: true,
    count: alert.count + 1,
    lastTriggeredAt: trigger.at,
    reading: trigger.reading ?? alert.reading,
    severity: trigger.severity,
    message: trigger.message,
  };
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
  };
}
