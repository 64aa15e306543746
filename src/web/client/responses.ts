import type { presentAlert } from '../../alerts/lifecycle.ts';
import type { CareTeamRole } from '../../domain/care-team.ts';
import type { ClinicianRoleLabelled } from '../../domain/clinician-role.ts';
import type { DeviceKind } from '../../domain/device.ts';
import type { presentReading } from '../../domain/reading.ts';
import type { Rule } from '../../domain/rule.ts';
import type { Severity } from '../../domain/severity.ts';
import type { PatientStatus } from '../../patients/status.ts';
import type { BloodPressureStats, TrendBucket } from '../../store/reading-store.ts';

/**
 * The JSON the pages read. Where a pure server module builds the shape, the type is taken from it
 * (type-only imports: the bundle never sees them); the rest restate, field by field, what the route named
 * in each comment answers, as far as the pages read it.
 */

type PresentedReading = ReturnType<typeof presentReading>;
/** A reading as the API shows it (presentReading), told apart by its type. */
export type Reading =
  | (Extract<PresentedReading, { systolic: unknown }> & { type: 'blood_pressure' })
  | (Extract<PresentedReading, { sentUnit: unknown }> & { type: 'weight' })
  | (Extract<PresentedReading, { value: unknown; pulse: unknown }> & { type: 'spo2' });

/** A value and when it was measured, as `observed` shows where a change went from and to. */
export interface ObservedPoint {
  value: number;
  measuredAt: string;
}

/**
 * An alert's `observed` (presentObserved in src/rules/engine.ts): what the rule saw when it last fired,
 * in the rule's unit; for a device-clock alert, which device and when its newest reading claims it was
 * measured.
 */
export type Observed =
  | { kind: 'reading'; value: number; unit: string }
  | { kind: 'mean'; value: number; unit: string; count: number }
  | { kind: 'change'; value: number; unit: string; from: ObservedPoint; to: ObservedPoint }
  | { kind: 'missing'; since: string }
  | { kind: 'device-clock'; deviceId: string; measuredAt: string };

/** `GET /v1/alerts/:id`. */
export type Alert = Omit<ReturnType<typeof presentAlert>, 'reading' | 'observed'> & {
  reading: Reading | null;
  observed: Observed | null;
};

/** `GET /v1/inbox` (src/alerts/inbox.ts). */
export interface Inbox {
  generatedAt: string;
  alerts: InboxAlert[];
}

export interface InboxAlert extends Alert {
  patient: { id: string; name: string | null };
  acknowledgedByName: string | null;
  resolvedByName: string | null;
  /** Clinicians whose device a web push reached. */
  notified: Array<{ clinicianId: string; name: string | null; at: string }>;
  webhooksDelivered: number;
  /** presentEscalation in src/alerts/store.ts, and who is next. */
  escalation: {
    state: 'pending' | 'acknowledged' | 'done' | 'cancelled';
    nextTier: number;
    dueAt: string | null;
    /** When the acknowledgement runs out and the alert, if still active, is reopened. */
    acknowledgementExpiresAt: string | null;
    /** Pushes sent again after the last tier, in this round. */
    repeats: number;
    /** Times the alert was routed again from the first tier. */
    rounds: number;
    reachedAnyone: boolean;
    unreachable: boolean;
    /** Who is told next if nobody acknowledges by `dueAt`. */
    next: Array<{ clinicianId: string; name: string; role: CareTeamRole }>;
  } | null;
}

/** `GET /v1/patients/:id` (presentPatient in src/patients/routes.ts). */
export interface Patient {
  id: string;
  name: string;
  birthDate: string | null;
  timezone: string;
  externalId: string | null;
  /** The status in force now: a pause past its `until` reads `active`. */
  status: PatientStatus;
  /** When a pause ends by itself; null otherwise. */
  statusUntil: string | null;
}

/** `GET /v1/patients/:id/status-history`, oldest first. */
export interface StatusHistory {
  history: Array<{
    version: number;
    status: PatientStatus;
    until: string | null;
    reason: string | null;
    /** A clinician id, or `admin-token`. */
    changedBy: string;
    changedAt: string;
  }>;
}

/** `GET /v1/patients/:id/devices` (presentDevice in src/devices/store.ts). */
export interface Devices {
  devices: Array<{ id: string; kind: DeviceKind; serial: string | null }>;
}

/** `GET` and `PUT /v1/clinicians/:id/away` (src/availability/routes.ts). */
export interface AwayPeriods {
  periods: Array<{ from: string; until: string; note?: string }>;
}

/** `GET` and `PUT /v1/on-call`. */
export interface OnCall {
  shifts: Array<{ clinicianId: string; name?: string | null; from: string; until: string }>;
  /** Who is on shift now. */
  now: string | null;
  nowName?: string | null;
}

/** `GET /v1/clinicians` (admin; presentClinician in src/clinicians/store.ts). */
export interface Clinicians {
  clinicians: Array<{ id: string; name: string; email: string; role: ClinicianRoleLabelled }>;
}

/** `GET /v1/patients-summary` (src/patients/summary.ts). */
export interface PatientsSummary {
  adherenceMinimumDays: number;
  patients: PatientSummary[];
}

export interface PatientSummary extends Patient {
  lastReadingAt: string | null;
  openAlerts: Record<Severity, number>;
  acknowledgedAlerts: Record<Severity, number>;
  adherence: { days: number; windowDays: number };
  adherenceDays: number;
  adherenceLow: boolean;
}

/** `GET /v1/patients/:id/care-team`. */
export interface CareTeam {
  members: Array<{ clinicianId: string; name: string; role: CareTeamRole }>;
}

/** `GET` and `PUT /v1/patients/:id/care-plan` (presentPlan in src/care-plans/routes.ts); version 0: none yet. */
export interface CarePlan {
  version: number;
  templates: string[];
  rules: PlanRule[];
  updatedAt: string | null;
}

/** A rule in force; one quieted by a resolve with `quietFor` says until when, and who asked. */
export type PlanRule = Rule & { quietUntil?: string; quietSetBy?: string };

/** `GET /v1/patients/:id/readings?bucket=…`. */
export interface Buckets {
  buckets: Bucket[];
}
export type Bucket = Omit<TrendBucket, 'start'> & { start: string };
export type { BloodPressureStats };

/** `GET /v1/patients/:id/readings`, a page at a time, oldest first. */
export interface ReadingsPage {
  readings: Reading[];
  next?: string;
}
