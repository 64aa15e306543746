/**
 * Device ingest over the embedded MQTT broker (no MQTT_URL): authentication, per-device topic ACLs,
 * PUBACK-after-commit, the results topic, de-duplication, rejections, rate limiting, re-assignment.
 */
import { randomUUID } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type ProvisionedDevice, type TestService } from './helpers/service.ts';

const LB_TO_KG = 0.45359237;
const ago = (ms: number) => Date.now() - ms;
const isoAgo = (ms: number) => new Date(ago(ms)).toISOString();

const readingsTopic = (deviceId: string) => `rpm/devices/${deviceId}/readings`;
const resultsTopic = (deviceId: string) => `rpm/devices/${deviceId}/results`;

/** Buffers every message a client receives, so none is missed between publishing and waiting. */
class Inbox {
  readonly #messages: Array<{ topic: string; payload: string }> = [];
  readonly #waiters = new Set<() => void>();

  constructor(client: MqttClient) {
    client.on('message', (topic, payload) => {
      this.#messages.push({ topic, payload: payload.toString('utf8') });
      for (const wake of this.#waiters) wake();
    });
  }

  /** The next not yet taken message on `topic`, parsed as JSON. */
  async next(topic: string, timeoutMs = 5_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.#messages.findIndex((m) => m.topic === topic);
      if (index >= 0) return JSON.parse(this.#messages.splice(index, 1)[0]!.payload);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message on ${topic} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
  }
}

const openClients = new Set<MqttClient>();
afterEach(async () => {
  await Promise.all([...openClients].map((c) => c.endAsync(true).catch(() => {})));
  openClients.clear();
});

function connect(url: string, username: string, password: string, extra: IClientOptions = {}) {
  return mqtt.connectAsync(url, {
    username,
    password,
    clientId: `test-${randomUUID()}`,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    ...extra,
  });
}

/** A connected device, subscribed to its own results topic. */
async function connectDevice(svc: TestService, device: ProvisionedDevice) {
  const client = await connect(svc.mqttUrl, device.deviceId, device.token);
  openClients.add(client);
  const inbox = new Inbox(client);
  const [grant] = await client.subscribeAsync(resultsTopic(device.deviceId), { qos: 1 });
  expect(grant?.qos).toBe(1);
  /** Publishes (QoS 1, resolves on PUBACK) and returns the answer from the results topic. */
  const send = async (payload: unknown) => {
    await client.publishAsync(
      readingsTopic(device.deviceId),
      typeof payload === 'string' ? payload : JSON.stringify(payload),
      { qos: 1 },
    );
    return inbox.next(resultsTopic(device.deviceId));
  };
  return { client, inbox, send };
}

async function acceptedMqttReadings(svc: TestService): Promise<number> {
  const text = await (await fetch(`${svc.url}/metrics`)).text();
  const match = /^homewatch_readings_total\{transport="mqtt",outcome="accepted"\} (\d+(?:\.\d+)?)$/m.exec(text);
  return match ? Number(match[1]) : 0;
}

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.stop();
});

describe('embedded broker: PUBACK means committed, the answer comes on the results topic', () => {
  it('blood_pressure', async () => {
    const device = await svc.provision('bp_monitor');
    const { client, inbox } = await connectDevice(svc, device);
    const measuredAt = isoAgo(60_000);
    await client.publishAsync(
      readingsTopic(device.deviceId),
      JSON.stringify({
        id: 'bp-1',
        type: 'blood_pressure',
        measuredAt,
        systolic: 142,
        diastolic: 91,
        pulse: 72,
        unit: 'mmHg',
      }),
      { qos: 1 },
    );
    // PUBACK received: no waiting, the reading must already be there.
    const { readings } = await svc.readings(device.patientId);
    const result = await inbox.next(resultsTopic(device.deviceId));
    expect(result).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: 0,
      results: [{ index: 0, status: 'accepted', readingId: expect.any(String) }],
    });
    expect(readings).toEqual([
      {
        id: result.results[0].readingId,
        deviceId: device.deviceId,
        type: 'blood_pressure',
        measuredAt,
        receivedAt: expect.any(String),
        systolic: 142,
        diastolic: 91,
        pulse: 72,
        unit: 'mmHg',
      },
    ]);
  });

  it('weight in lb is stored in kg (× 0.45359237), keeping the unit sent', async () => {
    const device = await svc.provision('scale');
    const { client, inbox } = await connectDevice(svc, device);
    const measuredAt = ago(120_000);
    await client.publishAsync(
      readingsTopic(device.deviceId),
      JSON.stringify({ id: 'w-1', type: 'weight', measuredAt, value: 181.5, unit: 'lb' }),
      { qos: 1 },
    );
    const { readings } = await svc.readings(device.patientId);
    const result = await inbox.next(resultsTopic(device.deviceId));
    expect(result).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: 0,
      results: [{ index: 0, status: 'accepted', readingId: expect.any(String) }],
    });
    expect(readings).toHaveLength(1);
    expect(readings[0]).toMatchObject({
      id: result.results[0].readingId,
      deviceId: device.deviceId,
      type: 'weight',
      measuredAt: new Date(measuredAt).toISOString(),
      unit: 'kg',
      sentUnit: 'lb',
    });
    expect(readings[0]!.value).toBeCloseTo(181.5 * LB_TO_KG, 3); // 82.327
  });

  it('spo2', async () => {
    const device = await svc.provision('pulse_oximeter');
    const { client, inbox } = await connectDevice(svc, device);
    const measuredAt = isoAgo(30_000);
    await client.publishAsync(
      readingsTopic(device.deviceId),
      JSON.stringify({ id: 'o-1', type: 'spo2', measuredAt, value: 94, pulse: 80 }),
      { qos: 1 },
    );
    const { readings } = await svc.readings(device.patientId);
    const result = await inbox.next(resultsTopic(device.deviceId));
    expect(result).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: 0,
      results: [{ index: 0, status: 'accepted', readingId: expect.any(String) }],
    });
    expect(readings).toEqual([
      {
        id: result.results[0].readingId,
        deviceId: device.deviceId,
        type: 'spo2',
        measuredAt,
        receivedAt: expect.any(String),
        value: 94,
        pulse: 80,
        unit: '%',
      },
    ]);
  });
});

describe('embedded broker: results only to a device that subscribed, from then on', () => {
  it('stores a reading from a device that never subscribed; once it subscribes (a wildcard over its own topics), its results come', async () => {
    const device = await svc.provision('pulse_oximeter');
    const client = await connect(svc.mqttUrl, device.deviceId, device.token);
    openClients.add(client);
    const inbox = new Inbox(client);
    await client.publishAsync(
      readingsTopic(device.deviceId),
      JSON.stringify({ id: 'quiet-1', type: 'spo2', measuredAt: isoAgo(120_000), value: 95 }),
      { qos: 1 },
    );
    expect((await svc.readings(device.patientId)).readings).toHaveLength(1);

    const [grant] = await client.subscribeAsync(`rpm/devices/${device.deviceId}/#`, { qos: 1 });
    expect(grant?.qos).toBe(1);
    await client.publishAsync(
      readingsTopic(device.deviceId),
      JSON.stringify({ id: 'heard-2', type: 'spo2', measuredAt: isoAgo(60_000), value: 96 }),
      { qos: 1 },
    );
    const result = await inbox.next(resultsTopic(device.deviceId));
    expect(result).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: 0,
      results: [{ index: 0, status: 'accepted', readingId: expect.any(String) }],
    });
    expect((await svc.readings(device.patientId)).readings).toHaveLength(2);
  });
});

describe('embedded broker: batches, duplicates, bad payloads', () => {
  it('a batch with one bad item: per-item statuses, the bad one names its field and is kept among the rejections', async () => {
    const device = await svc.provision('bp_monitor');
    const { send } = await connectDevice(svc, device);
    const bad = { id: 'b-2', type: 'blood_pressure', measuredAt: ago(180_000), systolic: 400, diastolic: 90 };
    const result = await send({
      readings: [
        { id: 'b-1', type: 'blood_pressure', measuredAt: ago(240_000), systolic: 130, diastolic: 85 },
        bad,
        { id: 'b-3', type: 'blood_pressure', measuredAt: ago(120_000), systolic: 128, diastolic: 82, pulse: 70 },
      ],
    });
    expect(result).toEqual({
      accepted: 2,
      duplicates: 0,
      rejected: 1,
      results: [
        { index: 0, status: 'accepted', readingId: expect.any(String) },
        { index: 1, status: 'rejected', errors: [{ path: 'systolic', message: expect.any(String) }] },
        { index: 2, status: 'accepted', readingId: expect.any(String) },
      ],
    });
    const { readings } = await svc.readings(device.patientId);
    expect(readings.map((r) => r.id)).toEqual([result.results[0].readingId, result.results[2].readingId]);
    const rejections = await svc.rejections(device.deviceId);
    expect(rejections).toHaveLength(1);
    expect(rejections[0]).toMatchObject({ reason: 'invalid', payload: bad, errors: [{ path: 'systolic' }] });
  });

  it('the same message twice (same id): the second is a duplicate with the same readingId, stored once', async () => {
    const device = await svc.provision('bp_monitor');
    const { send } = await connectDevice(svc, device);
    const message = { id: 'dup-1', type: 'blood_pressure', measuredAt: isoAgo(60_000), systolic: 135, diastolic: 88 };
    const first = await send(message);
    const second = await send(message);
    expect(first).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: 0,
      results: [{ index: 0, status: 'accepted', readingId: expect.any(String) }],
    });
    expect(second).toEqual({
      accepted: 0,
      duplicates: 1,
      rejected: 0,
      results: [{ index: 0, status: 'duplicate', readingId: first.results[0].readingId }],
    });
    const { readings } = await svc.readings(device.patientId);
    expect(readings.map((r) => r.id)).toEqual([first.results[0].readingId]);
    expect(await svc.rejections(device.deviceId)).toEqual([]); // identical content: not a conflict
  });

  it('invalid JSON: answered with invalid_json and kept among the rejections as malformed', async () => {
    const device = await svc.provision('bp_monitor');
    const { send } = await connectDevice(svc, device);
    const raw = '{"type": "blood_pressure", "systolic": 1';
    const result = await send(raw);
    expect(result).toEqual({ error: expect.objectContaining({ code: 'invalid_json', message: expect.any(String) }) });
    const rejections = await svc.rejections(device.deviceId);
    expect(rejections).toHaveLength(1);
    expect(rejections[0]).toMatchObject({ reason: 'malformed', rawPayload: raw });
    expect((await svc.readings(device.patientId)).readings).toEqual([]);
  });
});

describe('embedded broker: authentication', () => {
  const refusedWithBadCredentials = async (promise: Promise<MqttClient>) => {
    const error = (await promise.then(
      (client) => {
        openClients.add(client);
        return undefined;
      },
      (e: unknown) => e,
    )) as (Error & { code?: number }) | undefined;
    expect(error, 'the connection should have been refused').toBeInstanceOf(Error);
    expect(error!.code).toBe(4);
    expect(error!.message).toMatch(/Bad username or password/);
  };

  it('refuses a wrong password', async () => {
    const device = await svc.provision('bp_monitor');
    await refusedWithBadCredentials(connect(svc.mqttUrl, device.deviceId, `${device.token}x`));
  });

  it('refuses an unknown username', async () => {
    const device = await svc.provision('bp_monitor');
    await refusedWithBadCredentials(connect(svc.mqttUrl, randomUUID(), device.token));
  });

  it("refuses a device that uses another device's id with its own token", async () => {
    const mine = await svc.provision('bp_monitor');
    const other = await svc.provision('bp_monitor');
    await refusedWithBadCredentials(connect(svc.mqttUrl, other.deviceId, mine.token));
  });

  it('accepts the right id and token', async () => {
    const device = await svc.provision('bp_monitor');
    const client = await connect(svc.mqttUrl, device.deviceId, device.token);
    openClients.add(client);
    expect(client.connected).toBe(true);
  });

  it('a connection signed in with a token rotated since stores nothing more: no PUBACK, it is closed; the new token signs in', async () => {
    const device = await svc.provision('bp_monitor');
    const { client, send } = await connectDevice(svc, device);
    const reading = (minutesAgo: number) => ({
      type: 'blood_pressure',
      measuredAt: isoAgo(minutesAgo * 60_000),
      systolic: 120,
      diastolic: 80,
    });
    expect((await send(reading(3))).accepted).toBe(1);

    const rotated = await svc.admin(`/v1/devices/${device.deviceId}/token`, { method: 'POST' });
    expect(rotated.status).toBe(200);
    const { token } = (await rotated.json()) as { token: string };

    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const outcome = client.publishAsync(readingsTopic(device.deviceId), JSON.stringify(reading(2)), { qos: 1 }).then(
      () => 'puback',
      () => 'no puback',
    );
    await closed;
    await client.endAsync(true); // settles the unacknowledged publish
    expect(await outcome).toBe('no puback');
    expect((await svc.readings(device.patientId)).readings).toHaveLength(1);

    const again = await connectDevice(svc, { ...device, token });
    expect((await again.send(reading(2))).accepted).toBe(1);
    expect((await svc.readings(device.patientId)).readings).toHaveLength(2);
  });

  it('a connection signed in with a token rotated since, only subscribed, is told no more results: it is closed', async () => {
    const device = await svc.provision('bp_monitor');
    const leaked = await connectDevice(svc, device);
    const rotated = await svc.admin(`/v1/devices/${device.deviceId}/token`, { method: 'POST' });
    const { token } = (await rotated.json()) as { token: string };
    const closed = new Promise<void>((resolve) => leaked.client.once('close', () => resolve()));

    const current = await connectDevice(svc, { ...device, token });
    const reading = { type: 'blood_pressure', measuredAt: isoAgo(60_000), systolic: 120, diastolic: 80 };
    expect((await current.send(reading)).accepted).toBe(1);
    await expect(leaked.inbox.next(resultsTopic(device.deviceId), 1_000)).rejects.toThrow(/no message/);
    await closed;
  });
});

describe('embedded broker: topic access', () => {
  it("a device publishing to another device's readings topic is disconnected and nothing is stored", async () => {
    const mine = await svc.provision('bp_monitor');
    const other = await svc.provision('bp_monitor');
    const client = await connect(svc.mqttUrl, mine.deviceId, mine.token);
    openClients.add(client);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const acked = client.publishAsync(
      readingsTopic(other.deviceId),
      JSON.stringify({ type: 'blood_pressure', measuredAt: ago(60_000), systolic: 120, diastolic: 80 }),
      { qos: 1 },
    );
    const outcome = acked.then(
      () => 'puback',
      () => 'no puback',
    );
    await closed;
    await client.endAsync(true); // flushes the unacknowledged publish
    expect(await outcome).toBe('no puback');
    expect((await svc.readings(other.patientId)).readings).toEqual([]);
    expect((await svc.readings(mine.patientId)).readings).toEqual([]);
  });

  it("subscribing to another device's results topic, or to a wildcard over all devices, gets a SUBACK failure (0x80)", async () => {
    const mine = await svc.provision('bp_monitor');
    const other = await svc.provision('bp_monitor');
    const client = await connect(svc.mqttUrl, mine.deviceId, mine.token);
    openClients.add(client);

    for (const topic of [resultsTopic(other.deviceId), 'rpm/devices/+/results', 'rpm/#']) {
      const error = (await client.subscribeAsync(topic, { qos: 1 }).then(
        () => undefined,
        (e: unknown) => e,
      )) as (Error & { packet?: { granted?: number[] } }) | undefined;
      expect(error, `subscribing to ${topic} should fail`).toBeInstanceOf(Error);
      expect(error!.packet?.granted, topic).toEqual([128]);
    }
    // Still connected, and its own results topic is granted.
    expect(client.connected).toBe(true);
    const granted = await client.subscribeAsync(resultsTopic(mine.deviceId), { qos: 1 });
    expect(granted).toEqual([{ topic: resultsTopic(mine.deviceId), qos: 1 }]);
  });
});

describe('embedded broker: rate limit', () => {
  it('over DEVICE_RATE_LIMIT a device is slowed down, not refused: every message is stored, the PUBACKs come later', async () => {
    // 60 a minute: a burst of 60, then one a second. 62 sent at once arrive far faster than one a second
    // refills, so the last ones must wait for their PUBACK whatever the machine's load.
    const limited = await startTestService({ DEVICE_RATE_LIMIT: '60' });
    try {
      const device = await limited.provision('pulse_oximeter');
      const { client } = await connectDevice(limited, device);
      const total = 62;
      const started = Date.now();
      await Promise.all(
        Array.from({ length: total }, (_, n) =>
          client.publishAsync(
            readingsTopic(device.deviceId),
            JSON.stringify({ id: `r-${n}`, type: 'spo2', measuredAt: ago(3_600_000 - n * 100), value: 95 }),
            { qos: 1 },
          ),
        ),
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      // Every PUBACK came, so every message is stored: none was dropped or merely kept as a rejection.
      expect((await limited.readings(device.patientId, '?limit=100')).readings).toHaveLength(total);
      expect(await limited.rejections(device.deviceId)).toEqual([]);
      const metrics = await (await fetch(`${limited.url}/metrics`)).text();
      const slowed = Number(
        /homewatch_messages_refused_total\{[^}]*reason="rate_limited"[^}]*\} (\d+)/.exec(metrics)?.[1],
      );
      expect(slowed).toBeGreaterThan(0);
    } finally {
      await Promise.all([...openClients].map((c) => c.endAsync(true).catch(() => {})));
      openClients.clear();
      await limited.stop();
    }
  });
});

describe('embedded broker: re-assignment', () => {
  it('after PUT /v1/devices/{id}/patient the next reading on the same connection goes to the new patient', async () => {
    const device = await svc.provision('scale');
    const { send } = await connectDevice(svc, device);
    const before = await send({ id: 'a-1', type: 'weight', measuredAt: ago(120_000), value: 80, unit: 'kg' });
    expect(before).toMatchObject({ accepted: 1 });

    const newPatient = await svc.createPatient('New Patient');
    const response = await svc.admin(`/v1/devices/${device.deviceId}/patient`, {
      method: 'PUT',
      body: { patientId: newPatient },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ id: device.deviceId, patientId: newPatient });

    const after = await send({ id: 'a-2', type: 'weight', measuredAt: ago(60_000), value: 81, unit: 'kg' });
    expect(after).toMatchObject({ accepted: 1 });
    expect((await svc.readings(newPatient)).readings.map((r) => r.id)).toEqual([after.results[0].readingId]);
    expect((await svc.readings(device.patientId)).readings.map((r) => r.id)).toEqual([before.results[0].readingId]);
  });
});

describe('embedded broker: metrics', () => {
  it('/metrics counts readings accepted over MQTT', async () => {
    const device = await svc.provision('pulse_oximeter');
    const { send } = await connectDevice(svc, device);
    const before = await acceptedMqttReadings(svc);
    expect(await send({ type: 'spo2', measuredAt: ago(60_000), value: 97 })).toMatchObject({ accepted: 1 });
    const response = await fetch(`${svc.url}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toMatch(/^homewatch_readings_total\{transport="mqtt",outcome="accepted"\} \d+$/m);
    const after = await acceptedMqttReadings(svc);
    expect(after).toBeGreaterThan(0);
    expect(after).toBe(before + 1);
  });
});
