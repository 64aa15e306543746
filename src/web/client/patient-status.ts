import { PATIENT_STATUS_LABELS } from '../../domain/patient-status.ts';
import { h } from './dom.ts';
import { dateTime } from './format.ts';
import type { Patient, StatusHistory } from './responses.ts';

/** A patient's monitoring status in words, and the tag the patient list and page show for it. */

/** "Paused until Mar 10, 12:00 AM", "Paused", "Discharged", "Active"; times in the patient's time zone. */
export function statusText(patient: Pick<Patient, 'status' | 'statusUntil' | 'timezone'>): string {
  const label = PATIENT_STATUS_LABELS[patient.status];
  return patient.status === 'paused' && patient.statusUntil
    ? `${label} until ${dateTime(patient.statusUntil, patient.timezone, 'plain')}`
    : label;
}

/** A tag for a patient who is not monitored now (paused or discharged); nothing for an active one. */
export function statusTag(patient: Pick<Patient, 'status' | 'statusUntil' | 'timezone'>): HTMLElement | null {
  if (patient.status === 'active') return null;
  return h('span', { class: `tag tag--${patient.status}`, 'data-status': patient.status }, statusText(patient));
}

type Change = StatusHistory['history'][number];

/** "Paused until Mar 10, 12:00 AM by Grace Holloway: in hospital", for the status history. */
export function changeText(change: Change, nameOf: (clinicianId: string) => string, timeZone: string): string {
  const what = statusText({ status: change.status, statusUntil: change.until, timezone: timeZone });
  return `${what} by ${nameOf(change.changedBy)}${change.reason ? `: ${change.reason}` : ''}`;
}
