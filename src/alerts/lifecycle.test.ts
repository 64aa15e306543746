import { describe, expect, it } from 'vitest';
import {
  acknowledge,
  breach,
  deactivate,
  escalatedBySibling,
  expireAcknowledgement,
  openAlert,
  presentAlert,
  resolve,
  type Alert,
} from './lifecycle.ts';

const T0 = Date.parse('2026-12-01T02:00:00Z');
const MINUTE = 60_000;

function spo2Alert(severity: Alert['severity'] = 'warning'): Alert {
  return openAlert({
    id: 'a1',
    patientId: 'p1',
    ruleId: 'spo2-low',
    carePlanVersion: 1,
    metric: 'spo2',
    severity,
    message: 'SpO2 low',
    reading: { value: 87 },
    observed: { kind: 'reading', value: 87, unit: '%' },
    at: T0,
  });
}

const trigger = (at: number, severity: Alert['severity'] = 'warning', value = 86) => ({
  reading: { value },
  at,
  severity,
  message: 'SpO2 low',
  observed: { kind: 'reading', value, unit: '%' },
});

describe('alert lifecycle', () => {
  it('opens as episode 1, not late, with what was observed', () => {
    const alert = spo2Alert();
    expect(alert).toMatchObject({ status: 'open', active: true, episode: 1, reopenedAt: null, late: false });
    expect(presentAlert(alert).observed).toEqual({ kind: 'reading', value: 87, unit: '%' });
  });

  it('counts a further breach of an open alert without reopening anything', () => {
    const { alert, event } = breach(spo2Alert(), trigger(T0 + MINUTE));
    expect(event).toBe('updated');
    expect(alert).toMatchObject({ status: 'open', count: 2, episode: 1, observed: { value: 86 } });
  });

  it('keeps an acknowledged alert acknowledged while the same episode goes on', () => {
    const acked = acknowledge(spo2Alert(), 'nina', T0 + MINUTE);
    const { alert, event } = breach(acked, trigger(T0 + 2 * MINUTE));
    expect(event).toBe('updated');
    expect(alert.status).toBe('acknowledged');
  });

  it('reopens an acknowledged alert on a new episode: cleared, then breached again', () => {
    // SpO2 87 → acknowledged → 95 (clears) → 79: the nurse must hear about the 79.
    const cleared = deactivate(acknowledge(spo2Alert(), 'nina', T0 + MINUTE));
    const { alert, event } = breach(cleared, trigger(T0 + 60 * MINUTE, 'warning', 79));
    expect(event).toBe('reopened');
    expect(alert).toMatchObject({
      status: 'open',
      active: true,
      episode: 2,
      reopenedAt: T0 + 60 * MINUTE,
      reopenReason: 'new_episode',
      acknowledgedBy: null,
      acknowledgedAt: null,
      count: 2,
    });
  });

  it('reopens an acknowledged alert whose rule now breaches at a higher severity', () => {
    const acked = acknowledge(spo2Alert('warning'), 'nina', T0 + MINUTE);
    const { alert, event } = breach(acked, trigger(T0 + 2 * MINUTE, 'critical'));
    expect(event).toBe('reopened');
    expect(alert).toMatchObject({ status: 'open', severity: 'critical', episode: 1, reopenReason: 'higher_severity' });
  });

  it('reopens an acknowledged alert when another rule of its metric breaches more severely', () => {
    const acked = acknowledge(spo2Alert('warning'), 'nina', T0 + MINUTE);
    expect(escalatedBySibling(acked, 'critical', T0 + 2 * MINUTE)).toMatchObject({
      status: 'open',
      reopenReason: 'higher_severity',
    });
    expect(escalatedBySibling(acked, 'warning', T0 + 2 * MINUTE)).toBeUndefined();
    expect(escalatedBySibling(spo2Alert('warning'), 'critical', T0)).toBeUndefined(); // already open
  });

  it('reopens when the acknowledgement expires while the condition holds, not after it cleared', () => {
    const acked = acknowledge(spo2Alert('critical'), 'nina', T0 + MINUTE);
    expect(expireAcknowledgement(acked, T0 + 61 * MINUTE)).toMatchObject({
      status: 'open',
      episode: 1,
      reopenReason: 'acknowledgement_expired',
    });
    expect(expireAcknowledgement(deactivate(acked), T0 + 61 * MINUTE)).toBeUndefined();
    expect(expireAcknowledgement(resolve(acked, 'nina', T0 + 2 * MINUTE, null), T0 + 61 * MINUTE)).toBeUndefined();
  });

  it('marks an alert late when its triggering reading was measured before the newest one', () => {
    const { alert } = breach(spo2Alert(), { ...trigger(T0 + MINUTE), late: true });
    expect(alert.late).toBe(true);
    expect(breach(alert, trigger(T0 + 2 * MINUTE)).alert.late).toBe(false);
  });
});
