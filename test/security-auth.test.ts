import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPushReceiver, type PushReceiver, type PushSubscriptionJSON } from './helpers/push-receiver.ts';
import { startTestService, type TestService } from './helpers/service.ts';
import { startWebhookReceiver } from './helpers/webhook-receiver.ts';

/**
 * The attacks of the security issue's sign-in, webhook, push and account rows, each against the real
 * service: an open redirect after sign-in, webhooks as a port scanner, sign-in lockouts of the real
 * user, stolen and unbounded push subscriptions, weak passwords and accounts that cannot be disabled.
 */

type Delivery = { channel: string; status: string; error: string | null; httpStatus: number | null };

/** An HTTP request from a chosen local address (127.0.0.x are all this machine), to stand for another client. */
function requestFrom(
  url: string,
  {
    from,
    method = 'GET',
    headers = {},
    body,
  }: { from: string; method?: string; headers?: Record<string, string>; body?: unknown },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest(
      url,
      {
        method,
        localAddress: from,
        headers: { ...headers, ...(payload ? { 'content-type': 'application/json' } : {}) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const loginFrom = (svc: TestService, from: string, email: string, password: string, headers = {}) =>
  requestFrom(`${svc.url}/v1/auth/login`, { from, method: 'POST', headers, body: { email, password } });

/** A patient with an SpO2 < 88 critical rule, the given care team, and their oximeter. */
async function alertingPatient(svc: TestService, team: Array<{ clinicianId: string; role: string }> = []) {
  const patientId = await svc.createPatient('Grace Hopper');
  if (team.length) {
    const response = await svc.admin(`/v1/patients/${patientId}/care-team`, {
      method: 'PUT',
      body: { members: team },
    });
    expect(response.status, await response.clone().text()).toBe(200);
  }
  const plan = {
    rules: [
      {
        id: 'spo2-low',
        metric: 'spo2',
        when: { kind: 'threshold', op: '<', value: 88 },
        severity: 'critical',
        message: 'SpO2 below 88 %',
      },
    ],
  };
  expect((await svc.admin(`/v1/patients/${patientId}/care-plan`, { method: 'PUT', body: plan })).status).toBe(200);
  const device = await svc.provision('pulse_oximeter', patientId);
  return { patientId, device };
}

async function breach(svc: TestService, token: string) {
  const response = await svc.postReadings(token, { type: 'spo2', measuredAt: Date.now() - 30_000, value: 85 });
  expect(response.status).toBe(200);
}

async function openAlertId(svc: TestService, patientId: string): Promise<string> {
  for (const deadline = Date.now() + 3_000; Date.now() < deadline; await sleep(50)) {
    const { alerts } = (await (await svc.admin(`/v1/alerts?patientId=${patientId}`)).json()) as {
      alerts: Array<{ id: string }>;
    };
    if (alerts[0]) return alerts[0].id;
  }
  throw new Error('no alert opened');
}

/** The alert's delivery log once `done` holds for it (or after `timeoutMs`). */
async function deliveriesOf(
  svc: TestService,
  alertId: string,
  done: (deliveries: Delivery[]) => boolean,
  timeoutMs = 5_000,
): Promise<Delivery[]> {
  let deliveries: Delivery[] = [];
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(50)) {
    deliveries = ((await (await svc.admin(`/v1/alerts/${alertId}/deliveries`)).json()) as { deliveries: Delivery[] })
      .deliveries;
    if (done(deliveries)) break;
  }
  return deliveries;
}

/** A TCP port that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let svc: TestService;
let receiver: PushReceiver;

beforeAll(async () => {
  receiver = await startPushReceiver();
  svc = await startTestService({
    PUSH_ENDPOINT_HOSTS: receiver.host,
    OUTBOUND_CA_FILE: receiver.caFile,
    // Long enough that a push to the next tier within seconds can only be routing skipping a tier.
    ESCALATION_CRITICAL: '1h',
  });
});
afterAll(async () => {
  await svc?.stop();
  await receiver?.stop();
});

// ---------------------------------------------------------------------------------------------------

describe('after sign-in, only a page of this site (row 5)', () => {
  let token: string;
  beforeAll(async () => {
    const nurse = await svc.createClinician('nurse');
    token = await svc.login(nurse.email, nurse.password);
  });

  it.each([
    ['/%09/example.org/phish', 'a tab, which browsers drop: //example.org'],
    ['/%0a/example.org/phish', 'a newline'],
    ['/%0d%0a/example.org', 'CR LF'],
    ['//example.org', 'a protocol-relative URL'],
    ['/%5Cexample.org', 'a backslash, which browsers read as a slash'],
    ['https://example.org/', 'another origin'],
    ['/.//example.org', 'a path that normalises to //example.org'],
  ])('next=%s (%s) leads a signed-in clinician home, without a 500', async (next) => {
    const response = await fetch(`${svc.url}/login?next=${next}`, {
      headers: { authorization: `Bearer ${token}` },
      redirect: 'manual',
    });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/');
  });

  it('puts the same safe target in the sign-in page for its script', async () => {
    const html = await (await fetch(`${svc.url}/login?next=/%09/example.org/phish`)).text();
    expect(html).toContain('data-next="/"');
    const kept = await (await fetch(`${svc.url}/login?next=${encodeURIComponent('/patients/p1?tab=plan')}`)).text();
    expect(kept).toContain('data-next="/patients/p1?tab=plan"');
  });
});

// ---------------------------------------------------------------------------------------------------

describe('webhooks reach only public addresses (row 6)', () => {
  it.each([
    'https://127.0.0.1:9/hook',
    'https://127.1/',
    'https://2130706433/',
    'https://localhost/',
    'https://localhost:8443/hook',
    'https://10.1.2.3/',
    'https://172.16.0.1/',
    'https://172.31.255.254/',
    'https://192.168.1.1/',
    'https://169.254.169.254/latest/meta-data/',
    'https://100.64.0.1/',
    'https://0.0.0.0/',
    'https://224.0.0.1/',
    'https://255.255.255.255/',
    'https://[::1]/',
    'https://[::]/',
    'https://[fe80::1]/',
    'https://[fc00::1]/',
    'https://[fd12:3456:789a::1]/',
    'https://[ff02::1]/',
    'https://[::ffff:127.0.0.1]/',
    'https://[::ffff:a9fe:a9fe]/',
  ])('refuses %s at registration, naming url', async (url) => {
    const response = await svc.admin('/v1/webhooks', { method: 'POST', body: { url } });
    expect(response.status).toBe(422);
    const body = (await response.json()) as { error: { details: Array<{ path: string; message: string }> } };
    expect(body.error.details.map((d) => d.path)).toEqual(['url']);
  });

  it('WEBHOOK_ALLOWED_HOSTS lets one internal host in, only on the listed port', async () => {
    const allowed = await startTestService({ WEBHOOK_ALLOWED_HOSTS: '127.0.0.1:8443, hooks.internal' });
    try {
      const register = (url: string) => allowed.admin('/v1/webhooks', { method: 'POST', body: { url } });
      expect((await register('https://127.0.0.1:8443/hook')).status).toBe(201);
      expect((await register('https://127.0.0.1:8444/hook')).status).toBe(422);
      expect((await register('https://127.0.0.1/hook')).status).toBe(422);
      // Listed without a port: any port, and not looked up (it need not resolve from here).
      expect((await register('https://hooks.internal:9443/x')).status).toBe(201);
      expect((await register('http://127.0.0.1:8443/hook')).status).toBe(422);
    } finally {
      await allowed.stop();
    }
  });

  it('shows a generic delivery error in the API; the reason (ECONNREFUSED) only in the log', async () => {
    const port = await closedPort();
    const allowed = await startTestService({ WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${port}` });
    try {
      const created = await allowed.admin('/v1/webhooks', {
        method: 'POST',
        body: { url: `https://127.0.0.1:${port}/hook` },
      });
      expect(created.status).toBe(201);
      const { patientId, device } = await alertingPatient(allowed);
      await breach(allowed, device.token);
      const alertId = await openAlertId(allowed, patientId);
      const deliveries = await deliveriesOf(allowed, alertId, (all) => all.some((d) => d.channel === 'webhook'));
      const webhook = deliveries.filter((d) => d.channel === 'webhook');
      expect(webhook.length).toBeGreaterThan(0);
      for (const attempt of webhook) {
        expect(attempt.error).toBe('delivery failed');
        expect(attempt.httpStatus).toBeNull();
      }
    } finally {
      await allowed.stop();
    }
  });

  it('refuses at connect time a stored webhook whose host is no longer allowed, by address or by name', async () => {
    const hook = await startWebhookReceiver();
    const port = Number(new URL(hook.url).port);
    const dataDir = await mkdtemp(path.join(tmpdir(), 'homewatch-webhook-guard-'));
    const caFile = path.join(mkdtempSync(path.join(tmpdir(), 'homewatch-ca-')), 'ca.pem');
    writeFileSync(caFile, hook.caPem);
    try {
      // Registered while allowed (as if the DNS answer was public then, or the list was longer)…
      let service = await startTestService(
        { WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${port},localhost:${port}`, OUTBOUND_CA_FILE: caFile },
        dataDir,
      );
      for (const url of [hook.url, `https://localhost:${port}/hook`]) {
        expect((await service.admin('/v1/webhooks', { method: 'POST', body: { url } })).status).toBe(201);
      }
      await service.stop();

      // …then the service runs without the allowance: neither is connected to, and neither is retried.
      service = await startTestService({ OUTBOUND_CA_FILE: caFile }, dataDir);
      try {
        const { patientId, device } = await alertingPatient(service);
        await breach(service, device.token);
        const alertId = await openAlertId(service, patientId);
        const deliveries = await deliveriesOf(
          service,
          alertId,
          (all) => all.filter((d) => d.channel === 'webhook' && d.status === 'failed').length === 2,
        );
        expect(deliveries.filter((d) => d.channel === 'webhook')).toEqual([
          expect.objectContaining({ status: 'failed', error: 'delivery failed' }),
          expect.objectContaining({ status: 'failed', error: 'delivery failed' }),
        ]);
        expect(hook.calls).toHaveLength(0);
      } finally {
        await service.stop();
      }
    } finally {
      await hook.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------------

describe('failed sign-ins slow the guesser down, never lock the user out (row 7)', () => {
  /**
   * `count` wrong passwords for `email` from `from`, each checked: a 429 is waited out (Retry-After) and
   * the guess sent again. Returns what the last wait asked for, in seconds.
   */
  async function failChecked(client: TestService, from: string, email: string, count: number, headers = {}) {
    let asked = 0;
    for (let checked = 0; checked < count; ) {
      const response = await loginFrom(client, from, email, `wrong-guess-${checked}`, headers);
      if (response.status === 429) {
        asked = Number(response.headers['retry-after']);
        await sleep(asked * 1000);
      } else {
        expect(response.status).toBe(401);
        checked++;
      }
    }
    return asked;
  }

  it('after many failures from address A, the right password from address B signs in at once; A is told to wait', async () => {
    const target = await svc.createClinician('nurse');
    await failChecked(svc, '127.0.0.2', target.email, 5);

    const fromB = await loginFrom(svc, '127.0.0.3', target.email, target.password);
    expect(fromB.status).toBe(200);

    const fromA = await loginFrom(svc, '127.0.0.2', target.email, target.password);
    expect(fromA.status).toBe(429);
    const retryAfter = Number(fromA.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
  });

  it('without TRUST_PROXY, X-Forwarded-For is ignored: a guesser cannot get a fresh count by sending one', async () => {
    const target = await svc.createClinician('nurse');
    await failChecked(svc, '127.0.0.4', target.email, 4, { 'x-forwarded-for': '198.51.100.1' });
    const response = await loginFrom(svc, '127.0.0.4', target.email, target.password, {
      'x-forwarded-for': '203.0.113.9',
    });
    expect(response.status).toBe(429);
  });

  it('with TRUST_PROXY=true, the right-most X-Forwarded-For entry is the client: different values, different counts', async () => {
    const proxied = await startTestService({ TRUST_PROXY: 'true' });
    try {
      const nurse = await proxied.createClinician('nurse');
      const login = (forwardedFor: string) =>
        loginFrom(proxied, '127.0.0.1', nurse.email, nurse.password, { 'x-forwarded-for': forwardedFor });
      await failChecked(proxied, '127.0.0.1', nurse.email, 4, { 'x-forwarded-for': '198.51.100.7' });
      expect((await login('198.51.100.7')).status).toBe(429);
      // Entries left of the right-most are the client's own say: prepending one changes nothing.
      expect((await login('203.0.113.1, 198.51.100.7')).status).toBe(429);
      expect((await login('198.51.100.8')).status).toBe(200);
    } finally {
      await proxied.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------------

describe('push subscriptions: not taken over, not unbounded (rows 9 and 10)', () => {
  async function nurseSignedIn() {
    const nurse = await svc.createClinician('nurse');
    return { ...nurse, token: await svc.login(nurse.email, nurse.password) };
  }
  const subscribe = (token: string, subscription: PushSubscriptionJSON) =>
    svc.request('/v1/push/subscriptions', token, { method: 'POST', body: subscription });
  const pushesFor = (alertId: string) =>
    receiver.messages.filter((m) => (m.payload as { alertId?: string } | null)?.alertId === alertId);

  it("another nurse posting a colleague's endpoint gets 409; the owner keeps getting her alerts", async () => {
    const owner = await nurseSignedIn();
    const other = await nurseSignedIn();
    const phone = receiver.subscribe('owner-phone');
    expect((await subscribe(owner.token, phone)).status).toBe(201);

    // The endpoint is known (it is only a URL); the browser's keys are not.
    const stolen = { ...receiver.subscribe('other-keys'), endpoint: phone.endpoint };
    const response = await subscribe(other.token, stolen);
    expect(response.status).toBe(409);

    const { patientId, device } = await alertingPatient(svc, [{ clinicianId: owner.id, role: 'primary_nurse' }]);
    await breach(svc, device.token);
    const alertId = await openAlertId(svc, patientId);
    const message = await receiver.waitFor(
      (m) => m.endpoint === phone.endpoint && (m.payload as { alertId?: string }).alertId === alertId,
      3_000,
    );
    expect(message.subscriptionName).toBe('owner-phone');
  });

  it('the same browser (same keys) signing in as the next nurse hands its subscription over to her', async () => {
    const first = await nurseSignedIn();
    const next = await nurseSignedIn();
    const tablet = receiver.subscribe('ward-tablet');
    expect((await subscribe(first.token, tablet)).status).toBe(201);
    expect((await subscribe(next.token, tablet)).status).toBe(201);

    const { patientId, device } = await alertingPatient(svc, [{ clinicianId: next.id, role: 'primary_nurse' }]);
    await breach(svc, device.token);
    const alertId = await openAlertId(svc, patientId);
    await receiver.waitFor((m) => m.endpoint === tablet.endpoint && pushesFor(alertId).includes(m), 3_000);
  });

  it('keeps at most 10 subscriptions per clinician, the newest: one alert makes at most 10 pushes', async () => {
    const nurse = await nurseSignedIn();
    const browsers = Array.from({ length: 13 }, (_, i) => receiver.subscribe(`browser-${i}`));
    for (const browser of browsers) expect((await subscribe(nurse.token, browser)).status).toBe(201);

    const { patientId, device } = await alertingPatient(svc, [{ clinicianId: nurse.id, role: 'primary_nurse' }]);
    await breach(svc, device.token);
    const alertId = await openAlertId(svc, patientId);
    await deliveriesOf(svc, alertId, (all) => all.filter((d) => d.status === 'delivered').length >= 10);
    await sleep(300);
    const reached = pushesFor(alertId).map((m) => m.subscriptionName);
    expect(reached.sort()).toEqual(
      browsers
        .slice(3)
        .map((_, i) => `browser-${i + 3}`)
        .sort(),
    );
  });
});

// ---------------------------------------------------------------------------------------------------

describe('passwords and disabled accounts (row 13)', () => {
  const createWith = (password: string) =>
    svc.admin('/v1/clinicians', {
      method: 'POST',
      body: { name: 'New Nurse', email: `new-${randomUUID()}@clinic.test`, role: 'nurse', password },
    });

  it.each([
    'password1234',
    'Password1234',
    '123456789012',
    'qwerty123456!',
    '!!!iloveyou2024',
    'aaaaaaaaaaaa',
    '############',
    'short-pass',
  ])('refuses the password %j, naming password', async (password) => {
    const response = await createWith(password);
    expect(response.status).toBe(422);
    const body = (await response.json()) as { error: { details: Array<{ path: string }> } };
    expect(body.error.details.map((d) => d.path)).toEqual(['password']);
  });

  it('accepts a long uncommon one', async () => {
    expect((await createWith('correct horse battery staple')).status).toBe(201);
  });

  it('PATCH {disabled: true} ends her sessions, refuses her sign-in and skips her in routing; false re-enables', async () => {
    const primary = await svc.createClinician('nurse');
    const backup = await svc.createClinician('nurse');
    const primaryToken = await svc.login(primary.email, primary.password);
    const backupToken = await svc.login(backup.email, backup.password);
    const primaryPhone = receiver.subscribe('disabled-primary-phone');
    const backupPhone = receiver.subscribe('backup-phone');
    expect(
      (await svc.request('/v1/push/subscriptions', primaryToken, { method: 'POST', body: primaryPhone })).status,
    ).toBe(201);
    expect(
      (await svc.request('/v1/push/subscriptions', backupToken, { method: 'POST', body: backupPhone })).status,
    ).toBe(201);
    const { patientId, device } = await alertingPatient(svc, [
      { clinicianId: primary.id, role: 'primary_nurse' },
      { clinicianId: backup.id, role: 'backup_nurse' },
    ]);

    // Only admins may disable.
    expect(
      (await svc.request(`/v1/clinicians/${primary.id}`, backupToken, { method: 'PATCH', body: { disabled: true } }))
        .status,
    ).toBe(403);
    const disabled = await svc.admin(`/v1/clinicians/${primary.id}`, { method: 'PATCH', body: { disabled: true } });
    expect(disabled.status).toBe(200);
    expect(await disabled.json()).toMatchObject({ id: primary.id, disabled: true });

    expect((await svc.request('/v1/auth/me', primaryToken)).status).toBe(401);
    expect((await svc.loginResponse(primary.email, primary.password)).status).toBe(401);

    // An alert goes past her at once to the backup nurse (escalation here takes an hour).
    await breach(svc, device.token);
    const alertId = await openAlertId(svc, patientId);
    await receiver.waitFor((m) => m.endpoint === backupPhone.endpoint && m.text!.includes(alertId), 3_000);
    expect(receiver.messages.filter((m) => m.endpoint === primaryPhone.endpoint)).toHaveLength(0);

    // Nor can she be put on a care team while disabled.
    const team = await svc.admin(`/v1/patients/${patientId}/care-team`, {
      method: 'PUT',
      body: { members: [{ clinicianId: primary.id, role: 'primary_nurse' }] },
    });
    expect(team.status).toBe(422);

    const enabled = await svc.admin(`/v1/clinicians/${primary.id}`, { method: 'PATCH', body: { disabled: false } });
    expect(enabled.status).toBe(200);
    expect(await enabled.json()).toMatchObject({ id: primary.id, disabled: false });
    // Her old session stays ended; she signs in again.
    expect((await svc.request('/v1/auth/me', primaryToken)).status).toBe(401);
    expect((await svc.loginResponse(primary.email, primary.password)).status).toBe(200);

    const { events } = (await (await svc.admin(`/v1/audit?actorId=admin-token`)).json()) as {
      events: Array<{ action: string; outcome: string }>;
    };
    expect(events.map((e) => e.action)).toEqual(expect.arrayContaining(['clinician.disable', 'clinician.enable']));

    expect(
      (await svc.admin(`/v1/clinicians/${randomUUID()}`, { method: 'PATCH', body: { disabled: true } })).status,
    ).toBe(404);
    expect(
      (await svc.admin(`/v1/clinicians/${primary.id}`, { method: 'PATCH', body: { disabled: 'yes' } })).status,
    ).toBe(422);
  });
});
