/**
 * The words for a clinician's role. Plain data: the web client bundles it as it is. The roles themselves
 * are declared in src/clinicians/store.ts (a module the client cannot load, even for its types);
 * clinician-role.test.ts checks that both name the same roles.
 */
export const CLINICIAN_ROLE_LABELS = { admin: 'Administrator', nurse: 'Nurse', physician: 'Physician' } as const;
export type ClinicianRoleLabelled = keyof typeof CLINICIAN_ROLE_LABELS;
