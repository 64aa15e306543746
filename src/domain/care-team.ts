/**
 * A patient's care team: who is told about alerts, in routing's order, and who may change the care plan.
 * Plain data: the web client bundles it as it is.
 */
export const CARE_TEAM_ROLES = ['primary_nurse', 'backup_nurse', 'pcp', 'specialist'] as const;
export type CareTeamRole = (typeof CARE_TEAM_ROLES)[number];
export const CARE_TEAM_ROLE_LABELS: Record<CareTeamRole, string> = {
  primary_nurse: 'Primary nurse',
  backup_nurse: 'Backup nurse',
  pcp: 'Primary care physician',
  specialist: 'Specialist',
};
