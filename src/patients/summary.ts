import { Hono } from 'hono';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import { recordAccess, requireVisible, type PatientAccess } from '../care-team/access.ts';
import { requireUser, type AppEnv } from '../auth/middleware.ts';
import { parseOrThrow } from '../domain/errors.ts';
import { type PatientStore, presentPatient } from './store.ts';

/**
 * Remote physiologic monitoring device supply (CPT 99454) is billable for a 30-day period only when
 * readings were recorded on at least 16 of its days (the code's descriptor, restated by CMS in the CY 2021
 * Physician Fee Schedule final rule, 85 FR 84472). The patient list flags anyone below it so that a nurse
 * can call the patients who stopped measuring.
 */
export const ADHERENCE_WINDOW_DAYS = 30;
export const ADHERENCE_MINIMUM_DAYS = 16;

const DAY_MS = 86_400_000;

const dateFormats = new Map<string, Intl.DateTimeFormat>();
/** `YYYY-MM-DD` of the instant in the time zone. */
export function localDate(ms: number, timeZone: string): string {
  let format = dateFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    dateFormats.set(timeZone, format);
  }
  return format.format(ms);
}

/** The date `days` days before a `YYYY-MM-DD` date (calendar arithmetic, no time zone involved). */
function daysBefore(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) - days * DAY_MS).toISOString().slice(0, 10);
}

export interface Adherence {
  /** Local days of the window with at least one reading. */
  days: number;
  windowDays: number;
  /** First and last local dates of the window (the last is today, in the patient's time zone). */
  from: string;
  to: string;
  /** Below the 16 days CPT 99454 requires. */
  low: boolean;
}

/**
 * Days with at least one reading among the last 30 local days (today included) in the patient's time
 * zone, from the start times of the quarter hours that hold readings. Pure.
 *
 * @example adherenceOf([Date.parse('2026-03-01T15:00:00Z')], 'America/Chicago', Date.parse('2026-03-02T12:00:00Z')).days // 1
 */
export function adherenceOf(quarterHourStarts: readonly number[], timeZone: string, now: number): Adherence {
  const to = localDate(now, timeZone);
  const from = daysBefore(to, ADHERENCE_WINDOW_DAYS - 1);
  const days = new Set<string>();
  for (const start of quarterHourStarts) {
    const date = localDate(start, timeZone);
    if (date >= from && date <= to) days.add(date);
  }
  return { days: days.size, windowDays: ADHERENCE_WINDOW_DAYS, from, to, low: days.size < ADHERENCE_MINIMUM_DAYS };
}

export const summaryQuerySchema = z.strictObject({
  patientId: z.string().min(1).optional(),
  /** `all` lists discharged patients too; by default they are left out, as in GET /v1/patients. */
  status: z.enum(['all']).optional(),
});

export interface PatientsSummaryRouteOptions {
  patients: PatientStore;
  access: PatientAccess;
  audit: AuditLog;
}

/**
 * `GET /v1/patients-summary`: for each patient the caller may see (or the one `patientId`), the last
 * reading's time, unresolved alerts by severity and RPM adherence over the last 30 days. Audited like
 * the patient list (or as a read of the one patient).
 */
export function patientsSummaryRoute({ patients, access, audit }: PatientsSummaryRouteOptions) {
  return new Hono<AppEnv>().get('/', async (c) => {
    const principal = requireUser(c);
    const { patientId, status } = parseOrThrow(summaryQuerySchema, c.req.query(), 'query');
    if (patientId) await requireVisible({ access, audit }, c, 'patients.summary', patientId);
    const ids = patientId ? [patientId] : access.visiblePatientIds(principal);
    const now = Date.now();
    // 31 days back covers the 30 local days of every time zone (UTC-12 to UTC+14).
    const since = now - (ADHERENCE_WINDOW_DAYS + 1) * DAY_MS;
    const rows = patients.activity(ids, since, now);
    const shown = patientId || status === 'all' ? rows : rows.filter((row) => row.patient.status !== 'discharged');
    const summaries = shown.map((row) => {
      const adherence = adherenceOf(row.quarterHours, row.patient.timezone, now);
      return {
        ...presentPatient(row.patient),
        lastReadingAt: row.lastReadingAt === null ? null : new Date(row.lastReadingAt).toISOString(),
        openAlerts: row.alerts.open,
        acknowledgedAlerts: row.alerts.acknowledged,
        adherence,
        adherenceDays: adherence.days,
        adherenceLow: adherence.low,
      };
    });
    await recordAccess(audit, c, 'patients.summary', patientId ?? null, 'success');
    return c.json({
      generatedAt: new Date(now).toISOString(),
      adherenceWindowDays: ADHERENCE_WINDOW_DAYS,
      adherenceMinimumDays: ADHERENCE_MINIMUM_DAYS,
      patients: summaries,
    });
  });
}
