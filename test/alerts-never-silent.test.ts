import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { presentAlert } from '../src/alerts/lifecycle.ts';
import {
  startPushReceiver,
  type PushReceiver,
  type PushSubscriptionJSON,
  type ReceivedPush,
} from './helpers/push-receiver.ts';
import { spawnService, type ClinicianRole, type DeviceKind, type ServiceProcess } from './helpers/service.ts';
import { startWebhookReceiver } from './helpers/webhook-receiver.ts';

/**
 * The issue "Alerts never go silent", row by row of the contract's table, through the real service (the
 * compiled dist/main.js in its own process, on its own SQLite) and a real Web Push receiver: every push
 * below was signed, encrypted, sent and decrypted as a browser would.
 *
 * Every scenario runs twice: as it happens, and with the service killed (SIGKILL, no clean stop) and
 * started again on the same DATA_DIR in the middle. The service's timers are rows with due times, so a
 * repeat, an escalation or an acknowledgement expiry that fell due while it was down still happens after
 * the restart, and a push that was in flight when it died is made then, not lost.
 *
 * Delays are seconds: a critical alert escalates every 2 s, a warning every 3 s, and an acknowledgement
 * of a critical alert holds 5 s.
 */

type AlertBody = ReturnType<typeof presentAlert>;

/** What a push carries (delivery/alert-delivery.ts pushPayload), as the service worker reads it. */
interface PushBody {
  alertId: string;
  alertIds: string[];
  severity: string;
  message: string;
  patientInitials: string;
  tier: number;
  repeat: number;
  url: string;
}

interface Delivery {
  at: string;
  event: string;
  channel: string;
  tier: number | null;
  round: number;
  repeat: number;
  clinicianId: string | null;
  status: string;
}

interface Escalation {
  state: string;
  nextTier: number;
  repeats: number;
  rounds: number;
  reachedAnyone: boolean;
}

const DELAY_MS = 2_000;
const WARNING_DELAY_MS = 3_000;
const ACK_TIMEOUT_MS = 5_000;
/** Time given to what must happen "at once": well under one escalation delay. */
const AT_ONCE_MS = DELAY_MS - 300;
/** Lower bounds on time differences allow for the receiver's and the service's clocks reading a few ms apart. */
const SLACK_MS = 150;

/** The care-team tier of the on-call clinician: after primary nurse (0), backup nurse (1) and pcp (2). */
const ON_CALL_TIER = 3;

type Name = 'primary' | 'backup' | 'pcp' | 'nora' | 'olga' | 'nophone';
type TeamRole = 'primary_nurse' | 'backup_nurse' | 'pcp';

const STAFF: Array<[Name, ClinicianRole]> = [
  ['primary', 'nurse'],
  ['backup', 'nurse'],
  ['pcp', 'physician'],
  ['nora', 'nurse'], // sets herself away
  ['olga', 'nurse'], // on call
  ['nophone', 'nurse'], // never subscribed to pushes: unreachable
];
const FULL_TEAM: Array<[Name, TeamRole]> = [
  ['primary', 'primary_nurse'],
  ['backup', 'backup_nurse'],
  ['pcp', 'pcp'],
];

let receiver: PushReceiver;
let webhook: Awaited<ReturnType<typeof startWebhookReceiver>>;
let dataDir: string;
let caDir: string;
let env: Record<string, string>;
/** The running service; replaced by killAndRestart. */
let svc: ServiceProcess;
const staff = {} as Record<Name, { id: string; token: string; phone: PushSubscriptionJSON | undefined }>;

beforeAll(async () => {
  receiver = await startPushReceiver();
  webhook = await startWebhookReceiver();
  dataDir = await mkdtemp(path.join(tmpdir(), 'homewatch-never-silent-'));
  caDir = await mkdtemp(path.join(tmpdir(), 'homewatch-never-silent-ca-'));
  const caFile = path.join(caDir, 'ca.pem');
  await writeFile(caFile, receiver.caPem + webhook.caPem);
  env = {
    DATA_DIR: dataDir,
    PUSH_ENDPOINT_HOSTS: receiver.host,
    OUTBOUND_CA_FILE: caFile,
    // The webhook receiver listens on 127.0.0.1: allowed by name where webhook URLs are checked for SSRF.
    WEBHOOK_ALLOWED_HOSTS: new URL(webhook.url).host,
    ESCALATION_CRITICAL: `${DELAY_MS / 1000}s`,
    ESCALATION_WARNING: `${WARNING_DELAY_MS / 1000}s`,
    ACK_TIMEOUT_CRITICAL: `${ACK_TIMEOUT_MS / 1000}s`,
    ACK_TIMEOUT_WARNING: '1h',
  };
  svc = await spawnService(env);
  // Two at a time: each costs a password hash to create and another to sign in.
  for (let i = 0; i < STAFF.length; i += 2) {
    await Promise.all(
      STAFF.slice(i, i + 2).map(async ([name, role]) => {
        const clinician = await svc.createClinician(role, { name: `Nurse ${name}` });
        const token = await svc.login(clinician.email, clinician.password);
        const phone = name === 'nophone' ? undefined : receiver.subscribe(name);
        if (phone) {
          const response = await svc.request('/v1/push/subscriptions', token, { method: 'POST', body: phone });
          expect(response.status).toBe(201);
        }
        staff[name] = { id: clinician.id, token, phone };
      }),
    );
  }
}, 120_000);

afterEach(async () => {
  // Nothing left repeating into the next scenario: every alert is resolved, the rota emptied, and no
  // canned answer left queued by a scenario that failed before its push was tried.
  for (const { phone } of Object.values(staff)) if (phone) receiver.dropResponses(phone);
  for (const status of ['open', 'acknowledged']) {
    const { alerts } = (await (await svc.admin(`/v1/alerts?status=${status}&limit=1000`)).json()) as {
      alerts: AlertBody[];
    };
    for (const alert of alerts)
      await svc.admin(`/v1/alerts/${alert.id}/resolve`, { method: 'POST', body: { note: 'end of scenario' } });
  }
  await svc.admin('/v1/on-call', { method: 'PUT', body: { shifts: [] } });
});

afterAll(async () => {
  svc?.child.kill('SIGKILL');
  await svc?.exited;
  await receiver?.stop();
  await webhook?.stop();
  await rm(dataDir, { recursive: true, force: true });
  await rm(caDir, { recursive: true, force: true });
});

/** SIGKILL (nothing is flushed, no timer is cancelled cleanly), then the service again on the same data. */
async function killAndRestart(): Promise<void> {
  svc.child.kill('SIGKILL');
  const { signal } = await svc.exited;
  expect(signal).toBe('SIGKILL');
  svc = await spawnService(env);
}

const rule = (id: string, metric: string, when: Record<string, unknown>, severity: string) => ({
  id,
  metric,
  when,
  severity,
  message: `${id}: call the patient`,
});
const spo2Below = (id: string, value: number, severity: string) =>
  rule(id, 'spo2', { kind: 'threshold', op: '<', value }, severity);

interface Patient {
  patientId: string;
  devices: Partial<Record<DeviceKind, string>>;
}

/** A patient with a care team, a care plan and devices of `kinds`. */
async function newPatient(
  team: Array<[Name, TeamRole]>,
  plan: { templates?: string[]; rules: unknown[] },
  { name = 'Ada Lovelace', kinds = ['pulse_oximeter'] as DeviceKind[] } = {},
): Promise<Patient> {
  const patientId = await svc.createPatient(name);
  const members = team.map(([who, role]) => ({ clinicianId: staff[who].id, role }));
  const teamResponse = await svc.admin(`/v1/patients/${patientId}/care-team`, { method: 'PUT', body: { members } });
  expect(teamResponse.status).toBe(200);
  const planResponse = await svc.admin(`/v1/patients/${patientId}/care-plan`, { method: 'PUT', body: plan });
  expect(planResponse.status, await planResponse.clone().text()).toBe(200);
  const devices: Patient['devices'] = {};
  for (const kind of kinds) devices[kind] = (await svc.provision(kind, patientId)).token;
  return { patientId, devices };
}

/** Posts one reading; it must be accepted. Measured `agoMs` before now (default 30 s). */
async function post(token: string | undefined, reading: Record<string, unknown>, agoMs = 30_000): Promise<void> {
  const response = await svc.postReadings(token!, { measuredAt: Date.now() - agoMs, ...reading });
  const body = await response.text();
  expect(response.status, body).toBe(200);
  expect(JSON.parse(body).accepted, body).toBe(1);
}
const spo2 = (value: number) => ({ type: 'spo2', value });

async function alertsOf(patientId: string): Promise<AlertBody[]> {
  const response = await svc.admin(`/v1/alerts?patientId=${patientId}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { alerts: AlertBody[] }).alerts;
}

async function getAlert(id: string): Promise<AlertBody> {
  const response = await svc.admin(`/v1/alerts/${id}`);
  expect(response.status).toBe(200);
  return (await response.json()) as AlertBody;
}

async function deliveriesOf(id: string): Promise<{ escalation: Escalation; deliveries: Delivery[] }> {
  const response = await svc.admin(`/v1/alerts/${id}/deliveries`);
  expect(response.status).toBe(200);
  return (await response.json()) as { escalation: Escalation; deliveries: Delivery[] };
}

const delivered = async (id: string) =>
  (await deliveriesOf(id)).deliveries.filter((d) => d.channel === 'web_push' && d.status === 'delivered');

async function act(who: Name, alertId: string, action: 'acknowledge' | 'resolve'): Promise<AlertBody> {
  const response = await svc.request(`/v1/alerts/${alertId}/${action}`, staff[who].token, {
    method: 'POST',
    body: action === 'resolve' ? { note: 'called the patient' } : undefined,
  });
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as AlertBody;
}

const payload = (m: ReceivedPush) => m.payload as PushBody;
/** Pushes to `who` that carry `alertId` (as the lead alert or among alertIds). */
const pushesAbout = (alertId: string, who?: Name) =>
  receiver.messages.filter(
    (m) =>
      (payload(m).alertId === alertId || payload(m).alertIds?.includes(alertId)) &&
      (who === undefined || m.subscriptionName === who),
  );
/** The first push to `who` about `alertId` that matches `test`. */
const pushTo = (who: Name, alertId: string, test: (m: ReceivedPush) => boolean = () => true, timeoutMs = 10_000) =>
  receiver.waitFor(
    (m) =>
      m.subscriptionName === who &&
      (payload(m).alertId === alertId || payload(m).alertIds?.includes(alertId)) &&
      test(m),
    timeoutMs,
  );

/** Polls until `check` returns something other than undefined. */
async function waitUntil<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Until the delivery log shows pushes delivered to every one of `who` (at `repeat`, round `round`). */
const untilDelivered = (
  alertId: string,
  who: Name[],
  { repeat = 0, round = 0, tier }: { repeat?: number; round?: number; tier?: number } = {},
) =>
  waitUntil(`deliveries of ${alertId} to ${who.join(', ')}`, 10_000, async () => {
    const rows = (await delivered(alertId)).filter(
      (d) => d.repeat === repeat && d.round === round && (tier === undefined || d.tier === tier),
    );
    return who.every((name) => rows.some((d) => d.clinicianId === staff[name].id)) ? rows : undefined;
  });

/**
 * Each scenario, as it happens and across a SIGKILL and restart: `midway` is where the kill falls (a no-op
 * in the first run).
 */
function scenario(title: string, run: (midway: () => Promise<void>, restarted: boolean) => Promise<void>) {
  describe(title, () => {
    it('as it happens', () => run(async () => {}, false), 60_000);
    it('across a SIGKILL and restart in the middle', () => run(killAndRestart, true), 90_000);
  });
}

scenario(
  '1. after the last tier, repeats every delay to every tier notified so far, until acknowledged',
  async (midway) => {
    const p = await newPatient(FULL_TEAM, { rules: [spo2Below('spo2-low', 88, 'critical')] });
    await post(p.devices.pulse_oximeter, spo2(85));
    const [alert] = await alertsOf(p.patientId);
    const id = alert!.id;

    const primary = await pushTo('primary', id, (m) => payload(m).repeat === 0);
    const backup = await pushTo('backup', id, (m) => payload(m).repeat === 0);
    const pcp = await pushTo('pcp', id, (m) => payload(m).repeat === 0);
    expect([payload(primary).tier, payload(backup).tier, payload(pcp).tier]).toEqual([0, 1, 2]);
    expect(backup.receivedAt - primary.receivedAt).toBeGreaterThanOrEqual(DELAY_MS - SLACK_MS);
    expect(pcp.receivedAt - backup.receivedAt).toBeGreaterThanOrEqual(DELAY_MS - SLACK_MS);

    // The last tier (pcp) was told; nobody acknowledged: everyone told so far is told again, one delay later.
    const team: Name[] = ['primary', 'backup', 'pcp'];
    const first = await Promise.all(team.map((who) => pushTo(who, id, (m) => payload(m).repeat === 1)));
    const firstAt = Math.min(...first.map((m) => m.receivedAt));
    expect(firstAt - pcp.receivedAt).toBeGreaterThanOrEqual(DELAY_MS - SLACK_MS);
    // Every escalation delay: no one is left without a push for two delays because there is no on-call rota.
    expect(firstAt - pcp.receivedAt).toBeLessThan(DELAY_MS * 1.5);

    // Killed once the first repeat is on record: the second falls due while the service is down.
    await untilDelivered(id, team, { repeat: 1 });
    await midway();

    const second = await Promise.all(team.map((who) => pushTo(who, id, (m) => payload(m).repeat === 2, 15_000)));
    expect(Math.min(...second.map((m) => m.receivedAt)) - firstAt).toBeGreaterThanOrEqual(DELAY_MS - SLACK_MS);
    // Nothing delivered before the kill was sent again after it.
    for (const who of team) {
      expect(pushesAbout(id, who).filter((m) => payload(m).repeat === 1)).toHaveLength(1);
      expect(pushesAbout(id, who).filter((m) => payload(m).repeat === 0)).toHaveLength(1);
    }
    const repeats = (await untilDelivered(id, team, { repeat: 2 })).length;
    expect(repeats).toBe(3);
    const log = (await delivered(id)).filter((d) => d.repeat > 0 && d.repeat <= 2);
    expect(log.map((d) => `${d.repeat} ${d.clinicianId}`).sort()).toEqual(
      [1, 2].flatMap((n) => team.map((who) => `${n} ${staff[who].id}`)).sort(),
    );

    // Acknowledging stops the repeats (for less than ACK_TIMEOUT_CRITICAL: then it would expire).
    await act('backup', id, 'acknowledge');
    const acknowledgedAt = Date.now();
    await sleep(DELAY_MS * 1.5);
    expect(pushesAbout(id).filter((m) => m.receivedAt > acknowledgedAt + 300)).toEqual([]);
    expect((await deliveriesOf(id)).escalation.state).toBe('acknowledged');
  },
);

scenario(
  '2. an acknowledged alert reopens on a new episode and is routed again from tier 1',
  async (midway, restarted) => {
    const created = await svc.admin('/v1/webhooks', {
      method: 'POST',
      body: { url: webhook.url, secret: 'webhook-secret-0123456789' },
    });
    expect(created.status).toBe(201);
    const hook = (await created.json()) as { id: string };
    try {
      const p = await newPatient(FULL_TEAM, { templates: ['copd'], rules: [] });
      await post(p.devices.pulse_oximeter, spo2(87));
      const [alert] = await alertsOf(p.patientId);
      expect(alert).toMatchObject({ ruleId: 'copd-spo2-critical', severity: 'critical', status: 'open', episode: 1 });
      const id = alert!.id;
      await pushTo('primary', id);
      await untilDelivered(id, ['primary']);
      expect(await act('primary', id, 'acknowledge')).toMatchObject({ status: 'acknowledged' });

      await post(p.devices.pulse_oximeter, spo2(95));
      expect(await getAlert(id)).toMatchObject({ status: 'acknowledged', active: false, episode: 1 });

      // With the restart: the push of the reopened alert is held (the push service answers 429 Retry-After
      // 20 s), and the service is killed while it waits. It must be made after the restart.
      if (restarted) receiver.respondWith(staff.primary.phone!, [{ status: 429, headers: { 'retry-after': '20' } }]);
      const breachedAt = Date.now();
      await post(p.devices.pulse_oximeter, spo2(79));
      if (restarted) {
        await receiver.waitForAttempt(
          (a) => a.endpoint === staff.primary.phone!.endpoint && a.outcome === 'canned' && a.at >= breachedAt,
        );
        await midway();
      }

      const again = await pushTo('primary', id, (m) => m.receivedAt >= breachedAt, 15_000);
      expect(payload(again)).toMatchObject({ tier: 0, repeat: 0, severity: 'critical', patientInitials: 'A. L.' });
      expect(payload(again).message).toContain('SpO2 79 %');
      const reopened = await getAlert(id);
      expect(reopened).toMatchObject({
        status: 'open',
        active: true,
        episode: 2,
        reopenReason: 'new_episode',
        acknowledgedBy: null,
        count: 2,
        observed: { kind: 'reading', value: 79, unit: '%' },
      });
      expect(Date.parse(reopened.reopenedAt!)).toBeGreaterThanOrEqual(breachedAt - SLACK_MS);
      expect((await deliveriesOf(id)).escalation).toMatchObject({ rounds: 1 });
      await untilDelivered(id, ['primary'], { round: 1, tier: 0 });

      // Routed as a new alert: the backup nurse one delay after the primary nurse, as for episode 1.
      const backup = await pushTo('backup', id, (m) => m.receivedAt > again.receivedAt, 15_000);
      expect(backup.receivedAt - again.receivedAt).toBeGreaterThanOrEqual(DELAY_MS - SLACK_MS);

      const events = await waitUntil('the alert.reopened webhook', 15_000, async () => {
        const bodies = webhook.calls
          .map((call) => JSON.parse(call.body) as { event: string; alert: AlertBody })
          .filter((b) => b.alert.id === id);
        return bodies.some((b) => b.event === 'alert.reopened') ? bodies : undefined;
      });
      expect(events.find((b) => b.event === 'alert.reopened')!.alert).toMatchObject({ episode: 2, status: 'open' });
      expect(events.map((b) => b.event)).toEqual(
        expect.arrayContaining(['alert.opened', 'alert.acknowledged', 'alert.reopened']),
      );
    } finally {
      await svc.admin(`/v1/webhooks/${hook.id}`, { method: 'DELETE' });
    }
  },
);

scenario(
  '3. an acknowledged alert reopens on a higher severity: another rule of its metric, or its own rule raised',
  async (midway) => {
    // A: a warning acknowledged, then a critical rule of the same metric breaches.
    const a = await newPatient(FULL_TEAM, {
      rules: [spo2Below('spo2-low', 92, 'warning'), spo2Below('spo2-critical', 88, 'critical')],
    });
    await post(a.devices.pulse_oximeter, spo2(90));
    const [warning] = await alertsOf(a.patientId);
    expect(warning).toMatchObject({ ruleId: 'spo2-low', severity: 'warning' });
    expect(payload(await pushTo('primary', warning!.id)).severity).toBe('warning');
    await act('primary', warning!.id, 'acknowledge');

    // B: a warning acknowledged, then the physician raises that rule to critical.
    const b = await newPatient(FULL_TEAM, { rules: [spo2Below('spo2-low', 92, 'warning')] });
    await post(b.devices.pulse_oximeter, spo2(90));
    const [mild] = await alertsOf(b.patientId);
    await pushTo('primary', mild!.id);
    await act('primary', mild!.id, 'acknowledge');
    const raised = await svc.admin(`/v1/patients/${b.patientId}/care-plan`, {
      method: 'PUT',
      body: { rules: [spo2Below('spo2-low', 92, 'critical')] },
    });
    expect(raised.status).toBe(200);

    await midway();

    const breachedAt = Date.now();
    await post(a.devices.pulse_oximeter, spo2(86));
    await post(b.devices.pulse_oximeter, spo2(89));

    const alertsA = await alertsOf(a.patientId);
    const critical = alertsA.find((x) => x.ruleId === 'spo2-critical')!;
    expect(critical).toMatchObject({ status: 'open', severity: 'critical' });
    expect(alertsA.find((x) => x.id === warning!.id)).toMatchObject({
      status: 'open',
      severity: 'warning',
      episode: 1,
      reopenReason: 'higher_severity',
      acknowledgedBy: null,
    });
    // One push for the reading that raised the critical and reopened the warning: both ids, critical.
    const push = await pushTo('primary', critical.id, (m) => m.receivedAt >= breachedAt);
    expect(payload(push)).toMatchObject({ alertId: critical.id, severity: 'critical', tier: 0 });
    expect([...payload(push).alertIds].sort()).toEqual([critical.id, warning!.id].sort());

    expect(await getAlert(mild!.id)).toMatchObject({
      status: 'open',
      severity: 'critical',
      reopenReason: 'higher_severity',
      count: 2,
    });
    const again = await pushTo('primary', mild!.id, (m) => m.receivedAt >= breachedAt);
    expect(payload(again)).toMatchObject({ alertId: mild!.id, severity: 'critical', tier: 0, repeat: 0 });

    await sleep(500);
    expect(pushesAbout(warning!.id, 'primary').filter((m) => m.receivedAt >= breachedAt)).toHaveLength(1);
  },
);

scenario(
  '4. an acknowledgement expires while the alert is still active: reopened and routed from tier 1',
  async (midway) => {
    const rules = [spo2Below('spo2-low', 88, 'critical')];
    const still = await newPatient(FULL_TEAM, { rules });
    const cleared = await newPatient(FULL_TEAM, { rules });
    await post(still.devices.pulse_oximeter, spo2(85));
    await post(cleared.devices.pulse_oximeter, spo2(85));
    const [active] = await alertsOf(still.patientId);
    const [inactive] = await alertsOf(cleared.patientId);
    await pushTo('primary', active!.id);
    await pushTo('primary', inactive!.id);
    const acknowledgedAt = Date.now();
    await act('primary', active!.id, 'acknowledge');
    await act('primary', inactive!.id, 'acknowledge');
    // This one's condition clears: its acknowledgement stands when it runs out.
    await post(cleared.devices.pulse_oximeter, spo2(95));
    const { escalation } = await deliveriesOf(active!.id);
    expect(escalation.state).toBe('acknowledged');

    await midway();

    const again = await pushTo('primary', active!.id, (m) => m.receivedAt > acknowledgedAt, ACK_TIMEOUT_MS + 15_000);
    expect(again.receivedAt - acknowledgedAt).toBeGreaterThanOrEqual(ACK_TIMEOUT_MS - SLACK_MS);
    expect(payload(again)).toMatchObject({ tier: 0, repeat: 0, severity: 'critical' });
    const reopened = await getAlert(active!.id);
    expect(reopened).toMatchObject({
      status: 'open',
      active: true,
      episode: 1,
      reopenReason: 'acknowledgement_expired',
      acknowledgedBy: null,
    });
    expect(Date.parse(reopened.reopenedAt!) - acknowledgedAt).toBeGreaterThanOrEqual(ACK_TIMEOUT_MS - SLACK_MS);
    await untilDelivered(active!.id, ['primary'], { round: 1, tier: 0 });

    await sleep(Math.max(0, acknowledgedAt + ACK_TIMEOUT_MS + 1_000 - Date.now()));
    expect(await getAlert(inactive!.id)).toMatchObject({ status: 'acknowledged', active: false, reopenedAt: null });
    expect(pushesAbout(inactive!.id).filter((m) => m.receivedAt > acknowledgedAt)).toEqual([]);
  },
);

scenario('5. a nurse who set herself away is skipped: the backup nurse gets the push at once', async (midway) => {
  const now = Date.now();
  const period = { from: new Date(now - 60_000).toISOString(), until: new Date(now + 3_600_000).toISOString() };
  // Another nurse may not set Nora's periods; Nora may.
  const refused = await svc.request(`/v1/clinicians/${staff.nora.id}/away`, staff.primary.token, {
    method: 'PUT',
    body: { periods: [period] },
  });
  expect(refused.status).toBe(403);
  const set = await svc.request(`/v1/clinicians/${staff.nora.id}/away`, staff.nora.token, {
    method: 'PUT',
    body: { periods: [{ ...period, note: 'annual leave' }] },
  });
  expect(set.status).toBe(200);
  try {
    const p = await newPatient(
      [
        ['nora', 'primary_nurse'],
        ['backup', 'backup_nurse'],
        ['pcp', 'pcp'],
      ],
      { rules: [spo2Below('spo2-low', 88, 'critical')] },
    );

    await midway();

    const stored = await svc.request(`/v1/clinicians/${staff.nora.id}/away`, staff.nora.token);
    expect(((await stored.json()) as { periods: unknown[] }).periods).toEqual([{ ...period, note: 'annual leave' }]);

    const breachedAt = Date.now();
    await post(p.devices.pulse_oximeter, spo2(85));
    const [alert] = await alertsOf(p.patientId);
    const backup = await pushTo('backup', alert!.id);
    expect(backup.receivedAt - breachedAt).toBeLessThan(AT_ONCE_MS);
    expect(payload(backup).tier).toBe(1);
    // Then on as usual: the pcp one delay later.
    const pcp = await pushTo('pcp', alert!.id);
    expect(pcp.receivedAt - backup.receivedAt).toBeGreaterThanOrEqual(DELAY_MS - SLACK_MS);
    expect(pushesAbout(alert!.id, 'nora')).toEqual([]);
    expect((await delivered(alert!.id)).map((d) => d.clinicianId)).not.toContain(staff.nora.id);
  } finally {
    await svc.request(`/v1/clinicians/${staff.nora.id}/away`, staff.nora.token, {
      method: 'PUT',
      body: { periods: [] },
    });
  }
});

scenario(
  '6. an alert that reaches nobody on the team goes to the on-call nurse, who may then act on it',
  async (midway) => {
    // Only a nurse with no phone subscribed: nobody on the team can be reached.
    const p = await newPatient([['nophone', 'primary_nurse']], { rules: [spo2Below('spo2-low', 88, 'critical')] });
    const other = await newPatient(FULL_TEAM, { rules: [] }, { name: 'Charles Babbage' });
    const now = Date.now();
    const rota = await svc.admin('/v1/on-call', {
      method: 'PUT',
      body: {
        shifts: [
          {
            clinicianId: staff.olga.id,
            from: new Date(now - 3_600_000).toISOString(),
            until: new Date(now + 3_600_000).toISOString(),
          },
        ],
      },
    });
    expect(rota.status).toBe(200);
    const onCall = await svc.request('/v1/on-call', staff.olga.token);
    expect(((await onCall.json()) as { now: string | null }).now).toBe(staff.olga.id);
    const patientPath = `/v1/patients/${p.patientId}`;
    expect((await svc.request(patientPath, staff.olga.token)).status).toBe(404);

    const breachedAt = Date.now();
    await post(p.devices.pulse_oximeter, spo2(85));
    const [alert] = await alertsOf(p.patientId);
    const push = await pushTo('olga', alert!.id);
    expect(push.receivedAt - breachedAt).toBeLessThan(AT_ONCE_MS);
    expect(payload(push)).toMatchObject({ tier: ON_CALL_TIER, severity: 'critical', patientInitials: 'A. L.' });
    // Access comes from the delivery on record, which is what survives the kill.
    await untilDelivered(alert!.id, ['olga'], { tier: ON_CALL_TIER });

    await midway();

    const read = await svc.request(patientPath, staff.olga.token);
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ id: p.patientId, name: 'Ada Lovelace' });
    expect((await svc.request(`/v1/patients/${other.patientId}`, staff.olga.token)).status).toBe(404);
    const listed = (await (await svc.request('/v1/alerts', staff.olga.token)).json()) as { alerts: AlertBody[] };
    expect(listed.alerts.map((a) => a.id)).toContain(alert!.id);
    expect(await act('olga', alert!.id, 'acknowledge')).toMatchObject({
      status: 'acknowledged',
      acknowledgedBy: staff.olga.id,
    });

    const audit = await svc.admin(`/v1/audit?actorId=${staff.olga.id}`);
    const { events } = (await audit.json()) as {
      events: Array<{ action: string; patientId: string | null; outcome: string }>;
    };
    const seen = events.map((e) => `${e.action} ${e.patientId} ${e.outcome}`);
    expect(seen).toContain(`patient.read ${p.patientId} success`);
    expect(seen).toContain(`alert.acknowledge ${p.patientId} success`);
    expect(seen).toContain(`patient.read ${other.patientId} denied`);

    // Once the alert is resolved, the on-call nurse's access to the patient ends.
    await act('olga', alert!.id, 'resolve');
    expect((await svc.request(patientPath, staff.olga.token)).status).toBe(404);
  },
);

scenario(
  '7. a reading that fires several rules makes one push per clinician, with every alert id',
  async (midway, restarted) => {
    const p = await newPatient(FULL_TEAM, { templates: ['heart-failure', 'copd'], rules: [] });
    // With the restart: the push is held (429, Retry-After 20 s) and the service killed while it waits.
    if (restarted) receiver.respondWith(staff.primary.phone!, [{ status: 429, headers: { 'retry-after': '20' } }]);
    const breachedAt = Date.now();
    await post(p.devices.pulse_oximeter, spo2(86));
    const alerts = await alertsOf(p.patientId);
    // SpO2 < 90 (warning) and < 88 (critical; the heart-failure and COPD rules are one rule in force).
    expect(alerts.map((a) => [a.ruleId, a.severity]).sort()).toEqual([
      ['hf-spo2-critical', 'critical'],
      ['hf-spo2-low', 'warning'],
    ]);
    const ids = alerts.map((a) => a.id).sort();
    const critical = alerts.find((a) => a.severity === 'critical')!;
    if (restarted) {
      await receiver.waitForAttempt(
        (a) => a.endpoint === staff.primary.phone!.endpoint && a.outcome === 'canned' && a.at >= breachedAt,
      );
      await midway();
    }

    const push = await pushTo('primary', critical.id, () => true, 15_000);
    expect([...payload(push).alertIds].sort()).toEqual(ids);
    expect(payload(push)).toMatchObject({ alertId: critical.id, severity: 'critical', tier: 0 });
    expect(push.urgency).toBe('high');
    await untilDelivered(ids[0]!, ['primary']);
    await untilDelivered(ids[1]!, ['primary']);
    await sleep(500);
    const toPrimary = receiver.messages.filter(
      (m) => m.subscriptionName === 'primary' && payload(m).alertIds?.some((id) => ids.includes(id)),
    );
    expect(toPrimary).toHaveLength(1);
    // Still two alerts after the restart: the reading was not evaluated twice.
    expect((await alertsOf(p.patientId)).map((a) => a.id).sort()).toEqual(ids);
  },
);

scenario(
  "8. every alert says what was observed, in the rule's unit; the push shows it with initials, not the name",
  async (midway) => {
    const p = await newPatient(
      [['primary', 'primary_nurse']],
      {
        rules: [
          spo2Below('spo2-low', 88, 'critical'),
          rule('systolic-mean', 'systolic', { kind: 'average', op: '>=', value: 140, count: 3 }, 'warning'),
          rule('weight-gain', 'weight', { kind: 'change', op: '>=', value: 2, unit: 'lb', within: '24h' }, 'warning'),
        ],
      },
      { kinds: ['pulse_oximeter', 'bp_monitor', 'scale'] },
    );
    const planAt = Date.now();
    const q = await newPatient(
      [['primary', 'primary_nurse']],
      { rules: [rule('weight-missing', 'weight', { kind: 'missing', for: '3s' }, 'warning')] },
      { kinds: [] },
    );
    const planDone = Date.now();

    // Killed with the missing-data deadline 3 s away: it falls due while the service is down.
    await midway();

    await post(p.devices.pulse_oximeter, spo2(86));
    for (const [systolic, ago] of [
      [150, 3],
      [140, 2],
      [150, 1],
    ] as const)
      await post(p.devices.bp_monitor, { type: 'blood_pressure', systolic, diastolic: 85 }, ago * 60_000);
    const firstWeighed = Date.now() - 20 * 3_600_000;
    await post(p.devices.scale, { type: 'weight', value: 81.647, unit: 'kg', measuredAt: firstWeighed });
    const lastWeighed = Date.now() - 60_000;
    await post(p.devices.scale, { type: 'weight', value: 82.554, unit: 'kg', measuredAt: lastWeighed });

    const byRule = new Map((await alertsOf(p.patientId)).map((a) => [a.ruleId, a]));
    expect(byRule.get('spo2-low')!.observed).toEqual({ kind: 'reading', value: 86, unit: '%' });
    expect(byRule.get('systolic-mean')!.observed).toEqual({ kind: 'mean', value: 146.7, unit: 'mmHg', count: 3 });
    // A kg scale, a rule written in lb: observed in lb, at the 0.1 lb the rule compares.
    expect(byRule.get('weight-gain')!.observed).toEqual({
      kind: 'change',
      value: 2,
      unit: 'lb',
      from: { value: 180, measuredAt: new Date(firstWeighed).toISOString() },
      to: { value: 182, measuredAt: new Date(lastWeighed).toISOString() },
    });

    const missing = await waitUntil('the missing-data alert', 15_000, async () => (await alertsOf(q.patientId))[0]);
    expect(missing.observed).toMatchObject({ kind: 'missing' });
    const since = Date.parse((missing.observed as { since: string }).since);
    // No weight ever arrived: since when the rule entered the plan.
    expect(since).toBeGreaterThanOrEqual(planAt - SLACK_MS);
    expect(since).toBeLessThanOrEqual(planDone);

    const expected: Array<[AlertBody, string]> = [
      [byRule.get('spo2-low')!, 'SpO2 86 %'],
      [byRule.get('systolic-mean')!, 'Systolic mean of 3: 146.7 mmHg'],
      [byRule.get('weight-gain')!, 'Weight +2 lb'],
      [missing, 'No weight'],
    ];
    for (const [alert, text] of expected) {
      const push = await pushTo('primary', alert.id);
      expect(payload(push).message, alert.ruleId).toContain(text);
      expect(payload(push).patientInitials).toBe('A. L.');
      expect(push.text).not.toMatch(/Ada|Lovelace/);
    }
  },
);
