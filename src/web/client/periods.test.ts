import { describe, expect, it } from 'vitest';
import { fromLocalInput, onCallText, periodState, periodText, startOfLocalDay, toLocalInput } from './periods.ts';

const TZ = 'America/Chicago';
/** Wednesday 4 March 2026, 15:00 in Chicago. */
const NOW = Date.parse('2026-03-04T21:00:00Z');
const shift = (clinicianId: string, from: string, until: string) => ({ clinicianId, from, until });

describe('away periods and on-call shifts', () => {
  it('are past, current or to come', () => {
    expect(periodState({ from: '2026-03-01T00:00:00Z', until: '2026-03-04T21:00:00Z' }, NOW)).toBe('past');
    expect(periodState({ from: '2026-03-04T21:00:00Z', until: '2026-03-05T00:00:00Z' }, NOW)).toBe('now');
    expect(periodState({ from: '2026-03-05T00:00:00Z', until: '2026-03-06T00:00:00Z' }, NOW)).toBe('upcoming');
  });

  it('read as a span of dates and times', () => {
    expect(periodText({ from: '2026-03-04T21:00:00Z', until: '2026-03-11T14:00:00Z' }, TZ)).toBe(
      'Mar 4, 3:00 PM – Mar 11, 9:00 AM',
    );
  });

  it('go to and from a datetime-local input as wall-clock time here, to the minute', () => {
    const at = Date.parse('2026-07-01T17:45:00Z');
    expect(toLocalInput(at)).toMatch(/^2026-07-0[12]T\d{2}:45$/);
    expect(fromLocalInput(toLocalInput(at))).toBe('2026-07-01T17:45:00.000Z');
    expect(fromLocalInput('')).toBeUndefined();
    expect(fromLocalInput('tomorrow')).toBeUndefined();
  });

  it('say who is on call now and until when, joining back-to-back shifts', () => {
    const names = (id: string) => ({ a: 'Dana Reyes', b: 'you' })[id] ?? 'a colleague';
    const shifts = [
      shift('a', '2026-03-04T14:00:00Z', '2026-03-05T02:00:00Z'),
      shift('a', '2026-03-05T02:00:00Z', '2026-03-05T14:00:00Z'),
      shift('b', '2026-03-05T14:00:00Z', '2026-03-06T02:00:00Z'),
    ];
    expect(onCallText({ shifts, now: 'a' }, names, NOW, TZ)).toBe('On call now: Dana Reyes, until 8:00 AM tomorrow');
    expect(onCallText({ shifts, now: null }, names, NOW, TZ)).toBe('Nobody is on call now');
    expect(onCallText({ shifts: [], now: 'c' }, names, NOW, TZ)).toBe('On call now: a colleague');
    expect(onCallText({ shifts: [], now: 'c', nowName: 'Olga Ortiz' }, names, NOW, TZ)).toBe('On call now: Olga Ortiz');
  });
});

describe('a pause until a date', () => {
  it('ends at the start of that day where the patient lives, east and west of UTC', () => {
    expect(startOfLocalDay('2026-03-10', 'America/Chicago')).toBe('2026-03-10T05:00:00.000Z');
    expect(startOfLocalDay('2026-03-10', 'Pacific/Kiritimati')).toBe('2026-03-09T10:00:00.000Z');
    expect(startOfLocalDay('2026-03-10', 'Pacific/Pago_Pago')).toBe('2026-03-10T11:00:00.000Z');
    expect(startOfLocalDay('2026-03-10', 'UTC')).toBe('2026-03-10T00:00:00.000Z');
    expect(startOfLocalDay('', 'UTC')).toBeUndefined();
  });
});
