import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPushReceiver, type PushReceiver, type PushSubscriptionJSON } from './helpers/push-receiver.ts';
import { startWebhookReceiver } from './helpers/webhook-receiver.ts';
import { startTestService, type TestService } from './helpers/service.ts';

const ESCALATION_MS = 2_000;
const minutesAgo = (m: number) => Date.now() - m * 60_000;

describe('alert routing: Web Push to the care team, escalation, webhooks', () => {
  let receiver: PushReceiver;
  let webhook: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let svc: TestService;
  const subs: Record<string, PushSubscriptionJSON> = {};
  const clinicians: Record<string, { id: string; token: string }> = {};

  beforeAll(async () => {
    receiver = await startPushReceiver();
    webhook = await startWebhookReceiver();
    const caFile = path.join(mkdtempSync(path.join(tmpdir(), 'homewatch-ca-')), 'ca.pem');
    writeFileSync(caFile, receiver.caPem + webhook.caPem);
    svc = await startTestService({
      PUSH_ENDPOINT_HOSTS: receiver.host,
      OUTBOUND_CA_FILE: caFile,
      ESCALATION_CRITICAL: `${ESCALATION_MS / 1000}s`,
      ESCALATION_WARNING: '1h',
      // The webhook receiver is on 127.0.0.1, which webhooks may reach only when listed.
      WEBHOOK_ALLOWED_HOSTS: new URL(webhook.url).host,
    });
    for (const [name, role] of [
      ['primary', 'nurse'],
      ['backup', 'nurse'],
      ['pcp', 'physician'],
    ] as const) {
      const clinician = await svc.createClinician(role);
      const token = await svc.login(clinician.email, clinician.password);
      clinicians[name] = { id: clinician.id, token };
      subs[name] = receiver.subscribe(name);
      const response = await svc.request('/v1/push/subscriptions', token, { method: 'POST', body: subs[name] });
      expect(response.status).toBe(201);
    }
  });
  afterAll(async () => {
    await svc?.stop();
    await receiver?.stop();
    await webhook?.stop();
  });

  /** A patient named Ada Lovelace with a care team and an SpO2 < 88 critical rule, and their oximeter. */
  async function patientWithTeam(
    team: Array<[string, string]> = [
      ['primary', 'primary_nurse'],
      ['backup', 'backup_nurse'],
      ['pcp', 'pcp'],
    ],
    severity = 'critical',
  ) {
    const patientId = (
      await (await svc.admin('/v1/patients', { method: 'POST', body: { name: 'Ada Lovelace' } })).json()
    ).id as string;
    const members = team.map(([who, role]) => ({ clinicianId: clinicians[who]!.id, role }));
    expect((await svc.admin(`/v1/patients/${patientId}/care-team`, { method: 'PUT', body: { members } })).status).toBe(
      200,
    );
    const plan = {
      rules: [
        {
          id: 'spo2-low',
          metric: 'spo2',
          when: { kind: 'threshold', op: '<', value: 88 },
          severity,
          message: 'SpO2 below 88 %: call the patient',
        },
      ],
    };
    expect((await svc.admin(`/v1/patients/${patientId}/care-plan`, { method: 'PUT', body: plan })).status).toBe(200);
    const device = await svc.provision('pulse_oximeter', patientId);
    return { patientId, device };
  }

  async function breach(token: string, value = 85) {
    const response = await svc.postReadings(token, { type: 'spo2', measuredAt: minutesAgo(0.5), value });
    expect(response.status).toBe(200);
  }

  async function openAlertOf(patientId: string) {
    const { alerts } = await (await svc.admin(`/v1/alerts?patientId=${patientId}`)).json();
    return alerts[0] as { id: string; count: number; status: string };
  }

  /** A new nurse, known as `name`, whose phone (subscription `${name}-phone`) is subscribed to pushes. */
  async function nurseWithPhone(name: string) {
    const phone = receiver.subscribe(`${name}-phone`);
    const nurse = await svc.createClinician('nurse');
    const token = await svc.login(nurse.email, nurse.password);
    expect((await svc.request('/v1/push/subscriptions', token, { method: 'POST', body: phone })).status).toBe(201);
    clinicians[name] = { id: nurse.id, token };
    return phone;
  }

  const pushesFor = (alertId: string, name?: string) =>
    receiver.messages.filter(
      (m) => (m.payload as { alertId?: string })?.alertId === alertId && (!name || m.subscriptionName === name),
    );

  it('pushes a critical alert to the primary nurse within a second, with initials, urgency high and a per-alert topic', async () => {
    const { patientId, device } = await patientWithTeam();
    const sent = Date.now();
    await breach(device.token);
    const message = await receiver.waitFor((m) => m.subscriptionName === 'primary', 1_000);
    expect(message.receivedAt - sent).toBeLessThan(1_000);
    const alert = await openAlertOf(patientId);
    expect(message.payload).toMatchObject({
      alertId: alert.id,
      severity: 'critical',
      // What was measured first, then the rule's message.
      message: 'SpO2 85 %: SpO2 below 88 %: call the patient',
      patientInitials: 'A. L.',
      url: `/alerts/${alert.id}`,
    });
    expect(message.text).not.toContain('Lovelace');
    expect(message.urgency).toBe('high');
    expect(message.topic).toBe(alert.id.replaceAll('-', ''));
    expect(message.ttl).toBeGreaterThan(0);
    expect(message.ttl).toBeLessThanOrEqual(86_400);
    expect(message.vapid.subject).toMatch(/^mailto:|^https:/);

    // A repeat breach of the open alert updates it and pushes nothing new.
    await breach(device.token, 84);
    await new Promise((r) => setTimeout(r, 500));
    expect((await openAlertOf(patientId)).count).toBe(2);
    expect(pushesFor(alert.id)).toHaveLength(1);

    // Unacknowledged: the backup nurse after the delay, then the pcp after the same delay again.
    const backup = await receiver.waitFor(
      (m) => m.subscriptionName === 'backup' && (m.payload as { alertId: string }).alertId === alert.id,
      ESCALATION_MS * 3,
    );
    expect(backup.receivedAt - message.receivedAt).toBeGreaterThanOrEqual(ESCALATION_MS - 100);
    const pcp = await receiver.waitFor(
      (m) => m.subscriptionName === 'pcp' && (m.payload as { alertId: string }).alertId === alert.id,
      ESCALATION_MS * 3,
    );
    expect(pcp.receivedAt - backup.receivedAt).toBeGreaterThanOrEqual(ESCALATION_MS - 100);

    const { escalation, deliveries } = await (await svc.admin(`/v1/alerts/${alert.id}/deliveries`)).json();
    // Not over: the on-call tier comes next, then repeats until someone acknowledges.
    expect(escalation).toMatchObject({ state: 'pending', nextTier: 3, reachedAnyone: true, unreachable: false });
    expect(
      deliveries
        .filter((d: { status: string }) => d.status === 'delivered')
        .map((d: { tier: number; clinicianId: string }) => [d.tier, d.clinicianId]),
    ).toEqual([
      [0, clinicians.primary!.id],
      [1, clinicians.backup!.id],
      [2, clinicians.pcp!.id],
    ]);
  });

  it('signs one VAPID JWT for the push service and reuses it for later pushes (RFC 8292 §2), valid 12 hours', async () => {
    const first = await patientWithTeam([['primary', 'primary_nurse']]);
    const second = await patientWithTeam([['primary', 'primary_nurse']]);
    const pushes = [];
    for (const { patientId, device } of [first, second]) {
      await breach(device.token);
      const alert = await openAlertOf(patientId);
      pushes.push(await receiver.waitFor((m) => (m.payload as { alertId?: string }).alertId === alert.id, 2_000));
    }
    expect(pushes[1]!.headers.authorization).toBe(pushes[0]!.headers.authorization);
    expect(pushes[0]!.vapid.audience).toBe(receiver.origin);
    const hours = (pushes[1]!.vapid.expiresAt - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(11);
    expect(hours).toBeLessThanOrEqual(12);
  });

  it('stops escalating once the alert is acknowledged', async () => {
    const { patientId, device } = await patientWithTeam();
    await breach(device.token);
    await receiver.waitFor(
      (m) =>
        m.subscriptionName === 'primary' &&
        (m.payload as { alertId: string }).alertId !== undefined &&
        Date.now() - m.receivedAt < 1_000,
      2_000,
    );
    const alert = await openAlertOf(patientId);
    expect(
      (await svc.request(`/v1/alerts/${alert.id}/acknowledge`, clinicians.primary!.token, { method: 'POST' })).status,
    ).toBe(200);
    await new Promise((r) => setTimeout(r, ESCALATION_MS * 1.5));
    expect(pushesFor(alert.id, 'backup')).toHaveLength(0);
    const { escalation } = await (await svc.admin(`/v1/alerts/${alert.id}/deliveries`)).json();
    // Acknowledged: nothing more is sent, and the acknowledgement's own timer runs (ACK_TIMEOUT_CRITICAL).
    expect(escalation.state).toBe('acknowledged');
    expect(Date.parse(escalation.acknowledgementExpiresAt)).toBeGreaterThan(Date.now());
  });

  it('removes a subscription the push service says is gone (410) and reaches the next tier at once', async () => {
    const gone = receiver.subscribe('gone-phone');
    const nurse = await svc.createClinician('nurse');
    const token = await svc.login(nurse.email, nurse.password);
    expect((await svc.request('/v1/push/subscriptions', token, { method: 'POST', body: gone })).status).toBe(201);
    clinicians.gone = { id: nurse.id, token };
    receiver.respondWith(gone, [{ status: 410 }]);

    const { patientId, device } = await patientWithTeam([
      ['gone', 'primary_nurse'],
      ['backup', 'backup_nurse'],
    ]);
    const sent = Date.now();
    await breach(device.token);
    const alert = await openAlertOf(patientId);
    const backup = await receiver.waitFor(
      (m) => m.subscriptionName === 'backup' && (m.payload as { alertId: string }).alertId === alert.id,
      2_000,
    );
    expect(backup.receivedAt - sent).toBeLessThan(1_000);
    const { deliveries } = await (await svc.admin(`/v1/alerts/${alert.id}/deliveries`)).json();
    expect(deliveries[0]).toMatchObject({ tier: 0, clinicianId: nurse.id, status: 'gone', httpStatus: 410 });

    // The subscription is gone: the next alert for that nurse does not even try it.
    const attemptsBefore = receiver.attempts.filter((a) => a.endpoint === gone.endpoint).length;
    await svc.request(`/v1/alerts/${alert.id}/resolve`, clinicians.backup!.token, {
      method: 'POST',
      body: { note: 'called' },
    });
    await breach(device.token);
    await receiver.waitFor(
      (m) =>
        m.subscriptionName === 'backup' &&
        (m.payload as { alertId: string }).alertId !== alert.id &&
        m.receivedAt > backup.receivedAt,
      2_000,
    );
    expect(receiver.attempts.filter((a) => a.endpoint === gone.endpoint)).toHaveLength(attemptsBefore);
  });

  it('retries a push the service answers 429 to, honouring Retry-After', async () => {
    const busy = await nurseWithPhone('busy');
    receiver.respondWith(busy, [{ status: 429, headers: { 'retry-after': '1' } }]);
    const { patientId, device } = await patientWithTeam([['busy', 'primary_nurse']]);
    await breach(device.token);
    const message = await receiver.waitFor((m) => m.subscriptionName === 'busy-phone', 4_000);
    const alert = await openAlertOf(patientId);
    const first = receiver.attempts.find((a) => a.endpoint === busy.endpoint)!;
    expect(message.receivedAt - first.at).toBeGreaterThanOrEqual(900);
    const { deliveries } = await (await svc.admin(`/v1/alerts/${alert.id}/deliveries`)).json();
    expect(deliveries.map((d: { status: string; httpStatus: number }) => [d.status, d.httpStatus])).toEqual([
      ['retrying', 429],
      ['delivered', 201],
    ]);
  });

  it("does not hold a new alert's push back while another alert's push waits out a Retry-After", async () => {
    const slow = await nurseWithPhone('slow');
    receiver.respondWith(slow, [{ status: 429, headers: { 'retry-after': '3' } }]);
    const waiting = await patientWithTeam([['slow', 'primary_nurse']]);
    const other = await patientWithTeam([['primary', 'primary_nurse']]);
    await breach(waiting.device.token);
    // Its first attempt got the 429: from now on its escalation step is waiting 3 s.
    for (let tries = 0; !receiver.attempts.some((a) => a.endpoint === slow.endpoint); tries++) {
      expect(tries).toBeLessThan(100);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const sentAt = Date.now();
    await breach(other.device.token);
    const otherAlert = await openAlertOf(other.patientId);
    const message = await receiver.waitFor((m) => (m.payload as { alertId?: string }).alertId === otherAlert.id, 2_000);
    expect(message.receivedAt - sentAt).toBeLessThan(1_500);
    // And the first one still arrives, after its Retry-After.
    await receiver.waitFor((m) => m.subscriptionName === 'slow-phone', 6_000);
  });

  it('passes a tier with nobody in it on at once, and flags an alert that reaches nobody for admins', async () => {
    const noPrimary = await patientWithTeam([['backup', 'backup_nurse']]);
    const sent = Date.now();
    await breach(noPrimary.device.token);
    const alert = await openAlertOf(noPrimary.patientId);
    const message = await receiver.waitFor(
      (m) => m.subscriptionName === 'backup' && (m.payload as { alertId: string }).alertId === alert.id,
      2_000,
    );
    expect(message.receivedAt - sent).toBeLessThan(1_000);

    const nobody = await patientWithTeam([]);
    await breach(nobody.device.token);
    const lonely = await openAlertOf(nobody.patientId);
    let flagged: Array<{ id: string }> = [];
    for (const deadline = Date.now() + 3_000; Date.now() < deadline && !flagged.some((a) => a.id === lonely.id); ) {
      flagged = (await (await svc.admin('/v1/alerts?unreachable=true')).json()).alerts;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(flagged.map((a) => a.id)).toContain(lonely.id);
    expect(flagged.map((a) => a.id)).not.toContain(alert.id);
  });

  it('a rule raised from info to critical makes its open alert critical at the next breach, and pushes it at once', async () => {
    const { patientId, device } = await patientWithTeam(undefined, 'info');
    await breach(device.token);
    const alert = await openAlertOf(patientId);
    expect((await (await svc.admin(`/v1/alerts/${alert.id}`)).json()).severity).toBe('info');
    const plan = {
      rules: [
        {
          id: 'spo2-low',
          metric: 'spo2',
          when: { kind: 'threshold', op: '<', value: 88 },
          severity: 'critical',
          message: 'SpO2 below 88 %: call now',
        },
      ],
    };
    expect((await svc.admin(`/v1/patients/${patientId}/care-plan`, { method: 'PUT', body: plan })).status).toBe(200);
    const sent = Date.now();
    await breach(device.token);
    const pushed = await receiver.waitFor(
      (m) => m.subscriptionName === 'primary' && (m.payload as { alertId: string }).alertId === alert.id,
      2_000,
    );
    expect(pushed.receivedAt - sent).toBeLessThan(1_000);
    expect(pushed.payload).toMatchObject({ severity: 'critical', message: 'SpO2 85 %: SpO2 below 88 %: call now' });
    expect(await (await svc.admin(`/v1/alerts/${alert.id}`)).json()).toMatchObject({
      severity: 'critical',
      count: 2,
      carePlanVersion: 1,
    });
  });

  it('does not push info alerts', async () => {
    const { patientId, device } = await patientWithTeam(undefined, 'info');
    await breach(device.token);
    const alert = await openAlertOf(patientId);
    await new Promise((r) => setTimeout(r, 500));
    expect(pushesFor(alert.id)).toHaveLength(0);
  });

  it('refuses push endpoints outside PUSH_ENDPOINT_HOSTS (SSRF guard) and plain http', async () => {
    const token = clinicians.primary!.token;
    const keys = subs.primary!.keys;
    for (const endpoint of [
      'https://169.254.169.254/latest/meta-data',
      'https://127.0.0.1:1/push/x',
      'https://localhost/push/x',
      `http://${receiver.host}/push/x`,
      'https://evil.example/push',
    ]) {
      const response = await svc.request('/v1/push/subscriptions', token, { method: 'POST', body: { endpoint, keys } });
      expect(response.status, endpoint).toBe(422);
      expect((await response.json()).error.details[0].path).toBe('endpoint');
    }
    // The admin token is not a clinician: it has no phone to push to.
    expect((await svc.admin('/v1/push/subscriptions', { method: 'POST', body: subs.primary })).status).toBe(403);
    expect((await svc.request('/v1/push/public-key', undefined)).status).toBe(200);
  });

  it('sends every alert event to registered webhooks, signed so the receiver can verify them', async () => {
    const secret = 'webhook-secret-0123456789';
    const created = await svc.admin('/v1/webhooks', { method: 'POST', body: { url: webhook.url, secret } });
    expect(created.status).toBe(201);
    const { patientId, device } = await patientWithTeam();
    await breach(device.token);
    const alert = await openAlertOf(patientId);
    await svc.request(`/v1/alerts/${alert.id}/acknowledge`, clinicians.primary!.token, { method: 'POST' });
    const events = async () =>
      webhook.calls
        .map((call) => JSON.parse(call.body))
        .filter((b: { alert: { id: string } }) => b.alert.id === alert.id)
        .map((b: { event: string }) => b.event);
    for (const deadline = Date.now() + 3_000; Date.now() < deadline && (await events()).length < 2; )
      await new Promise((r) => setTimeout(r, 50));
    expect(await events()).toEqual(['alert.opened', 'alert.acknowledged']);
    for (const call of webhook.calls) {
      const timestamp = call.headers['homewatch-timestamp'] as string;
      const expected = `v1=${createHmac('sha256', secret).update(`${timestamp}.${call.body}`).digest('hex')}`;
      expect(call.headers['homewatch-signature']).toBe(expected);
      expect(Math.abs(Date.now() / 1000 - Number(timestamp))).toBeLessThan(60);
    }
    const forged = createHmac('sha256', 'another-secret')
      .update(`${webhook.calls[0]!.headers['homewatch-timestamp']}.${webhook.calls[0]!.body}`)
      .digest('hex');
    expect(webhook.calls[0]!.headers['homewatch-signature']).not.toBe(`v1=${forged}`);
    expect((await svc.admin('/v1/webhooks', { method: 'POST', body: { url: 'http://127.0.0.1/hook' } })).status).toBe(
      422,
    );
  });

  it('serves the service worker and counts pushes and latency in /metrics', async () => {
    const sw = await fetch(`${svc.url}/sw.js`);
    expect(sw.headers.get('content-type')).toMatch(/javascript/);
    expect(await sw.text()).toContain('showNotification');
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(metrics).toMatch(/homewatch_pushes_total\{outcome="delivered",status="201"\} [1-9]/);
    expect(metrics).toMatch(/homewatch_reading_to_push_seconds_count [1-9]/);
    expect(metrics).toMatch(/homewatch_escalations_total\{severity="critical",tier="1"\} [1-9]/);
  });
});
