import { CARE_TEAM_ROLE_LABELS, type CareTeamRole } from '../../domain/care-team.ts';
import { nextLocal, startOfLocal } from '../../domain/calendar.ts';
import { KG_PER_UNIT, READING_TYPE_LABELS } from '../../domain/measurements.ts';
import { h } from './dom.ts';
import type { Reading } from './responses.ts';

/** Times, weights, readings and messages as the pages write them. */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** "just now", "5 min ago", "3 h ago", "yesterday", "4 days ago"; "never" for no time. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const ms = now - Date.parse(iso);
  if (ms < MINUTE) return 'just now';
  if (ms < HOUR) return `${Math.floor(ms / MINUTE)} min ago`;
  if (ms < DAY) return `${Math.floor(ms / HOUR)} h ago`;
  const days = Math.floor(ms / DAY);
  return days === 1 ? 'yesterday' : `${days} days ago`;
}

/**
 * 'plain': like 'short', for a page that already says which time zone its times are in; 'clock': like
 * 'time', without the zone's name.
 */
export type DateStyle = 'short' | 'time' | 'date' | 'plain' | 'clock';

const formats = new Map<string, Intl.DateTimeFormat>();
export function dateTime(iso: string, timeZone?: string, style: DateStyle = 'short'): string {
  const key = `${timeZone || ''}|${style}`;
  let format = formats.get(key);
  if (!format) {
    const options: Intl.DateTimeFormatOptions =
      style === 'time' || style === 'clock'
        ? { hour: 'numeric', minute: '2-digit' }
        : style === 'date'
          ? { month: 'short', day: 'numeric', year: 'numeric' }
          : { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' };
    if (timeZone) options.timeZone = timeZone;
    if (timeZone && (style === 'short' || style === 'time')) options.timeZoneName = 'short';
    format = new Intl.DateTimeFormat('en-US', options);
    formats.set(key, format);
  }
  return format.format(new Date(iso));
}

/** A <time> showing `text`, with the full date and time as its tooltip. */
export function time(iso: string, text: string, timeZone?: string): HTMLTimeElement {
  return h('time', { datetime: iso, title: dateTime(iso, timeZone) }, text);
}

/** "120 mmHg", "95%". */
export const withUnit = (value: number | string, unit: string): string =>
  unit === '%' ? `${value}%` : `${value} ${unit}`;

export type ShownWeightUnit = 'kg' | 'lb';

export const round1 = (x: number): number => Math.round(x * 10) / 10;
/** A weight in kg, converted for display, in lb or in kg. */
export function toShownWeight(kg: number, unit: ShownWeightUnit): number {
  return kg / KG_PER_UNIT[unit];
}
export function weight(kg: number, unit: ShownWeightUnit): string {
  return withUnit(round1(toShownWeight(kg, unit)), unit);
}

/** A reading as a nurse reads it aloud: "142/91 mmHg, pulse 72". Weight in `weightUnit`, or in the unit the scale sent. */
export function readingText(r: Reading | null, weightUnit?: ShownWeightUnit): string {
  if (!r) return '';
  if (r.type === 'weight') return weight(r.value!, weightUnit || (r.sentUnit === 'lb' ? 'lb' : 'kg'));
  const pulse = r.pulse != null ? `, pulse ${r.pulse}` : '';
  if (r.type === 'blood_pressure') return `${withUnit(`${r.systolic}/${r.diastolic}`, r.unit)}${pulse}`;
  return `${READING_TYPE_LABELS.spo2} ${withUnit(r.value!, r.unit)}${pulse}`;
}

/** "Primary nurse"; within a sentence, "primary nurse". */
export function teamRole(role: CareTeamRole, inSentence = false): string {
  const label = CARE_TEAM_ROLE_LABELS[role] ?? role;
  return inSentence ? label.toLowerCase() : label;
}

/** "Weight up 2 lb … (details): possible …. Call …" → the first sentence, and the rest. */
export function splitMessage(message: string | null | undefined): [string, string] {
  const match = /^(.+?[.!?])\s+(.+)$/s.exec(message || '');
  return match ? [match[1]!, match[2]!] : [message || '', ''];
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The browser's own time zone: what a page without a patient shows times in. */
export const ownTimeZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone;

/**
 * A time close to now, as a nurse says it: "7:10 AM today", "7:10 AM yesterday", "7:10 AM tomorrow",
 * else "Mar 3, 7:10 AM". Days are those of `timeZone` (the browser's by default).
 */
export function near(iso: string, now = Date.now(), timeZone = ownTimeZone()): string {
  const t = Date.parse(iso);
  const today = startOfLocal(now, 'day', timeZone);
  const tomorrow = nextLocal(today, 'day', timeZone);
  const clock = dateTime(iso, timeZone, 'clock');
  if (t >= today && t < tomorrow) return `${clock} today`;
  if (t >= startOfLocal(today - 1, 'day', timeZone) && t < today) return `${clock} yesterday`;
  if (t >= tomorrow && t < nextLocal(tomorrow, 'day', timeZone)) return `${clock} tomorrow`;
  return dateTime(iso, timeZone, 'plain');
}

/** A label inside a sentence: "weight", but "SpO2" stays as it is written. */
export function inSentence(label: string): string {
  return /[A-Z]/.test(label.slice(1)) ? label : label.toLowerCase();
}

/** "reopened: new episode" → "Reopened: new episode". */
export const capitalized = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);
