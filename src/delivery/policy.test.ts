import { describe, expect, it } from 'vitest';
import { defaultRoutingPolicy, routeAlert, type CareTeamMember } from './policy.ts';

const policy = defaultRoutingPolicy({ critical: 15 * 60_000, warning: 4 * 3_600_000 });
const team: CareTeamMember[] = [
  { clinicianId: 'nina', role: 'primary_nurse' },
  { clinicianId: 'bob', role: 'backup_nurse' },
  { clinicianId: 'bea', role: 'backup_nurse' },
  { clinicianId: 'paul', role: 'pcp' },
  { clinicianId: 'sam', role: 'specialist' },
];

describe('routeAlert', () => {
  it('goes to the primary nurse, then the backup nurses, then the pcp; never to a specialist', () => {
    expect(routeAlert({ severity: 'critical' }, team, 0, 0, policy)).toEqual({
      tier: 0,
      clinicianIds: ['nina'],
      at: 0,
      nextAt: 15 * 60_000,
    });
    expect(routeAlert({ severity: 'critical' }, team, 1, 10, policy)?.clinicianIds).toEqual(['bob', 'bea']);
    expect(routeAlert({ severity: 'critical' }, team, 2, 10, policy)?.clinicianIds).toEqual(['paul']);
    expect(routeAlert({ severity: 'critical' }, team, 3, 10, policy)).toBeUndefined();
  });

  it('waits the severity’s escalation delay before the next tier', () => {
    expect(routeAlert({ severity: 'warning' }, team, 0, 1000, policy)?.nextAt).toBe(1000 + 4 * 3_600_000);
  });

  it('does not push info alerts', () => {
    expect(routeAlert({ severity: 'info' }, team, 0, 0, policy)).toBeUndefined();
  });

  it('returns a tier with nobody in it, so the caller passes the alert on', () => {
    expect(
      routeAlert({ severity: 'critical' }, [{ clinicianId: 'paul', role: 'pcp' }], 0, 0, policy)?.clinicianIds,
    ).toEqual([]);
  });
});
