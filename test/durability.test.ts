import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnService, type ProvisionedDevice, type ServiceProcess } from './helpers/service.ts';

/**
 * What is acknowledged is stored: an HTTP 2xx or an MQTT PUBACK is sent only after the commit is fsynced,
 * so a kill -9 right after it loses nothing, and SIGTERM finishes what is in flight before exiting 0.
 */

// High enough that the rate limiter never gets in the way of these bursts.
const ENV = { DEVICE_RATE_LIMIT: '1000000' };

let root: string;
const processes: ServiceProcess[] = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'homewatch-durability-'));
});

afterEach(async () => {
  for (const proc of processes.splice(0)) {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    await proc.exited;
  }
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let dirs = 0;
function newDataDir() {
  return path.join(root, `data-${++dirs}`);
}

async function spawn(dataDir: string) {
  const proc = await spawnService({ ...ENV, DATA_DIR: dataDir });
  processes.push(proc);
  return proc;
}

function withDeadline<T>(promise: Promise<T>, ms: number, what: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${typeof what === 'string' ? what : what()}: not within ${ms} ms`)),
        ms,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// Distinct measurement times, all in the accepted window (not before 2020, not in the future).
const BASE = Date.now() - 7 * 86_400_000;
let serial = 0;
function bp(tag: string) {
  const n = serial++;
  return {
    id: `${tag}-${n}`,
    type: 'blood_pressure',
    measuredAt: BASE + n * 1000,
    systolic: 100 + (n % 100),
    diastolic: 70,
    pulse: 60 + (n % 40),
  };
}
function batch(tag: string, size: number) {
  return { readings: Array.from({ length: size }, () => bp(tag)) };
}

interface IngestBody {
  accepted: number;
  duplicates: number;
  rejected: number;
  results: Array<{ index: number; status: string; readingId?: string }>;
}

/** Every reading the service has for the patient (one page: the tests stay under the 10000 limit). */
async function storedReadings(proc: ServiceProcess, patientId: string) {
  const page = await proc.readings(patientId, '?limit=10000');
  expect(page.next).toBeUndefined();
  return page.readings;
}

describe('SIGKILL right after an acknowledgement loses nothing', () => {
  it('HTTP: every reading of every 200 is there after kill -9 and a restart', async () => {
    const dataDir = newDataDir();
    const first = await spawn(dataDir);
    const device = await first.provision('bp_monitor');

    // One batch of 1000 and several concurrent batches of 200, so group commit puts several in one transaction.
    const bodies = [batch('big', 1000), ...Array.from({ length: 6 }, (_, i) => batch(`c${i}`, 200))];
    const acknowledged: string[] = [];
    let pending = bodies.length;
    let killedAt: number | undefined;
    const outcomes = await Promise.all(
      bodies.map(async (body) => {
        const response = await first.postReadings(device.token, body);
        const answer = (await response.json()) as IngestBody;
        if (response.status === 200) acknowledged.push(...answer.results.map((r) => r.readingId!));
        if (--pending === 0) {
          first.child.kill('SIGKILL'); // the moment the last acknowledgement is in
          killedAt = Date.now();
        }
        return { status: response.status, accepted: answer.accepted };
      }),
    );
    expect(killedAt).toBeDefined();
    expect(outcomes.map((o) => o.status)).toEqual(bodies.map(() => 200));
    expect(outcomes.map((o) => o.accepted)).toEqual(bodies.map((b) => b.readings.length));
    expect(await withDeadline(first.exited, 10_000, 'exit after SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });

    const second = await spawn(dataDir);
    const stored = await storedReadings(second, device.patientId);
    const storedIds = new Set(stored.map((r) => r.id));
    expect(acknowledged).toHaveLength(2200);
    expect(acknowledged.filter((id) => !storedIds.has(id))).toEqual([]);
    expect(stored).toHaveLength(2200);

    // The acknowledged content is what was sent (spot-check the measurement times).
    const sentTimes = new Set(bodies.flatMap((b) => b.readings.map((r) => new Date(r.measuredAt).toISOString())));
    expect(stored.every((r) => sentTimes.has(r.measuredAt as string))).toBe(true);
  });

  it('HTTP: killed while other requests are still in flight, every acknowledged reading is there', async () => {
    const dataDir = newDataDir();
    const first = await spawn(dataDir);
    const device = await first.provision('bp_monitor');

    const acknowledged: string[] = [];
    let acks = 0;
    let killed = false;
    const sent = new Set<string>();
    // Eight clients posting batches of 100 back to back; kill -9 as soon as the 20th 200 has been read.
    const worker = async () => {
      while (!killed) {
        const body = batch('inflight', 100);
        for (const r of body.readings) sent.add(new Date(r.measuredAt).toISOString());
        let response: Response;
        let answer: IngestBody;
        try {
          response = await first.postReadings(device.token, body);
          answer = (await response.json()) as IngestBody;
        } catch {
          return; // the process is gone
        }
        if (response.status !== 200) throw new Error(`unexpected ${response.status}`);
        acknowledged.push(...answer.results.map((r) => r.readingId!));
        if (++acks === 20 && !killed) {
          killed = true;
          first.child.kill('SIGKILL');
        }
      }
    };
    await withDeadline(Promise.all(Array.from({ length: 8 }, worker)), 20_000, 'the workers');
    expect(await withDeadline(first.exited, 10_000, 'exit after SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });

    const second = await spawn(dataDir);
    const stored = await storedReadings(second, device.patientId);
    const storedIds = new Set(stored.map((r) => r.id));
    expect(acknowledged.length).toBeGreaterThanOrEqual(2000);
    expect(acknowledged.filter((id) => !storedIds.has(id))).toEqual([]);
    // Unacknowledged requests may or may not have been committed, but nothing appears that was not sent,
    // and a request is all or nothing.
    expect(stored.every((r) => sent.has(r.measuredAt as string))).toBe(true);
    expect(stored.length % 100).toBe(0);
  });

  it('MQTT: every PUBACKed message is there after kill -9 and a restart', async () => {
    const dataDir = newDataDir();
    const first = await spawn(dataDir);
    expect(first.mqttPort).toBeGreaterThan(0);
    const device: ProvisionedDevice = await first.provision('pulse_oximeter');

    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${first.mqttPort}`, {
      username: device.deviceId,
      password: device.token,
      clientId: `durability-${device.deviceId}`,
      reconnectPeriod: 0,
      protocolVersion: 4,
    });
    client.on('error', () => {}); // the broker is killed under it
    const results: IngestBody[] = [];
    client.on('message', (_topic, payload) => results.push(JSON.parse(payload.toString()) as IngestBody));
    await client.subscribeAsync(`rpm/devices/${device.deviceId}/results`, { qos: 1 });

    // 200 messages of 25 readings each: enough work per message that a PUBACK sent before the commit
    // would reach the device well before the readings were stored.
    const PER_MESSAGE = 25;
    const messages = Array.from({ length: 200 }, (_, i) => ({
      readings: Array.from({ length: PER_MESSAGE }, (_, j) => ({
        id: `m-${i}-${j}`,
        type: 'spo2',
        measuredAt: BASE + 10_000_000 + (i * PER_MESSAGE + j) * 1000,
        value: 90 + (j % 10),
        pulse: 70,
      })),
    }));
    const acked: number[] = [];
    let pending = messages.length;
    try {
      await Promise.all(
        messages.map(async (message, i) => {
          await client.publishAsync(`rpm/devices/${device.deviceId}/readings`, JSON.stringify(message), { qos: 1 });
          acked.push(i);
          if (--pending === 0) first.child.kill('SIGKILL'); // the moment the last PUBACK is in
        }),
      );
    } finally {
      client.end(true);
    }
    expect(acked).toHaveLength(200);
    expect(await withDeadline(first.exited, 10_000, 'exit after SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });

    const second = await spawn(dataDir);
    const stored = await storedReadings(second, device.patientId);
    expect(stored).toHaveLength(acked.length * PER_MESSAGE);
    const ackedTimes = acked.flatMap((i) => messages[i]!.readings.map((r) => new Date(r.measuredAt).toISOString()));
    expect(new Set(stored.map((r) => r.measuredAt))).toEqual(new Set(ackedTimes));
    expect(stored.every((r) => r.type === 'spo2' && r.deviceId === device.deviceId)).toBe(true);
    // Whatever outcomes reached the results topic before the kill name readings that are stored.
    const storedIds = new Set(stored.map((r) => r.id));
    const announced = results.flatMap((body) => body.results.map((r) => r.readingId!));
    expect(announced.length).toBeGreaterThan(0);
    expect(announced.filter((id) => !storedIds.has(id))).toEqual([]);
  });
});

describe("SIGKILL between two saves of the rules' metric states", () => {
  // Metric states (the newest measurement time, the last arrival) are saved about once a second, not
  // with every reading; a start rebuilds what a kill left unsaved from the readings stored after the
  // last save. Were it not rebuilt, the late reading below would count as a new breach of the alert.
  it('a reading measured before the newest one stored keeps counting as late after kill -9 and a restart', async () => {
    const dataDir = newDataDir();
    const first = await spawn(dataDir);
    const device = await first.provision('pulse_oximeter');
    const plan = {
      rules: [
        {
          id: 'spo2-low',
          metric: 'spo2',
          when: { kind: 'threshold', op: '<', value: 90 },
          severity: 'warning',
          message: 'SpO2 low',
        },
      ],
    };
    expect(
      (await first.admin(`/v1/patients/${device.patientId}/care-plan`, { method: 'PUT', body: plan })).status,
    ).toBe(200);
    const hour = 3_600_000;
    const alertOf = async (proc: ServiceProcess) =>
      (
        (await (await proc.admin(`/v1/alerts?patientId=${device.patientId}`)).json()) as {
          alerts: Array<{ count: number; reading: { id: string } }>;
        }
      ).alerts;
    // The first reading's state is saved at once; the second, newer one, within the second after it, is not.
    expect((await first.postReadings(device.token, { type: 'spo2', measuredAt: BASE, value: 85 })).status).toBe(200);
    const newest = (await (
      await first.postReadings(device.token, { type: 'spo2', measuredAt: BASE + 48 * hour, value: 86 })
    ).json()) as IngestBody;
    first.child.kill('SIGKILL');
    await first.exited;
    const [before] = await alertOf(await spawn(dataDir));
    expect(before).toMatchObject({ count: 2, reading: { id: newest.results[0]!.readingId } });

    const second = processes.at(-1)!;
    expect(
      (await second.postReadings(device.token, { type: 'spo2', measuredAt: BASE + 24 * hour, value: 95 })).status,
    ).toBe(200);
    expect(await alertOf(second)).toEqual([before]);
  });
});

describe('SIGTERM drains in-flight work and closes cleanly', () => {
  it('exits 0, answers what it had received, and keeps every reading it acknowledged', async () => {
    const dataDir = newDataDir();
    const first = await spawn(dataDir);
    const device = await first.provision('bp_monitor');

    const acknowledged: string[] = [];
    const statuses: Array<number | 'error'> = [];
    let responses = 0;
    let terminated = false;
    let inFlightAtSigterm = 0;
    let answeredAfterSigterm = 0;
    let inFlight = 0;
    // Sixteen clients posting batches of 50 back to back; SIGTERM after the 30th answer, with up to
    // sixteen requests on their way. Clients stop starting new requests once SIGTERM is sent, as a load
    // balancer would.
    const worker = async () => {
      while (!terminated) {
        const sentBeforeSigterm = !terminated;
        inFlight++;
        try {
          const response = await first.postReadings(device.token, batch('term', 50));
          const answer = (await response.json()) as IngestBody;
          statuses.push(response.status);
          if (response.status >= 200 && response.status < 300) {
            acknowledged.push(...answer.results.map((r) => r.readingId!));
            if (terminated && sentBeforeSigterm) answeredAfterSigterm++;
          }
        } catch {
          statuses.push('error');
        } finally {
          inFlight--;
        }
        if (++responses === 30 && !terminated) {
          terminated = true;
          inFlightAtSigterm = inFlight;
          first.child.kill('SIGTERM');
        }
      }
    };
    await withDeadline(Promise.all(Array.from({ length: 16 }, worker)), 20_000, 'the workers');
    const exit = await withDeadline(first.exited, 15_000, 'exit after SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(first.logs.some((l) => l.event === 'stopping' && l.signal === 'SIGTERM')).toBe(true);

    expect(inFlightAtSigterm).toBeGreaterThan(0);
    // Drained: requests that were on their way when SIGTERM arrived were answered, not dropped.
    expect(answeredAfterSigterm).toBeGreaterThan(0);
    expect(statuses.filter((s) => s !== 'error' && (s < 200 || s >= 300))).toEqual([]);

    const second = await spawn(dataDir);
    const stored = await storedReadings(second, device.patientId);
    const storedIds = new Set(stored.map((r) => r.id));
    expect(acknowledged.filter((id) => !storedIds.has(id))).toEqual([]);
    expect(stored.length).toBeGreaterThanOrEqual(acknowledged.length);
  });

  it('stops taking new requests on a connection that was busy at SIGTERM, and exits promptly', async () => {
    const dataDir = newDataDir();
    const first = await spawn(dataDir);
    const device = await first.provision('bp_monitor');

    // A request whose body is still arriving when SIGTERM comes: its connection is busy, not idle.
    const body = JSON.stringify(batch('slow', 100));
    const half = body.length >> 1;
    let sendRest!: () => void;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(body.slice(0, half)));
        sendRest = () => {
          controller.enqueue(new TextEncoder().encode(body.slice(half)));
          controller.close();
        };
      },
    });
    const slow = fetch(`${first.url}/v1/readings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${device.token}`, 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    // Nothing observable marks "headers parsed, body pending"; on loopback a moment is ample. Were it too
    // short, the connection would count as idle and the slow request would fail below, not pass wrongly.
    await new Promise((resolve) => setTimeout(resolve, 200));

    const sigtermAt = Date.now();
    first.child.kill('SIGTERM');
    await until('the service to start stopping', () => first.logs.some((l) => l.event === 'stopping'));
    sendRest();
    const response = await slow;
    expect(response.status).toBe(200); // in-flight work is finished
    const answer = (await response.json()) as IngestBody;

    // The client keeps using its kept-alive connection, as a device or a proxy would.
    let exited = false;
    void first.exited.then(() => (exited = true));
    const lateStatuses: Array<number | 'error'> = [];
    const client = (async () => {
      while (!exited) {
        try {
          const late = await first.postReadings(device.token, bp('late'));
          await late.text();
          lateStatuses.push(late.status);
        } catch {
          lateStatuses.push('error');
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();
    try {
      expect(
        await withDeadline(
          first.exited,
          8_000,
          () =>
            `exit after SIGTERM (requests sent after SIGTERM on the kept-alive connection were answered: ${lateStatuses.join(',')})`,
        ),
      ).toEqual({
        code: 0,
        signal: null,
      });
      expect(Date.now() - sigtermAt).toBeLessThan(8_000);
    } finally {
      exited = true;
      await client;
    }

    const second = await spawn(dataDir);
    const storedIds = new Set((await storedReadings(second, device.patientId)).map((r) => r.id));
    expect(answer.results.map((r) => r.readingId!).filter((id) => !storedIds.has(id))).toEqual([]);
  });

  it('exits 0 promptly while a device stays connected over MQTT and a client holds an idle keep-alive connection', async () => {
    const first = await spawn(newDataDir());
    const device = await first.provision('scale');
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${first.mqttPort}`, {
      username: device.deviceId,
      password: device.token,
      reconnectPeriod: 0,
    });
    client.on('error', () => {});
    try {
      const response = await first.postReadings(device.token, {
        type: 'weight',
        measuredAt: BASE,
        value: 80,
        unit: 'kg',
      });
      expect(response.status).toBe(200);
      await response.json();
      await client.publishAsync(
        `rpm/devices/${device.deviceId}/readings`,
        JSON.stringify({ type: 'weight', measuredAt: BASE + 1000, value: 80.2, unit: 'kg' }),
        { qos: 1 },
      );
      const started = Date.now();
      first.child.kill('SIGTERM');
      expect(await withDeadline(first.exited, 10_000, 'exit after SIGTERM')).toEqual({ code: 0, signal: null });
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      client.end(true);
    }
  });
});
