/** A patient's care team: who is told about alerts, in routing's order, and who may change the care plan. */
export const CARE_TEAM_ROLES = ['primary_nurse', 'backup_nurse', 'pcp', 'specialist'] as const;
export type CareTeamRole = (typeof CARE_TEAM_ROLES)[number];
