/**
 * Reading → push latency: from a device publishing a breaching reading over MQTT to the push request
 * reaching a local HTTPS push receiver (which verifies the VAPID JWT and decrypts the payload), while
 * every other device keeps up a steady load of normal readings. Prints p50/p99/max and a JSON line.
 *
 *   npm run bench:push -- --devices 200 --rate 5000 --seconds 10
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { startPushReceiver } from '../test/helpers/push-receiver.ts';

const { values: args } = parseArgs({
  options: { devices: { type: 'string', default: '200' }, rate: { type: 'string', default: '5000' }, seconds: { type: 'string', default: '10' } },
});
const DEVICES = Number(args.devices);
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const ADMIN = 'bench-admin-token-0123456789';

export interface PushLatency {
  devices: number;
  readingsPerSecond: number;
  achievedReadingsPerSecond: number;
  pushes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export async function benchPush(): Promise<PushLatency> {
  const receiver = await startPushReceiver();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'homewatch-bench-push-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: path.resolve(import.meta.dirname, '..'),
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: '0',
      MQTT_PORT: '0',
      DATA_DIR: dataDir,
      RPM_ADMIN_TOKEN: ADMIN,
      LOG_LEVEL: 'info',
      DEVICE_RATE_LIMIT: '1000000',
      PUSH_ENDPOINT_HOSTS: receiver.host,
      OUTBOUND_CA_FILE: receiver.caFile,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ports = await new Promise<{ http: number; mqtt: number }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the service exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as { event?: string; httpPort?: number; mqttPort?: number };
      if (entry.event === 'started') resolve({ http: entry.httpPort!, mqtt: entry.mqttPort! });
    });
  });
  const base = `http://127.0.0.1:${ports.http}`;
  const call = async (pathname: string, body: unknown, token = ADMIN, method = 'POST') => {
    const response = await fetch(base + pathname, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`${pathname}: ${response.status} ${await response.text()}`);
    return response.status === 204 ? {} : ((await response.json()) as Record<string, string>);
  };

  // One patient per device, all with the same primary nurse, whose phone is a subscription of the receiver.
  const password = 'bench-password-0123';
  const nurse = await call('/v1/clinicians', { name: 'Bench Nurse', email: 'nurse@bench.example', role: 'nurse', password });
  const { token: nurseToken } = await call('/v1/auth/login', { email: 'nurse@bench.example', password });
  await call('/v1/push/subscriptions', receiver.subscribe('nurse'), nurseToken!);
  const devices: Array<{ id: string; token: string; patientId: string }> = [];
  for (let i = 0; i < DEVICES; i++) {
    const patient = await call('/v1/patients', { name: `Bench Patient${i}` });
    await call(`/v1/patients/${patient.id}/care-team`, { members: [{ clinicianId: nurse.id, role: 'primary_nurse' }] }, ADMIN, 'PUT');
    await call(
      `/v1/patients/${patient.id}/care-plan`,
      { rules: [{ id: 'spo2-critical', metric: 'spo2', when: { kind: 'threshold', op: '<', value: 88 }, severity: 'critical', message: 'SpO2 below 88 %' }] },
      ADMIN,
      'PUT',
    );
    devices.push((await call('/v1/devices', { kind: 'pulse_oximeter', patientId: patient.id })) as { id: string; token: string; patientId: string });
  }

  const clients: MqttClient[] = await Promise.all(
    devices.map((d) => mqtt.connectAsync(`mqtt://127.0.0.1:${ports.mqtt}`, { username: d.id, password: d.token, clientId: d.id, reconnectPeriod: 0 })),
  );
  const perDevicePerSecond = RATE / DEVICES;
  const total = Math.round(perDevicePerSecond * SECONDS);
  const breachAt = devices.map(() => Math.floor(Math.random() * total));
  const published = new Map<string, number>(); // patient id → publish time of their breach
  let sent = 0;
  const started = performance.now();
  await Promise.all(
    clients.map(async (client, i) => {
      for (let n = 0; n < total; n++) {
        // Paced: message n of this device is due at n / perDevicePerSecond seconds.
        const due = started + (n * 1000) / perDevicePerSecond;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const breach = n === breachAt[i];
        const reading = { id: `m${n}`, type: 'spo2', measuredAt: Date.now() - 1000, value: breach ? 84 : 96 };
        if (breach) published.set(devices[i]!.patientId, Date.now());
        void client.publishAsync(`rpm/devices/${devices[i]!.id}/readings`, JSON.stringify(reading), { qos: 1 }).then(() => sent++);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  // Every breach must come through; wait for the last pushes.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && receiver.messages.length < DEVICES) await new Promise((r) => setTimeout(r, 50));

  const { alerts } = (await (await fetch(`${base}/v1/alerts?limit=1000`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as {
    alerts: Array<{ id: string; patientId: string }>;
  };
  const patientOf = new Map(alerts.map((a) => [a.id, a.patientId]));
  const latencies = receiver.messages
    .map((m) => published.get(patientOf.get((m.payload as { alertId: string }).alertId) ?? '') ?? NaN)
    .map((at, i) => receiver.messages[i]!.receivedAt - at)
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  await Promise.all(clients.map((c) => c.endAsync()));
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  await receiver.stop();
  await rm(dataDir, { recursive: true, force: true });
  return {
    devices: DEVICES,
    readingsPerSecond: RATE,
    achievedReadingsPerSecond: Math.round(sent / elapsed),
    pushes: latencies.length,
    p50Ms: pick(0.5),
    p99Ms: pick(0.99),
    maxMs: latencies.at(-1) ?? NaN,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await benchPush();
  console.log(`
Reading → push latency (${result.devices} devices over MQTT, target ${result.readingsPerSecond} readings/s, achieved ${result.achievedReadingsPerSecond}/s)
  ${result.pushes} critical alerts pushed: p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, max ${result.maxMs} ms`);
  console.log(JSON.stringify(result));
}
