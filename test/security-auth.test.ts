import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPushReceiver, type PushReceiver } from './helpers/push-receiver.ts';
import { startTestService, type TestService } from './helpers/service.ts';

/**
 * The attacks of the security issue's sign-in, webhook, push and account rows, each against the real
 * service: an open redirect after sign-in, webhooks as a port scanner, sign-in lockouts of the real
 * user, stolen and unbounded push subscriptions, weak passwords and accounts that cannot be disabled.
 */

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
