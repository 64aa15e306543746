import { randomUUID } from 'node:crypto';
import { and, asc, count, eq, gte, inArray, lte, max, ne, type SQL, sql } from 'drizzle-orm';
import { AppError } from '../domain/errors.ts';
import type { Severity } from '../domain/rule.ts';
import type { Db } from '../store/db.ts';
import { alerts, patientStatusChanges, patients, readings } from '../store/schema.ts';
import { type PatientStatus, statusAt } from './status.ts';

export type Patient = typeof patients.$inferSelect;

export function presentPatient(patient: Patient, now = Date.now()) {
  const status = statusAt(patient, now);
  return {
    id: patient.id,
    name: patient.name,
    birthDate: patient.birthDate,
    timezone: patient.timezone,
    externalId: patient.externalId,
    createdAt: new Date(patient.createdAt).toISOString(),
    status,
    statusUntil:
      status === 'paused' && patient.statusUntil !== null ? new Date(patient.statusUntil).toISOString() : null,
  };
}

export interface StatusChange {
  status: PatientStatus;
  until: number | null;
  reason: string | null;
}

export type StatusHistoryEntry = typeof patientStatusChanges.$inferSelect;

export interface NewPatient {
  name: string;
  birthDate?: string | undefined;
  timezone: string;
  externalId?: string | undefined;
}

/** Per patient: unresolved alerts by status and severity. */
export type AlertCounts = { open: Record<Severity, number>; acknowledged: Record<Severity, number> };

export interface PatientActivity {
  patient: Patient;
  /** The newest reading's measurement time, not counting readings stamped in the future. */
  lastReadingAt: number | null;
  /** Start times of the quarter hours that hold readings, since `since`. */
  quarterHours: number[];
  alerts: AlertCounts;
}

/** Readings are grouped by quarter hour; every time zone in use today is offset by whole quarter hours. */
export const QUARTER_HOUR_MS = 900_000;

const zero = (): Record<Severity, number> => ({ critical: 0, warning: 0, info: 0 });

/** Patients: provisioning, lookups, and the per-patient activity the patient list summarises. */
export class PatientStore {
  constructor(private readonly db: Db) {}

  create(input: NewPatient): Patient {
    if (input.externalId && this.db.select().from(patients).where(eq(patients.externalId, input.externalId)).get()) {
      throw new AppError('conflict', 'A patient with this externalId exists', [
        { path: 'externalId', message: 'is already in use' },
      ]);
    }
    return this.db
      .insert(patients)
      .values({ id: randomUUID(), createdAt: Date.now(), ...input })
      .returning()
      .get();
  }

  get(id: string): Patient | undefined {
    return this.db.select().from(patients).where(eq(patients.id, id)).get();
  }

  /** Sets the status and records it as the next version of the patient's status history. Call in a transaction. */
  setStatus(patientId: string, change: StatusChange, by: string, at: number): Patient {
    const version =
      (this.db
        .select({ version: max(patientStatusChanges.version) })
        .from(patientStatusChanges)
        .where(eq(patientStatusChanges.patientId, patientId))
        .get()?.version ?? 0) + 1;
    this.db
      .insert(patientStatusChanges)
      .values({ patientId, version, ...change, changedBy: by, changedAt: at })
      .run();
    return this.db
      .update(patients)
      .set({ status: change.status, statusUntil: change.until, statusChangedAt: at })
      .where(eq(patients.id, patientId))
      .returning()
      .get()!;
  }

  /** Oldest first. */
  statusHistory(patientId: string): StatusHistoryEntry[] {
    return this.db
      .select()
      .from(patientStatusChanges)
      .where(eq(patientStatusChanges.patientId, patientId))
      .orderBy(asc(patientStatusChanges.version))
      .all();
  }

  /** Every patient, or only those of `ids` (undefined: all), oldest first. */
  list(ids: readonly string[] | undefined): Patient[] {
    return this.db
      .select()
      .from(patients)
      .where(ids ? inArray(patients.id, [...ids]) : undefined)
      .orderBy(asc(patients.createdAt))
      .all();
  }

  /** id → name, for showing an alert's patient. */
  names(ids: readonly string[]): Map<string, string> {
    const wanted = [...new Set(ids)];
    if (wanted.length === 0) return new Map();
    return new Map(
      this.db
        .select({ id: patients.id, name: patients.name })
        .from(patients)
        .where(inArray(patients.id, wanted))
        .all()
        .map((row) => [row.id, row.name]),
    );
  }

  /**
   * For each patient of `ids` (undefined: all), by name: the last reading's time, the quarter hours
   * with readings in `[since, now]`, and the unresolved alerts by severity. A handful of grouped queries
   * whatever the number of patients.
   */
  activity(ids: readonly string[] | undefined, since: number, now: number): PatientActivity[] {
    if (ids?.length === 0) return [];
    const among = (
      column: typeof patients.id | typeof readings.patientId | typeof alerts.patientId,
    ): SQL | undefined => (ids ? inArray(column, [...ids]) : undefined);

    const list = this.db.select().from(patients).where(among(patients.id)).orderBy(asc(patients.name)).all();
    const lastReading = new Map(
      this.db
        .select({ patientId: readings.patientId, at: max(readings.measuredAt) })
        .from(readings)
        .where(and(among(readings.patientId), lte(readings.measuredAt, now)))
        .groupBy(readings.patientId)
        .all()
        .map((row) => [row.patientId, row.at]),
    );
    const quarter = sql<number>`${readings.measuredAt} / ${QUARTER_HOUR_MS}`;
    const quarters = new Map<string, number[]>();
    for (const row of this.db
      .select({ patientId: readings.patientId, quarter })
      .from(readings)
      .where(and(among(readings.patientId), gte(readings.measuredAt, since), lte(readings.measuredAt, now)))
      .groupBy(readings.patientId, quarter)
      .all()) {
      const starts = quarters.get(row.patientId) ?? [];
      starts.push(row.quarter * QUARTER_HOUR_MS);
      quarters.set(row.patientId, starts);
    }
    const counts = new Map<string, AlertCounts>();
    for (const row of this.db
      .select({ patientId: alerts.patientId, status: alerts.status, severity: alerts.severity, n: count() })
      .from(alerts)
      .where(and(among(alerts.patientId), ne(alerts.status, 'resolved')))
      .groupBy(alerts.patientId, alerts.status, alerts.severity)
      .all()) {
      const entry = counts.get(row.patientId) ?? { open: zero(), acknowledged: zero() };
      if (row.status !== 'resolved') entry[row.status][row.severity] = row.n;
      counts.set(row.patientId, entry);
    }

    return list.map((patient) => ({
      patient,
      lastReadingAt: lastReading.get(patient.id) ?? null,
      quarterHours: quarters.get(patient.id) ?? [],
      alerts: counts.get(patient.id) ?? { open: zero(), acknowledged: zero() },
    }));
  }
}
