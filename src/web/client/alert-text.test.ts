import { describe, expect, it } from 'vitest';
import {
  acknowledgementExpiryText,
  episodeText,
  lateText,
  observedText,
  reopenedText,
  resentText,
} from './alert-text.ts';
import type { InboxAlert } from './responses.ts';

const TZ = 'America/Chicago';
/** Wednesday 4 March 2026, 15:00 in Chicago (CST, UTC-6). */
const NOW = Date.parse('2026-03-04T21:00:00Z');

describe('what an alert observed, in words', () => {
  it('gives a reading, a mean, a signed change since when, and missing data since when', () => {
    expect(observedText({ metric: 'spo2', observed: { kind: 'reading', value: 86, unit: '%' } })).toBe('SpO2 86%');
    expect(observedText({ metric: 'systolic', observed: { kind: 'mean', value: 146, unit: 'mmHg', count: 6 } })).toBe(
      'Systolic mean of 6: 146 mmHg',
    );
    const change = (value: number, fromAt: string) => ({
      metric: 'weight',
      observed: {
        kind: 'change' as const,
        value,
        unit: 'lb',
        from: { value: 180, measuredAt: fromAt },
        to: { value: 180 + value, measuredAt: '2026-03-04T13:05:00Z' },
      },
    });
    expect(observedText(change(2.2, '2026-03-03T13:10:00Z'), NOW, TZ)).toBe('Weight +2.2 lb since 7:10 AM yesterday');
    expect(observedText(change(-1.5, '2026-03-04T13:10:00Z'), NOW, TZ)).toBe('Weight -1.5 lb since 7:10 AM today');
    expect(
      observedText({ metric: 'weight', observed: { kind: 'missing', since: '2026-02-27T13:10:00Z' } }, NOW, TZ),
    ).toBe('No weight since Feb 27, 7:10 AM');
    expect(
      observedText({ metric: 'spo2', observed: { kind: 'missing', since: '2026-03-03T23:00:00Z' } }, NOW, TZ),
    ).toBe('No SpO2 since 5:00 PM yesterday');
  });

  it('says when a device clock is wrong, and nothing when nothing was observed', () => {
    expect(
      observedText(
        { metric: 'device', observed: { kind: 'device-clock', deviceId: 'd1', measuredAt: '2026-01-01T06:00:00Z' } },
        NOW,
        TZ,
      ),
    ).toBe('Device clock wrong: newest reading stamped Jan 1, 12:00 AM');
    expect(observedText({ metric: 'spo2', observed: null })).toBe('');
  });
});

describe('episodes, repeats and late readings, in words', () => {
  it('names why an alert was reopened, and its episode after the first', () => {
    expect(reopenedText({ reopenReason: 'new_episode' })).toBe('reopened: new episode');
    expect(reopenedText({ reopenReason: 'higher_severity' })).toBe('reopened: got worse');
    expect(reopenedText({ reopenReason: 'acknowledgement_expired' })).toBe('reopened: acknowledgement expired');
    expect(reopenedText({ reopenReason: null })).toBe('');
    expect(episodeText({ episode: 1 })).toBe('');
    expect(episodeText({ episode: 2 })).toBe('episode 2');
  });

  it('counts the pushes sent again after the last tier', () => {
    expect(resentText(null)).toBe('');
    expect(resentText({ repeats: 0 })).toBe('');
    expect(resentText({ repeats: 1 })).toBe('re-sent once');
    expect(resentText({ repeats: 3 })).toBe('re-sent 3 times');
  });

  it('says how long ago a late reading was measured', () => {
    const reading = {
      type: 'spo2' as const,
      id: 'r',
      deviceId: 'd',
      value: 84,
      pulse: null,
      unit: '%',
      measuredAt: new Date(NOW - 3 * 3_600_000 - 60_000).toISOString(),
      receivedAt: new Date(NOW).toISOString(),
    };
    expect(lateText({ late: true, reading }, NOW)).toBe('measured 3 h ago, arrived late');
    expect(lateText({ late: false, reading }, NOW)).toBe('');
  });

  it('says when an acknowledgement runs out, only while the alert is acknowledged', () => {
    const escalation = { acknowledgementExpiresAt: '2026-03-04T22:10:00Z' } as InboxAlert['escalation'];
    expect(acknowledgementExpiryText({ status: 'acknowledged', escalation }, NOW, TZ)).toBe(
      'acknowledgement expires 4:10 PM today',
    );
    expect(acknowledgementExpiryText({ status: 'open', escalation }, NOW, TZ)).toBe('');
    expect(acknowledgementExpiryText({ status: 'acknowledged', escalation: null }, NOW, TZ)).toBe('');
  });
});
