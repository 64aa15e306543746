import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestService, type TestClinician, type TestService } from './helpers/service.ts';

/**
 * What the web app reads besides the contract's endpoints (GET /v1/inbox, GET /v1/patients-summary) and
 * how its pages guard themselves, over real HTTP against the real service. The browser suite
 * (web.browser.test.ts) drives the same through Chromium.
 */

const DAY = 86_400_000;

interface InboxAlert {
  id: string;
  patientId: string;
  ruleId: string;
  severity: string;
  status: string;
  patient: { id: string; name: string | null };
  acknowledgedByName: string | null;
  resolvedByName: string | null;
  notified: Array<{ clinicianId: string; name: string | null }>;
  escalation: { state: string; next: Array<{ name: string; role: string }> } | null;
}
interface Summary {
  id: string;
  name: string;
  status: string;
  statusUntil: string | null;
  lastReadingAt: string | null;
  openAlerts: Record<string, number>;
  acknowledgedAlerts: Record<string, number>;
  adherenceDays: number;
  adherenceLow: boolean;
  adherence: { days: number; windowDays: number; from: string; to: string; low: boolean };
}

let svc: TestService;
let nurse: TestClinician;
let otherNurse: TestClinician;
let nurseToken: string;
let otherToken: string;
let deviceToken: string;
let ours: string;
let theirs: string;

const spo2Rule = (id: string, value: number, severity: string) => ({
  id,
  metric: 'spo2',
  when: { kind: 'threshold', op: '<', value },
  severity,
  message: `SpO2 below ${value}%. Recheck at rest.`,
});

beforeAll(async () => {
  svc = await startTestService();
  [nurse, otherNurse] = await Promise.all([
    svc.createClinician('nurse', { name: 'Nora Quinn' }),
    svc.createClinician('nurse'),
  ]);
  [nurseToken, otherToken] = await Promise.all([
    svc.login(nurse.email, nurse.password),
    svc.login(otherNurse.email, otherNurse.password),
  ]);

  const device = await svc.provision('pulse_oximeter');
  ours = device.patientId;
  deviceToken = device.token;
  theirs = await svc.createPatient('Someone Else');
  for (const [patientId, clinician] of [
    [ours, nurse],
    [theirs, otherNurse],
  ] as const) {
    const response = await svc.admin(`/v1/patients/${patientId}/care-team`, {
      method: 'PUT',
      body: { members: [{ clinicianId: clinician.id, role: 'primary_nurse' }] },
    });
    expect(response.status).toBe(200);
  }
  const plan = await svc.admin(`/v1/patients/${ours}/care-plan`, {
    method: 'PUT',
    body: {
      rules: [
        spo2Rule('spo2-info', 97, 'info'),
        spo2Rule('spo2-warning', 92, 'warning'),
        spo2Rule('spo2-critical', 88, 'critical'),
      ],
    },
  });
  expect(plan.status).toBe(200);

  // Readings on 10 of the last 30 days (UTC patient), the last one breaching all three rules.
  const now = Date.now();
  const readings = Array.from({ length: 10 }, (_, i) => ({
    type: 'spo2',
    measuredAt: now - (9 - i) * 3 * DAY - 60_000,
    value: i === 9 ? 86 : 98,
  }));
  expect((await svc.postReadings(deviceToken, { readings })).status).toBe(200);
});
afterAll(() => svc.stop());

describe('GET /v1/inbox', () => {
  it('lists unresolved alerts most severe first, with the patient and who acted on them', async () => {
    const alerts = (await (await svc.request(`/v1/alerts?patientId=${ours}`, nurseToken)).json()) as {
      alerts: Array<{ id: string; ruleId: string }>;
    };
    const warning = alerts.alerts.find((a) => a.ruleId === 'spo2-warning')!;
    expect((await svc.request(`/v1/alerts/${warning.id}/acknowledge`, nurseToken, { method: 'POST' })).status).toBe(
      200,
    );

    const response = await svc.request('/v1/inbox', nurseToken);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { alerts: InboxAlert[] };
    expect(body.alerts.map((a) => [a.ruleId, a.status])).toEqual([
      ['spo2-critical', 'open'],
      ['spo2-info', 'open'],
      ['spo2-warning', 'acknowledged'],
    ]);
    expect(body.alerts[0]!.patient).toEqual({ id: ours, name: 'Test Patient' });
    expect(body.alerts[2]!.acknowledgedByName).toBe('Nora Quinn');
    // Nobody has a push subscription: the critical alert reached nobody (or is still being routed).
    expect(body.alerts[0]!.notified).toEqual([]);
  });

  it('adds the latest resolved alerts after the unresolved ones', async () => {
    const { alerts } = (await (await svc.request('/v1/inbox', nurseToken)).json()) as { alerts: InboxAlert[] };
    const info = alerts.find((a) => a.ruleId === 'spo2-info')!;
    expect(
      (await svc.request(`/v1/alerts/${info.id}/resolve`, nurseToken, { method: 'POST', body: { note: 'fine' } }))
        .status,
    ).toBe(200);
    const after = (await (await svc.request('/v1/inbox?resolved=5', nurseToken)).json()) as { alerts: InboxAlert[] };
    expect(after.alerts.at(-1)).toMatchObject({ id: info.id, status: 'resolved', resolvedByName: 'Nora Quinn' });
    const none = (await (await svc.request('/v1/inbox?resolved=0', nurseToken)).json()) as { alerts: InboxAlert[] };
    expect(none.alerts.some((a) => a.status === 'resolved')).toBe(false);
  });

  it('shows each clinician only their care team, and answers 404 for anyone else’s patient', async () => {
    const other = (await (await svc.request('/v1/inbox', otherToken)).json()) as { alerts: InboxAlert[] };
    expect(other.alerts).toEqual([]);
    expect((await svc.request(`/v1/inbox?patientId=${ours}`, otherToken)).status).toBe(404);
    expect((await svc.request(`/v1/inbox?patientId=${ours}`, nurseToken)).status).toBe(200);
    expect((await svc.request('/v1/inbox', undefined)).status).toBe(401);
    expect((await svc.request('/v1/inbox', deviceToken)).status).toBe(403);
  });
});

describe('GET /v1/patients-summary', () => {
  it('gives the last reading, open alerts by severity and adherence over 30 days', async () => {
    const response = await svc.request('/v1/patients-summary', nurseToken);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { adherenceMinimumDays: number; patients: Summary[] };
    expect(body.adherenceMinimumDays).toBe(16);
    expect(body.patients.map((p) => p.id)).toEqual([ours]);
    const [patient] = body.patients;
    expect(patient!.adherenceDays).toBe(10);
    expect(patient!.adherenceLow).toBe(true);
    expect(patient!.adherence).toMatchObject({ days: 10, windowDays: 30, low: true });
    expect(Date.now() - Date.parse(patient!.lastReadingAt!)).toBeLessThan(5 * 60_000);
    expect(patient!.openAlerts).toEqual({ critical: 1, warning: 0, info: 0 });
    expect(patient!.acknowledgedAlerts).toEqual({ critical: 0, warning: 1, info: 0 });
  });

  it('says whether each patient is monitored, paused (until when) or discharged', async () => {
    const summary = async (query = '') =>
      ((await (await svc.admin(`/v1/patients-summary${query}`)).json()) as { patients: Summary[] }).patients.find(
        (p) => p.id === theirs,
      );
    expect(await summary()).toMatchObject({ status: 'active', statusUntil: null });
    const until = new Date(Date.now() + 3 * DAY).toISOString();
    const pause = await svc.admin(`/v1/patients/${theirs}`, {
      method: 'PATCH',
      body: { status: 'paused', until, reason: 'In hospital' },
    });
    expect(pause.status).toBe(200);
    expect(await summary()).toMatchObject({ status: 'paused', statusUntil: until });
    // Discharged patients leave the summary, as they leave the patient list, unless asked for (status=all).
    await svc.admin(`/v1/patients/${theirs}`, { method: 'PATCH', body: { status: 'discharged' } });
    expect(await summary()).toBeUndefined();
    expect(await summary('?status=all')).toMatchObject({ status: 'discharged', statusUntil: null });
    await svc.admin(`/v1/patients/${theirs}`, { method: 'PATCH', body: { status: 'active' } });
  });

  it('is scoped and audited like other patient reads', async () => {
    expect((await svc.request(`/v1/patients-summary?patientId=${ours}`, otherToken)).status).toBe(404);
    const admin = (await (await svc.admin('/v1/patients-summary')).json()) as { patients: Summary[] };
    expect(admin.patients.map((p) => p.id).sort()).toEqual([ours, theirs].sort());
    expect(admin.patients.find((p) => p.id === theirs)).toMatchObject({
      lastReadingAt: null,
      adherenceDays: 0,
      adherenceLow: true,
    });
    const audit = (await (await svc.admin(`/v1/audit?actorId=${otherNurse.id}`)).json()) as {
      events: Array<{ action: string; patientId: string; outcome: string }>;
    };
    expect(audit.events).toContainEqual(
      expect.objectContaining({ action: 'patients.summary', patientId: ours, outcome: 'denied' }),
    );
  });
});

describe('web pages', () => {
  it('sends visitors to sign in, remembering where they were going, and says when a session ended', async () => {
    const page = await fetch(`${svc.url}/patients/${ours}?x=1`, { redirect: 'manual' });
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toBe(`/login?next=${encodeURIComponent(`/patients/${ours}?x=1`)}`);
    const stale = await fetch(`${svc.url}/`, {
      redirect: 'manual',
      headers: { cookie: 'homewatch_session=hws_revoked' },
    });
    expect(stale.headers.get('location')).toBe('/login?next=%2F&expired=1');
    expect(await (await fetch(`${svc.url}/login?expired=1`)).text()).toContain('Your session ended');
  });

  it('answers 404 for a patient outside the care team and 403 for a device token', async () => {
    const cookie = (token: string) => ({ headers: { cookie: `homewatch_session=${token}` } });
    expect((await fetch(`${svc.url}/patients/${ours}`, cookie(nurseToken))).status).toBe(200);
    const refused = await fetch(`${svc.url}/patients/${ours}`, cookie(otherToken));
    expect(refused.status).toBe(404);
    expect(await refused.text()).not.toContain('Test Patient');
    expect((await fetch(`${svc.url}/`, { headers: { authorization: `Bearer ${deviceToken}` } })).status).toBe(403);
  });

  it('marks the care plan editable only for a physician on the team or an admin', async () => {
    const physician = await svc.createClinician('physician');
    const token = await svc.login(physician.email, physician.password);
    const editable = async (t: string) =>
      /data-can-edit-plan="(\w+)"/.exec(
        await (await fetch(`${svc.url}/patients/${ours}`, { headers: { cookie: `homewatch_session=${t}` } })).text(),
      )?.[1];
    expect(await editable(nurseToken)).toBe('false');
    expect(
      await svc.admin(`/v1/patients/${ours}/care-team`, {
        method: 'PUT',
        body: {
          members: [
            { clinicianId: nurse.id, role: 'primary_nurse' },
            { clinicianId: physician.id, role: 'pcp' },
          ],
        },
      }),
    ).toHaveProperty('status', 200);
    expect(await editable(token)).toBe('true');
  });

  it('tells each page who is signed in, and who may change a patient’s monitoring status', async () => {
    const html = await (
      await fetch(`${svc.url}/patients/${ours}`, { headers: { cookie: `homewatch_session=${nurseToken}` } })
    ).text();
    expect(html).toContain(`data-user-id="${nurse.id}"`);
    expect(html).toContain('data-user-role="nurse"');
    // Anyone on the care team may pause or discharge (PATCH /v1/patients/:id), as may an admin.
    expect(html).toContain('data-can-change-status="true"');
    const admin = await (
      await fetch(`${svc.url}/patients/${ours}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    ).text();
    expect(admin).toContain('data-can-change-status="true"');
    expect(admin).toContain('data-user-id="admin-token"');
  });

  it('serves the settings page to clinicians and the on-call rota to administrators only', async () => {
    const asNurse = { headers: { cookie: `homewatch_session=${nurseToken}` } };
    const asAdmin = { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } };
    const settings = await fetch(`${svc.url}/settings`, asNurse);
    expect(settings.status).toBe(200);
    const settingsHtml = await settings.text();
    expect(settingsHtml).toContain('Away periods');
    expect(settingsHtml).toMatch(/src="\/assets\/settings\.js\?v=[0-9a-f]+"/);
    // The admin token is no clinician: it has no away periods of its own.
    expect(await (await fetch(`${svc.url}/settings`, asAdmin)).text()).toContain('No settings for the admin token');

    const refused = await fetch(`${svc.url}/on-call`, asNurse);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-security-policy')).toContain("default-src 'none'");
    const rota = await fetch(`${svc.url}/on-call`, asAdmin);
    expect(rota.status).toBe(200);
    expect(await rota.text()).toMatch(/src="\/assets\/on-call\.js\?v=[0-9a-f]+"/);
    // Only administrators see the rota in the header.
    expect(settingsHtml).not.toContain('href="/on-call"');
    expect(await (await fetch(`${svc.url}/`, asAdmin)).text()).toContain('href="/on-call"');
    expect((await fetch(`${svc.url}/settings`, { redirect: 'manual' })).status).toBe(302);
  });

  it('never lets sign-in send the browser to another site', async () => {
    for (const next of ['//evil.example/x', '/\\evil.example', 'https://evil.example']) {
      const html = await (await fetch(`${svc.url}/login?next=${encodeURIComponent(next)}`)).text();
      expect(html).toContain('data-next="/"');
    }
  });

  it('serves the assets with their content type, and a year of caching only with the right hash', async () => {
    const html = await (await fetch(`${svc.url}/login`)).text();
    const script = /src="(\/assets\/common\.js\?v=([0-9a-f]+))"/.exec(html)!;
    const current = await fetch(svc.url + script[1]);
    expect(current.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(current.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await fetch(`${svc.url}/assets/common.js?v=0000000000`)).headers.get('cache-control')).toBe('no-cache');
    expect((await fetch(`${svc.url}/assets/uplot.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await fetch(`${svc.url}/assets/nothing.js`)).status).toBe(404);
    expect(
      (await fetch(`${svc.url}/assets/common.js`, { headers: { 'if-none-match': `"${script[2]}"` } })).status,
    ).toBe(304);
  });
});
