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

/** 'plain': like 'short', for a page that already says which time zone its times are in. */
export type DateStyle = 'short' | 'time' | 'date' | 'plain';

const formats = new Map<string, Intl.DateTimeFormat>();
export function dateTime(iso: string, timeZone?: string, style: DateStyle = 'short'): string {
  const key = `${timeZone || ''}|${style}`;
  let format = formats.get(key);
  if (!format) {
    const options: Intl.DateTimeFormatOptions =
      style === 'time'
        ? { hour: 'numeric', minute: '2-digit' }
        : style === 'date'
          ? { month: 'short', day: 'numeric', year: 'numeric' }
          : { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' };
    if (timeZone) options.timeZone = timeZone;
    if (timeZone && style !== 'date' && style !== 'plain') options.timeZoneName = 'short';
    format = new Intl.DateTimeFormat('en-US', options);
    formats.set(key, format);
  }
  return format.format(new Date(iso));
}

/** A <time> showing `text`, with the full date and time as its tooltip. */
export function time(iso: string, text: string, timeZone?: string): HTMLTimeElement {
  return h('time', { datetime: iso, title: dateTime(iso, timeZone) }, text);
}

export type ShownWeightUnit = 'kg' | 'lb';

const KG_PER_LB = 0.45359237;
export const round1 = (x: number): number => Math.round(x * 10) / 10;
/** A weight in kg, converted for display, in lb or in kg. */
export function toShownWeight(kg: number, unit: ShownWeightUnit): number {
  return unit === 'lb' ? kg / KG_PER_LB : kg;
}
export function weight(kg: number, unit: ShownWeightUnit): string {
  return `${round1(toShownWeight(kg, unit))} ${unit}`;
}

/** A reading as a nurse reads it aloud: "142/91 mmHg, pulse 72". Weight in `weightUnit`, or in the unit the scale sent. */
export function readingText(r: Reading | null, weightUnit?: ShownWeightUnit): string {
  if (!r) return '';
  if (r.type === 'blood_pressure')
    return `${r.systolic}/${r.diastolic} mmHg${r.pulse != null ? `, pulse ${r.pulse}` : ''}`;
  if (r.type === 'weight') return weight(r.value!, weightUnit || (r.sentUnit === 'lb' ? 'lb' : 'kg'));
  if (r.type === 'spo2') return `SpO2 ${r.value}%${r.pulse != null ? `, pulse ${r.pulse}` : ''}`;
  return '';
}

export const TYPE_LABEL: Record<string, string> = { blood_pressure: 'Blood pressure', weight: 'Weight', spo2: 'SpO2' };
export const TEAM_ROLE: Record<string, string> = {
  primary_nurse: 'Primary nurse',
  backup_nurse: 'Backup nurse',
  pcp: 'Primary care physician',
  specialist: 'Specialist',
};

/** "Weight up 2 lb … (details): possible …. Call …" → the first sentence, and the rest. */
export function splitMessage(message: string | null | undefined): [string, string] {
  const match = /^(.+?[.!?])\s+(.+)$/s.exec(message || '');
  return match ? [match[1]!, match[2]!] : [message || '', ''];
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
