import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type DeviceKind, type ServiceClient, type TestService } from './helpers/service.ts';
import type { presentAlert } from '../src/alerts/lifecycle.ts';

/**
 * Care-plan rules end to end, through the real API: a device posts readings (measuredAt spread over days,
 * all in the past), and after each step `GET /v1/alerts?patientId=` shows exactly the alerts the rules
 * should have raised, and no others. Every scenario has its own patient and device(s).
 */

/** An alert as the API shows it. */
type AlertBody = ReturnType<typeof presentAlert>;

type Plan = { templates?: string[]; rules: unknown[] };

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Ten days ago: every reading of these scenarios is measured between here and now. */
const base = Date.now() - 10 * DAY;
const at = (hours: number) => base + hours * HOUR;

const spo2 = (hours: number, value: number) => ({ type: 'spo2', measuredAt: at(hours), value });
const weightLb = (hours: number, value: number) => ({ type: 'weight', measuredAt: at(hours), value, unit: 'lb' });
const bp = (hours: number, systolic: number, diastolic: number) => ({
  type: 'blood_pressure',
  measuredAt: at(hours),
  systolic,
  diastolic,
});

const rule = (id: string, metric: string, when: Record<string, unknown>, severity = 'warning') => ({
  id,
  metric,
  when,
  severity,
  message: `${id} fired`,
});

async function setPlan(
  client: ServiceClient,
  patientId: string,
  plan: Plan,
): Promise<{ version: number; rules: Array<Record<string, unknown>> }> {
  const response = await client.admin(`/v1/patients/${patientId}/care-plan`, { method: 'PUT', body: plan });
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as { version: number; rules: Array<Record<string, unknown>> };
}

async function alertsOf(client: ServiceClient, patientId: string): Promise<AlertBody[]> {
  const response = await client.admin(`/v1/alerts?patientId=${patientId}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { alerts: AlertBody[] }).alerts;
}

/** Posts one reading (or a batch, evaluated in array order); every reading must be accepted. Returns the reading ids. */
async function post(
  client: ServiceClient,
  token: string,
  ...readings: Array<Record<string, unknown>>
): Promise<string[]> {
  const response = await client.postReadings(token, readings.length === 1 ? readings[0] : { readings });
  const body = (await response.json()) as { accepted: number; results: Array<{ status: string; readingId: string }> };
  expect(response.status, JSON.stringify(body)).toBe(200);
  expect(body.accepted, JSON.stringify(body)).toBe(readings.length);
  return body.results.map((r) => r.readingId);
}

async function resolveAlert(client: ServiceClient, id: string, note?: string): Promise<AlertBody> {
  const response = await client.admin(`/v1/alerts/${id}/resolve`, {
    method: 'POST',
    body: note === undefined ? {} : { note },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as AlertBody;
}

/** A patient with a device of `kind` and the given plan in force. */
async function patientWith(client: ServiceClient, kind: DeviceKind, plan: Plan) {
  const device = await client.provision(kind);
  const saved = await setPlan(client, device.patientId, plan);
  return { ...device, plan: saved };
}

/** Polls until `check` returns something, or fails after `timeoutMs`. */
async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

describe('reading-driven rules', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(() => svc.stop());

  it('threshold: fires on the first reading past the value, not at or above it', async () => {
    const p = await patientWith(svc, 'pulse_oximeter', {
      rules: [rule('spo2-low', 'spo2', { kind: 'threshold', op: '<', value: 90 })],
    });
    await post(svc, p.token, spo2(0, 92));
    expect(await alertsOf(svc, p.patientId)).toEqual([]);
    await post(svc, p.token, spo2(24, 90));
    expect(await alertsOf(svc, p.patientId)).toEqual([]);

    const [readingId] = await post(svc, p.token, spo2(48, 89));
    const alerts = await alertsOf(svc, p.patientId);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      patientId: p.patientId,
      ruleId: 'spo2-low',
      carePlanVersion: p.plan.version,
      severity: 'warning',
      status: 'open',
      active: true,
      message: 'spo2-low fired',
      count: 1,
      reading: { id: readingId, type: 'spo2', value: 89, measuredAt: new Date(at(48)).toISOString() },
      acknowledgedBy: null,
      acknowledgedAt: null,
      resolvedBy: null,
      resolvedAt: null,
      note: null,
    });
    expect(alerts[0]!.openedAt).toBe(alerts[0]!.lastTriggeredAt);
  });

  it('consecutive <90 count 2: 89, 95, 88, 87 posted one by one fires only on 87', async () => {
    const p = await patientWith(svc, 'pulse_oximeter', {
      rules: [rule('spo2-run', 'spo2', { kind: 'consecutive', op: '<', value: 90, count: 2 })],
    });
    await post(svc, p.token, spo2(0, 89));
    expect(await alertsOf(svc, p.patientId)).toEqual([]);
    await post(svc, p.token, spo2(24, 95));
    expect(await alertsOf(svc, p.patientId)).toEqual([]);
    await post(svc, p.token, spo2(48, 88));
    expect(await alertsOf(svc, p.patientId)).toEqual([]);
    const [id87] = await post(svc, p.token, spo2(72, 87));
    const alerts = await alertsOf(svc, p.patientId);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ ruleId: 'spo2-run', count: 1, active: true, reading: { id: id87, value: 87 } });
  });

  it('consecutive <90 count 2: the same readings in one batch, right after the plan was set, fire once, on 87', async () => {
    // The first batch after a plan change: the rule's history is loaded while the whole batch is already stored.
    const p = await patientWith(svc, 'pulse_oximeter', {
      rules: [rule('spo2-run', 'spo2', { kind: 'consecutive', op: '<', value: 90, count: 2 })],
    });
    const ids = await post(svc, p.token, spo2(0, 89), spo2(24, 95), spo2(48, 88), spo2(72, 87));
    const alerts = await alertsOf(svc, p.patientId);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ ruleId: 'spo2-run', count: 1, active: true, reading: { id: ids[3], value: 87 } });
  });

  it('threshold: a breach followed by a normal reading in one batch, right after the plan was set, opens an (inactive) alert', async () => {
    // The breach must be judged on its own value, not on the newest reading of the batch.
    const p = await patientWith(svc, 'pulse_oximeter', {
      rules: [rule('spo2-low', 'spo2', { kind: 'threshold', op: '<', value: 90 })],
    });
    const ids = await post(svc, p.token, spo2(0, 85), spo2(24, 95));
    const alerts = await alertsOf(svc, p.patientId);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      ruleId: 'spo2-low',
      count: 1,
      active: false,
      reading: { id: ids[0], value: 85 },
    });
  });

  it('consecutive <90 count 2: the same batch after an earlier reading fires once, on 87', async () => {
    const p = await patientWith(svc, 'pulse_oximeter', {
      rules: [rule('spo2-run', 'spo2', { kind: 'consecutive', op: '<', value: 90, count: 2 })],
    });
    await post(svc, p.token, spo2(0, 96));
    const ids = await post(svc, p.token, spo2(24, 89), spo2(48, 95), spo2(72, 88), spo2(96, 87));
    const alerts = await alertsOf(svc, p.patientId);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ ruleId: 'spo2-run', count: 1, reading: { id: ids[3], value: 87 } });
  });

  it('average of 3: two very high readings are not enough; the third fires when the mean reaches the value', async () => {
    const avg = { rules: [rule('sys-avg', 'systolic', { kind: 'average', op: '>=', value: 140, count: 3 })] };
    const p = await patientWith(svc, 'bp_monitor', avg);
    await post(svc, p.token, bp(0, 240, 110));
    await post(svc, p.token, bp(12, 250, 115));
    expect(await alertsOf(svc, p.patientId)).toEqual([]);
    const [third] = await post(svc, p.token, bp(24, 120, 80)); // mean (240 + 250 + 120) / 3 = 203.3
    const alerts = await alertsOf(svc, p.patientId);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      ruleId: 'sys-avg',
      count: 1,
      active: true,
      reading: { id: third, systolic: 120 },
    });

    // A sliding window: 150, 150, 110 → 136.7 (no); then 160 → (150 + 110 + 160) / 3 = 140 exactly (fires, >=).
    const q = await patientWith(svc, 'bp_monitor', avg);
    await post(svc, q.token, bp(0, 150, 90));
    await post(svc, q.token, bp(24, 150, 90));
    await post(svc, q.token, bp(48, 110, 70));
    expect(await alertsOf(svc, q.patientId)).toEqual([]);
    await post(svc, q.token, bp(72, 160, 95));
    expect(await alertsOf(svc, q.patientId)).toMatchObject([{ ruleId: 'sys-avg', count: 1 }]);
    // The mean falls below again: (110 + 160 + 120) / 3 = 130; the alert stays, inactive.
    await post(svc, q.token, bp(96, 120, 80));
    expect(await alertsOf(svc, q.patientId)).toMatchObject([
      { ruleId: 'sys-avg', count: 1, active: false, status: 'open' },
    ]);
  });

  describe('change within 24 h, in lb', () => {
    const gain = {
      rules: [rule('weight-gain-24h', 'weight', { kind: 'change', op: '>=', value: 2, unit: 'lb', within: '24h' })],
    };

    it('180 lb then 182.2 lb 23 h later fires', async () => {
      const p = await patientWith(svc, 'scale', gain);
      await post(svc, p.token, weightLb(0, 180));
      expect(await alertsOf(svc, p.patientId)).toEqual([]);
      const [id] = await post(svc, p.token, weightLb(23, 182.2));
      const alerts = await alertsOf(svc, p.patientId);
      expect(alerts).toHaveLength(1);
      expect(alerts[0]).toMatchObject({
        ruleId: 'weight-gain-24h',
        count: 1,
        reading: { id, type: 'weight', unit: 'kg' },
      });
      expect(alerts[0]!.reading!.value as number).toBeCloseTo(182.2 * 0.45359237, 3);
    });

    it('180 lb then 181.8 lb 23 h later does not', async () => {
      const p = await patientWith(svc, 'scale', gain);
      await post(svc, p.token, weightLb(0, 180));
      await post(svc, p.token, weightLb(23, 181.8));
      expect(await alertsOf(svc, p.patientId)).toEqual([]);
    });

    it('exactly 2 lb fires (>=), and a gain spread over more than the window does not', async () => {
      const p = await patientWith(svc, 'scale', gain);
      await post(svc, p.token, weightLb(0, 180));
      await post(svc, p.token, weightLb(23, 182));
      expect(await alertsOf(svc, p.patientId)).toMatchObject([{ ruleId: 'weight-gain-24h', count: 1 }]);

      const q = await patientWith(svc, 'scale', gain);
      await post(svc, q.token, weightLb(0, 180));
      await post(svc, q.token, weightLb(25, 182.5)); // the 180 lb is 25 h old: outside the window
      expect(await alertsOf(svc, q.patientId)).toEqual([]);
    });

    it('a loss rule (change <= -2 lb) fires on the loss, not on a smaller one', async () => {
      const p = await patientWith(svc, 'scale', {
        rules: [rule('weight-loss-24h', 'weight', { kind: 'change', op: '<=', value: -2, unit: 'lb', within: '24h' })],
      });
      await post(svc, p.token, weightLb(0, 180));
      await post(svc, p.token, weightLb(12, 178.5)); // -1.5 lb
      expect(await alertsOf(svc, p.patientId)).toEqual([]);
      const [id] = await post(svc, p.token, weightLb(20, 177.9)); // -2.1 lb from the 180 lb 20 h earlier
      expect(await alertsOf(svc, p.patientId)).toMatchObject([
        { ruleId: 'weight-loss-24h', count: 1, reading: { id } },
      ]);
    });
  });

  it('a care-plan change takes effect on the next reading', async () => {
    const p = await patientWith(svc, 'pulse_oximeter', {
      rules: [rule('spo2-low', 'spo2', { kind: 'threshold', op: '<', value: 90 })],
    });
    await post(svc, p.token, spo2(0, 88));
    const [first] = await alertsOf(svc, p.patientId);
    expect(first).toMatchObject({ ruleId: 'spo2-low', count: 1, active: true, carePlanVersion: 1 });

    const v2 = await setPlan(svc, p.patientId, {
      rules: [rule('spo2-low', 'spo2', { kind: 'threshold', op: '<', value: 85 })],
    });
    expect(v2.version).toBe(2);
    await post(svc, p.token, spo2(24, 88)); // breached v1, not v2
    expect(await alertsOf(svc, p.patientId)).toMatchObject([{ id: first!.id, count: 1, active: false }]);

    await resolveAlert(svc, first!.id);
    await post(svc, p.token, spo2(48, 88));
    expect(await alertsOf(svc, p.patientId)).toMatchObject([{ id: first!.id, status: 'resolved' }]);
    await post(svc, p.token, spo2(72, 84));
    const alerts = await alertsOf(svc, p.patientId);
    expect(alerts).toHaveLength(2);
    expect(alerts[0]).toMatchObject({
      ruleId: 'spo2-low',
      status: 'open',
      count: 1,
      carePlanVersion: 2,
      reading: { value: 84 },
    });

    // Removing the rule: a breach of the old threshold raises nothing more.
    await setPlan(svc, p.patientId, {
      rules: [rule('weight-high', 'weight', { kind: 'threshold', op: '>', value: 150 })],
    });
    await post(svc, p.token, spo2(96, 70));
    expect((await alertsOf(svc, p.patientId)).map((a) => a.count)).toEqual([1, 1]);
  });

  it('a late reading (measured before the newest) is stored but opens no alert, and does not update one', async () => {
    const p = await patientWith(svc, 'pulse_oximeter', {
      rules: [rule('spo2-low', 'spo2', { kind: 'threshold', op: '<', value: 90 })],
    });
    await post(svc, p.token, spo2(48, 95));
    const [lateId] = await post(svc, p.token, spo2(47, 85)); // T − 1 h
    expect(await alertsOf(svc, p.patientId)).toEqual([]);
    const stored = await svc.readings(p.patientId, '?type=spo2');
    expect(stored.readings.map((r) => [r.id, r.value])).toEqual([
      [lateId, 85],
      [expect.any(String), 95],
    ]);

    const [onTime] = await post(svc, p.token, spo2(49, 86));
    expect(await alertsOf(svc, p.patientId)).toMatchObject([{ count: 1, active: true, reading: { id: onTime } }]);
    // Late again, breaching and not: the open alert is neither counted nor deactivated.
    await post(svc, p.token, spo2(46, 80));
    await post(svc, p.token, spo2(45, 97));
    expect(await alertsOf(svc, p.patientId)).toMatchObject([{ count: 1, active: true, reading: { id: onTime } }]);
    // Inside one batch too: the second reading is older than the first.
    await post(svc, p.token, spo2(50, 96), spo2(44, 82));
    expect(await alertsOf(svc, p.patientId)).toMatchObject([{ count: 1, active: false, reading: { id: onTime } }]);
  });

  it('a late reading joins the history at its place: consecutive rules count it by measurement time', async () => {
    const p = await patientWith(svc, 'pulse_oximeter', {
      rules: [rule('spo2-run', 'spo2', { kind: 'consecutive', op: '<', value: 90, count: 2 })],
    });
    await post(svc, p.token, spo2(24, 95));
    await post(svc, p.token, spo2(23, 85)); // late
    expect(await alertsOf(svc, p.patientId)).toEqual([]);
    await post(svc, p.token, spo2(25, 88)); // the last two by time are 95, 88
    expect(await alertsOf(svc, p.patientId)).toEqual([]);
    await post(svc, p.token, spo2(26, 87));
    expect(await alertsOf(svc, p.patientId)).toMatchObject([{ ruleId: 'spo2-run', count: 1 }]);
  });

  it('repeated breaches update the one open alert; active follows the newest reading', async () => {
    const p = await patientWith(svc, 'pulse_oximeter', {
      rules: [rule('spo2-low', 'spo2', { kind: 'threshold', op: '<', value: 90 })],
    });
    await post(svc, p.token, spo2(0, 89));
    const [first] = await alertsOf(svc, p.patientId);
    expect(first).toMatchObject({ count: 1, active: true });

    await sleep(5);
    const [second] = await post(svc, p.token, spo2(24, 88));
    let alerts = await alertsOf(svc, p.patientId);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      id: first!.id,
      openedAt: first!.openedAt,
      count: 2,
      active: true,
      reading: { id: second, value: 88 },
    });
    expect(Date.parse(alerts[0]!.lastTriggeredAt)).toBeGreaterThan(Date.parse(first!.lastTriggeredAt));
    const afterSecond = alerts[0]!;

    await sleep(5);
    const [third] = await post(svc, p.token, spo2(48, 87));
    alerts = await alertsOf(svc, p.patientId);
    expect(alerts).toMatchObject([{ id: first!.id, count: 3, active: true, reading: { id: third, value: 87 } }]);
    expect(Date.parse(alerts[0]!.lastTriggeredAt)).toBeGreaterThan(Date.parse(afterSecond.lastTriggeredAt));
    const afterThird = alerts[0]!;

    await post(svc, p.token, spo2(72, 95));
    alerts = await alertsOf(svc, p.patientId);
    expect(alerts).toHaveLength(1);
    // Not a breach: inactive, but nothing else changes (still open, same count, same triggering reading).
    expect(alerts[0]).toEqual({ ...afterThird, active: false });

    // Acknowledged after it cleared, it is still the one alert of the rule; but a new breach is a new
    // episode, and it reopens the alert (v1 kept it acknowledged and told nobody).
    const ack = await svc.admin(`/v1/alerts/${first!.id}/acknowledge`, { method: 'POST' });
    expect(ack.status).toBe(200);
    const [fourth] = await post(svc, p.token, spo2(96, 86));
    alerts = await alertsOf(svc, p.patientId);
    expect(alerts).toMatchObject([
      {
        id: first!.id,
        status: 'open',
        episode: 2,
        reopenReason: 'new_episode',
        count: 4,
        active: true,
        reading: { id: fourth, value: 86 },
        observed: { kind: 'reading', value: 86, unit: '%' },
      },
    ]);
  });

  it('after resolution, the next breach opens a new alert', async () => {
    const p = await patientWith(svc, 'pulse_oximeter', {
      rules: [rule('spo2-low', 'spo2', { kind: 'threshold', op: '<', value: 90 })],
    });
    await post(svc, p.token, spo2(0, 88));
    await post(svc, p.token, spo2(1, 87));
    const [first] = await alertsOf(svc, p.patientId);
    const resolved = await resolveAlert(svc, first!.id, 'Rechecked at rest: 94%');
    expect(resolved).toMatchObject({ status: 'resolved', note: 'Rechecked at rest: 94%', count: 2 });

    await post(svc, p.token, spo2(24, 96));
    expect(await alertsOf(svc, p.patientId)).toMatchObject([{ id: first!.id, status: 'resolved', count: 2 }]);

    const [breach] = await post(svc, p.token, spo2(48, 86));
    const alerts = await alertsOf(svc, p.patientId);
    expect(alerts).toHaveLength(2);
    expect(alerts[0]).toMatchObject({
      ruleId: 'spo2-low',
      status: 'open',
      active: true,
      count: 1,
      reading: { id: breach },
    });
    expect(alerts[0]!.id).not.toBe(first!.id);
    expect(alerts[1]).toMatchObject({ id: first!.id, status: 'resolved', count: 2, note: 'Rechecked at rest: 94%' });
  });

  it('a blood-pressure reading feeds systolic, diastolic and pulse rules separately', async () => {
    const p = await patientWith(svc, 'bp_monitor', {
      rules: [
        rule('sys-high', 'systolic', { kind: 'threshold', op: '>=', value: 160 }),
        rule('dia-high', 'diastolic', { kind: 'threshold', op: '>=', value: 100 }),
        rule('pulse-high', 'pulse', { kind: 'threshold', op: '>', value: 100 }),
      ],
    });
    await post(svc, p.token, { ...bp(0, 150, 105), pulse: 70 });
    expect((await alertsOf(svc, p.patientId)).map((a) => a.ruleId)).toEqual(['dia-high']);
    await post(svc, p.token, { ...bp(24, 165, 90), pulse: 110 });
    expect((await alertsOf(svc, p.patientId)).map((a) => [a.ruleId, a.active]).sort()).toEqual([
      ['dia-high', false],
      ['pulse-high', true],
      ['sys-high', true],
    ]);
  });
});

describe('templates', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(() => svc.stop());

  it('heart-failure: a gain of 2.2 lb in 23 h fires hf-weight-gain-day; 1.8 lb does not', async () => {
    const p = await patientWith(svc, 'scale', { templates: ['heart-failure'], rules: [] });
    expect(p.plan.rules.map((r) => r.id)).toContain('hf-weight-gain-day');
    await post(svc, p.token, weightLb(0, 180));
    expect(await alertsOf(svc, p.patientId)).toEqual([]);
    await post(svc, p.token, weightLb(23, 182.2));
    const alerts = await alertsOf(svc, p.patientId);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      ruleId: 'hf-weight-gain-day',
      severity: 'warning',
      carePlanVersion: 1,
      count: 1,
    });

    const q = await patientWith(svc, 'scale', { templates: ['heart-failure'], rules: [] });
    await post(svc, q.token, weightLb(0, 180));
    await post(svc, q.token, weightLb(23, 181.8));
    expect(await alertsOf(svc, q.patientId)).toEqual([]);
  });

  it('heart-failure: 1 lb a day for five days fires the week rule only', async () => {
    const p = await patientWith(svc, 'scale', { templates: ['heart-failure'], rules: [] });
    for (let day = 0; day < 5; day++) {
      await post(svc, p.token, weightLb(day * 24, 180 + day));
      expect(await alertsOf(svc, p.patientId)).toEqual([]);
    }
    await post(svc, p.token, weightLb(5 * 24, 185));
    expect((await alertsOf(svc, p.patientId)).map((a) => a.ruleId)).toEqual(['hf-weight-gain-week']);
  });

  it('hypertension: systolic 180 is critical, 179 is not; diastolic 120 likewise', async () => {
    const p = await patientWith(svc, 'bp_monitor', { templates: ['hypertension'], rules: [] });
    await post(svc, p.token, bp(0, 179, 100));
    expect(await alertsOf(svc, p.patientId)).toEqual([]);
    await post(svc, p.token, bp(24, 180, 100));
    expect(await alertsOf(svc, p.patientId)).toMatchObject([
      { ruleId: 'htn-crisis-systolic', severity: 'critical', count: 1, reading: { systolic: 180 } },
    ]);

    const q = await patientWith(svc, 'bp_monitor', { templates: ['hypertension'], rules: [] });
    await post(svc, q.token, bp(0, 150, 119));
    expect(await alertsOf(svc, q.patientId)).toEqual([]);
    await post(svc, q.token, bp(24, 150, 120));
    expect(await alertsOf(svc, q.patientId)).toMatchObject([{ ruleId: 'htn-crisis-diastolic', severity: 'critical' }]);
  });

  it('COPD: SpO2 87 is critical; three in a row below 90 is a warning', async () => {
    const p = await patientWith(svc, 'pulse_oximeter', { templates: ['copd'], rules: [] });
    await post(svc, p.token, spo2(0, 89));
    expect(await alertsOf(svc, p.patientId)).toEqual([]);
    await post(svc, p.token, spo2(24, 87));
    expect(await alertsOf(svc, p.patientId)).toMatchObject([
      { ruleId: 'copd-spo2-critical', severity: 'critical', count: 1, active: true },
    ]);
    await post(svc, p.token, spo2(48, 88)); // 89, 87, 88: three below 90; 88 is not below 88
    const alerts = await alertsOf(svc, p.patientId);
    expect(alerts.map((a) => [a.ruleId, a.severity, a.active])).toEqual([
      ['copd-spo2-low-sustained', 'warning', true],
      ['copd-spo2-critical', 'critical', false],
    ]);
  });
});

describe('missing data, on the clock', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(() => svc.stop());

  it('opens one alert (reading null) soon after the deadline, keeps it single, and deactivates it when data arrives', async () => {
    const device = await svc.provision('scale');
    const setAt = Date.now();
    const plan = await setPlan(svc, device.patientId, {
      rules: [rule('weight-missing', 'weight', { kind: 'missing', for: '3s' }, 'info')],
    });
    expect(plan.version).toBe(1);

    const opened = await waitFor('the missing-data alert', 10_000, async () => {
      const alerts = await alertsOf(svc, device.patientId);
      return alerts.length ? alerts : undefined;
    });
    expect(opened).toHaveLength(1);
    expect(opened[0]).toMatchObject({
      ruleId: 'weight-missing',
      severity: 'info',
      status: 'open',
      active: true,
      count: 1,
      reading: null,
    });
    // Not before the deadline (the clock starts when the rule enters the plan).
    expect(Date.parse(opened[0]!.openedAt)).toBeGreaterThanOrEqual(setAt + 3_000 - 50);

    await sleep(4_000);
    expect(await alertsOf(svc, device.patientId)).toEqual(opened);
    // Saving the plan again (version 2) keeps the rule's clock and its one alert: no re-opening, no re-count.
    expect(
      (
        await setPlan(svc, device.patientId, {
          rules: [rule('weight-missing', 'weight', { kind: 'missing', for: '3s' }, 'info')],
        })
      ).version,
    ).toBe(2);
    await sleep(1_000);
    expect(await alertsOf(svc, device.patientId)).toEqual(opened);

    await post(svc, device.token, weightLb(0, 180));
    expect(await alertsOf(svc, device.patientId)).toEqual([{ ...opened[0], active: false }]);
  });

  it('resolving while data is still missing restarts the clock: no new alert until another full period passes', async () => {
    const device = await svc.provision('scale');
    await setPlan(svc, device.patientId, {
      rules: [rule('weight-missing', 'weight', { kind: 'missing', for: '3s' }, 'info')],
    });
    const [first] = await waitFor('the missing-data alert', 10_000, async () => {
      const alerts = await alertsOf(svc, device.patientId);
      return alerts.length ? alerts : undefined;
    });
    const resolvedAt = Date.now();
    await resolveAlert(svc, first!.id, 'scale broken; replacement on its way');
    await sleep(1_500);
    expect((await alertsOf(svc, device.patientId)).map((a) => a.id)).toEqual([first!.id]);
    const next = await waitFor('a second missing-data alert', 10_000, async () => {
      const alerts = await alertsOf(svc, device.patientId);
      return alerts.length > 1 ? alerts : undefined;
    });
    expect(next).toHaveLength(2);
    expect(Date.parse(next.find((a) => a.id !== first!.id)!.openedAt)).toBeGreaterThanOrEqual(resolvedAt + 3_000 - 50);
  });
});

describe('restart safety (same DATA_DIR)', () => {
  let dataDir: string;
  let svc: TestService | undefined;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'homewatch-rules-restart-'));
  });
  afterAll(async () => {
    await svc?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const restart = async () => {
    await svc!.stop();
    svc = await startTestService({}, dataDir);
    return svc;
  };

  it('keeps open alerts (same count), neither re-fires nor forgets them, and updates them on the next breach', async () => {
    svc = await startTestService({}, dataDir);
    const oximeter = await svc.provision('pulse_oximeter');
    const patientId = oximeter.patientId;
    const planSetAt = Date.now();
    await setPlan(svc, patientId, {
      rules: [
        rule('spo2-low', 'spo2', { kind: 'threshold', op: '<', value: 90 }),
        rule('spo2-run', 'spo2', { kind: 'consecutive', op: '<', value: 92, count: 2 }),
        rule('weight-missing', 'weight', { kind: 'missing', for: '2s' }),
        rule('weight-missing-day', 'weight', { kind: 'missing', for: '1d' }),
      ],
    });
    await post(svc, oximeter.token, spo2(0, 88));
    const [low] = await alertsOf(svc, patientId);
    expect(low).toMatchObject({ ruleId: 'spo2-low', count: 1 });

    // Past the 2 s deadline; a start sweeps the missing rules, whether or not the clock already did.
    await sleep(Math.max(0, planSetAt + 2_500 - Date.now()));
    await restart();
    const afterFirst = await alertsOf(svc, patientId);
    expect(afterFirst.map((a) => [a.ruleId, a.count, a.active]).sort()).toEqual([
      ['spo2-low', 1, true],
      ['weight-missing', 1, true],
    ]);
    expect(afterFirst.find((a) => a.ruleId === 'spo2-low')).toEqual(low);
    const missing = afterFirst.find((a) => a.ruleId === 'weight-missing')!;
    expect(missing.reading).toBeNull();

    // A restart changes nothing: same alerts, same counts, same times.
    await restart();
    expect(await alertsOf(svc, patientId)).toEqual(afterFirst);

    // The next breach updates the open alert; the consecutive rule sees the reading from before the restarts.
    const [breach] = await post(svc, oximeter.token, spo2(24, 87));
    let alerts = await alertsOf(svc, patientId);
    expect(alerts).toHaveLength(3);
    expect(alerts.find((a) => a.ruleId === 'spo2-low')).toMatchObject({
      id: low!.id,
      count: 2,
      active: true,
      reading: { id: breach, value: 87 },
    });
    expect(alerts.find((a) => a.ruleId === 'spo2-run')).toMatchObject({ count: 1, reading: { id: breach } });
    expect(alerts.find((a) => a.ruleId === 'weight-missing')).toEqual(missing);

    // Resolved stays resolved across a restart although the newest reading still breaches.
    await resolveAlert(svc, low!.id, 'seen');
    const before = await alertsOf(svc, patientId);
    await restart();
    expect(await alertsOf(svc, patientId)).toEqual(before);

    // Late readings stay late after a restart (the newest measurement time is kept in the database).
    await post(svc, oximeter.token, spo2(12, 80));
    expect(await alertsOf(svc, patientId)).toEqual(before);

    // And the next breach after the resolution opens a new one.
    await post(svc, oximeter.token, spo2(48, 86));
    alerts = await alertsOf(svc, patientId);
    expect(alerts).toHaveLength(4);
    expect(alerts[0]).toMatchObject({ ruleId: 'spo2-low', status: 'open', count: 1 });
    expect(alerts[0]!.id).not.toBe(low!.id);
    expect(alerts.find((a) => a.ruleId === 'spo2-run')).toMatchObject({ count: 2 });
  });
});
