import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/store/db.ts';
import { outboxCursors } from '../src/store/schema.ts';
import { influxdAvailable, requireBinary, startInfluxd, type RunningInfluxd } from './helpers/influxd.ts';
import { spawnService, type ServiceProcess } from './helpers/service.ts';

/**
 * READINGS_STORE=influxdb end to end, with the service as a child process: readings are acknowledged
 * once in SQLite, reach InfluxDB from there, and an InfluxDB outage, a kill -9 during it, and a crash
 * between InfluxDB's answer and the cursor's commit lose nothing and store nothing twice.
 */

interface IngestBody {
  accepted: number;
  duplicates: number;
  results: Array<{ status: string; readingId?: string }>;
}

interface ReadyBody {
  status: string;
  checks: Array<{ name: string; ok: boolean; detail?: string; required?: boolean }>;
}

describe.skipIf(!requireBinary('influxd', influxdAvailable()))('InfluxDB outage', () => {
  let influx: RunningInfluxd;
  let root: string;
  const processes: ServiceProcess[] = [];

  beforeAll(async () => {
    influx = await startInfluxd();
    root = await mkdtemp(path.join(tmpdir(), 'homewatch-influx-outage-'));
  }, 30_000);

  afterEach(async () => {
    for (const proc of processes.splice(0)) {
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
      await proc.exited;
    }
    // A test that failed mid-outage leaves influxd halted; the next one needs it.
    if (!(await influxUp())) await influx.restart();
  });

  afterAll(async () => {
    await influx?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  async function influxUp(): Promise<boolean> {
    try {
      const response = await fetch(`${influx.url}/ping`, { signal: AbortSignal.timeout(1000) });
      return response.status === 204;
    } catch {
      return false;
    }
  }

  async function newDatabase(): Promise<string> {
    const database = `homewatch_${randomUUID().replaceAll('-', '')}`;
    const response = await fetch(`${influx.url}/query`, {
      method: 'POST',
      body: new URLSearchParams({ q: `CREATE DATABASE "${database}"` }),
    });
    expect(response.status).toBe(200);
    return database;
  }

  async function spawn(env: Record<string, string>) {
    const proc = await spawnService({
      DEVICE_RATE_LIMIT: '1000000',
      READINGS_STORE: 'influxdb',
      INFLUX_URL: influx.url,
      ...env,
    });
    processes.push(proc);
    return proc;
  }

  /** Every point's reading id for the patient, straight from InfluxDB. */
  async function idsInInflux(database: string, patientId: string): Promise<string[]> {
    const q = `SELECT "id" FROM "spo2" WHERE "patient_id" = '${patientId}'`;
    const response = await fetch(`${influx.url}/query?${new URLSearchParams({ db: database, q })}`);
    const body = (await response.json()) as { results: Array<{ series?: Array<{ values: Array<[number, string]> }> }> };
    return (body.results[0]!.series?.[0]?.values ?? []).map(([, id]) => id);
  }

  async function ready(proc: ServiceProcess) {
    const response = await fetch(`${proc.url}/readyz`);
    const body = (await response.json()) as ReadyBody;
    return { status: response.status, body, influx: body.checks.find((c) => c.name === 'influxdb')! };
  }

  async function metric(proc: ServiceProcess, name: string): Promise<number | undefined> {
    const text = await (await fetch(`${proc.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  }

  async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  // Pairs of readings share a millisecond (distinct message ids), so the `ordinal` tag is exercised too.
  const BASE = Date.now() - 86_400_000;
  let serial = 0;
  function readings(count: number) {
    return Array.from({ length: count }, () => {
      const n = serial++;
      return {
        id: `r-${n}`,
        type: 'spo2',
        measuredAt: BASE + Math.floor(n / 2) * 1000,
        value: 90 + (n % 10),
        pulse: 70,
      };
    });
  }

  it('an outage, a kill -9 during it and a restart of both: every acknowledged reading is in InfluxDB exactly once', async () => {
    const database = await newDatabase();
    const env = { INFLUX_DATABASE: database, DATA_DIR: path.join(root, 'outage') };
    const acknowledged: string[] = [];
    const sent = new Map<string, { measuredAt: number; value: number }>();
    const send = async (proc: ServiceProcess, token: string, body: { readings: ReturnType<typeof readings> }) => {
      const response = await proc.postReadings(token, body);
      expect(response.status).toBe(200);
      const answer = (await response.json()) as IngestBody;
      answer.results.forEach((result, i) => {
        if (result.status !== 'accepted') return;
        acknowledged.push(result.readingId!);
        sent.set(result.readingId!, body.readings[i]!);
      });
      return answer;
    };

    const first = await spawn(env);
    const device = await first.provision('pulse_oximeter');
    for (let i = 0; i < 3; i++) await send(first, device.token, { readings: readings(10) });
    await until(
      'the first readings in InfluxDB',
      async () => (await idsInInflux(database, device.patientId)).length === 30,
    );
    expect((await ready(first)).influx).toMatchObject({ ok: true, required: false });

    // InfluxDB goes away; devices keep sending and are acknowledged, from SQLite.
    await influx.halt();
    const repeated = { readings: readings(10) };
    await send(first, device.token, repeated);
    for (let i = 0; i < 4; i++) await send(first, device.token, { readings: readings(10) });
    // A device resending a message it had no answer to: duplicates, nothing stored twice.
    expect(await send(first, device.token, repeated)).toMatchObject({ accepted: 0, duplicates: 10 });

    const down = await until('readiness naming InfluxDB down with the backlog', async () => {
      const state = await ready(first);
      return state.influx.ok === false && state.influx.detail?.includes('backlog 50 readings') && state;
    });
    expect(down.status).toBe(200);
    expect(down.body.status).toBe('ready');
    expect(down.influx.detail).toMatch(/^down since \d{4}-\d\d-\d\dT.*; backlog 50 readings$/);
    expect(await metric(first, 'homewatch_influx_backlog_readings')).toBe(50);
    expect(await metric(first, 'homewatch_influx_up')).toBe(0);
    // Queries need InfluxDB: 503 with Retry-After, not a 500.
    const query = await first.admin(`/v1/patients/${device.patientId}/readings`);
    expect(query.status).toBe(503);
    expect(query.headers.get('retry-after')).toBe('30');

    // Retries are logged once per change of state, not once per attempt.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(first.logs.filter((l) => l.event === 'influx_down')).toHaveLength(1);

    // The service dies during the outage.
    first.child.kill('SIGKILL');
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });

    await influx.restart();
    const second = await spawn(env);
    // Readings keep arriving while the backlog drains.
    for (let i = 0; i < 2; i++) await send(second, device.token, { readings: readings(10) });
    await until('the backlog to drain', async () => {
      const state = await ready(second);
      return state.influx.ok && state.influx.detail === 'up; backlog 0 readings';
    });
    expect(second.logs.filter((l) => l.event === 'influx_up')).toHaveLength(1);
    expect(await metric(second, 'homewatch_influx_up')).toBe(1);

    expect(acknowledged).toHaveLength(100);
    const ids = await idsInInflux(database, device.patientId);
    expect(ids).toHaveLength(acknowledged.length);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual([...acknowledged].sort());

    // The API reads InfluxDB and answers with what it holds.
    const page = await second.readings(device.patientId, '?type=spo2&limit=10000');
    expect(page.readings.map((r) => r.id).sort()).toEqual([...ids].sort());
    for (const reading of page.readings) {
      const original = sent.get(reading.id as string)!;
      expect(reading).toMatchObject({
        type: 'spo2',
        deviceId: device.deviceId,
        measuredAt: new Date(original.measuredAt).toISOString(),
        value: original.value,
        pulse: 70,
        unit: '%',
      });
    }

    // A crash between InfluxDB's answer and the cursor's commit: the next start sends everything again.
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    const { db, sqlite } = openDatabase({ dataDir: env.DATA_DIR });
    db.update(outboxCursors).set({ seq: 0 }).run();
    sqlite.close();
    const third = await spawn(env);
    await until(
      'the re-sent backlog to drain',
      async () => (await ready(third)).influx.detail === 'up; backlog 0 readings',
    );
    const again = await idsInInflux(database, device.patientId);
    expect(again).toHaveLength(acknowledged.length);
    expect([...again].sort()).toEqual([...acknowledged].sort());
  }, 120_000);

  it('refuses readings once the backlog reaches INFLUX_BACKLOG_LIMIT (HTTP 503, no PUBACK), and takes them again when InfluxDB is back', async () => {
    const database = await newDatabase();
    const proc = await spawn({
      INFLUX_DATABASE: database,
      DATA_DIR: path.join(root, 'limit'),
      INFLUX_BACKLOG_LIMIT: '5',
    });
    const device = await proc.provision('pulse_oximeter');
    await influx.halt();

    const acknowledged: string[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await proc.postReadings(device.token, readings(1)[0]);
      expect(response.status).toBe(200);
      acknowledged.push(((await response.json()) as IngestBody).results[0]!.readingId!);
    }
    const refused = await proc.postReadings(device.token, readings(1)[0]);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('60');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('unavailable');

    // MQTT: the embedded broker closes the connection without a PUBACK, so the device keeps the message.
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${proc.mqttPort}`, {
      username: device.deviceId,
      password: device.token,
      reconnectPeriod: 0,
    });
    let acked = false;
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish(`rpm/devices/${device.deviceId}/readings`, JSON.stringify(readings(1)[0]), { qos: 1 }, (error) => {
      if (!error) acked = true;
    });
    await closed;
    expect(acked).toBe(false);
    await client.endAsync(true);

    const limited = await ready(proc);
    expect(limited.status).toBe(200);
    expect(limited.influx.detail).toContain('backlog 5 readings');

    await influx.restart();
    const late = readings(1)[0];
    const accepted = await until('readings to be accepted again', async () => {
      const response = await proc.postReadings(device.token, late);
      return response.status === 200 && ((await response.json()) as IngestBody);
    });
    acknowledged.push(accepted.results[0]!.readingId!);
    await until('the backlog to drain', async () => (await ready(proc)).influx.detail === 'up; backlog 0 readings');
    expect((await idsInInflux(database, device.patientId)).sort()).toEqual(acknowledged.sort());
    expect(proc.logs.filter((l) => l.event === 'influx_backlog_full')).toHaveLength(1);
  }, 120_000);
});
