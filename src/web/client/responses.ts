import type { presentAlert } from '../../alerts/lifecycle.ts';
import type { CareTeamRole } from '../../domain/care-team.ts';
import type { presentReading } from '../../domain/reading.ts';
import type { Rule } from '../../domain/rule.ts';
import type { Severity } from '../../domain/severity.ts';
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

/** `GET /v1/alerts/:id`. */
export type Alert = Omit<ReturnType<typeof presentAlert>, 'reading'> & { reading: Reading | null };

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
  escalation: {
    state: 'pending' | 'done' | 'cancelled';
    nextTier: number;
    dueAt: string | null;
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
  rules: Rule[];
  updatedAt: string | null;
}

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
