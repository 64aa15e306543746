import { asc, eq, inArray } from 'drizzle-orm';
import type { CareTeamRole } from '../domain/care-team.ts';
import type { Db } from '../store/db.ts';
import { careTeamMembers, clinicians } from '../store/schema.ts';

export interface CareTeamMember {
  clinicianId: string;
  role: CareTeamRole;
  name: string;
  clinicianRole: (typeof clinicians.$inferSelect)['role'];
}

/** Which kind of clinician may hold each care-team role: routing pages nurses first, then the physician. */
export const TEAM_ROLE_NEEDS = {
  primary_nurse: 'nurse',
  backup_nurse: 'nurse',
  pcp: 'physician',
  specialist: 'physician',
} as const satisfies Record<CareTeamRole, string>;

/** Each patient's care team: who is on it, in which role. */
export class CareTeamStore {
  constructor(private readonly db: Db) {}

  /** The patient's team by role, then name. */
  members(patientId: string): CareTeamMember[] {
    return this.#select()
      .where(eq(careTeamMembers.patientId, patientId))
      .orderBy(asc(careTeamMembers.role), asc(clinicians.name))
      .all();
  }

  /** The teams of several patients at once, for the inbox. */
  teamsOf(patientIds: readonly string[]): Map<string, CareTeamMember[]> {
    const teams = new Map<string, CareTeamMember[]>();
    if (patientIds.length === 0) return teams;
    for (const { patientId, ...member } of this.#select()
      .where(inArray(careTeamMembers.patientId, [...new Set(patientIds)]))
      .all()) {
      teams.set(patientId, [...(teams.get(patientId) ?? []), member]);
    }
    return teams;
  }

  /** Replaces the whole team in one transaction. */
  replace(patientId: string, members: ReadonlyArray<{ clinicianId: string; role: CareTeamRole }>): void {
    this.db.transaction((tx) => {
      tx.delete(careTeamMembers).where(eq(careTeamMembers.patientId, patientId)).run();
      if (members.length)
        tx.insert(careTeamMembers)
          .values(members.map((m) => ({ ...m, patientId })))
          .run();
    });
  }

  #select() {
    return this.db
      .select({
        patientId: careTeamMembers.patientId,
        clinicianId: careTeamMembers.clinicianId,
        role: careTeamMembers.role,
        name: clinicians.name,
        clinicianRole: clinicians.role,
      })
      .from(careTeamMembers)
      .innerJoin(clinicians, eq(clinicians.id, careTeamMembers.clinicianId))
      .$dynamic();
  }
}
