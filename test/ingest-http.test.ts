import { createHash } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { sample, samples } from './helpers/fixtures.ts';
import { ADMIN_TOKEN, startTestService, type TestService } from './helpers/service.ts';

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.stop());

describe('POST /v1/readings accepts each reading type', () => {
  it('stores a blood pressure reading and reads it back', async () => {
    const device = await svc.provision('bp_monitor');
    const response = await svc.postReadings(device.token, sample('bp_monitor', 'valid'));
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body).toMatchObject({
      accepted: 1,
      duplicates: 0,
      rejected: 0,
      results: [{ index: 0, status: 'accepted' }],
    });
    const { readings } = await svc.readings(device.patientId, '?type=blood_pressure');
    expect(readings).toEqual([
      {
        id: body.results[0].readingId,
        deviceId: device.deviceId,
        type: 'blood_pressure',
        measuredAt: '2026-11-21T12:58:00.000Z',
        receivedAt: expect.any(String),
        systolic: 142,
        diastolic: 91,
        pulse: 72,
        unit: 'mmHg',
      },
    ]);
  });

  it('converts weight in lb and g to kg, keeping the unit sent', async () => {
    const device = await svc.provision('scale');
    for (const name of ['valid', 'valid-lb', 'valid-g']) {
      expect((await svc.postReadings(device.token, sample('scale', name))).status).toBe(200);
    }
    const { readings } = await svc.readings(device.patientId, '?type=weight');
    const byUnit = Object.fromEntries(readings.map((r) => [r.sentUnit, r]));
    expect(byUnit.lb).toMatchObject({ value: 82.327, unit: 'kg' }); // 181.5 lb × 0.45359237
    expect(byUnit.g).toMatchObject({ value: 82, unit: 'kg' });
    expect(byUnit.kg).toMatchObject({ unit: 'kg', value: sample('scale', 'valid').value });
  });

  it('stores SpO2 with its pulse', async () => {
    const device = await svc.provision('pulse_oximeter');
    expect((await svc.postReadings(device.token, sample('pulse_oximeter', 'valid'))).status).toBe(200);
    const { readings } = await svc.readings(device.patientId, '?type=spo2');
    expect(readings[0]).toMatchObject({ type: 'spo2', value: sample('pulse_oximeter', 'valid').value, unit: '%' });
  });

  it('accepts epoch milliseconds and batches', async () => {
    const device = await svc.provision('bp_monitor');
    const response = await svc.postReadings(device.token, sample('bp_monitor', 'valid-batch'));
    const body = await response.json();
    expect(response.status).toBe(200);
    expect(body.accepted).toBe((sample('bp_monitor', 'valid-batch').readings as unknown[]).length);
  });
});

describe('bad readings are refused with the field named, and kept', () => {
  for (const kind of ['bp_monitor', 'scale', 'pulse_oximeter'] as const) {
    for (const { name, payload } of samples(kind, 'invalid-')) {
      it(`${kind}/${name}`, async () => {
        const device = await svc.provision(kind);
        const response = await svc.postReadings(device.token, payload);
        expect(response.status).toBe(422);
        const body = await response.json();
        expect(body).toMatchObject({ accepted: 0, duplicates: 0, rejected: 1 });
        const errors = body.results[0].errors as Array<{ path: string; message: string }>;
        expect(errors.length).toBeGreaterThan(0);
        for (const error of errors) {
          expect(error.path).not.toBe('');
          expect(error.message).toMatch(/\w+/);
        }
        const [rejection] = await svc.rejections(device.deviceId);
        expect(rejection).toMatchObject({ reason: 'invalid', payload, errors });
      });
    }
  }

  const bounds: Array<[string, Record<string, unknown>, string, string]> = [
    ['systolic above 300', { systolic: 301 }, 'systolic', 'must be at most 300'],
    ['systolic below 50', { systolic: 49 }, 'systolic', 'must be at least 50'],
    ['diastolic above 200', { systolic: 250, diastolic: 201 }, 'diastolic', 'must be at most 200'],
    ['diastolic below 20', { diastolic: 19 }, 'diastolic', 'must be at least 20'],
    ['systolic not above diastolic', { systolic: 90, diastolic: 90 }, 'systolic', 'must be greater than diastolic'],
    ['pulse above 250', { pulse: 251 }, 'pulse', 'must be at most 250'],
    ['pulse below 20', { pulse: 19 }, 'pulse', 'must be at least 20'],
    ['unit other than mmHg', { unit: 'kPa' }, 'unit', 'must be "mmHg"'],
    ['unknown field', { cuff: 'large' }, 'cuff', 'is not a known field'],
    ['systolic as a string', { systolic: '120' }, 'systolic', 'must be a number, not a string'],
    ['measuredAt missing', { measuredAt: undefined }, 'measuredAt', 'is required'],
    ['measuredAt before 2020', { measuredAt: '2019-12-31T23:59:59Z' }, 'measuredAt', 'must not be before 2020-01-01'],
    [
      'measuredAt 11 minutes ahead',
      { measuredAt: Date.now() + 11 * 60_000 },
      'measuredAt',
      'must not be more than 10 minutes after',
    ],
    ['measuredAt without offset', { measuredAt: '2026-11-20T07:58:00' }, 'measuredAt', 'RFC 3339'],
    ['measuredAt as fractional epoch', { measuredAt: 1763816280000.5 }, 'measuredAt', 'RFC 3339'],
  ];
  for (const [what, change, path, message] of bounds) {
    it(`blood pressure: ${what}`, async () => {
      const device = await svc.provision('bp_monitor');
      const reading = {
        type: 'blood_pressure',
        measuredAt: minutesAgo(5),
        systolic: 120,
        diastolic: 80,
        pulse: 70,
        ...change,
      };
      const response = await svc.postReadings(device.token, reading);
      expect(response.status).toBe(422);
      const body = await response.json();
      expect(body.results[0].errors).toContainEqual({ path, message: expect.stringContaining(message) });
    });
  }

  const otherBounds: Array<[string, Record<string, unknown>, string, string]> = [
    ['weight over 400 kg', { type: 'weight', value: 882, unit: 'lb' }, 'value', 'from 2 to 400 kg'],
    ['weight under 2 kg', { type: 'weight', value: 1999, unit: 'g' }, 'value', 'from 2 to 400 kg'],
    ['weight in stone', { type: 'weight', value: 12, unit: 'st' }, 'unit', 'must be one of "kg", "lb", "g"'],
    ['SpO2 over 100', { type: 'spo2', value: 100.5 }, 'value', 'must be at most 100'],
    ['SpO2 under 50', { type: 'spo2', value: 49 }, 'value', 'must be at least 50'],
    ['unknown type', { type: 'glucose', value: 5 }, 'type', 'must be one of'],
  ];
  for (const [what, reading, path, message] of otherBounds) {
    it(what, async () => {
      const device = await svc.provision('scale');
      const response = await svc.postReadings(device.token, { measuredAt: minutesAgo(5), ...reading });
      expect(response.status).toBe(422);
      expect((await response.json()).results[0].errors).toContainEqual({
        path,
        message: expect.stringContaining(message),
      });
    });
  }

  it('a batch is judged item by item: good ones stored, bad ones named by index', async () => {
    const device = await svc.provision('bp_monitor');
    const good = { type: 'blood_pressure', measuredAt: minutesAgo(3), systolic: 130, diastolic: 85 };
    const response = await svc.postReadings(device.token, {
      readings: [good, { ...good, measuredAt: minutesAgo(2), systolic: 400 }, { ...good, measuredAt: minutesAgo(1) }],
    });
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body).toMatchObject({ accepted: 2, duplicates: 0, rejected: 1 });
    expect(body.results.map((r: { status: string }) => r.status)).toEqual(['accepted', 'rejected', 'accepted']);
    expect(body.results[1]).toEqual({
      index: 1,
      status: 'rejected',
      errors: [{ path: 'systolic', message: 'must be at most 300' }],
    });
    expect((await svc.readings(device.patientId)).readings).toHaveLength(2);
  });
});

describe('duplicates', () => {
  it('the same id twice is acknowledged and stored once', async () => {
    const device = await svc.provision('bp_monitor');
    const reading = sample('bp_monitor', 'valid');
    const first = await (await svc.postReadings(device.token, reading)).json();
    const second = await svc.postReadings(device.token, reading);
    expect(second.status).toBe(200);
    expect(await second.json()).toMatchObject({
      accepted: 0,
      duplicates: 1,
      results: [{ status: 'duplicate', readingId: first.results[0].readingId }],
    });
    expect((await svc.readings(device.patientId)).readings).toHaveLength(1);
    expect(await svc.rejections(device.deviceId)).toEqual([]);
  });

  it('without an id, the same type and measuredAt is a duplicate, also within one batch', async () => {
    const device = await svc.provision('bp_monitor');
    const at = minutesAgo(4);
    const reading = { type: 'blood_pressure', measuredAt: at, systolic: 120, diastolic: 80 };
    // The same instant written two ways is the same measurement.
    const body = await (
      await svc.postReadings(device.token, { readings: [reading, { ...reading, measuredAt: Date.parse(at) }] })
    ).json();
    expect(body).toMatchObject({ accepted: 1, duplicates: 1 });
    expect(body.results[1].readingId).toBe(body.results[0].readingId);
  });

  it('a duplicate whose content differs is acknowledged, not stored, and kept as a conflict', async () => {
    const device = await svc.provision('bp_monitor');
    const reading = { id: 'msg-1', type: 'blood_pressure', measuredAt: minutesAgo(4), systolic: 120, diastolic: 80 };
    await svc.postReadings(device.token, reading);
    const body = await (await svc.postReadings(device.token, { ...reading, systolic: 160 })).json();
    expect(body).toMatchObject({ duplicates: 1, results: [{ status: 'duplicate' }] });
    const { readings } = await svc.readings(device.patientId);
    expect(readings).toHaveLength(1);
    expect(readings[0]!.systolic).toBe(120);
    const [conflict] = await svc.rejections(device.deviceId);
    expect(conflict).toMatchObject({ reason: 'conflict', payload: { systolic: 160 }, errors: [{ path: 'id' }] });
  });

  it('message ids are per device', async () => {
    const a = await svc.provision('bp_monitor');
    const b = await svc.provision('bp_monitor', a.patientId);
    const reading = { id: 'same', type: 'blood_pressure', measuredAt: minutesAgo(4), systolic: 120, diastolic: 80 };
    expect((await (await svc.postReadings(a.token, reading)).json()).accepted).toBe(1);
    expect((await (await svc.postReadings(b.token, reading)).json()).accepted).toBe(1);
  });
});

describe('whole-message errors', () => {
  it('401 without a token, with an unknown token, and with a revoked (rotated) token', async () => {
    const device = await svc.provision('bp_monitor');
    const reading = sample('bp_monitor', 'valid');
    const none = await fetch(`${svc.url}/v1/readings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(none.status).toBe(401);
    expect((await none.json()).error.code).toBe('unauthorized');
    expect((await svc.postReadings('hwd_not-a-token', reading)).status).toBe(401);
    const rotated = await (await svc.admin(`/v1/devices/${device.deviceId}/token`, { method: 'POST' })).json();
    expect((await svc.postReadings(device.token, reading)).status).toBe(401);
    expect((await svc.postReadings(rotated.token, reading)).status).toBe(200);
  });

  it('the admin token cannot post readings', async () => {
    expect((await svc.postReadings(ADMIN_TOKEN, sample('bp_monitor', 'valid'))).status).toBe(403);
  });

  it('400 for a body that is not JSON, kept among the rejections as sent', async () => {
    const device = await svc.provision('bp_monitor');
    const response = await svc.postReadings(device.token, '{"type": "blood_pressure", systolic: 120');
    expect(response.status).toBe(400);
    expect((await response.json()).error).toMatchObject({
      code: 'invalid_json',
      message: expect.any(String),
      details: [expect.any(Object)],
    });
    const [rejection] = await svc.rejections(device.deviceId);
    expect(rejection).toMatchObject({ reason: 'malformed', rawPayload: '{"type": "blood_pressure", systolic: 120' });
  });

  it('400 for JSON that is neither a reading nor a readings array', async () => {
    const device = await svc.provision('bp_monitor');
    for (const body of ['[1,2]', '42', 'null', '{"readings": 5}', '{"readings": [], "extra": 1}']) {
      const response = await svc.postReadings(device.token, body);
      expect(response.status, body).toBe(400);
      expect((await response.json()).error.code).toBe('bad_request');
    }
  });

  it('413 for more than 1000 readings or a body over 1 MiB, the body (its first 4 KiB if over 1 MiB) kept among the rejections', async () => {
    // Its own service: the server answers 413 without reading the body and closes that connection.
    const svc = await startTestService();
    onTestFinished(() => svc.stop());
    const device = await svc.provision('bp_monitor');
    const reading = { type: 'blood_pressure', measuredAt: minutesAgo(5), systolic: 120, diastolic: 80 };
    const tooMany = await svc.postReadings(device.token, { readings: Array.from({ length: 1001 }, () => reading) });
    expect(tooMany.status).toBe(413);
    expect((await tooMany.json()).error.details).toEqual([
      { path: 'readings', message: 'must have at most 1000 items, got 1001' },
    ]);
    const huge = await svc.postReadings(device.token, { readings: [{ ...reading, id: 'x'.repeat(1024 * 1024) }] });
    expect(huge.status).toBe(413);
    expect((await huge.json()).error.code).toBe('payload_too_large');
    // Sent in chunks, with no Content-Length to refuse it by: counted as it arrives.
    const body = JSON.stringify({ readings: [{ ...reading, id: 'y'.repeat(1024 * 1024) }] });
    const chunked = await fetch(`${svc.url}/v1/readings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${device.token}`, 'content-type': 'application/json' },
      body: new Blob([body]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect((await chunked.json()).error.code).toBe('payload_too_large');
    expect((await svc.readings(device.patientId)).readings).toEqual([]);
    const rejections = await svc.rejections(device.deviceId);
    expect(rejections.map((r) => r.reason)).toEqual(['malformed', 'malformed', 'malformed']);
    // Each is over 16 KiB, so only its first 4 KiB is kept, with its size (when known) and, when it was
    // read whole, its SHA-256. Newest first: chunked, over 1 MiB, 1001 readings.
    for (const { rawPayload } of rejections) {
      expect(rawPayload).toHaveLength(4096);
      expect(rawPayload).toMatch(/^\{"readings":\[\{"type":"blood_pressure"/);
    }
    const tooManyBody = JSON.stringify({ readings: Array.from({ length: 1001 }, () => reading) });
    expect(rejections.map(({ truncated, bytes, sha256 }) => ({ truncated, bytes, sha256 }))).toEqual([
      { truncated: true, bytes: null, sha256: null },
      { truncated: true, bytes: expect.any(Number), sha256: null },
      {
        truncated: true,
        bytes: Buffer.byteLength(tooManyBody),
        sha256: createHash('sha256').update(tooManyBody).digest('hex'),
      },
    ]);
    expect(rejections[1]!.bytes).toBeGreaterThan(1024 * 1024);
  });

  it('after a 413 for a body over 1 MiB, the same keep-alive connection takes the next request', async () => {
    const svc = await startTestService();
    onTestFinished(() => svc.stop());
    const device = await svc.provision('bp_monitor');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    onTestFinished(() => agent.destroy());
    const { hostname, port } = new URL(svc.url);
    const post = (body: string) =>
      new Promise<{ status: number; reusedSocket: boolean }>((resolve, reject) => {
        const headers = {
          authorization: `Bearer ${device.token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        };
        const request = http.request(
          { hostname, port, method: 'POST', path: '/v1/readings', agent, headers },
          (response) => {
            response
              .resume()
              .on('end', () => resolve({ status: response.statusCode!, reusedSocket: request.reusedSocket }));
          },
        );
        request.on('error', reject).end(body);
      });
    const reading = { type: 'blood_pressure', measuredAt: minutesAgo(5), systolic: 120, diastolic: 80 };
    expect(await post(JSON.stringify({ readings: [{ ...reading, id: 'z'.repeat(2 * 1024 * 1024) }] }))).toEqual({
      status: 413,
      reusedSocket: false,
    });
    expect(await post(JSON.stringify(reading))).toEqual({ status: 200, reusedSocket: true });
  });

  it('415 for a body that is not application/json (charset allowed)', async () => {
    const device = await svc.provision('bp_monitor');
    const reading = sample('bp_monitor', 'valid');
    const response = await svc.postReadings(device.token, reading, 'text/plain');
    expect(response.status).toBe(415);
    expect((await response.json()).error.code).toBe('unsupported_media_type');
    expect((await svc.postReadings(device.token, reading, 'application/json; charset=utf-8')).status).toBe(200);
  });

  it('422 with every reading rejected when the device has no patient', async () => {
    const created = await (await svc.admin('/v1/devices', { method: 'POST', body: { kind: 'scale' } })).json();
    const response = await svc.postReadings(created.token, sample('scale', 'valid'));
    expect(response.status).toBe(422);
    expect((await svc.rejections(created.id))[0]).toMatchObject({ reason: 'unassigned' });
  });
});

describe('rate limit', () => {
  it('429 with Retry-After over DEVICE_RATE_LIMIT; a batch counts once', async () => {
    const limited = await startTestService({ DEVICE_RATE_LIMIT: '3' });
    try {
      const device = await limited.provision('bp_monitor');
      const batch = {
        readings: [0, 1, 2, 3, 4].map((i) => ({
          type: 'blood_pressure',
          measuredAt: minutesAgo(10 + i),
          systolic: 120,
          diastolic: 80,
        })),
      };
      for (let i = 0; i < 3; i++) expect((await limited.postReadings(device.token, batch)).status).toBe(200);
      const refused = await limited.postReadings(device.token, batch);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect((await refused.json()).error.code).toBe('rate_limited');
      // Another device is not affected.
      const other = await limited.provision('bp_monitor');
      expect((await limited.postReadings(other.token, batch)).status).toBe(200);
    } finally {
      await limited.stop();
    }
  });
});

describe('provisioning', () => {
  it('refuses unknown fields and bad values with the field named', async () => {
    const response = await svc.admin('/v1/patients', {
      method: 'POST',
      body: { name: '', timezone: 'Mars/Olympus', ssn: '1' },
    });
    expect(response.status).toBe(422);
    const { error } = await response.json();
    expect(error.code).toBe('validation_failed');
    expect(error.details).toEqual(
      expect.arrayContaining([
        { path: 'name', message: 'must not be empty' },
        { path: 'timezone', message: expect.stringContaining('IANA') },
        { path: 'ssn', message: 'is not a known field' },
      ]),
    );
    const device = await svc.admin('/v1/devices', { method: 'POST', body: { kind: 'thermometer', patientId: 'nope' } });
    expect(device.status).toBe(422);
  });

  it('returns the device token once and never again', async () => {
    const patientId = await svc.createPatient();
    const created = await (
      await svc.admin('/v1/devices', { method: 'POST', body: { kind: 'scale', serial: 'SN-1', patientId } })
    ).json();
    expect(created).toMatchObject({
      id: expect.any(String),
      token: expect.stringMatching(/^hwd_/),
      kind: 'scale',
      serial: 'SN-1',
      patientId,
    });
    const fetched = await (await svc.admin(`/v1/devices/${created.id}`)).json();
    expect(fetched).not.toHaveProperty('token');
    expect(JSON.stringify(fetched)).not.toContain(created.token);
  });

  it('re-assigning a device sends its next readings to the new patient', async () => {
    const device = await svc.provision('scale');
    const other = await svc.createPatient('Other');
    const moved = await svc.admin(`/v1/devices/${device.deviceId}/patient`, {
      method: 'PUT',
      body: { patientId: other },
    });
    expect(await moved.json()).toMatchObject({ id: device.deviceId, patientId: other });
    await svc.postReadings(device.token, sample('scale', 'valid'));
    expect((await svc.readings(other)).readings).toHaveLength(1);
    expect((await svc.readings(device.patientId)).readings).toHaveLength(0);
  });

  it('provisioning needs the admin token', async () => {
    const device = await svc.provision('scale');
    expect((await svc.request('/v1/patients', undefined)).status).toBe(401);
    expect((await svc.request('/v1/patients', device.token)).status).toBe(403);
    expect((await svc.request(`/v1/devices/${device.deviceId}/rejections`, device.token)).status).toBe(403);
    expect((await svc.request(`/v1/patients/${device.patientId}`, 'wrong-token-0123456789')).status).toBe(401);
  });
});
