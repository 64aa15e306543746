import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type ServiceClient, type TestClinician, type TestService } from './helpers/service.ts';
import type { presentAlert } from '../src/alerts/lifecycle.ts';

/**
 * The care-plan API (templates, overrides, versions, validation, who may change a plan) and the alerts
 * API (filters, order, pagination, acknowledge and resolve, scoping to the care team, audit), through
 * the real service.
 */

/** An alert as the API shows it. */
type AlertBody = ReturnType<typeof presentAlert>;

interface PlanBody {
  version: number;
  templates: string[];
  rules: Array<Record<string, unknown> & { id: string; template?: string }>;
  updatedAt: string | null;
  updatedBy: string | null;
}

interface ErrorBody {
  error: { code: string; message: string; details: Array<{ path: string; message: string }> };
}

const HOUR = 3_600_000;
const base = Date.now() - 10 * 24 * HOUR;
const spo2 = (hours: number, value: number) => ({ type: 'spo2', measuredAt: base + hours * HOUR, value });

const rule = (id: string, metric: string, when: Record<string, unknown>, severity = 'warning') => ({
  id,
  metric,
  when,
  severity,
  message: `${id} fired`,
});
const spo2Below = (id: string, value: number, severity = 'warning') =>
  rule(id, 'spo2', { kind: 'threshold', op: '<', value }, severity);

let svc: TestService;
let nurse: TestClinician;
let physician: TestClinician;
let otherNurse: TestClinician;
let otherPhysician: TestClinician;
const tokens = { nurse: '', physician: '', otherNurse: '', otherPhysician: '' };

beforeAll(async () => {
  svc = await startTestService();
  [nurse, physician, otherNurse, otherPhysician] = await Promise.all([
    svc.createClinician('nurse'),
    svc.createClinician('physician'),
    svc.createClinician('nurse'),
    svc.createClinician('physician'),
  ]);
  const [n, p, on, op] = await Promise.all(
    [nurse, physician, otherNurse, otherPhysician].map((c) => svc.login(c.email, c.password)),
  );
  Object.assign(tokens, { nurse: n, physician: p, otherNurse: on, otherPhysician: op });
});
afterAll(() => svc.stop());

/** A patient with a pulse oximeter, cared for by `nurse` and `physician` (or the other pair). */
async function teamPatient(team: 'ours' | 'theirs' = 'ours') {
  const device = await svc.provision('pulse_oximeter');
  const [n, p] = team === 'ours' ? [nurse, physician] : [otherNurse, otherPhysician];
  const response = await svc.admin(`/v1/patients/${device.patientId}/care-team`, {
    method: 'PUT',
    body: {
      members: [
        { clinicianId: n.id, role: 'primary_nurse' },
        { clinicianId: p.id, role: 'pcp' },
      ],
    },
  });
  expect(response.status).toBe(200);
  return device;
}

function putPlan(patientId: string, plan: unknown, token?: string) {
  const path = `/v1/patients/${patientId}/care-plan`;
  return token
    ? svc.request(path, token, { method: 'PUT', body: plan })
    : svc.admin(path, { method: 'PUT', body: plan });
}

async function setPlan(patientId: string, plan: unknown, token?: string): Promise<PlanBody> {
  const response = await putPlan(patientId, plan, token);
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as PlanBody;
}

async function getPlan(patientId: string): Promise<PlanBody> {
  const response = await svc.admin(`/v1/patients/${patientId}/care-plan`);
  expect(response.status).toBe(200);
  return (await response.json()) as PlanBody;
}

async function postOne(client: ServiceClient, token: string, reading: Record<string, unknown>) {
  const response = await client.postReadings(token, reading);
  expect(response.status).toBe(200);
}

async function listAlerts(query: string, token?: string): Promise<{ alerts: AlertBody[]; next?: string }> {
  const response = token ? await svc.request(`/v1/alerts${query}`, token) : await svc.admin(`/v1/alerts${query}`);
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as { alerts: AlertBody[]; next?: string };
}

async function expectError(response: Response, status: number, code: string): Promise<ErrorBody> {
  expect(response.status).toBe(status);
  const body = (await response.json()) as ErrorBody;
  expect(body.error.code).toBe(code);
  return body;
}

describe('care-plan API', () => {
  it('lists the templates, every rule with its source', async () => {
    const response = await svc.request('/v1/care-plan-templates', tokens.nurse);
    expect(response.status).toBe(200);
    const { templates } = (await response.json()) as {
      templates: Array<{ name: string; title: string; rules: Array<{ id: string; source: string }> }>;
    };
    expect(templates.map((t) => t.name).sort()).toEqual(['copd', 'heart-failure', 'hypertension']);
    const prefix: Record<string, string> = { 'heart-failure': 'hf-', hypertension: 'htn-', copd: 'copd-' };
    for (const template of templates) {
      expect(template.rules.length).toBeGreaterThan(0);
      for (const r of template.rules) {
        expect(r.id.startsWith(prefix[template.name]!)).toBe(true);
        expect(r.source.length).toBeGreaterThan(0);
      }
    }
  });

  it('expands templates; a per-patient rule with a template rule id overrides it; GET returns the same', async () => {
    const { patientId } = await teamPatient();
    expect(await getPlan(patientId)).toMatchObject({ version: 0, rules: [] });
    const templates = (
      (await (await svc.admin('/v1/care-plan-templates')).json()) as {
        templates: Array<{ name: string; rules: Array<{ id: string }> }>;
      }
    ).templates;
    const hf = templates.find((t) => t.name === 'heart-failure')!;
    const override = spo2Below('hf-spo2-low', 92);
    const own = rule('pulse-high', 'pulse', { kind: 'consecutive', op: '>', value: 110, count: 2 });

    const plan = await setPlan(patientId, { templates: ['heart-failure'], rules: [override, own] }, tokens.physician);
    expect(plan.version).toBe(1);
    expect(plan.templates).toEqual(['heart-failure']);
    expect(plan.rules.map((r) => r.id)).toEqual([...hf.rules.map((r) => r.id), 'pulse-high']);
    const byId = new Map(plan.rules.map((r) => [r.id, r]));
    expect(byId.get('hf-spo2-low')).toEqual(override); // the override wins, and is not marked as the template's
    expect(byId.get('pulse-high')).toEqual(own);
    for (const r of hf.rules.filter((r) => r.id !== 'hf-spo2-low')) {
      expect(byId.get(r.id)).toEqual({ ...r, template: 'heart-failure' });
    }
    expect(await getPlan(patientId)).toEqual(plan);

    // In force: 91 breaches the override (< 92) although the template says < 90.
    const { token } = await svc.provision('pulse_oximeter', patientId);
    await postOne(svc, token, spo2(0, 91));
    expect((await listAlerts(`?patientId=${patientId}`)).alerts).toMatchObject([
      { ruleId: 'hf-spo2-low', carePlanVersion: 1 },
    ]);
  });

  it('every PUT makes a new version; the versions say who changed the plan and when', async () => {
    const { patientId } = await teamPatient();
    const started = Date.now();
    const v1 = await setPlan(patientId, { rules: [spo2Below('spo2-low', 90)] });
    const v2 = await setPlan(patientId, { rules: [spo2Below('spo2-low', 88)] }, tokens.physician);
    const v3 = await setPlan(patientId, { templates: ['copd'], rules: [] }, tokens.physician);
    expect([v1.version, v2.version, v3.version]).toEqual([1, 2, 3]);
    expect(v1.updatedBy).toBe('admin-token');
    expect(v3.updatedBy).toBe(physician.id);

    const response = await svc.request(`/v1/patients/${patientId}/care-plan/versions`, tokens.nurse);
    expect(response.status).toBe(200);
    const { versions } = (await response.json()) as {
      versions: Array<{ version: number; updatedAt: string; updatedBy: string }>;
    };
    expect(versions.map((v) => [v.version, v.updatedBy])).toEqual([
      [3, physician.id],
      [2, physician.id],
      [1, 'admin-token'],
    ]);
    for (const v of versions) {
      expect(new Date(v.updatedAt).toISOString()).toBe(v.updatedAt);
      expect(Date.parse(v.updatedAt)).toBeGreaterThanOrEqual(started - 1000);
      expect(Date.parse(v.updatedAt)).toBeLessThanOrEqual(Date.now());
    }
    expect(versions[0]!.updatedAt >= versions[2]!.updatedAt).toBe(true);
    expect((await getPlan(patientId)).version).toBe(3);
  });

  describe('invalid plans are refused whole (422) with the path of each problem', () => {
    const good = spo2Below('spo2-low', 90);
    const cases: Array<[string, unknown, string[]]> = [
      ['unknown metric', { rules: [{ ...good, metric: 'temperature' }] }, ['rules.0.metric']],
      ['unknown kind', { rules: [{ ...good, when: { kind: 'trend', op: '<', value: 90 } }] }, ['rules.0.when.kind']],
      ['bad op', { rules: [{ ...good, when: { kind: 'threshold', op: '=>', value: 90 } }] }, ['rules.0.when.op']],
      [
        'duplicate ids',
        { rules: [good, { ...good, when: { kind: 'threshold', op: '<', value: 85 } }] },
        ['rules.1.id'],
      ],
      [
        'count 0',
        { rules: [{ ...good, when: { kind: 'consecutive', op: '<', value: 90, count: 0 } }] },
        ['rules.0.when.count'],
      ],
      [
        'negative count',
        { rules: [{ ...good, when: { kind: 'average', op: '<', value: 90, count: -3 } }] },
        ['rules.0.when.count'],
      ],
      [
        'window 0h',
        { rules: [rule('w', 'weight', { kind: 'change', op: '>=', value: 2, unit: 'lb', within: '0h' })] },
        ['rules.0.when.within'],
      ],
      [
        'window -1d',
        { rules: [rule('w', 'weight', { kind: 'change', op: '>=', value: 2, unit: 'lb', within: '-1d' })] },
        ['rules.0.when.within'],
      ],
      ['missing for 0s', { rules: [rule('w', 'weight', { kind: 'missing', for: '0s' })] }, ['rules.0.when.for']],
      ['unknown template', { templates: ['diabetes'], rules: [] }, ['templates.0']],
      [
        'weight in mmHg',
        { rules: [rule('w', 'weight', { kind: 'threshold', op: '>', value: 200, unit: 'mmHg' })] },
        ['rules.0.when.unit'],
      ],
      ['unknown severity', { rules: [{ ...good, severity: 'urgent' }] }, ['rules.0.severity']],
      [
        'several problems at once',
        {
          rules: [
            { ...good, metric: 'temperature' },
            rule('ok', 'spo2', { kind: 'threshold', op: '<', value: 88 }),
            { ...good, id: 'run', when: { kind: 'consecutive', op: '!=', value: 90, count: 0 } },
          ],
        },
        ['rules.0.metric', 'rules.2.when.op', 'rules.2.when.count'],
      ],
      [
        'an unknown template and a duplicate id',
        { templates: ['copd', 'nope'], rules: [good, good] },
        ['templates.1', 'rules.1.id'],
      ],
    ];

    let patientId: string;
    let token: string;
    let before: PlanBody;
    beforeAll(async () => {
      ({ patientId, token } = await teamPatient());
      before = await setPlan(patientId, { rules: [spo2Below('spo2-low', 90)] });
    });

    it.each(cases)('%s', async (_name, plan, paths) => {
      const body = await expectError(await putPlan(patientId, plan), 422, 'validation_failed');
      expect(body.error.details.map((d) => d.path).sort()).toEqual([...paths].sort());
      for (const detail of body.error.details) expect(detail.message.length).toBeGreaterThan(0);
      expect(await getPlan(patientId)).toEqual(before);
    });

    it('a refused PUT leaves the previous version in force', async () => {
      // Would lower the threshold to 85 if it were taken in part.
      const refused = await putPlan(patientId, {
        rules: [spo2Below('spo2-low', 85), { ...good, id: 'x', metric: 'temperature' }],
      });
      expect(refused.status).toBe(422);
      expect(await getPlan(patientId)).toEqual(before);
      const versions = (await (await svc.admin(`/v1/patients/${patientId}/care-plan/versions`)).json()) as {
        versions: unknown[];
      };
      expect(versions.versions).toHaveLength(1);
      await postOne(svc, token, spo2(0, 88)); // < 90 (in force), not < 85
      expect((await listAlerts(`?patientId=${patientId}`)).alerts).toMatchObject([
        { ruleId: 'spo2-low', carePlanVersion: before.version },
      ]);
    });

    it('a plan that fails several stages reports every problem at once', async () => {
      // An unknown template (found when expanding) and an unknown metric (found when parsing), in one PUT.
      const body = await expectError(
        await putPlan(patientId, { templates: ['nope'], rules: [{ ...good, metric: 'temperature' }] }),
        422,
        'validation_failed',
      );
      expect(body.error.details.map((d) => d.path).sort()).toEqual(['rules.0.metric', 'templates.0']);
    });
  });

  it('permissions: the team nurse reads but may not change (403); the team physician changes; others get 404', async () => {
    const { patientId } = await teamPatient();
    const plan = { rules: [spo2Below('spo2-low', 90)] };
    const path = `/v1/patients/${patientId}/care-plan`;

    await expectError(await svc.request(path, tokens.nurse, { method: 'PUT', body: plan }), 403, 'forbidden');
    expect((await getPlan(patientId)).version).toBe(0);
    const v1 = await setPlan(patientId, plan, tokens.physician);
    expect(v1).toMatchObject({ version: 1, updatedBy: physician.id });

    const asNurse = await svc.request(path, tokens.nurse);
    expect(asNurse.status).toBe(200);
    expect(await asNurse.json()).toEqual(v1);
    expect((await svc.request(`${path}/versions`, tokens.nurse)).status).toBe(200);

    for (const token of [tokens.otherPhysician, tokens.otherNurse]) {
      await expectError(await svc.request(path, token), 404, 'not_found');
      await expectError(await svc.request(`${path}/versions`, token), 404, 'not_found');
      await expectError(await svc.request(path, token, { method: 'PUT', body: plan }), 404, 'not_found');
    }
    expect((await getPlan(patientId)).version).toBe(1);
  });

  it('an alert records the care-plan version and the rule that opened it', async () => {
    const { patientId, token } = await teamPatient();
    await setPlan(patientId, { rules: [spo2Below('spo2-low', 90)] });
    await setPlan(patientId, { rules: [spo2Below('spo2-low', 90), spo2Below('spo2-critical', 85, 'critical')] });
    await postOne(svc, token, spo2(0, 88));
    let { alerts } = await listAlerts(`?patientId=${patientId}`);
    expect(alerts).toMatchObject([{ ruleId: 'spo2-low', carePlanVersion: 2, severity: 'warning' }]);

    await setPlan(patientId, { rules: [spo2Below('spo2-low', 91), spo2Below('spo2-critical', 85, 'critical')] });
    await postOne(svc, token, spo2(24, 84));
    ({ alerts } = await listAlerts(`?patientId=${patientId}`));
    expect(alerts.map((a) => [a.ruleId, a.carePlanVersion, a.count])).toEqual([
      ['spo2-critical', 3, 1],
      ['spo2-low', 2, 2], // updated under version 3, opened under version 2
    ]);
  });
});

describe('alerts API', () => {
  /** Five rules, each opened by its own reading, in this order. */
  const ladder = [
    spo2Below('lt-95', 95, 'info'),
    spo2Below('lt-94', 94, 'warning'),
    spo2Below('lt-93', 93, 'warning'),
    spo2Below('lt-92', 92, 'critical'),
    spo2Below('lt-91', 91, 'critical'),
  ];
  let ours: { patientId: string; token: string };
  let theirs: { patientId: string; token: string };
  let all: AlertBody[];

  beforeAll(async () => {
    ours = await teamPatient('ours');
    theirs = await teamPatient('theirs');
    await setPlan(ours.patientId, { rules: ladder });
    await setPlan(theirs.patientId, { rules: ladder });
    for (const [i, value] of [94, 93, 92, 91, 90].entries()) {
      await postOne(svc, ours.token, spo2(i * 24, value));
      await sleep(3); // distinct openedAt
    }
    await postOne(svc, theirs.token, spo2(0, 94));
    all = (await listAlerts(`?patientId=${ours.patientId}`)).alerts;
  });

  it('lists newest first', () => {
    expect(all.map((a) => a.ruleId)).toEqual(['lt-91', 'lt-92', 'lt-93', 'lt-94', 'lt-95']);
    for (let i = 1; i < all.length; i++)
      expect(Date.parse(all[i - 1]!.openedAt)).toBeGreaterThan(Date.parse(all[i]!.openedAt));
    expect(all.map((a) => a.count)).toEqual([1, 2, 3, 4, 5]);
  });

  it('pages with limit and next, without duplicates or gaps', async () => {
    const pages: string[][] = [];
    let query = `?patientId=${ours.patientId}&limit=2`;
    for (;;) {
      const page = await listAlerts(query);
      pages.push(page.alerts.map((a) => a.ruleId));
      if (!page.next) break;
      query = `?patientId=${ours.patientId}&limit=2&cursor=${page.next}`;
      expect(pages.length).toBeLessThan(5);
    }
    expect(pages).toEqual([['lt-91', 'lt-92'], ['lt-93', 'lt-94'], ['lt-95']]);
  });

  it('pages alerts opened by the same reading (same openedAt) without duplicates', async () => {
    const { patientId, token } = await teamPatient();
    await setPlan(patientId, { rules: ladder });
    await postOne(svc, token, spo2(0, 85)); // five alerts at once
    const seen: string[] = [];
    let query = `?patientId=${patientId}&limit=2`;
    let pages = 0;
    for (;;) {
      const page = await listAlerts(query);
      pages++;
      seen.push(...page.alerts.map((a) => a.id));
      if (!page.next) break;
      query = `?patientId=${patientId}&limit=2&cursor=${page.next}`;
      expect(pages).toBeLessThan(5);
    }
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(5);
    expect(seen).toEqual((await listAlerts(`?patientId=${patientId}`)).alerts.map((a) => a.id));
  });

  it('refuses a bad filter or cursor (422)', async () => {
    await expectError(await svc.admin('/v1/alerts?status=closed'), 422, 'validation_failed');
    await expectError(await svc.admin('/v1/alerts?severity=urgent'), 422, 'validation_failed');
    await expectError(await svc.admin('/v1/alerts?limit=0'), 422, 'validation_failed');
    await expectError(await svc.admin('/v1/alerts?cursor=not-a-cursor'), 422, 'validation_failed');
  });

  it('filters by severity, patient and status', async () => {
    expect((await listAlerts(`?patientId=${ours.patientId}&severity=critical`)).alerts.map((a) => a.ruleId)).toEqual([
      'lt-91',
      'lt-92',
    ]);
    expect((await listAlerts(`?patientId=${ours.patientId}&severity=info`)).alerts.map((a) => a.ruleId)).toEqual([
      'lt-95',
    ]);
    const theirsOnly = (await listAlerts(`?patientId=${theirs.patientId}`)).alerts;
    expect(theirsOnly.map((a) => [a.patientId, a.ruleId])).toEqual([[theirs.patientId, 'lt-95']]);

    const everyone = (await listAlerts('?limit=1000')).alerts;
    expect(everyone.filter((a) => a.patientId === ours.patientId).map((a) => a.id)).toEqual(all.map((a) => a.id));
    expect(everyone.some((a) => a.patientId === theirs.patientId)).toBe(true);

    const { patientId, token } = await teamPatient();
    await setPlan(patientId, { rules: ladder });
    await postOne(svc, token, spo2(0, 92)); // lt-95, lt-94, lt-93
    const [a1, a2] = (await listAlerts(`?patientId=${patientId}`)).alerts;
    expect((await svc.request(`/v1/alerts/${a1!.id}/acknowledge`, tokens.nurse, { method: 'POST' })).status).toBe(200);
    expect((await svc.request(`/v1/alerts/${a2!.id}/resolve`, tokens.nurse, { method: 'POST', body: {} })).status).toBe(
      200,
    );
    const byStatus = async (status: string) =>
      (await listAlerts(`?patientId=${patientId}&status=${status}`)).alerts.map((a) => a.id);
    expect(await byStatus('acknowledged')).toEqual([a1!.id]);
    expect(await byStatus('resolved')).toEqual([a2!.id]);
    expect(await byStatus('open')).toHaveLength(1);
    expect((await listAlerts(`?patientId=${patientId}&status=open&severity=critical`)).alerts).toEqual([]);
  });

  it('GET /v1/alerts/{id} returns the alert', async () => {
    const alert = all[0]!;
    const response = await svc.request(`/v1/alerts/${alert.id}`, tokens.nurse);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(alert);
    await expectError(await svc.admin('/v1/alerts/00000000-0000-4000-8000-000000000000'), 404, 'not_found');
  });

  it('acknowledge, twice, then resolve with a note; resolving again is a conflict', async () => {
    const { patientId, token } = await teamPatient();
    await setPlan(patientId, { rules: [spo2Below('spo2-low', 90)] });
    await postOne(svc, token, spo2(0, 88));
    const [alert] = (await listAlerts(`?patientId=${patientId}`)).alerts;

    const started = Date.now();
    const ack = await svc.request(`/v1/alerts/${alert!.id}/acknowledge`, tokens.nurse, { method: 'POST' });
    expect(ack.status).toBe(200);
    const acknowledged = (await ack.json()) as AlertBody;
    expect(acknowledged).toEqual({
      ...alert,
      status: 'acknowledged',
      acknowledgedBy: nurse.id,
      acknowledgedAt: expect.any(String),
    });
    expect(Date.parse(acknowledged.acknowledgedAt!)).toBeGreaterThanOrEqual(started - 5);
    expect(Date.parse(acknowledged.acknowledgedAt!)).toBeLessThanOrEqual(Date.now());

    await sleep(5);
    const again = await svc.request(`/v1/alerts/${alert!.id}/acknowledge`, tokens.physician, { method: 'POST' });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(acknowledged);

    const res = await svc.request(`/v1/alerts/${alert!.id}/resolve`, tokens.physician, {
      method: 'POST',
      body: { note: 'Called patient; probe on a cold finger, 95% on recheck.' },
    });
    expect(res.status).toBe(200);
    const resolved = (await res.json()) as AlertBody;
    expect(resolved).toEqual({
      ...acknowledged,
      status: 'resolved',
      resolvedBy: physician.id,
      resolvedAt: expect.any(String),
      note: 'Called patient; probe on a cold finger, 95% on recheck.',
    });
    expect(Date.parse(resolved.resolvedAt!)).toBeGreaterThanOrEqual(Date.parse(acknowledged.acknowledgedAt!));
    expect(await (await svc.request(`/v1/alerts/${alert!.id}`, tokens.nurse)).json()).toEqual(resolved);

    await expectError(
      await svc.request(`/v1/alerts/${alert!.id}/resolve`, tokens.nurse, { method: 'POST', body: { note: 'again' } }),
      409,
      'conflict',
    );
    await expectError(
      await svc.request(`/v1/alerts/${alert!.id}/acknowledge`, tokens.nurse, { method: 'POST' }),
      409,
      'conflict',
    );
    expect(await (await svc.request(`/v1/alerts/${alert!.id}`, tokens.nurse)).json()).toEqual(resolved);
  });

  it('resolving an unacknowledged alert, without a body, records the resolver as acknowledging it', async () => {
    const { patientId, token } = await teamPatient();
    await setPlan(patientId, { rules: [spo2Below('spo2-low', 90)] });
    await postOne(svc, token, spo2(0, 88));
    const [alert] = (await listAlerts(`?patientId=${patientId}`)).alerts;
    const res = await svc.request(`/v1/alerts/${alert!.id}/resolve`, tokens.nurse, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      status: 'resolved',
      acknowledgedBy: nurse.id,
      resolvedBy: nurse.id,
      note: null,
    });
  });

  it('a clinician off the care team cannot see, acknowledge or resolve the alert (404), nor list it', async () => {
    const alert = all.find((a) => a.ruleId === 'lt-93')!;
    for (const [method, suffix] of [
      ['GET', ''],
      ['POST', '/acknowledge'],
      ['POST', '/resolve'],
    ] as const) {
      const body = method === 'POST' && suffix === '/resolve' ? { note: 'not mine' } : undefined;
      await expectError(
        await svc.request(`/v1/alerts/${alert.id}${suffix}`, tokens.otherNurse, { method, body }),
        404,
        'not_found',
      );
    }
    expect(await (await svc.admin(`/v1/alerts/${alert.id}`)).json()).toMatchObject({
      status: 'open',
      acknowledgedBy: null,
      resolvedBy: null,
    });

    // Filtering by a patient they may not see is a 404, as every patient-scoped request.
    await expectError(await svc.request(`/v1/alerts?patientId=${ours.patientId}`, tokens.otherNurse), 404, 'not_found');
    const visible = (await listAlerts('?limit=1000', tokens.otherNurse)).alerts;
    expect(visible.length).toBeGreaterThan(0);
    expect(new Set(visible.map((a) => a.patientId))).toEqual(new Set([theirs.patientId]));

    const mine = (await listAlerts('?limit=1000', tokens.nurse)).alerts;
    expect(mine.some((a) => a.patientId === theirs.patientId)).toBe(false);
    expect(mine.filter((a) => a.patientId === ours.patientId)).toHaveLength(5);
  });

  it('acknowledge and resolve are audited, and so are refused attempts', async () => {
    const { patientId, token } = await teamPatient();
    await setPlan(patientId, { rules: [spo2Below('spo2-low', 90)] });
    await postOne(svc, token, spo2(0, 88));
    const [alert] = (await listAlerts(`?patientId=${patientId}`)).alerts;
    expect(
      (await svc.request(`/v1/alerts/${alert!.id}/acknowledge`, tokens.otherNurse, { method: 'POST' })).status,
    ).toBe(404);
    expect((await svc.request(`/v1/alerts/${alert!.id}/acknowledge`, tokens.nurse, { method: 'POST' })).status).toBe(
      200,
    );
    expect(
      (await svc.request(`/v1/alerts/${alert!.id}/resolve`, tokens.physician, { method: 'POST', body: { note: 'ok' } }))
        .status,
    ).toBe(200);

    type AuditEvent = { at: string; actorId: string; action: string; patientId: string | null; outcome: string };
    const events = async (actorId: string) =>
      ((await (await svc.admin(`/v1/audit?actorId=${actorId}`)).json()) as { events: AuditEvent[] }).events.filter(
        (e) => e.patientId === patientId,
      );
    expect(await events(nurse.id)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ actorId: nurse.id, action: 'alert.acknowledge', patientId, outcome: 'success' }),
      ]),
    );
    expect(await events(physician.id)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ actorId: physician.id, action: 'alert.resolve', patientId, outcome: 'success' }),
      ]),
    );
    expect(await events(otherNurse.id)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ actorId: otherNurse.id, action: 'alert.acknowledge', patientId, outcome: 'denied' }),
      ]),
    );
  });
});
