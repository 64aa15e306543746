import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestService, type TestService } from './helpers/service.ts';

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
});

afterAll(async () => {
  await svc?.stop();
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (last !== undefined) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition into samples (comments skipped). */
function parseMetrics(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
      if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
      const labels: Record<string, string> = {};
      for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
        labels[key!] = value!;
      return { name: match[1]!, labels, value: Number(match[3]) };
    });
}

async function metrics() {
  const response = await fetch(`${svc.url}/metrics`);
  expect(response.status).toBe(200);
  return parseMetrics(await response.text());
}

function sample(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

function expectErrorShape(body: unknown, code: string) {
  expect(body).toEqual({ error: { code, message: expect.any(String), details: expect.any(Array) } });
  const { error } = body as { error: { message: string; details: unknown[] } };
  expect(error.message.length).toBeGreaterThan(0);
  for (const detail of error.details) expect(detail).toEqual({ path: expect.any(String), message: expect.any(String) });
}

const measuredAt = () => new Date(Date.now() - 60_000).toISOString();

describe('health', () => {
  it('/healthz answers 200 without a token', async () => {
    const response = await fetch(`${svc.url}/healthz`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('/readyz answers 200 naming the database and mqtt', async () => {
    const response = await fetch(`${svc.url}/readyz`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { status: string; checks: Array<{ name: string; ok: boolean }> };
    expect(body.status).toBe('ready');
    expect(body.checks).toContainEqual(expect.objectContaining({ name: 'database', ok: true }));
    expect(body.checks).toContainEqual(expect.objectContaining({ name: 'mqtt', ok: true }));
  });
});

describe('/metrics', () => {
  it('is Prometheus text with the ingest metrics declared', async () => {
    const response = await fetch(`${svc.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toMatch(/^# TYPE homewatch_readings_total counter$/m);
    expect(text).toMatch(/^# TYPE homewatch_ingest_duration_seconds histogram$/m);
    expect(text).toMatch(/^# TYPE homewatch_mqtt_connected_devices gauge$/m);
    expect(() => parseMetrics(text)).not.toThrow();
  });

  it('counts readings accepted, duplicate and rejected by transport, and times ingest', async () => {
    const device = await svc.provision('bp_monitor');
    const before = await metrics();
    const count = (samples: Sample[], transport: string, outcome: string) =>
      sample(samples, 'homewatch_readings_total', { transport, outcome }) ?? 0;
    const httpIngests = (samples: Sample[]) =>
      sample(samples, 'homewatch_ingest_duration_seconds_count', { transport: 'http' }) ?? 0;
    const mqttIngests = (samples: Sample[]) =>
      sample(samples, 'homewatch_ingest_duration_seconds_count', { transport: 'mqtt' }) ?? 0;

    const at = measuredAt();
    const response = await svc.postReadings(device.token, {
      readings: [
        { id: 'm-1', type: 'blood_pressure', measuredAt: at, systolic: 120, diastolic: 80 },
        { id: 'm-2', type: 'blood_pressure', measuredAt: at, systolic: 121, diastolic: 81 },
        { id: 'm-1', type: 'blood_pressure', measuredAt: at, systolic: 120, diastolic: 80 },
        { id: 'm-3', type: 'blood_pressure', measuredAt: at, systolic: 400, diastolic: 80 },
      ],
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ accepted: 2, duplicates: 1, rejected: 1 });

    const client = await mqtt.connectAsync(svc.mqttUrl, {
      username: device.deviceId,
      password: device.token,
      reconnectPeriod: 0,
    });
    try {
      await client.publishAsync(
        `rpm/devices/${device.deviceId}/readings`,
        JSON.stringify({ id: 'm-4', type: 'blood_pressure', measuredAt: at, systolic: 130, diastolic: 85 }),
        { qos: 1 },
      );
      await client.publishAsync(
        `rpm/devices/${device.deviceId}/readings`,
        JSON.stringify({ id: 'm-5', type: 'blood_pressure', measuredAt: at, systolic: 30, diastolic: 85 }),
        { qos: 1 },
      );
    } finally {
      await client.endAsync();
    }

    const after = await metrics();
    expect(count(after, 'http', 'accepted') - count(before, 'http', 'accepted')).toBe(2);
    expect(count(after, 'http', 'duplicate') - count(before, 'http', 'duplicate')).toBe(1);
    expect(count(after, 'http', 'rejected') - count(before, 'http', 'rejected')).toBe(1);
    expect(count(after, 'mqtt', 'accepted') - count(before, 'mqtt', 'accepted')).toBe(1);
    expect(count(after, 'mqtt', 'rejected') - count(before, 'mqtt', 'rejected')).toBe(1);
    expect(httpIngests(after) - httpIngests(before)).toBe(1);
    expect(mqttIngests(after) - mqttIngests(before)).toBe(2);

    // The histogram: cumulative buckets per transport, ending in +Inf equal to the count.
    const buckets = after.filter(
      (s) => s.name === 'homewatch_ingest_duration_seconds_bucket' && s.labels.transport === 'http',
    );
    expect(buckets.length).toBeGreaterThan(1);
    expect(buckets.at(-1)!.labels.le).toBe('+Inf');
    expect(buckets.at(-1)!.value).toBe(httpIngests(after));
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    expect(sample(after, 'homewatch_ingest_duration_seconds_sum', { transport: 'http' })).toBeGreaterThan(0);
  });

  it('shows connected MQTT devices', async () => {
    const gauge = async () => sample(await metrics(), 'homewatch_mqtt_connected_devices');
    // Earlier tests' clients may still be on their way out.
    await until('no device connected', async () => ((await gauge()) === 0 ? true : undefined));

    const device = await svc.provision('scale');
    const client = await mqtt.connectAsync(svc.mqttUrl, {
      username: device.deviceId,
      password: device.token,
      reconnectPeriod: 0,
    });
    try {
      await until('the gauge at 1', async () => ((await gauge()) === 1 ? true : undefined));
    } finally {
      await client.endAsync();
    }
    await until('the gauge back at 0', async () => ((await gauge()) === 0 ? true : undefined));

    // A refused connection is not a connected device.
    const refused = mqtt.connectAsync(svc.mqttUrl, {
      username: device.deviceId,
      password: 'hwd_wrong',
      reconnectPeriod: 0,
    });
    await expect(refused).rejects.toThrow();
    expect(await gauge()).toBe(0);
  });
});

describe('/openapi.json', () => {
  it('is an OpenAPI 3 document generated from the request schemas', async () => {
    const response = await fetch(`${svc.url}/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const doc = (await response.json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.paths['/v1/readings']).toHaveProperty('post');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/patients',
        '/v1/patients/{id}/readings',
        '/v1/devices',
        '/healthz',
        '/readyz',
        '/metrics',
      ]),
    );

    const reading = JSON.stringify(doc.components.schemas.Reading);
    for (const type of ['blood_pressure', 'weight', 'spo2']) expect(reading).toContain(`"${type}"`);
    for (const field of ['systolic', 'diastolic', 'pulse', 'measuredAt', 'value', 'unit'])
      expect(reading).toContain(`"${field}"`);
    // Plausibility bounds come from the zod schema, not a hand-written copy.
    expect(reading).toMatch(/"maximum":300/);

    // Every $ref points at a schema that exists.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(doc.components.schemas, ref).toHaveProperty(ref);
  });
});

describe('errors have the contract shape', () => {
  it('unknown route → 404 {error: {code, message, details}}', async () => {
    const response = await fetch(`${svc.url}/v1/nope`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expectErrorShape(await response.json(), 'not_found');
  });

  it('unexpected method on a known path', async () => {
    const response = await fetch(`${svc.url}/v1/readings`, { method: 'DELETE' });
    expect(response.status).toBe(404);
    expectErrorShape(await response.json(), 'not_found');
  });

  it('malformed JSON from an admin → 400 invalid_json', async () => {
    const response = await fetch(`${svc.url}/v1/patients`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: '{"name": ',
    });
    expect(response.status).toBe(400);
    expectErrorShape(await response.json(), 'invalid_json');
  });

  it('a body of the wrong shape → 422 naming the field', async () => {
    const response = await svc.admin('/v1/patients', { method: 'POST', body: { name: '', shoeSize: 9 } });
    expect(response.status).toBe(422);
    const body = (await response.json()) as { error: { details: Array<{ path: string }> } };
    expectErrorShape(body, 'validation_failed');
    expect(body.error.details.map((d) => d.path)).toEqual(expect.arrayContaining(['name', 'shoeSize']));
  });

  it('device protocol errors: 400, 401, 415', async () => {
    const device = await svc.provision('bp_monitor');
    const notJson = await svc.postReadings(device.token, '{"type": "blood_pr');
    expect(notJson.status).toBe(400);
    expectErrorShape(await notJson.json(), 'invalid_json');

    const notAReading = await svc.postReadings(device.token, [1, 2]);
    expect(notAReading.status).toBe(400);
    expect((await notAReading.json()) as object).toHaveProperty('error.code');

    const noToken = await fetch(`${svc.url}/v1/readings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(noToken.status).toBe(401);
    expect(noToken.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expectErrorShape(await noToken.json(), 'unauthorized');

    const text = await svc.postReadings(device.token, 'systolic=120', 'text/plain');
    expect(text.status).toBe(415);
    expectErrorShape(await text.json(), 'unsupported_media_type');
  });

  it('no token on an admin endpoint → 401; a device token → 403', async () => {
    const anonymous = await svc.request('/v1/patients', undefined);
    expect(anonymous.status).toBe(401);
    expectErrorShape(await anonymous.json(), 'unauthorized');
    const device = await svc.provision('scale');
    const asDevice = await svc.request('/v1/patients', device.token);
    expect(asDevice.status).toBe(403);
    expectErrorShape(await asDevice.json(), 'forbidden');
  });
});

describe('security headers', () => {
  it.each([
    ['/healthz', 200],
    ['/metrics', 200],
    ['/openapi.json', 200],
    ['/v1/nope', 404],
  ])('%s carries nosniff and frame protection', async (pathname, status) => {
    const response = await fetch(svc.url + pathname);
    expect(response.status).toBe(status);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toMatch(/^(DENY|SAMEORIGIN)$/);
    expect(response.headers.get('referrer-policy')).toBeTruthy();
    await response.arrayBuffer();
  });

  it('errors thrown by handlers carry them too', async () => {
    const response = await svc.request('/v1/patients', undefined);
    expect(response.status).toBe(401);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-powered-by')).toBeNull();
    await response.arrayBuffer();
  });

  it('every response has a request id', async () => {
    const response = await fetch(`${svc.url}/healthz`);
    expect(response.headers.get('x-request-id')).toMatch(/^[\w-]{8,}$/);
    await response.arrayBuffer();
  });
});
