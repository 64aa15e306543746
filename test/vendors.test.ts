import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { type DeviceKind, spawnService, startTestService, type TestService } from './helpers/service.ts';

/**
 * Vendor integrations through the real service: each vendor's documented payloads (devices/<vendor>/
 * samples) posted as its cloud would, then the readings, the care plan's alerts and the rejections read
 * back through the API. Withings is answered by a stand-in for its API on 127.0.0.1 that serves the
 * documented answers and checks the calls Homewatch makes, token refresh included.
 */

const SAMPLES = path.resolve(import.meta.dirname, '../devices');
const text = (vendor: string, name: string) => readFileSync(path.join(SAMPLES, vendor, 'samples', name), 'utf8');
const json = (vendor: string, name: string): unknown => JSON.parse(text(vendor, `${name}.json`));

type Rejection = {
  receivedAt: string;
  deviceId: string | null;
  reason: string;
  payload: unknown;
  rawPayload: string;
  errors: Array<{ path: string; message: string }>;
};
type Integration = { id: string; vendor: string; secret: string; url: string };

const CLIENT_ID = 'homewatch-test-client';
const CLIENT_SECRET = 'withings-client-secret-for-tests';

let svc: TestService;
let withings: WithingsStandIn;

beforeAll(async () => {
  withings = await startWithingsStandIn();
  svc = await startTestService({
    WITHINGS_API_URL: withings.url,
    WITHINGS_CLIENT_ID: CLIENT_ID,
    WITHINGS_CLIENT_SECRET: CLIENT_SECRET,
  });
});
afterAll(async () => {
  await svc?.stop();
  await withings?.close();
});

async function createIntegration(vendor: string): Promise<Integration> {
  const response = await svc.admin('/v1/integrations', { method: 'POST', body: { vendor } });
  expect(response.status).toBe(201);
  return (await response.json()) as Integration;
}

/** A patient with a device of `vendor` known by `vendorDeviceId`, and optionally a care plan. */
async function provision(kind: DeviceKind, vendor: string, vendorDeviceId: string, rules: unknown[] = []) {
  const patientId = await svc.createPatient();
  if (rules.length) {
    const plan = await svc.admin(`/v1/patients/${patientId}/care-plan`, { method: 'PUT', body: { rules } });
    expect(plan.status).toBe(200);
  }
  const response = await svc.admin('/v1/devices', {
    method: 'POST',
    body: { kind, patientId, vendor, vendorDeviceId },
  });
  expect(response.status).toBe(201);
  const device = (await response.json()) as { id: string; vendor: string; vendorDeviceId: string };
  expect(device).toMatchObject({ vendor, vendorDeviceId });
  return { patientId, deviceId: device.id };
}

const threshold = (id: string, metric: string, op: string, value: number, severity = 'warning') => ({
  id,
  metric,
  when: { kind: 'threshold', op, value },
  severity,
  message: `${id} fired`,
});

async function alertsOf(patientId: string) {
  const response = await svc.admin(`/v1/alerts?patientId=${patientId}`);
  return ((await response.json()) as { alerts: Array<{ ruleId: string; count: number; severity: string }> }).alerts;
}

async function integrationRejections(integrationId: string): Promise<Rejection[]> {
  const response = await svc.admin(`/v1/integrations/${integrationId}/rejections`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { rejections: Rejection[] }).rejections;
}

function post(pathname: string, body: string, headers: Record<string, string>) {
  return fetch(svc.url + pathname, { method: 'POST', headers, body });
}

/** A sample with every item's device id replaced by `id`, so each test has a device of its own. */
function withDevice(sample: unknown, field: string, id: string | number): unknown {
  const replace = (item: unknown) => ({ ...(item as Record<string, unknown>), [field]: id });
  return Array.isArray(sample) ? sample.map(replace) : replace(sample);
}

describe('integrations and vendor devices', () => {
  it('creates an integration with its secret shown once and stored only as a hash', async () => {
    const integration = await createIntegration('tenovi');
    expect(integration).toMatchObject({
      id: expect.any(String),
      vendor: 'tenovi',
      secret: expect.stringMatching(/^hwi_/),
      url: `${svc.url}/v1/vendors/tenovi`,
    });
    const list = (await (await svc.admin('/v1/integrations')).json()) as { integrations: Integration[] };
    expect(list.integrations.find((i) => i.id === integration.id)).toEqual({
      id: integration.id,
      vendor: 'tenovi',
      url: integration.url,
      createdAt: expect.any(String),
    });
    const db = new Database(path.join(svc.dataDir, 'homewatch.db'), { readonly: true });
    try {
      const row = db.prepare('select * from integrations where id = ?').get(integration.id) as Record<string, string>;
      expect(Object.values(row)).not.toContain(integration.secret);
      expect(row.secret_hash).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      db.close();
    }
  });

  it('gives Withings its notification URL with the secret in it', async () => {
    const integration = await createIntegration('withings');
    expect(integration.url).toBe(`${svc.url}/v1/vendors/withings?secret=${integration.secret}`);
  });

  it('is for admins only, and takes only the vendors it knows', async () => {
    const nobody = await svc.request('/v1/integrations', undefined, { method: 'POST', body: { vendor: 'tenovi' } });
    expect(nobody.status).toBe(401);
    const unknown = await svc.admin('/v1/integrations', { method: 'POST', body: { vendor: 'acme' } });
    expect(unknown.status).toBe(422);
    expect((await svc.admin(`/v1/integrations/${randomUUID()}/rejections`)).status).toBe(404);
  });

  it('provisions vendor devices: vendorDeviceId unique per vendor, and only with a vendor', async () => {
    const id = randomUUID();
    await provision('bp_monitor', 'tenovi', id);
    const again = await svc.admin('/v1/devices', {
      method: 'POST',
      body: { kind: 'bp_monitor', vendor: 'tenovi', vendorDeviceId: id },
    });
    expect(again.status).toBe(409);
    expect((await again.json()).error.details).toEqual([{ path: 'vendorDeviceId', message: 'is already in use' }]);
    // The same id under another vendor is another device.
    await provision('scale', 'bodytrace', id);
    const alone = await svc.admin('/v1/devices', { method: 'POST', body: { kind: 'scale', vendorDeviceId: id } });
    expect(alone.status).toBe(422);
    const acme = await svc.admin('/v1/devices', {
      method: 'POST',
      body: { kind: 'scale', vendor: 'acme', vendorDeviceId: id },
    });
    expect(acme.status).toBe(422);
  });
});

describe('Tenovi: POST /v1/vendors/tenovi with Authorization: Bearer <secret>', () => {
  let tenovi: Integration;
  const postTenovi = (body: unknown, secret = tenovi.secret) =>
    post('/v1/vendors/tenovi', typeof body === 'string' ? body : JSON.stringify(body), {
      authorization: `Bearer ${secret}`,
      'content-type': 'application/json',
    });

  beforeAll(async () => {
    tenovi = await createIntegration('tenovi');
  });

  it('stores the documented blood pressure with its pulse, the care plan alerts, and a replay stores nothing twice', async () => {
    const hwi = randomUUID();
    const { patientId, deviceId } = await provision('bp_monitor', 'tenovi', hwi, [
      threshold('sbp-high', 'systolic', '>', 140),
    ]);
    const payload = withDevice(json('tenovi', 'valid-blood-pressure-array'), 'hwi_device_id', hwi);

    const response = await postTenovi(payload);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ accepted: 1, duplicates: 0, rejected: 0, ignored: 0, unknownDevices: [] });
    const { readings } = await svc.readings(patientId, '?type=blood_pressure');
    expect(readings).toEqual([
      {
        id: expect.any(String),
        deviceId,
        type: 'blood_pressure',
        measuredAt: '2026-11-21T12:58:00.000Z',
        receivedAt: expect.any(String),
        systolic: 142,
        diastolic: 91,
        pulse: 72,
        unit: 'mmHg',
      },
    ]);
    expect(await alertsOf(patientId)).toEqual([expect.objectContaining({ ruleId: 'sbp-high', count: 1 })]);

    // Tenovi sends it again (it was not acknowledged, as far as it knows).
    const replay = await postTenovi(payload);
    expect(replay.status).toBe(200);
    expect(await replay.json()).toMatchObject({ accepted: 0, duplicates: 1, rejected: 0 });
    expect((await svc.readings(patientId, '?type=blood_pressure')).readings).toHaveLength(1);
    expect(await alertsOf(patientId)).toEqual([expect.objectContaining({ ruleId: 'sbp-high', count: 1 })]);
  });

  it('stores a weight sent in lb as kg, keeping lb as the unit sent', async () => {
    const hwi = randomUUID();
    const { patientId } = await provision('scale', 'tenovi', hwi);
    const response = await postTenovi(withDevice(json('tenovi', 'valid-weight'), 'hwi_device_id', hwi));
    expect(response.status).toBe(200);
    const { readings } = await svc.readings(patientId, '?type=weight');
    expect(readings).toEqual([
      expect.objectContaining({ measuredAt: '2026-11-21T12:14:00.000Z', value: 82.327, unit: 'kg', sentUnit: 'lb' }),
    ]);
  });

  it('stores SpO2 with its pulse and drops the battery level and perfusion index', async () => {
    const hwi = randomUUID();
    const { patientId } = await provision('pulse_oximeter', 'tenovi', hwi, [
      threshold('spo2-low', 'spo2', '<', 95, 'critical'),
    ]);
    const response = await postTenovi(withDevice(json('tenovi', 'valid-spo2-array'), 'hwi_device_id', hwi));
    expect(await response.json()).toEqual({ accepted: 1, duplicates: 0, rejected: 0, ignored: 2, unknownDevices: [] });
    const { readings } = await svc.readings(patientId, '?type=spo2');
    expect(readings).toEqual([expect.objectContaining({ value: 94, pulse: 80, unit: '%' })]);
    expect(await alertsOf(patientId)).toEqual([expect.objectContaining({ ruleId: 'spo2-low', severity: 'critical' })]);
  });

  it('answers 200 for an unknown device and keeps its payload, as Tenovi sent it, among the integration rejections', async () => {
    const hwi = randomUUID();
    const payload = withDevice(json('tenovi', 'valid-blood-pressure-array'), 'hwi_device_id', hwi);
    const response = await postTenovi(payload);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ accepted: 0, rejected: 1, unknownDevices: [hwi] });
    const [rejection] = await integrationRejections(tenovi.id);
    expect(rejection).toMatchObject({
      deviceId: null,
      reason: 'unknown_device',
      payload,
      errors: [{ path: '', message: expect.stringContaining(`vendorDeviceId "${hwi}"`) }],
    });

    // Once provisioned, Tenovi's next attempt is stored.
    const { patientId } = await provision('bp_monitor', 'tenovi', hwi);
    expect(await (await postTenovi(payload)).json()).toMatchObject({ accepted: 1, unknownDevices: [] });
    expect((await svc.readings(patientId, '?type=blood_pressure')).readings).toHaveLength(1);
  });

  it('keeps malformed payloads and unusable items among the rejections, with the reason, and answers 200', async () => {
    const hwi = randomUUID();
    const { patientId, deviceId } = await provision('bp_monitor', 'tenovi', hwi);

    const notJson = await postTenovi('{"metric": "blood_pressure", ');
    expect(notJson.status).toBe(200);
    expect(await notJson.json()).toMatchObject({ accepted: 0, rejected: 1 });
    expect((await integrationRejections(tenovi.id))[0]).toMatchObject({
      deviceId: null,
      reason: 'malformed',
      rawPayload: '{"metric": "blood_pressure", ',
      errors: [{ path: '', message: 'must be valid JSON' }],
    });

    for (const [name, path] of [
      ['unusable-missing-timestamp', 'timestamp'],
      ['unusable-pulse-alone', 'value_1'],
    ] as const) {
      const response = await postTenovi(withDevice(json('tenovi', name), 'hwi_device_id', hwi));
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ accepted: 0, rejected: 1 });
      // Kept under the device it names, so both lists show it.
      const [rejection] = await integrationRejections(tenovi.id);
      expect(rejection).toMatchObject({ deviceId, reason: 'invalid', errors: [{ path }] });
      expect((await svc.rejections(deviceId))[0]).toMatchObject({ reason: 'invalid', errors: [{ path }] });
    }
    expect((await svc.readings(patientId, '?type=blood_pressure')).readings).toEqual([]);
  });

  it('leaves validation to the pipeline: an implausible systolic is refused and kept under its device', async () => {
    const hwi = randomUUID();
    const { patientId, deviceId } = await provision('bp_monitor', 'tenovi', hwi);
    const response = await postTenovi(withDevice(json('tenovi', 'implausible-systolic'), 'hwi_device_id', hwi));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ accepted: 0, rejected: 1 });
    expect((await svc.rejections(deviceId))[0]).toMatchObject({
      reason: 'invalid',
      errors: [{ path: 'systolic', message: 'must be at most 300' }],
    });
    expect((await integrationRejections(tenovi.id))[0]).toMatchObject({ deviceId, reason: 'invalid' });
    expect((await svc.readings(patientId, '?type=blood_pressure')).readings).toEqual([]);
  });

  it('answers 401 for a wrong or missing secret, or the secret of another vendor', async () => {
    const body = JSON.stringify(json('tenovi', 'valid-weight'));
    const wrong = await postTenovi(body, 'hwi_not-the-secret');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer');
    expect((await post('/v1/vendors/tenovi', body, { 'content-type': 'application/json' })).status).toBe(401);
    const bodytrace = await createIntegration('bodytrace');
    expect((await postTenovi(body, bodytrace.secret)).status).toBe(401);
  });

  it('refuses a body over 1 MiB with 413, and the keep-alive connection takes the next request', async () => {
    // Its own service: fetch's pool would reuse a connection the 413 left mid-body.
    const own = await startTestService();
    onTestFinished(() => own.stop());
    const created = await own.admin('/v1/integrations', { method: 'POST', body: { vendor: 'tenovi' } });
    const { id, secret } = (await created.json()) as Integration;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    onTestFinished(() => agent.destroy());
    const { hostname, port } = new URL(own.url);
    const send = (body: string) =>
      new Promise<{ status: number; reusedSocket: boolean }>((resolve, reject) => {
        const headers = {
          authorization: `Bearer ${secret}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        };
        const request = http.request(
          { hostname, port, method: 'POST', path: '/v1/vendors/tenovi', agent, headers },
          (response) => {
            response
              .resume()
              .on('end', () => resolve({ status: response.statusCode!, reusedSocket: request.reusedSocket }));
          },
        );
        request.on('error', reject).end(body);
      });
    expect(await send(`[${'0,'.repeat(600_000)}0]`)).toEqual({ status: 413, reusedSocket: false });
    expect(await send('[]')).toEqual({ status: 200, reusedSocket: true });
    // Its head is kept, so the agency sees what was refused.
    const { rejections } = (await (await own.admin(`/v1/integrations/${id}/rejections`)).json()) as {
      rejections: Rejection[];
    };
    expect(rejections).toEqual([
      expect.objectContaining({ reason: 'malformed', rawPayload: expect.stringMatching(/^\[0,0,/) }),
    ]);
    expect(rejections[0]!.rawPayload).toHaveLength(4096);
  });
});

describe('BodyTrace: POST /v1/vendors/bodytrace with HTTP Basic (integration id, secret)', () => {
  let bodytrace: Integration;
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const postBodyTrace = (body: unknown, authorization = basic(bodytrace.id, bodytrace.secret)) =>
    post('/v1/vendors/bodytrace', typeof body === 'string' ? body : JSON.stringify(body), {
      authorization,
      'content-type': 'application/json',
    });
  /** A device id as BodyTrace sends it: the IMEI's digits, as a JSON number. */
  const imei = () => 1_000_000_000_000 + Math.floor(Math.random() * 8_999_999_999_999);

  beforeAll(async () => {
    bodytrace = await createIntegration('bodytrace');
  });

  it('stores weights sent in grams as kg, keeping g as the unit sent, corrected by a large tare', async () => {
    const id = imei();
    const { patientId } = await provision('scale', 'bodytrace', String(id));
    for (const name of ['valid-weight', 'valid-weight-tare']) {
      const response = await postBodyTrace(withDevice(json('bodytrace', name), 'deviceId', id));
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ accepted: 1 });
    }
    const { readings } = await svc.readings(patientId, '?type=weight');
    expect(readings.map((r) => [r.measuredAt, r.value, r.unit, r.sentUnit])).toEqual([
      ['2026-11-20T07:14:00.000Z', 83.3, 'kg', 'g'],
      ['2026-11-21T07:12:00.000Z', 83.24, 'kg', 'g'],
    ]);
  });

  it('stores a blood pressure, the care plan alerts, and a replay stores nothing twice', async () => {
    const id = imei();
    const { patientId } = await provision('bp_monitor', 'bodytrace', String(id), [
      threshold('sbp-very-high', 'systolic', '>=', 150, 'critical'),
    ]);
    const payload = withDevice(json('bodytrace', 'valid-blood-pressure'), 'deviceId', id);
    expect(await (await postBodyTrace(payload)).json()).toMatchObject({ accepted: 1 });
    expect(await (await postBodyTrace(payload)).json()).toMatchObject({ accepted: 0, duplicates: 1 });
    const { readings } = await svc.readings(patientId, '?type=blood_pressure');
    expect(readings).toEqual([
      expect.objectContaining({ measuredAt: '2026-11-21T20:31:00.000Z', systolic: 158, diastolic: 97, pulse: 84 }),
    ]);
    expect(await alertsOf(patientId)).toEqual([
      expect.objectContaining({ ruleId: 'sbp-very-high', severity: 'critical', count: 1 }),
    ]);
  });

  it('acknowledges a heartbeat and keeps nothing of it', async () => {
    const id = imei();
    const { patientId, deviceId } = await provision('scale', 'bodytrace', String(id));
    const response = await postBodyTrace(withDevice(json('bodytrace', 'ignored-heartbeat'), 'deviceId', id));
    expect(await response.json()).toEqual({ accepted: 0, duplicates: 0, rejected: 0, ignored: 1, unknownDevices: [] });
    expect((await svc.readings(patientId, '?type=weight')).readings).toEqual([]);
    expect(await svc.rejections(deviceId)).toEqual([]);
  });

  it('keeps an unknown device, a message without values and an implausible weight, and answers 200', async () => {
    const stranger = imei();
    const unknown = await postBodyTrace(withDevice(json('bodytrace', 'valid-weight'), 'deviceId', stranger));
    expect(unknown.status).toBe(200);
    expect(await unknown.json()).toMatchObject({ rejected: 1, unknownDevices: [String(stranger)] });
    expect((await integrationRejections(bodytrace.id))[0]).toMatchObject({
      deviceId: null,
      reason: 'unknown_device',
      payload: { deviceId: stranger, values: { weight: 83240 } },
    });

    const id = imei();
    const { deviceId } = await provision('scale', 'bodytrace', String(id));
    const noValues = await postBodyTrace(withDevice(json('bodytrace', 'unusable-no-values'), 'deviceId', id));
    expect(noValues.status).toBe(200);
    expect((await svc.rejections(deviceId))[0]).toMatchObject({ reason: 'invalid', errors: [{ path: 'values' }] });
    const light = await postBodyTrace(withDevice(json('bodytrace', 'implausible-weight'), 'deviceId', id));
    expect(light.status).toBe(200);
    expect((await svc.rejections(deviceId))[0]).toMatchObject({ reason: 'invalid', errors: [{ path: 'value' }] });
    expect((await integrationRejections(bodytrace.id)).slice(0, 2).map((r) => r.deviceId)).toEqual([
      deviceId,
      deviceId,
    ]);
  });

  it('answers 401 with a Basic challenge for a wrong password, another integration, or a bearer token', async () => {
    const body = JSON.stringify(json('bodytrace', 'valid-weight'));
    const wrong = await postBodyTrace(body, basic(bodytrace.id, 'hwi_wrong'));
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Basic realm="homewatch"/);
    const other = await createIntegration('bodytrace');
    expect((await postBodyTrace(body, basic(other.id, bodytrace.secret))).status).toBe(401);
    expect((await postBodyTrace(body, `Bearer ${bodytrace.secret}`)).status).toBe(401);
  });
});

describe('Withings: notification, then getmeas from the Withings API with the linked user tokens', () => {
  let integration: Integration;
  const notify = (body: string, secret = integration.secret) =>
    post(`/v1/vendors/withings?secret=${encodeURIComponent(secret)}`, body, {
      'content-type': 'application/x-www-form-urlencoded',
    });
  /** The sample notification, for another user. */
  const notification = (name: string, userid: string) =>
    text('withings', `${name}.txt`).replace(/userid=\d+/, `userid=${userid}`);
  const userId = () => String(10_000_000 + Math.floor(Math.random() * 89_999_999));

  async function link(
    userid: string,
    patientId: string,
    tokens: { access: string; refresh: string; expiresAt: number },
  ) {
    const response = await svc.admin(`/v1/integrations/${integration.id}/withings-users`, {
      method: 'POST',
      body: {
        withingsUserId: userid,
        patientId,
        accessToken: tokens.access,
        refreshToken: tokens.refresh,
        expiresAt: new Date(tokens.expiresAt).toISOString(),
      },
    });
    return response;
  }

  beforeAll(async () => {
    integration = await createIntegration('withings');
  });

  it('fetches the notified measures, refreshing the tokens when Withings answers status 401, and stores them once', async () => {
    const userid = userId();
    const patientId = await svc.createPatient();
    await svc.admin(`/v1/patients/${patientId}/care-plan`, {
      method: 'PUT',
      body: { rules: [threshold('sbp-high', 'systolic', '>', 140)] },
    });
    // Linked with an access token that Withings no longer takes, though its expiry is ahead.
    const stale = {
      access: `stale-${randomUUID()}`,
      refresh: `refresh-${randomUUID()}`,
      expiresAt: Date.now() + 3_600_000,
    };
    withings.refreshTokens.add(stale.refresh);
    const linked = await link(userid, patientId, stale);
    expect(linked.status).toBe(201);
    const answer = await linked.json();
    expect(answer).toEqual({
      integrationId: integration.id,
      withingsUserId: userid,
      deviceId: expect.any(String),
      patientId,
      expiresAt: new Date(stale.expiresAt).toISOString(),
    });
    expect(JSON.stringify(answer)).not.toContain(stale.access);
    const device = await (await svc.admin(`/v1/devices/${answer.deviceId}`)).json();
    expect(device).toMatchObject({ vendor: 'withings', vendorDeviceId: userid, patientId });

    withings.calls.length = 0;
    const response = await notify(notification('notification-weight', userid));
    expect(response.status).toBe(200);
    // The weigh-in is stored; the ambiguous one (attrib 1) kept; the height typed in by hand ignored.
    expect(await response.json()).toEqual({ accepted: 1, duplicates: 0, rejected: 1, ignored: 1, unknownDevices: [] });
    expect(withings.calls.map((c) => c.path)).toEqual(['/measure', '/v2/oauth2', '/measure']);
    const [first, refresh, second] = withings.calls;
    expect(first).toMatchObject({
      authorization: `Bearer ${stale.access}`,
      form: { action: 'getmeas', category: '1', startdate: '1795244940', enddate: '1795245060' },
    });
    expect(refresh!.form).toEqual({
      action: 'requesttoken',
      grant_type: 'refresh_token',
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      refresh_token: stale.refresh,
    });
    expect(second!.authorization).not.toBe(first!.authorization);
    expect(second!.authorization).toBe(`Bearer ${withings.issued.at(-1)!.access}`);

    const { readings } = await svc.readings(patientId, '?type=weight');
    expect(readings).toEqual([
      expect.objectContaining({
        deviceId: answer.deviceId,
        measuredAt: '2026-11-21T07:10:00.000Z',
        value: 83.24,
        unit: 'kg',
        sentUnit: 'kg',
      }),
    ]);
    expect((await svc.rejections(answer.deviceId))[0]).toMatchObject({
      reason: 'invalid',
      errors: [{ path: 'attrib' }],
    });

    // The blood pressure notification uses the refreshed token at once, and the care plan alerts.
    withings.calls.length = 0;
    const bp = await notify(notification('notification-blood-pressure', userid));
    expect(await bp.json()).toMatchObject({ accepted: 2, rejected: 0 });
    expect(withings.calls.map((c) => c.path)).toEqual(['/measure']);
    expect((await svc.readings(patientId, '?type=blood_pressure')).readings).toEqual([
      expect.objectContaining({ systolic: 151, diastolic: 92, pulse: 77 }),
    ]);
    expect((await svc.readings(patientId, '?type=spo2')).readings).toEqual([
      expect.objectContaining({ value: 95, pulse: 74 }),
    ]);
    expect(await alertsOf(patientId)).toEqual([expect.objectContaining({ ruleId: 'sbp-high', count: 1 })]);

    // Withings notifies again: nothing is stored twice.
    const replay = await notify(notification('notification-weight', userid));
    expect(await replay.json()).toMatchObject({ accepted: 0, duplicates: 1 });
    expect((await svc.readings(patientId, '?type=weight')).readings).toHaveLength(1);
  });

  it('refreshes an access token past its expiry before using it, and keeps tokens sealed in the database', async () => {
    const userid = userId();
    const patientId = await svc.createPatient();
    const expired = {
      access: `old-${randomUUID()}`,
      refresh: `refresh-${randomUUID()}`,
      expiresAt: Date.now() - 60_000,
    };
    withings.refreshTokens.add(expired.refresh);
    expect((await link(userid, patientId, expired)).status).toBe(201);
    withings.calls.length = 0;
    expect((await notify(notification('notification-weight', userid))).status).toBe(200);
    expect(withings.calls.map((c) => c.path)).toEqual(['/v2/oauth2', '/measure']);
    expect((await svc.readings(patientId, '?type=weight')).readings).toHaveLength(1);

    const db = new Database(path.join(svc.dataDir, 'homewatch.db'), { readonly: true });
    try {
      const rows = JSON.stringify(db.prepare('select * from withings_users').all());
      for (const token of [expired.access, expired.refresh, ...withings.issued.flatMap((t) => [t.access, t.refresh])]) {
        expect(rows).not.toContain(token);
      }
    } finally {
      db.close();
    }
  });

  it('keeps a notification for a user nobody linked, and one it cannot read, and answers 200', async () => {
    const stranger = userId();
    withings.calls.length = 0;
    const unknown = await notify(notification('notification-weight', stranger));
    expect(unknown.status).toBe(200);
    expect(await unknown.json()).toMatchObject({ rejected: 1, unknownDevices: [stranger] });
    expect(withings.calls).toEqual([]);
    expect((await integrationRejections(integration.id))[0]).toMatchObject({
      deviceId: null,
      reason: 'unknown_device',
      rawPayload: notification('notification-weight', stranger),
    });

    const garbled = await notify('appli=1&startdate=soon');
    expect(garbled.status).toBe(200);
    expect((await integrationRejections(integration.id))[0]).toMatchObject({
      reason: 'malformed',
      errors: [{ path: 'userid' }, { path: 'startdate' }, { path: 'enddate' }],
    });
  });

  it('acknowledges categories without measures (sleep) without calling Withings', async () => {
    withings.calls.length = 0;
    const response = await notify(`userid=${userId()}&appli=44&startdate=1795244940&enddate=1795245060`);
    expect(await response.json()).toMatchObject({ accepted: 0, rejected: 0, ignored: 1 });
    expect(withings.calls).toEqual([]);
  });

  it('answers 503, keeping the notification, when Withings fails or refuses the refresh, so Withings sends it again', async () => {
    const patientId = await svc.createPatient();
    const down = userId();
    withings.failingUsers.add(`Bearer down-${down}`);
    await link(down, patientId, { access: `down-${down}`, refresh: 'r', expiresAt: Date.now() + 3_600_000 });
    const unavailable = await notify(notification('notification-weight', down));
    expect(unavailable.status).toBe(503);
    expect((await integrationRejections(integration.id))[0]).toMatchObject({
      reason: 'invalid',
      errors: [{ path: '', message: expect.stringMatching(/HTTP 500/) }],
    });

    const revoked = userId();
    const other = await svc.createPatient();
    await link(revoked, other, { access: 'expired', refresh: `revoked-${randomUUID()}`, expiresAt: Date.now() - 1000 });
    const refused = await notify(notification('notification-weight', revoked));
    expect(refused.status).toBe(503);
    expect((await integrationRejections(integration.id))[0]).toMatchObject({
      errors: [{ message: expect.stringMatching(/refused to refresh.*link the user again/) }],
    });

    // Tokens sealed under another key (DATA_DIR's key replaced): kept, not a crash.
    const resealed = userId();
    await link(resealed, other, { access: 'a', refresh: 'r', expiresAt: Date.now() + 3_600_000 });
    const db = new Database(path.join(svc.dataDir, 'homewatch.db'));
    try {
      db.prepare("update withings_users set access_token = 'v1.AAAA.AAAA.AAAA' where withings_user_id = ?").run(
        resealed,
      );
    } finally {
      db.close();
    }
    const unreadable = await notify(notification('notification-weight', resealed));
    expect(unreadable.status).toBe(503);
    expect((await integrationRejections(integration.id))[0]).toMatchObject({
      errors: [{ message: expect.stringMatching(/cannot be opened.*link the user again/) }],
    });
  });

  it('logs ids and counts only: never a secret, a token or what the vendor sent (the service as npm start runs it)', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'homewatch-vendor-logs-'));
    onTestFinished(() => rm(dataDir, { recursive: true, force: true }));
    const proc = await spawnService({
      DATA_DIR: dataDir,
      LOG_LEVEL: 'debug',
      WITHINGS_API_URL: withings.url,
      WITHINGS_CLIENT_ID: CLIENT_ID,
      WITHINGS_CLIENT_SECRET: CLIENT_SECRET,
    });
    onTestFinished(async () => {
      proc.child.kill('SIGTERM');
      await proc.exited;
    });
    const created = await proc.admin('/v1/integrations', { method: 'POST', body: { vendor: 'withings' } });
    const own = (await created.json()) as Integration;
    const patientId = await proc.createPatient();
    const userid = userId();
    const stale = { access: `stale-${randomUUID()}`, refresh: `refresh-${randomUUID()}` };
    withings.refreshTokens.add(stale.refresh);
    const issuedBefore = withings.issued.length;
    const linked = await proc.admin(`/v1/integrations/${own.id}/withings-users`, {
      method: 'POST',
      body: {
        withingsUserId: userid,
        patientId,
        accessToken: stale.access,
        refreshToken: stale.refresh,
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      },
    });
    expect(linked.status).toBe(201);
    const body = notification('notification-weight', userid);
    const response = await fetch(`${proc.url}/v1/vendors/withings?secret=${own.secret}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    expect(await response.json()).toMatchObject({ accepted: 1 });

    // The log lines cross a pipe: they may come a moment after the answer.
    for (let waited = 0; waited < 5000 && !proc.logs.some((l) => l.event === 'vendor_ingest'); waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const logs = JSON.stringify(proc.logs);
    expect(proc.logs).toContainEqual(
      expect.objectContaining({ event: 'withings_tokens_refreshed', withingsUserId: userid }),
    );
    expect(proc.logs).toContainEqual(
      expect.objectContaining({ event: 'vendor_ingest', integrationId: own.id, accepted: 1 }),
    );
    const issued = withings.issued.slice(issuedBefore).flatMap((pair) => [pair.access, pair.refresh]);
    for (const secret of [own.secret, stale.access, stale.refresh, CLIENT_SECRET, ...issued, body, '83240', '83.24']) {
      expect(logs).not.toContain(secret);
    }
  });

  it('answers the URL check Withings makes, and 401 for a wrong secret', async () => {
    const check = await fetch(`${svc.url}/v1/vendors/withings?secret=${integration.secret}`, { method: 'HEAD' });
    expect(check.status).toBe(200);
    const wrong = await fetch(`${svc.url}/v1/vendors/withings?secret=hwi_wrong`, { method: 'HEAD' });
    expect(wrong.status).toBe(401);
    expect((await notify(notification('notification-weight', userId()), 'hwi_wrong')).status).toBe(401);
    const tenovi = await createIntegration('tenovi');
    expect((await notify(notification('notification-weight', userId()), tenovi.secret)).status).toBe(401);
  });

  it('links only to a Withings integration, and only a known patient; linking again moves the device', async () => {
    const tenovi = await createIntegration('tenovi');
    const body = {
      withingsUserId: userId(),
      patientId: await svc.createPatient(),
      accessToken: 'a',
      refreshToken: 'r',
    };
    const wrongVendor = await svc.admin(`/v1/integrations/${tenovi.id}/withings-users`, {
      method: 'POST',
      body: { ...body, expiresAt: new Date().toISOString() },
    });
    expect(wrongVendor.status).toBe(409);
    const noPatient = await link(body.withingsUserId, randomUUID(), {
      access: 'a',
      refresh: 'r',
      expiresAt: Date.now(),
    });
    expect(noPatient.status).toBe(422);

    const first = await (
      await link(body.withingsUserId, body.patientId, { access: 'a', refresh: 'r', expiresAt: 0 })
    ).json();
    const next = await svc.createPatient();
    const again = await link(body.withingsUserId, next, { access: 'b', refresh: 's', expiresAt: 0 });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ deviceId: first.deviceId, patientId: next });
  });
});

interface WithingsCall {
  path: string;
  authorization: string | undefined;
  form: Record<string, string>;
}

interface WithingsStandIn {
  url: string;
  calls: WithingsCall[];
  /** Refresh tokens it takes; each refresh issues a new pair and voids the old refresh token. */
  refreshTokens: Set<string>;
  /** Every pair issued, in order. */
  issued: Array<{ access: string; refresh: string }>;
  /** Authorization headers answered HTTP 500. */
  failingUsers: Set<string>;
  close(): Promise<void>;
}

/**
 * The Withings API as its reference documents it, on 127.0.0.1: getmeas answers the documented samples
 * for the access tokens it issued (by the notified window), status 401 for any other; requesttoken issues
 * new tokens for a known refresh token with Homewatch's client id and secret, status 503 otherwise.
 */
async function startWithingsStandIn(): Promise<WithingsStandIn> {
  const state = {
    calls: [] as WithingsCall[],
    refreshTokens: new Set<string>(),
    issued: [] as Array<{ access: string; refresh: string }>,
    failingUsers: new Set<string>(),
  };
  const accessTokens = new Set<string>();
  const byWindow: Record<string, string> = {
    '1795244940': 'getmeas-weight',
    '1795293000': 'getmeas-blood-pressure',
  };
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(body));
      const authorization = request.headers.authorization;
      state.calls.push({ path: request.url ?? '', authorization, form });
      const answer = (value: unknown, status = 200) => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(value));
      };
      if (authorization && state.failingUsers.has(authorization)) return answer({ error: 'down' }, 500);
      if (request.method === 'POST' && request.url === '/measure' && form.action === 'getmeas') {
        const token = authorization?.replace(/^Bearer /, '') ?? '';
        if (!accessTokens.has(token)) return answer(json('withings', 'getmeas-invalid-token'));
        const sample = byWindow[form.startdate ?? ''];
        return answer(sample ? json('withings', sample) : { status: 0, body: { measuregrps: [], more: 0, offset: 0 } });
      }
      if (request.method === 'POST' && request.url === '/v2/oauth2' && form.action === 'requesttoken') {
        const known =
          form.grant_type === 'refresh_token' &&
          form.client_id === CLIENT_ID &&
          form.client_secret === CLIENT_SECRET &&
          state.refreshTokens.delete(form.refresh_token ?? '');
        if (!known) return answer({ status: 503, body: {}, error: 'Invalid Params: invalid refresh_token' });
        const pair = { access: `access-${randomUUID()}`, refresh: `refresh-${randomUUID()}` };
        state.issued.push(pair);
        accessTokens.add(pair.access);
        state.refreshTokens.add(pair.refresh);
        const sample = json('withings', 'requesttoken') as { status: number; body: Record<string, unknown> };
        return answer({ ...sample, body: { ...sample.body, access_token: pair.access, refresh_token: pair.refresh } });
      }
      answer({ status: 2554, body: {}, error: 'Unknown action' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    ...state,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
