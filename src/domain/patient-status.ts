import type { PatientStatus } from '../patients/status.ts';

/**
 * The words for a patient's monitoring status (the contract's "Patient status"). Plain data: the web
 * client bundles it as it is. The statuses themselves are declared in src/patients/status.ts; the type
 * import keeps these labels complete when one is added.
 */
export const PATIENT_STATUS_LABELS: Record<PatientStatus, string> = {
  active: 'Active',
  paused: 'Paused',
  discharged: 'Discharged',
};
