import { describe, expect, it } from 'vitest';
import { changeText, statusText } from './patient-status.ts';

const tz = 'America/Chicago';

describe('a patient’s monitoring status in words', () => {
  it('says until when a pause lasts, in the patient’s time zone', () => {
    expect(statusText({ status: 'paused', statusUntil: '2026-03-10T05:00:00Z', timezone: tz })).toBe(
      'Paused until Mar 10, 12:00 AM',
    );
    expect(statusText({ status: 'paused', statusUntil: null, timezone: tz })).toBe('Paused');
    expect(statusText({ status: 'discharged', statusUntil: null, timezone: tz })).toBe('Discharged');
    expect(statusText({ status: 'active', statusUntil: null, timezone: tz })).toBe('Active');
  });

  it('says who changed it and why', () => {
    const nameOf = (id: string) => (id === 'c1' ? 'Grace Holloway' : 'you');
    const change = {
      version: 2,
      status: 'paused' as const,
      until: '2026-03-10T05:00:00Z',
      reason: 'In hospital',
      changedBy: 'c1',
      changedAt: '2026-03-04T21:00:00Z',
    };
    expect(changeText(change, nameOf, tz)).toBe('Paused until Mar 10, 12:00 AM by Grace Holloway: In hospital');
    expect(changeText({ ...change, status: 'active', until: null, reason: null, changedBy: 'me' }, nameOf, tz)).toBe(
      'Active by you',
    );
  });
});
