import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'fhir-kit-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fhirErrors } from './helpers/fhir-validator.ts';
import { ADMIN_TOKEN, startTestService, type TestClinician, type TestService } from './helpers/service.ts';

/**
 * The FHIR R4 API (contract "FHIR R4", docs/fhir.md) against the real service: what it answers is checked
 * by a FHIR validator, reads and searches are scoped and audited as the JSON API's are, Observations that
 * gateways post go through the one ingest pipeline, and a real FHIR client pages through a search.
 */

type Resource = { resourceType: string; id?: string; [key: string]: unknown };
type Bundle = Resource & {
  type: string;
  link?: Array<{ relation: string; url: string }>;
  entry?: Array<{
    fullUrl?: string;
    resource?: Resource;
    response?: { status: string; location?: string; outcome?: Resource };
  }>;
};
type Outcome = {
  resourceType: 'OperationOutcome';
  issue: Array<{ code: string; diagnostics: string; expression?: string[] }>;
};
type AuditEvent = { action: string; patientId: string | null; outcome: string; actorId: string };

const DAY = 86_400_000;
const FIXTURES = path.resolve(import.meta.dirname, '../devices/fhir');
const VITAL_SIGNS = 'http://hl7.org/fhir/StructureDefinition/vitalsigns';

let svc: TestService;
let base: string;
let patientId: string;
let otherPatientId: string;
let cuff: { deviceId: string; token: string };
let oximeter: { deviceId: string; token: string };
let scale: { deviceId: string; token: string };
let nurse: TestClinician;
let outsider: TestClinician;
const tokens = { nurse: '', outsider: '' };

function fixture(name: string): Record<string, unknown> {
  const resource = JSON.parse(readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as Record<string, unknown>;
  return { ...resource, subject: { reference: `Patient/${patientId}` } };
}

/** A fixture measured `ago` ms before now, without the identifier it came with (one per test that needs it). */
function measured(name: string, ago: number, identifier?: string): Record<string, unknown> {
  const resource: Record<string, unknown> = {
    ...fixture(name),
    effectiveDateTime: new Date(Date.now() - ago).toISOString(),
  };
  delete resource.identifier;
  if (identifier) resource.identifier = [{ system: 'urn:test:gateway', value: identifier }];
  return resource;
}

/** A GET with the admin token, another token, or none (null). */
const get = (pathname: string, token: string | null = ADMIN_TOKEN) =>
  fetch(`${base}${pathname}`, {
    headers: { accept: 'application/fhir+json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });

const post = (pathname: string, token: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}${pathname}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

/** A FHIR answer: its body, after checking it is FHIR JSON that the validator finds nothing wrong with. */
async function fhir<T = Resource>(response: Response, status: number, profiles: string[] = []): Promise<T> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
  const body = JSON.parse(text) as T;
  expect(fhirErrors(body, profiles)).toEqual([]);
  return body;
}

/** An OperationOutcome answer; `expressions` are the elements it must name. */
async function outcome(response: Response, status: number, expressions: string[] = []): Promise<Outcome> {
  const body = await fhir<Outcome>(response, status);
  expect(body.resourceType).toBe('OperationOutcome');
  const named = body.issue.flatMap((issue) => issue.expression ?? []);
  for (const expression of expressions) expect(named).toContain(expression);
  return body;
}

async function audit(query: string): Promise<AuditEvent[]> {
  const response = await svc.admin(`/v1/audit${query}`);
  return ((await response.json()) as { events: AuditEvent[] }).events;
}

/** The patient's readings through the JSON API (what the pipeline stored). */
async function storedReadings(patient = patientId) {
  return (await svc.readings(patient, '?limit=10000')).readings;
}

async function searchAll(query: string, token = ADMIN_TOKEN): Promise<Resource[]> {
  const found: Resource[] = [];
  let url: string | undefined = `${base}/fhir/R4/Observation?${query}`;
  while (url) {
    const page: Bundle = await fhir<Bundle>(await fetch(url, { headers: { authorization: `Bearer ${token}` } }), 200);
    found.push(...(page.entry ?? []).map((entry) => entry.resource!));
    url = page.link?.find((link) => link.relation === 'next')?.url;
  }
  return found;
}

beforeAll(async () => {
  svc = await startTestService();
  base = svc.url;
  const created = await svc.admin('/v1/patients', {
    method: 'POST',
    body: { name: 'Ada Example', birthDate: '1948-02-03', externalId: 'MRN-0042' },
  });
  patientId = ((await created.json()) as { id: string }).id;
  otherPatientId = await svc.createPatient('Someone Else');
  cuff = await svc.provision('bp_monitor', patientId);
  oximeter = await svc.provision('pulse_oximeter', patientId);
  scale = await svc.provision('scale', patientId);
  [nurse, outsider] = await Promise.all([svc.createClinician('nurse'), svc.createClinician('nurse')]);
  tokens.nurse = await svc.login(nurse.email, nurse.password);
  tokens.outsider = await svc.login(outsider.email, outsider.password);
  const team = await svc.admin(`/v1/patients/${patientId}/care-team`, {
    method: 'PUT',
    body: { members: [{ clinicianId: nurse.id, role: 'primary_nurse' }] },
  });
  expect(team.status).toBe(200);

  // 100 days of a morning and an evening blood pressure with pulse, a daily weight, and SpO2.
  const now = Date.now();
  const day = (d: number, hours: number) => now - d * DAY + hours * 3_600_000 - 2 * DAY;
  const bp = Array.from({ length: 200 }, (_, i) => ({
    id: `bp-${i}`,
    type: 'blood_pressure',
    measuredAt: day(Math.floor(i / 2), i % 2 ? 19 : 7),
    systolic: 120 + (i % 30),
    diastolic: 75 + (i % 10),
    pulse: 60 + (i % 20),
  }));
  expect((await svc.postReadings(cuff.token, { readings: bp })).status).toBe(200);
  const weights = Array.from({ length: 100 }, (_, i) => ({
    type: 'weight',
    measuredAt: day(i, 6),
    value: 181.5 - i / 10,
    unit: 'lb',
  }));
  expect((await svc.postReadings(scale.token, { readings: weights })).status).toBe(200);
  // Every 4 hours, the first with a pulse: enough for a page of 1000 Observations.
  const saturation = Array.from({ length: 600 }, (_, i) => ({
    type: 'spo2',
    measuredAt: day(Math.floor(i / 6), 1 + (i % 6) * 4),
    value: 92 + (i % 7),
    ...(i === 0 ? { pulse: 71 } : {}),
  }));
  expect((await svc.postReadings(oximeter.token, { readings: saturation })).status).toBe(200);
});

afterAll(() => svc?.stop());

describe('reading Homewatch over FHIR', () => {
  it('states what it can do, to anyone', async () => {
    const statement = await fhir<
      Resource & { fhirVersion: string; rest: Array<{ resource: Array<{ type: string }> }> }
    >(await get('/fhir/R4/metadata', null), 200);
    expect(statement.resourceType).toBe('CapabilityStatement');
    expect(statement.fhirVersion).toBe('4.0.1');
    expect(statement.rest[0]!.resource.map((r) => r.type)).toEqual(['Patient', 'Device', 'Observation']);
  });

  it('reads a patient, and finds one by identifier (the externalId)', async () => {
    const patient = await fhir(await get(`/fhir/R4/Patient/${patientId}`, tokens.nurse), 200);
    expect(patient).toMatchObject({ id: patientId, birthDate: '1948-02-03', identifier: [{ value: 'MRN-0042' }] });
    for (const identifier of ['MRN-0042', 'urn:homewatch:patient-external-id|MRN-0042']) {
      const bundle = await fhir<Bundle>(
        await get(`/fhir/R4/Patient?identifier=${encodeURIComponent(identifier)}`, tokens.nurse),
        200,
      );
      expect(bundle.type).toBe('searchset');
      expect(bundle.entry?.map((e) => e.resource?.id)).toEqual([patientId]);
      expect(bundle.entry?.[0]?.fullUrl).toBe(`${base}/fhir/R4/Patient/${patientId}`);
    }
    const none = await fhir<Bundle>(await get('/fhir/R4/Patient?identifier=MRN-9999', tokens.nurse), 200);
    expect(none.entry).toEqual([]);
  });

  it('reads a device', async () => {
    const device = await fhir(await get(`/fhir/R4/Device/${cuff.deviceId}`, tokens.nurse), 200);
    expect(device).toMatchObject({ id: cuff.deviceId, patient: { reference: `Patient/${patientId}` } });
  });

  it('searches a patient’s vital signs with absolute self and next links, and reads each found', async () => {
    const page = await fhir<Bundle>(
      await get(`/fhir/R4/Observation?patient=${patientId}&category=vital-signs`, tokens.nurse),
      200,
    );
    expect(page.entry).toHaveLength(100); // _count defaults to 100
    const self = page.link!.find((link) => link.relation === 'self')!.url;
    const next = page.link!.find((link) => link.relation === 'next')!.url;
    expect(self).toBe(`${base}/fhir/R4/Observation?patient=${patientId}&category=vital-signs&_count=100&_sort=date`);
    expect(next.startsWith(`${base}/fhir/R4/Observation?`)).toBe(true);
    for (const entry of page.entry!.slice(0, 5)) {
      expect(entry.fullUrl).toBe(`${base}/fhir/R4/Observation/${entry.resource!.id}`);
      const read = await fhir(await get(`/fhir/R4/Observation/${entry.resource!.id}`, tokens.nurse), 200, [
        VITAL_SIGNS,
      ]);
      expect(read).toEqual(entry.resource);
    }
    // Every Observation found validates against the vital signs profile.
    for (const entry of page.entry!) expect(fhirErrors(entry.resource, [VITAL_SIGNS])).toEqual([]);
  });

  it('finds by code, either form, and by date with prefixes, newest first when asked', async () => {
    const now = Date.now();
    const from = new Date(now - 32 * DAY).toISOString();
    const to = new Date(now - 12 * DAY).toISOString();
    for (const code of ['85354-9', 'http://loinc.org|85354-9']) {
      const found = await searchAll(
        `patient=Patient/${patientId}&code=${encodeURIComponent(code)}&date=ge${encodeURIComponent(from)}&date=lt${encodeURIComponent(to)}&_sort=-date&_count=7`,
      );
      expect(found.length).toBe(40); // 20 days, two a day
      const times = found.map((o) => Date.parse(o.effectiveDateTime as string));
      expect(times).toEqual([...times].sort((a, b) => b - a));
      expect(times.every((t) => t >= Date.parse(from) && t < Date.parse(to))).toBe(true);
      expect(found.every((o) => (o.code as { coding: Array<{ code: string }> }).coding[0]!.code === '85354-9')).toBe(
        true,
      );
    }
    const pulses = await searchAll(`patient=${patientId}&code=8867-4&_count=1000`);
    expect(pulses).toHaveLength(201); // each blood pressure's, and the oximeter's
    expect(pulses.every((o) => (o.id as string).endsWith('-hr'))).toBe(true);
    const weights = await searchAll(`patient=${patientId}&code=29463-7&_count=1000`);
    expect(weights.at(-1)!.valueQuantity).toEqual({
      value: 181.5,
      unit: 'lb',
      system: 'http://unitsofmeasure.org',
      code: '[lb_av]',
    });
  });

  it('gives at most 1000 a page', async () => {
    const page = await fhir<Bundle>(await get(`/fhir/R4/Observation?patient=${patientId}&_count=5000`), 200);
    expect(page.entry).toHaveLength(1000);
    expect(page.link![0]!.url).toContain('_count=1000');
  });

  it('refuses a search it cannot answer with a 400 OperationOutcome', async () => {
    await outcome(await get('/fhir/R4/Observation?category=vital-signs'), 400);
    await outcome(await get(`/fhir/R4/Observation?patient=${patientId}&date=yesterday`), 400);
    await outcome(await get(`/fhir/R4/Observation?patient=${patientId}&_cursor=abc`), 400);
  });

  it('answers 404 outside the care team, as for what does not exist, and audits it as denied', async () => {
    const [anObservation] = await searchAll(`patient=${patientId}&code=29463-7&_count=1`).then((all) =>
      all.slice(0, 1),
    );
    const before = (await audit(`?patientId=${patientId}`)).length;
    await outcome(await get(`/fhir/R4/Patient/${patientId}`, tokens.outsider), 404);
    await outcome(await get(`/fhir/R4/Observation?patient=${patientId}`, tokens.outsider), 404);
    await outcome(await get(`/fhir/R4/Observation/${anObservation!.id}`, tokens.outsider), 404);
    await outcome(await get(`/fhir/R4/Device/${cuff.deviceId}`, tokens.outsider), 404);
    const hidden = await fhir<Bundle>(await get('/fhir/R4/Patient?identifier=MRN-0042', tokens.outsider), 200);
    expect(hidden.entry).toEqual([]);
    const after = await audit(`?patientId=${patientId}`);
    const events = after.slice(0, after.length - before);
    expect(events.map((e) => [e.action, e.outcome, e.actorId]).reverse()).toEqual([
      ['fhir.patient.read', 'denied', outsider.id],
      ['fhir.observation.search', 'denied', outsider.id],
      ['fhir.observation.read', 'denied', outsider.id],
      ['fhir.device.read', 'denied', outsider.id],
      ['fhir.patient.search', 'denied', outsider.id],
    ]);
    // What does not exist reads the same.
    await outcome(await get('/fhir/R4/Observation/01a24ac3-e9ce-70c5-a4a3-029e6949e6f2', tokens.nurse), 404);
    await outcome(await get(`/fhir/R4/Observation?patient=${otherPatientId}`, tokens.nurse), 404);
  });

  it('audits what the care team reads', async () => {
    await get(`/fhir/R4/Observation?patient=${patientId}&_count=1`, tokens.nurse);
    const [event] = await audit(`?patientId=${patientId}`);
    expect(event).toMatchObject({ action: 'fhir.observation.search', outcome: 'success', actorId: nurse.id });
  });

  it('marks answers with patient data not to be cached, and asks for a token where one is needed', async () => {
    const response = await get(`/fhir/R4/Observation?patient=${patientId}&_count=1`);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const anonymous = await get(`/fhir/R4/Patient/${patientId}`, null);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
    await outcome(anonymous, 401);
    await outcome(await get(`/fhir/R4/Patient/${patientId}`, cuff.token), 403);
    await outcome(await get('/fhir/R4/Encounter/1'), 404);
  });
});

describe('creating Observations from a device or gateway', () => {
  it('stores the HL7 blood pressure example as a reading: 201, Location, the Observation', async () => {
    const response = await post('/fhir/R4/Observation', cuff.token, {
      ...fixture('blood-pressure'),
      effectiveDateTime: new Date(Date.now() - 60_000).toISOString(),
    });
    const created = await fhir(response, 201, [VITAL_SIGNS]);
    const location = response.headers.get('location')!;
    expect(location).toBe(`${base}/fhir/R4/Observation/${created.id}/_history/1`);
    expect(created).toMatchObject({
      subject: { reference: `Patient/${patientId}` },
      device: { reference: `Device/${cuff.deviceId}` },
    });
    expect(await fhir(await get(new URL(location).pathname), 200)).toEqual(created);
    const reading = (await storedReadings()).find((r) => r.id === created.id);
    expect(reading).toMatchObject({ type: 'blood_pressure', systolic: 142, diastolic: 91 });

    // Its identifier is the reading's id: posted again, it is the same reading.
    const again = await post('/fhir/R4/Observation', cuff.token, {
      ...fixture('blood-pressure'),
      effectiveDateTime: new Date(Date.now() - 60_000).toISOString(),
    });
    expect((await fhir(again, 200)).id).toBe(created.id);
  });

  it('If-None-Exist: ten at once store one reading, one 201 and nine 200s naming it', async () => {
    const body = measured('oxygen-saturation', 5 * 60_000);
    const responses = await Promise.all(
      Array.from({ length: 10 }, () =>
        post('/fhir/R4/Observation', oximeter.token, body, {
          'if-none-exist': 'identifier=urn:test:gateway|sat-concurrent',
        }),
      ),
    );
    expect(responses.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    const locations = new Set(responses.map((r) => r.headers.get('location')));
    expect(locations.size).toBe(1);
    const id = new URL([...locations][0]!).pathname.split('/')[4];
    const stored = (await storedReadings()).filter((r) => r.measuredAt === body.effectiveDateTime);
    expect(stored.map((r) => r.id)).toEqual([id]);
    // The gateway's identifier is on the Observation beside Homewatch's.
    const read = await fhir<Resource & { identifier: unknown[] }>(await get(`/fhir/R4/Observation/${id}`), 200);
    expect(read.identifier).toContainEqual({ system: 'urn:test:gateway', value: 'sat-concurrent' });
  });

  it('refuses what the device protocol refuses, naming the element, and keeps it among the rejections', async () => {
    const bp = measured('blood-pressure', 60_000, 'bp-too-high');
    (bp.component as Array<{ valueQuantity: { value: number } }>)[0]!.valueQuantity.value = 320;
    await outcome(await post('/fhir/R4/Observation', cuff.token, bp), 422, [
      'Observation.component[0].valueQuantity.value',
    ]);
    const temperature = {
      ...measured('oxygen-saturation', 60_000),
      code: { coding: [{ system: 'http://loinc.org', code: '8310-5' }] },
    };
    await outcome(await post('/fhir/R4/Observation', oximeter.token, temperature), 422, ['Observation.code.coding']);
    await outcome(await post('/fhir/R4/Observation', oximeter.token, fixture('heart-rate')), 422, ['Observation.code']);
    const otherPatient = {
      ...measured('oxygen-saturation', 60_000),
      subject: { reference: `Patient/${otherPatientId}` },
    };
    await outcome(await post('/fhir/R4/Observation', oximeter.token, otherPatient), 422, [
      'Observation.subject.reference',
    ]);

    const rejections = await svc.rejections(cuff.deviceId);
    expect(rejections[0]!.errors).toContainEqual({ path: 'systolic', message: 'must be at most 300' });
    const refused = (await svc.rejections(oximeter.deviceId)).map((r) => r.errors[0]!.path);
    expect(refused).toEqual(
      expect.arrayContaining(['Observation.code.coding', 'Observation.code', 'Observation.subject.reference']),
    );
  });

  it('goes through the rules like any reading: a low SpO2 opens an alert', async () => {
    const plan = await svc.admin(`/v1/patients/${patientId}/care-plan`, {
      method: 'PUT',
      body: {
        rules: [
          {
            id: 'spo2-low',
            metric: 'spo2',
            when: { kind: 'threshold', op: '<', value: 88 },
            severity: 'critical',
            message: 'SpO2 below 88 %',
          },
        ],
      },
    });
    expect(plan.status).toBe(200);
    const low = measured('oxygen-saturation', 30_000, 'sat-low');
    (low.valueQuantity as { value: number }).value = 85;
    await fhir(await post('/fhir/R4/Observation', oximeter.token, low), 201);
    const alerts = (await (await svc.admin(`/v1/alerts?patientId=${patientId}`)).json()) as {
      alerts: Array<{ ruleId: string; reading: { value: number } }>;
    };
    expect(alerts.alerts).toContainEqual(
      expect.objectContaining({ ruleId: 'spo2-low', reading: expect.objectContaining({ value: 85 }) }),
    );
  });

  it('a transaction stores all or nothing: one bad entry refuses the Bundle, naming it', async () => {
    const before = (await storedReadings()).length;
    const good = measured('phd-blood-pressure', 10 * 60_000, 'tx-bp');
    const bad = measured('oxygen-saturation', 10 * 60_000, 'tx-sat');
    (bad.valueQuantity as { value: number }).value = 120;
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [good, bad].map((resource) => ({ resource, request: { method: 'POST', url: 'Observation' } })),
    };
    await outcome(await post('/fhir/R4', cuff.token, bundle), 422, ['Bundle.entry[1].resource.valueQuantity.value']);
    expect((await storedReadings()).length).toBe(before);
    expect((await svc.rejections(cuff.deviceId))[0]!.errors).toContainEqual({
      path: 'Bundle.entry[1].resource.valueQuantity.value',
      message: 'must be at most 100',
    });
  });

  it('a PHD gateway transaction: a blood pressure and its pulse, one reading, each entry located', async () => {
    const at = new Date(Date.now() - 20 * 60_000).toISOString();
    const entries = [
      {
        resource: { ...fixture('phd-blood-pressure'), effectiveDateTime: at },
        request: { method: 'POST', url: 'Observation', ifNoneExist: 'identifier=urn:test:gateway|phd-1' },
      },
      {
        resource: { ...fixture('phd-pulse-rate'), effectiveDateTime: at },
        request: { method: 'POST', url: 'Observation' },
      },
    ];
    const bundle = { resourceType: 'Bundle', type: 'transaction', entry: entries };
    const answer = await fhir<Bundle>(await post('/fhir/R4', cuff.token, bundle), 200);
    expect(answer.type).toBe('transaction-response');
    const [bp, pulse] = answer.entry!.map((entry) => entry.response!);
    expect([bp!.status, pulse!.status]).toEqual(['201 Created', '201 Created']);
    expect(pulse!.location).toBe(bp!.location!.replace('/_history/1', '-hr/_history/1'));
    const read = await fhir<Resource>(await get(`/fhir/R4/${pulse!.location}`), 200);
    expect(read.valueQuantity).toMatchObject({ value: 68, code: '/min' });
    // The same Bundle again: the readings exist.
    const again = await fhir<Bundle>(await post('/fhir/R4', cuff.token, bundle), 200);
    expect(again.entry!.map((entry) => entry.response!.status)).toEqual(['200 OK', '200 OK']);
  });

  it('a batch stores the good entries and reports the bad one, entry by entry', async () => {
    const before = (await storedReadings()).length;
    const unknown = {
      ...measured('body-weight', 60_000),
      code: { coding: [{ system: 'http://loinc.org', code: '8302-2' }] },
    };
    const bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [measured('body-weight', 3 * 60_000, 'w-1'), unknown, measured('body-weight', 2 * 60_000, 'w-2')].map(
        (resource) => ({
          resource,
          request: { method: 'POST', url: 'Observation' },
        }),
      ),
    };
    const answer = await fhir<Bundle>(await post('/fhir/R4', scale.token, bundle), 200);
    expect(answer.type).toBe('batch-response');
    expect(answer.entry!.map((entry) => entry.response!.status)).toEqual([
      '201 Created',
      '422 Unprocessable Entity',
      '201 Created',
    ]);
    const failed = answer.entry![1]!.response!.outcome as Outcome;
    expect(failed.issue.flatMap((issue) => issue.expression ?? [])).toContain('Bundle.entry[1].resource.code.coding');
    expect((await storedReadings()).length).toBe(before + 2);
  });

  it('refuses bodies it cannot read, as FHIR', async () => {
    await outcome(await post('/fhir/R4/Observation', oximeter.token, '{not json'), 400);
    await outcome(await post('/fhir/R4/Observation', oximeter.token, 'x', { 'content-type': 'text/plain' }), 415);
    await outcome(
      await post('/fhir/R4/Observation', oximeter.token, measured('oxygen-saturation', 1000), {
        'if-none-exist': 'code=2708-6',
      }),
      400,
    );
    await outcome(await post('/fhir/R4', oximeter.token, { resourceType: 'Bundle', type: 'collection' }), 422, [
      'Bundle.type',
    ]);
    const huge = { ...measured('oxygen-saturation', 1000), note: [{ text: 'x'.repeat(1024 * 1024) }] };
    await outcome(await post('/fhir/R4/Observation', oximeter.token, huge), 413);
    await outcome(await post('/fhir/R4/Observation', tokens.nurse, measured('oxygen-saturation', 1000)), 403);
  });
});

describe('a FHIR client library', () => {
  it("pages through a patient's last 90 days with next links, and reads each Observation", async () => {
    const client = new Client({
      baseUrl: `${base}/fhir/R4`,
      customHeaders: { Authorization: `Bearer ${tokens.nurse}` },
    });
    const since = new Date(Date.now() - 90 * DAY).toISOString();
    let bundle = (await client.search({
      resourceType: 'Observation',
      searchParams: { patient: patientId, category: 'vital-signs', date: `ge${since}` },
    })) as Bundle;
    const found: Resource[] = [];
    let pages = 0;
    for (;;) {
      pages++;
      found.push(...(bundle.entry ?? []).map((entry) => entry.resource!));
      const next = client.nextPage({ bundle: bundle as never });
      if (!next) break;
      bundle = (await next) as Bundle;
    }
    const expected = await searchAll(
      `patient=${patientId}&category=vital-signs&date=ge${encodeURIComponent(since)}&_count=1000`,
    );
    expect(found.map((o) => o.id)).toEqual(expected.map((o) => o.id));
    expect(pages).toBe(Math.ceil(expected.length / 100));
    expect(found.length).toBeGreaterThan(400);
    for (const observation of found) {
      expect(await client.read({ resourceType: 'Observation', id: observation.id! })).toEqual(observation);
    }
  });
});
