import { startOfLocal } from '../../domain/calendar.ts';
import { dateTime, near } from './format.ts';
import type { OnCall } from './responses.ts';

/**
 * Periods of time as the settings and on-call pages edit them (away periods, on-call shifts), pure:
 * whether one is past, current or to come, how it reads, and the `datetime-local` inputs' values, which are
 * wall-clock times in the browser's own time zone.
 */

export interface Period {
  from: string;
  until: string;
}

export type PeriodState = 'past' | 'now' | 'upcoming';

export function periodState(period: Period, now = Date.now()): PeriodState {
  if (Date.parse(period.until) <= now) return 'past';
  return Date.parse(period.from) <= now ? 'now' : 'upcoming';
}

/** "Mar 4, 3:00 PM – Mar 11, 8:00 AM", in `timeZone` (the browser's by default). */
export function periodText(period: Period, timeZone?: string): string {
  return `${dateTime(period.from, timeZone, 'plain')} – ${dateTime(period.until, timeZone, 'plain')}`;
}

/** Oldest first, as the API keeps them. */
export const byStart = (a: Period, b: Period) => Date.parse(a.from) - Date.parse(b.from);

const pad = (n: number) => String(n).padStart(2, '0');

/** The value a `datetime-local` input shows for an instant: its wall-clock time here, to the minute. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The instant a `datetime-local` value means here (RFC 3339, UTC); undefined when it is empty or not a time. */
export function fromLocalInput(value: string): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value)) return undefined;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/**
 * "On call now: Dana Reyes, until 8:00 AM tomorrow", or "Nobody is on call now". `nameOf` gives the
 * words for a clinician ("you", a name, or "a colleague" where the page may not know names).
 */
export function onCallText(
  onCall: OnCall,
  nameOf: (clinicianId: string) => string,
  now = Date.now(),
  timeZone?: string,
): string {
  if (!onCall.now) return 'Nobody is on call now';
  const shift = onCall.shifts.find(
    (s) => s.clinicianId === onCall.now && Date.parse(s.from) <= now && Date.parse(s.until) > now,
  );
  // Back-to-back shifts of the same clinician: on call until the last of them ends.
  let until = shift?.until;
  while (until) {
    const next = onCall.shifts.find(
      (s) =>
        s.clinicianId === onCall.now &&
        Date.parse(s.from) <= Date.parse(until!) &&
        Date.parse(s.until) > Date.parse(until!),
    );
    if (!next) break;
    until = next.until;
  }
  // The API names the on-call clinician; a nurse cannot list the clinicians to find the name herself.
  const who = nameOf(onCall.now);
  const name = who === 'a colleague' && onCall.nowName ? onCall.nowName : who;
  return `On call now: ${name}${until ? `, until ${near(until, now, timeZone)}` : ''}`;
}

/**
 * The instant a local date (`YYYY-MM-DD`, as a date input gives it) begins in `timeZone`: a pause "until
 * Mar 10" ends at the start of Mar 10 where the patient lives. Undefined for anything else.
 */
export function startOfLocalDay(date: string, timeZone: string): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return undefined;
  const noon = Date.parse(`${date}T12:00:00Z`);
  if (Number.isNaN(noon)) return undefined;
  // Noon UTC falls on that date in every zone from UTC-12 to UTC+11; east of that it is already the next day.
  let start = startOfLocal(noon, 'day', timeZone);
  if (localDateOf(start, timeZone) !== date) start = startOfLocal(start - 1, 'day', timeZone);
  return new Date(start).toISOString();
}

const dateFormats = new Map<string, Intl.DateTimeFormat>();
/** `YYYY-MM-DD` of the instant in the time zone. */
function localDateOf(ms: number, timeZone: string): string {
  let format = dateFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    dateFormats.set(timeZone, format);
  }
  return format.format(ms);
}
