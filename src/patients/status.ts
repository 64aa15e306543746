/**
 * A patient's monitoring status (the contract's "Patient status"), as pure functions of the stored
 * status and time. `paused`: on vacation or in hospital; readings are stored, nothing alerts, missing-data
 * rules stop; a pause with `until` ends by itself then. `discharged`: monitoring has ended.
 */
export const PATIENT_STATUSES = ['active', 'paused', 'discharged'] as const;
export type PatientStatus = (typeof PATIENT_STATUSES)[number];

export interface StatusFields {
  status: PatientStatus;
  statusUntil: number | null;
}

/** The status in force at `now`: a pause past its `until` is over. */
export function statusAt(patient: StatusFields, now: number): PatientStatus {
  if (patient.status === 'paused' && patient.statusUntil !== null && patient.statusUntil <= now) return 'active';
  return patient.status;
}

/** Whether the rules run for the patient at `now`: alerts open and missing-data clocks tick only while active. */
export const isMonitored = (patient: StatusFields, now: number) => statusAt(patient, now) === 'active';

/**
 * When the patient was last monitored from: a pause that ended by itself restarts the clocks at its end,
 * so a patient back from hospital is not at once "missing" a week of weights.
 */
export function monitoredSince(patient: StatusFields & { statusChangedAt: number | null }, now: number): number {
  if (patient.status === 'paused' && patient.statusUntil !== null && patient.statusUntil <= now)
    return patient.statusUntil;
  return patient.statusChangedAt ?? 0;
}
