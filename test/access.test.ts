import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestService, type TestClinician, type TestService } from './helpers/service.ts';

/**
 * Who may call what, against the real service: the role matrix, care-team scoping (404 + audit for
 * anyone off the team), session tokens (unknown, tampered, `alg: none`, expired, idle, revoked, cookie),
 * sign-in throttling, and strict request bodies.
 */

const WHO = [
  'admin token',
  'admin clinician',
  'nurse on team',
  'physician on team',
  'nurse off team',
  'device',
  'no token',
] as const;
type Who = (typeof WHO)[number];

const ERROR_CODE: Record<number, string> = {
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  422: 'validation_failed',
  429: 'rate_limited',
};

type AuditEvent = { at: string; actorId: string | null; action: string; patientId: string | null; outcome: string };

const bpReading = () => ({
  type: 'blood_pressure',
  systolic: 121,
  diastolic: 79,
  measuredAt: new Date().toISOString(),
});
const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

let svc: TestService;
let admin: TestClinician;
let nurse: TestClinician;
let physician: TestClinician;
let outsider: TestClinician;
let nurse2: TestClinician;
let rateTarget: TestClinician;
let rateOther: TestClinician;
let patientId: string;
let deviceId: string;
let spareDeviceId: string;
const tokens = {} as Record<Who, string | undefined>;

const team = () => ({
  members: [
    { clinicianId: nurse.id, role: 'primary_nurse' },
    { clinicianId: physician.id, role: 'pcp' },
  ],
});

async function auditEvents(query: string): Promise<AuditEvent[]> {
  const response = await svc.admin(`/v1/audit${query}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { events: AuditEvent[] }).events;
}

/** The events recorded since `before` was read (the list is newest first). */
async function newEvents(query: string, before: AuditEvent[]): Promise<AuditEvent[]> {
  const after = await auditEvents(query);
  return after.slice(0, after.length - before.length);
}

async function expectError(response: Response, status: number, detailPaths?: string[]) {
  expect(response.status).toBe(status);
  const body = (await response.json()) as {
    error: { code: string; message: string; details: Array<{ path: string; message: string }> };
  };
  expect(body).toEqual({
    error: { code: ERROR_CODE[status], message: expect.any(String), details: expect.any(Array) },
  });
  expect(body.error.message.length).toBeGreaterThan(0);
  if (status === 401) expect(response.headers.get('www-authenticate')).toBe('Bearer');
  if (detailPaths) expect(body.error.details.map((d) => d.path)).toEqual(expect.arrayContaining(detailPaths));
  return body;
}

beforeAll(async () => {
  svc = await startTestService();
  [admin, nurse, physician, outsider, nurse2, rateTarget, rateOther] = await Promise.all([
    svc.createClinician('admin'),
    svc.createClinician('nurse'),
    svc.createClinician('physician'),
    svc.createClinician('nurse'),
    svc.createClinician('nurse'),
    svc.createClinician('nurse'),
    svc.createClinician('physician'),
  ]);
  const device = await svc.provision('bp_monitor');
  patientId = device.patientId;
  deviceId = device.deviceId;
  spareDeviceId = (await svc.provision('scale', patientId)).deviceId;
  expect((await svc.admin(`/v1/patients/${patientId}/care-team`, { method: 'PUT', body: team() })).status).toBe(200);
  // The outsider is on another patient's team: a nurse with patients, just not this one.
  const otherPatient = await svc.createPatient('Someone Else');
  expect(
    (
      await svc.admin(`/v1/patients/${otherPatient}/care-team`, {
        method: 'PUT',
        body: { members: [{ clinicianId: outsider.id, role: 'primary_nurse' }] },
      })
    ).status,
  ).toBe(200);
  const [adminToken, nurseToken, physicianToken, outsiderToken] = await Promise.all(
    [admin, nurse, physician, outsider].map((c) => svc.login(c.email, c.password)),
  );
  Object.assign(tokens, {
    'admin token': ADMIN_TOKEN,
    'admin clinician': adminToken,
    'nurse on team': nurseToken,
    'physician on team': physicianToken,
    'nurse off team': outsiderToken,
    device: device.token,
    'no token': undefined,
  });
}, 60_000);

afterAll(() => svc?.stop());

// ---------------------------------------------------------------------------------------------------

interface Endpoint {
  name: string;
  method: string;
  path: () => string;
  body?: () => unknown;
  expect: Record<Who, number>;
  /** Extra checks on a successful answer. */
  check?: (body: any) => void;
}

const adminOnly = (ok: number): Record<Who, number> => ({
  'admin token': ok,
  'admin clinician': ok,
  'nurse on team': 403,
  'physician on team': 403,
  'nurse off team': 403,
  device: 403,
  'no token': 401,
});
const patientScoped: Record<Who, number> = {
  'admin token': 200,
  'admin clinician': 200,
  'nurse on team': 200,
  'physician on team': 200,
  'nurse off team': 404,
  device: 403,
  'no token': 401,
};
const anyClinician: Record<Who, number> = { ...patientScoped, 'nurse off team': 200 };

const ENDPOINTS: Endpoint[] = [
  {
    name: 'POST /v1/clinicians',
    method: 'POST',
    path: () => '/v1/clinicians',
    body: () => ({
      name: 'New Nurse',
      email: `new-${randomUUID()}@clinic.test`,
      role: 'nurse',
      password: 'a-long-enough-password',
    }),
    expect: adminOnly(201),
    check: (body) => expect(Object.keys(body).sort()).toEqual(['email', 'id', 'name', 'role']),
  },
  {
    name: 'GET /v1/clinicians',
    method: 'GET',
    path: () => '/v1/clinicians',
    expect: adminOnly(200),
    check: (body) => {
      expect(body.clinicians.map((c: { id: string }) => c.id)).toEqual(
        expect.arrayContaining([nurse.id, physician.id]),
      );
      expect(JSON.stringify(body)).not.toMatch(/password|scrypt/i);
    },
  },
  {
    name: 'POST /v1/patients',
    method: 'POST',
    path: () => '/v1/patients',
    body: () => ({ name: 'Matrix Patient' }),
    expect: adminOnly(201),
  },
  { name: 'GET /v1/patients', method: 'GET', path: () => '/v1/patients', expect: anyClinician },
  {
    name: 'GET /v1/patients/:id',
    method: 'GET',
    path: () => `/v1/patients/${patientId}`,
    expect: patientScoped,
    check: (body) => expect(body.id).toBe(patientId),
  },
  {
    name: 'GET /v1/patients/:id/readings',
    method: 'GET',
    path: () => `/v1/patients/${patientId}/readings`,
    expect: patientScoped,
    check: (body) => expect(body.readings).toEqual(expect.any(Array)),
  },
  {
    name: 'GET /v1/patients/:id/devices',
    method: 'GET',
    path: () => `/v1/patients/${patientId}/devices`,
    expect: patientScoped,
    check: (body) => expect(JSON.stringify(body)).not.toMatch(/hwd_|token/i),
  },
  {
    name: 'GET /v1/patients/:id/care-team',
    method: 'GET',
    path: () => `/v1/patients/${patientId}/care-team`,
    expect: patientScoped,
    check: (body) => expect(body.members).toHaveLength(2),
  },
  {
    name: 'PUT /v1/patients/:id/care-team',
    method: 'PUT',
    path: () => `/v1/patients/${patientId}/care-team`,
    body: team,
    expect: adminOnly(200),
    check: (body) => expect(body.members).toHaveLength(2),
  },
  {
    name: 'POST /v1/devices',
    method: 'POST',
    path: () => '/v1/devices',
    body: () => ({ kind: 'scale' }),
    expect: adminOnly(201),
    check: (body) => expect(body.token).toMatch(/^hwd_/),
  },
  { name: 'GET /v1/devices', method: 'GET', path: () => '/v1/devices', expect: adminOnly(200) },
  { name: 'GET /v1/devices/:id', method: 'GET', path: () => `/v1/devices/${deviceId}`, expect: adminOnly(200) },
  {
    name: 'PUT /v1/devices/:id/patient',
    method: 'PUT',
    path: () => `/v1/devices/${deviceId}/patient`,
    body: () => ({ patientId }),
    expect: adminOnly(200),
    check: (body) => expect(body.patientId).toBe(patientId),
  },
  {
    name: 'POST /v1/devices/:id/token',
    method: 'POST',
    path: () => `/v1/devices/${spareDeviceId}/token`,
    expect: adminOnly(200),
  },
  {
    name: 'GET /v1/devices/:id/rejections',
    method: 'GET',
    path: () => `/v1/devices/${deviceId}/rejections`,
    expect: adminOnly(200),
    check: (body) => expect(body.rejections).toEqual(expect.any(Array)),
  },
  {
    name: 'GET /v1/audit',
    method: 'GET',
    path: () => '/v1/audit',
    expect: adminOnly(200),
    check: (body) => expect(body.events.length).toBeGreaterThan(0),
  },
  {
    name: 'GET /v1/audit/verify',
    method: 'GET',
    path: () => '/v1/audit/verify',
    expect: adminOnly(200),
    check: (body) => expect(body.ok).toBe(true),
  },
  { name: 'GET /v1/auth/me', method: 'GET', path: () => '/v1/auth/me', expect: anyClinician },
  {
    name: 'POST /v1/readings',
    method: 'POST',
    path: () => '/v1/readings',
    body: bpReading,
    expect: {
      'admin token': 403,
      'admin clinician': 403,
      'nurse on team': 403,
      'physician on team': 403,
      'nurse off team': 403,
      device: 200,
      'no token': 401,
    },
  },
];

describe('role matrix', () => {
  const cases = ENDPOINTS.flatMap((endpoint) =>
    WHO.map((who) => ({ endpoint, who, status: endpoint.expect[who], label: endpoint.name })),
  );

  it.each(cases)('$who: $label → $status', async ({ endpoint, who, status }) => {
    const response = await svc.request(endpoint.path(), tokens[who], {
      method: endpoint.method,
      body: endpoint.body?.(),
    });
    if (status >= 400) {
      await expectError(response, status);
    } else {
      expect(response.status, await response.clone().text()).toBe(status);
      endpoint.check?.(await response.json());
    }
  });
});

// ---------------------------------------------------------------------------------------------------

const PATIENT_READS = [
  { action: 'patient.read', suffix: '' },
  { action: 'readings.read', suffix: '/readings' },
  { action: 'readings.read', suffix: '/readings?type=blood_pressure&bucket=1d' },
  { action: 'devices.read', suffix: '/devices' },
  { action: 'care_team.read', suffix: '/care-team' },
];

describe('care-team scoping', () => {
  it("a nurse probing another team's patient gets the same 404 as for a made-up id, and every probe is audited as denied", async () => {
    const before = await auditEvents(`?actorId=${outsider.id}`);
    const ghost = randomUUID();
    for (const { suffix } of PATIENT_READS) {
      const real = await svc.request(`/v1/patients/${patientId}${suffix}`, tokens['nurse off team']);
      const made = await svc.request(`/v1/patients/${ghost}${suffix}`, tokens['nurse off team']);
      const realBody = await expectError(real, 404);
      expect(await made.json()).toEqual(realBody);
      expect(made.status).toBe(404);
      expect(real.headers.get('content-type')).toBe(made.headers.get('content-type'));
    }
    // PUT care-team is admin-only: 403 whether the patient exists or not, so it tells nothing either.
    const put = await svc.request(`/v1/patients/${patientId}/care-team`, tokens['nurse off team'], {
      method: 'PUT',
      body: team(),
    });
    const putGhost = await svc.request(`/v1/patients/${ghost}/care-team`, tokens['nurse off team'], {
      method: 'PUT',
      body: team(),
    });
    expect(await expectError(put, 403)).toEqual(await expectError(putGhost, 403));

    const fresh = await newEvents(`?actorId=${outsider.id}`, before);
    // The two refused PUTs are audited as well, naming the patient asked for, whether it exists or not.
    const refused = fresh.filter((e) => e.action === 'forbidden PUT /v1/patients/:id/care-team');
    expect(refused.map((e) => [e.patientId, e.outcome]).sort()).toEqual(
      [
        [patientId, 'denied'],
        [ghost, 'denied'],
      ].sort(),
    );
    const probes = fresh.filter((e) => e.action !== 'care_team.update' && !refused.includes(e));
    expect(probes).toHaveLength(PATIENT_READS.length * 2);
    for (const { action } of PATIENT_READS) {
      for (const id of [patientId, ghost]) {
        expect(probes).toContainEqual({
          at: expect.any(String),
          requestId: expect.any(String),
          actorId: outsider.id,
          action,
          patientId: id,
          outcome: 'denied',
        });
      }
    }
    expect(probes.every((e) => e.outcome === 'denied' && e.actorId === outsider.id)).toBe(true);
  });

  it("GET /v1/patients lists only the caller's team's patients; off the team, the patient disappears and answers 404", async () => {
    const second = await svc.createPatient('Second Patient');
    const setTeam = (members: unknown[]) =>
      svc.admin(`/v1/patients/${second}/care-team`, { method: 'PUT', body: { members } });
    const listed = async (who: Who) => {
      const response = await svc.request('/v1/patients', tokens[who]);
      expect(response.status).toBe(200);
      return ((await response.json()) as { patients: Array<{ id: string }> }).patients.map((p) => p.id);
    };

    expect((await setTeam([{ clinicianId: nurse.id, role: 'primary_nurse' }])).status).toBe(200);
    expect(await listed('nurse on team')).toEqual([patientId, second]);
    expect(await listed('physician on team')).toEqual([patientId]);
    expect(await listed('nurse off team')).not.toContain(patientId);
    expect(await listed('nurse off team')).not.toContain(second);
    expect(await listed('admin clinician')).toEqual(expect.arrayContaining([patientId, second]));
    expect((await svc.request(`/v1/patients/${second}/readings`, tokens['nurse on team'])).status).toBe(200);

    // The admin takes the nurse off the team.
    expect((await setTeam([{ clinicianId: physician.id, role: 'pcp' }])).status).toBe(200);
    expect(await listed('nurse on team')).toEqual([patientId]);
    expect(await listed('physician on team')).toEqual([patientId, second]);
    for (const { suffix } of PATIENT_READS) {
      await expectError(await svc.request(`/v1/patients/${second}${suffix}`, tokens['nurse on team']), 404);
    }
  });

  it('allowed reads are audited as success with the action; a refused query as failure', async () => {
    for (const { action, suffix } of PATIENT_READS) {
      const response = await svc.request(`/v1/patients/${patientId}${suffix}`, tokens['nurse on team']);
      expect(response.status).toBe(200);
      const [latest] = await auditEvents(`?actorId=${nurse.id}`);
      expect(latest).toMatchObject({ actorId: nurse.id, action, patientId, outcome: 'success' });
    }
    const bad = await svc.request(`/v1/patients/${patientId}/readings?limit=0`, tokens['nurse on team']);
    await expectError(bad, 422, ['limit']);
    expect((await auditEvents(`?actorId=${nurse.id}`))[0]).toMatchObject({
      action: 'readings.read',
      patientId,
      outcome: 'failure',
    });

    const put = await svc.request(`/v1/patients/${patientId}/care-team`, tokens['admin clinician'], {
      method: 'PUT',
      body: team(),
    });
    expect(put.status).toBe(200);
    expect((await auditEvents(`?actorId=${admin.id}`))[0]).toMatchObject({
      action: 'care_team.update',
      patientId,
      outcome: 'success',
    });
    expect((await svc.admin(`/v1/patients/${patientId}/devices`)).status).toBe(200);
    expect((await auditEvents('?actorId=admin-token'))[0]).toMatchObject({
      action: 'devices.read',
      patientId,
      outcome: 'success',
    });
  });
});

// ---------------------------------------------------------------------------------------------------

describe('tokens', () => {
  it('an unknown hws_ token is refused with 401', async () => {
    await expectError(await svc.request('/v1/patients', `hws_${randomBytes(32).toString('base64url')}`), 401);
  });

  it('a tampered session token (one character changed) is refused; the real one still works', async () => {
    const token = tokens['nurse on team']!;
    const i = 12;
    const tampered = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
    expect(tampered).not.toBe(token);
    expect(tampered).toHaveLength(token.length);
    await expectError(await svc.request('/v1/patients', tampered), 401);
    // A session token re-labelled as a device token is no device either.
    await expectError(await svc.postReadings(`hwd_${token.slice(4)}`, bpReading()), 401);
    expect((await svc.request('/v1/patients', token)).status).toBe(200);
  });

  it('an `alg: none` JWT naming an admin is refused with 401 (as bearer and as cookie)', async () => {
    const jwt = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ sub: admin.id, role: 'admin', exp: Math.floor(Date.now() / 1000) + 3600 })}.`;
    for (const path of ['/v1/patients', '/v1/audit', '/v1/clinicians', `/v1/patients/${patientId}`]) {
      await expectError(await svc.request(path, jwt), 401);
    }
    await expectError(await fetch(`${svc.url}/v1/patients`, { headers: { cookie: `homewatch_session=${jwt}` } }), 401);
  });

  it('the admin token counts only as a bearer token, not as a session cookie', async () => {
    await expectError(
      await fetch(`${svc.url}/v1/patients`, { headers: { cookie: `homewatch_session=${ADMIN_TOKEN}` } }),
      401,
    );
  });

  it('the session cookie alone authenticates; login sets it HttpOnly and SameSite=Strict; logout revokes the session and clears the cookie', async () => {
    const login = await svc.loginResponse(nurse.email, nurse.password);
    expect(login.status).toBe(200);
    const { token, expiresAt, clinician } = (await login.json()) as {
      token: string;
      expiresAt: string;
      clinician: unknown;
    };
    expect(token).toMatch(/^hws_[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(expiresAt)).toBeGreaterThan(Date.now());
    expect(clinician).toEqual({ id: nurse.id, name: nurse.name, email: nurse.email, role: 'nurse' });

    const setCookie = login.headers.get('set-cookie')!;
    expect(setCookie).toMatch(new RegExp(`^homewatch_session=${token};`));
    expect(setCookie).toMatch(/;\s*HttpOnly(;|$)/i);
    expect(setCookie).toMatch(/;\s*SameSite=Strict(;|$)/i);
    expect(setCookie).toMatch(/;\s*Path=\/(;|$)/i);

    // As the browser sends it: with the page's Origin on a POST (required with the cookie, see csrfGuard).
    const withCookie = (path: string, method = 'GET') =>
      fetch(`${svc.url}${path}`, { method, headers: { cookie: `homewatch_session=${token}`, origin: svc.url } });
    const list = await withCookie('/v1/patients');
    expect(list.status).toBe(200);
    expect(((await list.json()) as { patients: Array<{ id: string }> }).patients.map((p) => p.id)).toContain(patientId);
    expect(((await (await withCookie('/v1/auth/me')).json()) as { clinician: { id: string } }).clinician.id).toBe(
      nurse.id,
    );

    const logout = await withCookie('/v1/auth/logout', 'POST');
    expect(logout.status).toBe(204);
    const cleared = logout.headers.get('set-cookie')!;
    expect(cleared).toMatch(/^homewatch_session=;/);
    expect(cleared).toMatch(/Max-Age=0/i);

    expect((await auditEvents(`?actorId=${nurse.id}`))[0]).toMatchObject({
      action: 'logout',
      outcome: 'success',
      patientId: null,
    });

    await expectError(await withCookie('/v1/patients'), 401);
    await expectError(await svc.request('/v1/patients', token), 401);
    // Only that session: the nurse's other session is still signed in.
    expect((await svc.request('/v1/patients', tokens['nurse on team'])).status).toBe(200);
  });

  it('logout with the bearer token revokes it (401 afterwards)', async () => {
    const token = await svc.login(physician.email, physician.password);
    expect((await svc.request('/v1/auth/logout', token, { method: 'POST' })).status).toBe(204);
    await expectError(await svc.request('/v1/patients', token), 401);
    await expectError(await svc.request('/v1/auth/logout', token, { method: 'POST' }), 401);
    await expectError(await svc.request('/v1/auth/logout', tokens.device, { method: 'POST' }), 403);
  });

  it.concurrent('a session past SESSION_MAX_AGE is refused, however active', async ({ expect }) => {
    const short = await startTestService({ SESSION_MAX_AGE: '2s' });
    try {
      const someone = await short.createClinician('nurse');
      const started = Date.now();
      const login = await short.loginResponse(someone.email, someone.password);
      const { token, expiresAt } = (await login.json()) as { token: string; expiresAt: string };
      expect(Date.parse(expiresAt) - started).toBeGreaterThan(1000);
      expect(Date.parse(expiresAt) - started).toBeLessThanOrEqual(2000 + (Date.now() - started));
      expect((await short.request('/v1/patients', token)).status).toBe(200);
      await sleep(Math.max(0, Date.parse(expiresAt) - Date.now()) + 300);
      const response = await short.request('/v1/patients', token);
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    } finally {
      await short.stop();
    }
  });

  it.concurrent('a session idle longer than SESSION_IDLE_TIMEOUT is refused', async ({ expect }) => {
    const idle = await startTestService({ SESSION_IDLE_TIMEOUT: '2s' });
    try {
      const someone = await idle.createClinician('nurse');
      const token = await idle.login(someone.email, someone.password);
      expect((await idle.request('/v1/patients', token)).status).toBe(200);
      await sleep(2500);
      expect((await idle.request('/v1/patients', token)).status).toBe(401);
      // Gone for good, not just for one request.
      expect((await idle.request('/v1/auth/me', token)).status).toBe(401);
    } finally {
      await idle.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------------

describe('login', () => {
  it('answers an unknown email and a wrong password alike (no user enumeration); failed logins are audited', async () => {
    const before = await auditEvents(`?actorId=${outsider.id}`);
    const unknown = await svc.loginResponse(`nobody-${randomUUID()}@clinic.test`, 'some-password-guess');
    const wrong = await svc.loginResponse(outsider.email, 'not-the-password');
    const unknownBody = await expectError(unknown, 401);
    expect(await expectError(wrong, 401)).toEqual(unknownBody);
    expect(unknown.headers.get('set-cookie')).toBeNull();
    expect(wrong.headers.get('set-cookie')).toBeNull();
    expect(await newEvents(`?actorId=${outsider.id}`, before)).toEqual([
      expect.objectContaining({ action: 'login', outcome: 'failure', patientId: null }),
    ]);
  });

  it('wrong passwords slow that account from that address down (429, Retry-After at most a minute), even for the right password; another account still signs in', async () => {
    for (let i = 0; i < 3; i++) {
      await expectError(await svc.loginResponse(rateTarget.email, `wrong-password-${i}`), 401);
    }
    const blocked = await svc.loginResponse(rateTarget.email, rateTarget.password);
    await expectError(blocked, 429);
    const retryAfter = Number(blocked.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Waited out, a fourth wrong guess doubles the wait.
    await sleep(retryAfter * 1000);
    await expectError(await svc.loginResponse(rateTarget.email, 'wrong-password-3'), 401);
    // The email is matched as the login normalises it: case and spaces do not start a new count.
    await expectError(await svc.loginResponse(` ${rateTarget.email.toUpperCase()} `, rateTarget.password), 429);

    const other = await svc.loginResponse(rateOther.email, rateOther.password);
    expect(other.status).toBe(200);

    const events = await auditEvents(`?actorId=${rateTarget.id}`);
    expect(events.map((e) => `${e.action}:${e.outcome}`)).toEqual([
      'login:denied',
      'login:failure',
      'login:denied',
      'login:failure',
      'login:failure',
      'login:failure',
    ]);
  });

  it('concurrent wrong passwords from one address cannot get past its free tries', async () => {
    // Separate service: its own throttle, and the shared address count of the main one is left alone.
    const other = await startTestService();
    try {
      const victim = await other.createClinician('nurse');
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, i) => other.loginResponse(victim.email, `concurrent-guess-${i}`)),
      );
      const statuses = answers.map((r) => r.status).sort();
      // 3 guesses may be checked; the other 9 must be refused with 429 without being tried.
      expect(statuses.filter((s) => s === 401).length, `statuses: ${statuses.join(',')}`).toBeLessThanOrEqual(3);
      expect(statuses.filter((s) => s === 429)).toHaveLength(12 - statuses.filter((s) => s === 401).length);
    } finally {
      await other.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------------

describe('strict request bodies (no mass assignment)', () => {
  it('POST /v1/clinicians refuses unknown fields such as isAdmin, naming them, and creates nobody', async () => {
    const email = `sneaky-${randomUUID()}@clinic.test`;
    const body = { name: 'Sneaky', email, role: 'nurse', password: 'a-long-enough-password' };
    await expectError(await svc.admin('/v1/clinicians', { method: 'POST', body: { ...body, isAdmin: true } }), 422, [
      'isAdmin',
    ]);
    await expectError(
      await svc.admin('/v1/clinicians', { method: 'POST', body: { ...body, passwordHash: 'scrypt$1$1$1$x$y' } }),
      422,
      ['passwordHash'],
    );
    await expectError(
      await svc.admin('/v1/clinicians', { method: 'POST', body: { ...body, role: 'superuser' } }),
      422,
      ['role'],
    );
    await expectError(
      await svc.admin('/v1/clinicians', { method: 'POST', body: { ...body, password: 'short-11ch' } }),
      422,
      ['password'],
    );
    const list = (await (await svc.admin('/v1/clinicians')).json()) as { clinicians: Array<{ email: string }> };
    expect(list.clinicians.map((c) => c.email)).not.toContain(email);
  });

  it('POST /v1/patients refuses unknown fields (a chosen id, a care team)', async () => {
    const chosen = randomUUID();
    const response = await svc.admin('/v1/patients', { method: 'POST', body: { name: 'Chosen Id', id: chosen } });
    const body = await expectError(response, 422, ['id']);
    expect(body.error.details).toContainEqual({ path: 'id', message: 'is not a known field' });
    await expectError(
      await svc.admin('/v1/patients', { method: 'POST', body: { name: 'With Team', careTeam: [nurse.id] } }),
      422,
      ['careTeam'],
    );
    expect((await svc.admin(`/v1/patients/${chosen}`)).status).toBe(404);
  });

  it('POST /v1/auth/login and the device endpoints refuse unknown fields', async () => {
    await expectError(
      await svc.request('/v1/auth/login', undefined, {
        method: 'POST',
        body: { email: nurse.email, password: nurse.password, role: 'admin' },
      }),
      422,
      ['role'],
    );
    await expectError(
      await svc.admin('/v1/devices', { method: 'POST', body: { kind: 'scale', token: 'hwd_chosen-by-the-caller' } }),
      422,
      ['token'],
    );
    await expectError(
      await svc.admin(`/v1/devices/${deviceId}/patient`, { method: 'PUT', body: { patientId, kind: 'scale' } }),
      422,
      ['kind'],
    );
  });

  it('PUT care-team refuses unknown fields, a role the clinician cannot hold, and a second primary_nurse; the team is unchanged', async () => {
    const put = (body: unknown) => svc.admin(`/v1/patients/${patientId}/care-team`, { method: 'PUT', body });
    await expectError(await put({ ...team(), notify: true }), 422, ['notify']);
    await expectError(await put({ members: [{ clinicianId: nurse.id, role: 'primary_nurse', isAdmin: true }] }), 422, [
      'members.0.isAdmin',
    ]);

    const mismatch = await expectError(
      await put({ members: [{ clinicianId: physician.id, role: 'primary_nurse' }] }),
      422,
    );
    expect(mismatch.error.details).toEqual([{ path: 'members.0.role', message: expect.stringMatching(/nurse/) }]);
    const nurseAsPcp = await expectError(
      await put({
        members: [
          { clinicianId: nurse.id, role: 'primary_nurse' },
          { clinicianId: nurse2.id, role: 'pcp' },
        ],
      }),
      422,
    );
    expect(nurseAsPcp.error.details.map((d) => d.path)).toEqual(['members.1.role']);
    await expectError(await put({ members: [{ clinicianId: admin.id, role: 'specialist' }] }), 422, ['members.0.role']);
    await expectError(await put({ members: [{ clinicianId: randomUUID(), role: 'backup_nurse' }] }), 422, [
      'members.0.clinicianId',
    ]);

    const twoPrimaries = await expectError(
      await put({
        members: [
          { clinicianId: nurse.id, role: 'primary_nurse' },
          { clinicianId: nurse2.id, role: 'primary_nurse' },
        ],
      }),
      422,
    );
    expect(twoPrimaries.error.details).toEqual([{ path: 'members', message: expect.stringMatching(/primary_nurse/) }]);

    const current = (await (await svc.admin(`/v1/patients/${patientId}/care-team`)).json()) as {
      members: Array<{ clinicianId: string; role: string }>;
    };
    expect(current.members.map((m) => [m.clinicianId, m.role]).sort()).toEqual(
      team()
        .members.map((m) => [m.clinicianId, m.role])
        .sort(),
    );
  });
});

// ---------------------------------------------------------------------------------------------------

describe('device and clinician tokens stay in their lanes', () => {
  it('a device token opens no clinician endpoint (403)', async () => {
    for (const endpoint of ENDPOINTS.filter((e) => e.path() !== '/v1/readings')) {
      const response = await svc.request(endpoint.path(), tokens.device, {
        method: endpoint.method,
        body: endpoint.body?.(),
      });
      await expectError(response, 403);
    }
  });

  it('clinician and admin tokens cannot post readings (403), and nothing is stored', async () => {
    const before = (await svc.readings(patientId)).readings.length;
    for (const who of ['admin token', 'admin clinician', 'nurse on team', 'physician on team'] as const) {
      const response = await svc.postReadings(tokens[who]!, { ...bpReading(), systolic: 130 });
      await expectError(response, 403);
    }
    expect((await svc.readings(patientId)).readings).toHaveLength(before);
  });
});
