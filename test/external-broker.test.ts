/**
 * External broker mode (MQTT_URL) against a real Mosquitto: the shared subscription, results, unknown
 * devices, the persistent session across a restart, and start-up with an unreachable broker.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  killOnExit,
  mosquittoAvailable,
  mosquittoPath,
  requireBinary,
  startMosquitto,
  tail,
  terminate,
  type RunningMosquitto,
} from './helpers/mosquitto.ts';
import { freePort, waitForPort } from './helpers/ports.ts';
import { startTestService, type TestService } from './helpers/service.ts';

const ago = (ms: number) => Date.now() - ms;
const readingsTopic = (deviceId: string) => `rpm/devices/${deviceId}/readings`;
const resultsTopic = (deviceId: string) => `rpm/devices/${deviceId}/results`;

/** Calls `probe` until it returns something other than undefined, or throws with the last state after `timeoutMs`. */
async function poll<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 5_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline)
      throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

async function readyz(svc: TestService) {
  const response = await fetch(`${svc.url}/readyz`);
  return {
    status: response.status,
    body: (await response.json()) as { status: string; checks: Array<{ name: string; ok: boolean; detail?: string }> },
  };
}

const untilReady = (svc: TestService, timeoutMs = 5_000) =>
  poll(
    '/readyz 200',
    async () => {
      const r = await readyz(svc);
      return r.status === 200 ? r : undefined;
    },
    timeoutMs,
  );

/** Polls the patient's readings until there are `count`. */
const untilReadings = (svc: TestService, patientId: string, count: number, timeoutMs = 5_000) =>
  poll(
    `${count} reading(s) for patient ${patientId}`,
    async () => {
      const { readings } = await svc.readings(patientId);
      return readings.length >= count ? readings : undefined;
    },
    timeoutMs,
  );

async function acceptedMqttReadings(svc: TestService): Promise<number> {
  const text = await (await fetch(`${svc.url}/metrics`)).text();
  const match = /^homewatch_readings_total\{transport="mqtt",outcome="accepted"\} (\d+(?:\.\d+)?)$/m.exec(text);
  return match ? Number(match[1]) : 0;
}

/** A Mosquitto on a port chosen by the caller (startMosquitto picks its own), without persistence. */
async function mosquittoOnPort(port: number): Promise<{ stop(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'homewatch-mosquitto-port-'));
  const conf = path.join(dir, 'mosquitto.conf');
  const lines = [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'log_dest stderr'];
  if (process.getuid?.() === 0) lines.push('user root');
  await writeFile(conf, `${lines.join('\n')}\n`);
  const output = tail();
  const child = spawn(mosquittoPath()!, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  killOnExit(child);
  child.stdout?.on('data', (c: Buffer) => output.push(c));
  child.stderr?.on('data', (c: Buffer) => output.push(c));
  const stop = async () => {
    await terminate(child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, {
      abort: () => (child.exitCode !== null ? new Error(`mosquitto exited: ${output.text()}`) : undefined),
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { stop };
}

const openClients = new Set<MqttClient>();
afterEach(async () => {
  await Promise.all([...openClients].map((c) => c.endAsync(true).catch(() => {})));
  openClients.clear();
});

/** A device (or anything) talking to Mosquitto directly, anonymously. */
async function connectAnonymous(url: string) {
  const client = await mqtt.connectAsync(url, {
    clientId: `device-${randomUUID()}`,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
  });
  openClients.add(client);
  return client;
}

function nextMessage(client: MqttClient, topic: string, timeoutMs = 5_000): Promise<any> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`no message on ${topic} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (t: string, payload: Buffer) => {
      if (t !== topic) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve(JSON.parse(payload.toString('utf8')));
    };
    client.on('message', onMessage);
  });
}

describe.skipIf(!requireBinary('mosquitto', mosquittoAvailable()))('external broker (MQTT_URL) with Mosquitto', () => {
  let broker: RunningMosquitto;
  let svc: TestService;
  // Our own DATA_DIR, so that it survives a service restart (startTestService removes only the ones it made).
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    broker = await startMosquitto();
    dataDir = await mkdtemp(path.join(tmpdir(), 'homewatch-external-'));
    env = { MQTT_URL: broker.url, MQTT_CLIENT_ID: `homewatch-test-${randomUUID().slice(0, 8)}` };
    svc = await startTestService(env, dataDir);
  });

  afterAll(async () => {
    await svc?.stop();
    await broker?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('is ready once subscribed; a reading published on Mosquitto is stored and answered on the results topic', async () => {
    const ready = await untilReady(svc);
    expect(ready.body).toMatchObject({
      status: 'ready',
      checks: expect.arrayContaining([expect.objectContaining({ name: 'mqtt', ok: true })]),
    });
    expect(svc.service.mqttPort).toBeUndefined(); // no embedded broker in this mode

    const device = await svc.provision('bp_monitor');
    const client = await connectAnonymous(broker.url);
    await client.subscribeAsync(resultsTopic(device.deviceId), { qos: 1 });
    const result = nextMessage(client, resultsTopic(device.deviceId));
    const measuredAt = new Date(ago(60_000)).toISOString();
    await client.publishAsync(
      readingsTopic(device.deviceId),
      JSON.stringify({ id: 'ext-1', type: 'blood_pressure', measuredAt, systolic: 141, diastolic: 90, pulse: 70 }),
      { qos: 1 },
    );

    const readings = await untilReadings(svc, device.patientId, 1);
    expect(readings).toEqual([
      expect.objectContaining({
        deviceId: device.deviceId,
        type: 'blood_pressure',
        measuredAt,
        systolic: 141,
        diastolic: 90,
        pulse: 70,
      }),
    ]);
    expect(await result).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: 0,
      results: [{ index: 0, status: 'accepted', readingId: readings[0]!.id }],
    });
  });

  it('a message for an unknown device id is kept among its rejections as unknown_device, and nothing is stored', async () => {
    await untilReady(svc);
    const acceptedBefore = await acceptedMqttReadings(svc);
    const unknownId = randomUUID();
    const payload = { id: 'ghost-1', type: 'spo2', measuredAt: ago(60_000), value: 95 };
    const client = await connectAnonymous(broker.url);
    await client.publishAsync(readingsTopic(unknownId), JSON.stringify(payload), { qos: 1 });

    const rejections = await poll('the unknown_device rejection', async () => {
      const list = await svc.rejections(unknownId);
      return list.length ? list : undefined;
    });
    expect(rejections).toHaveLength(1);
    expect(rejections[0]).toMatchObject({ reason: 'unknown_device', payload, rawPayload: JSON.stringify(payload) });
    // The rejection is committed once the message was handled: nothing was stored.
    expect(await acceptedMqttReadings(svc)).toBe(acceptedBefore);
  });

  it('a payload over 1 MiB for an unknown device id is kept only in part, as for a known device', async () => {
    await untilReady(svc);
    const unknownId = randomUUID();
    const client = await connectAnonymous(broker.url);
    await client.publishAsync(readingsTopic(unknownId), JSON.stringify({ junk: 'x'.repeat(2 * 1024 * 1024) }), {
      qos: 1,
    });
    const [rejection] = await poll('the unknown_device rejection', async () => {
      const list = await svc.rejections(unknownId);
      return list.length ? list : undefined;
    });
    expect(rejection!.reason).toBe('unknown_device');
    expect(rejection!.rawPayload.length).toBeLessThanOrEqual(4096);
  });

  it('persistent session: readings published while the service is down arrive after it restarts', async () => {
    await untilReady(svc);
    const device = await svc.provision('scale');
    await svc.stop();

    const client = await connectAnonymous(broker.url);
    const sent = [1, 2, 3].map((n) => ({
      id: `offline-${n}`,
      type: 'weight',
      measuredAt: ago(60_000 * (4 - n)),
      value: 80 + n,
      unit: 'kg',
    }));
    for (const reading of sent) {
      await client.publishAsync(readingsTopic(device.deviceId), JSON.stringify(reading), { qos: 1 });
    }

    svc = await startTestService(env, dataDir);
    const readings = await untilReadings(svc, device.patientId, sent.length);
    expect(readings.map((r) => r.value)).toEqual([81, 82, 83]);
    expect(readings.every((r) => r.deviceId === device.deviceId)).toBe(true);
    await untilReady(svc);
  });

  it('an unreachable broker: the service starts, /readyz is 503 naming mqtt, /healthz is 200; ready once the broker is up', async () => {
    const port = await freePort();
    const down = await startTestService({
      MQTT_URL: `mqtt://127.0.0.1:${port}`,
      MQTT_CLIENT_ID: `homewatch-test-${randomUUID().slice(0, 8)}`,
    });
    let late: { stop(): Promise<void> } | undefined;
    try {
      const notReady = await readyz(down);
      expect(notReady.status).toBe(503);
      expect(notReady.body).toMatchObject({
        status: 'not_ready',
        checks: expect.arrayContaining([expect.objectContaining({ name: 'mqtt', ok: false })]),
      });
      expect(notReady.body.checks.find((c) => c.name === 'database')).toMatchObject({ ok: true });
      const health = await fetch(`${down.url}/healthz`);
      expect(health.status).toBe(200);

      // The broker comes up on that port: the service reconnects (backoff 1 s, 2 s, ...) and becomes ready.
      late = await mosquittoOnPort(port);
      const ready = await untilReady(down, 10_000);
      expect(ready.body.checks.find((c) => c.name === 'mqtt')).toMatchObject({ ok: true });
    } finally {
      await down.stop();
      await late?.stop();
    }
  });
});
