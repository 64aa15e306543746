/**
 * Ingest benchmark: starts the service as a user would (a separate process with a fresh DATA_DIR), then
 * measures readings/s over MQTT QoS 1 (many devices, each its own connection, counting only PUBACKed
 * readings) and over HTTP batches. Prints a table and, last, one JSON line with every figure.
 *
 *   npm run bench -- --devices 200 --messages 100 --http-batches 500 --batch 100 --concurrency 16
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '200' },
    messages: { type: 'string', default: '100' },
    'http-batches': { type: 'string', default: '500' },
    batch: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '16' },
    /** Write a V8 CPU profile of the service into this folder (open it in Chrome DevTools or speedscope). */
    profile: { type: 'string' },
  },
});
const DEVICES = Number(args.devices);
const MESSAGES = Number(args.messages);
const HTTP_BATCHES = Number(args['http-batches']);
const BATCH = Number(args.batch);
const CONCURRENCY = Number(args.concurrency);
const ADMIN = 'bench-admin-token-0123456789';

const dataDir = await mkdtemp(path.join(tmpdir(), 'homewatch-bench-'));
const profileArgs = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(args.profile)}`] : [];
const child = spawn(process.execPath, [...profileArgs, '--import', 'tsx', 'src/main.ts'], {
  cwd: path.resolve(import.meta.dirname, '..'),
  env: { ...process.env, HOST: '127.0.0.1', PORT: '0', MQTT_PORT: '0', DATA_DIR: dataDir, RPM_ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'info', DEVICE_RATE_LIMIT: '1000000' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const ports = await new Promise<{ http: number; mqtt: number }>((resolve, reject) => {
  child.once('exit', (code) => reject(new Error(`the service exited with ${code}`)));
  // Logs at info, as in production: one line per HTTP request, none per MQTT message.
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const entry = JSON.parse(line) as { event?: string; httpPort?: number; mqttPort?: number };
    if (entry.event === 'started') resolve({ http: entry.httpPort!, mqtt: entry.mqttPort! });
  });
});
const base = `http://127.0.0.1:${ports.http}`;

async function admin(pathname: string, body: unknown) {
  const response = await fetch(base + pathname, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${pathname}: ${response.status} ${await response.text()}`);
  return (await response.json()) as { id: string; token: string };
}

const patient = await admin('/v1/patients', { name: 'Benchmark' });
const devices: Array<{ id: string; token: string }> = [];
for (let i = 0; i < DEVICES; i++) devices.push(await admin('/v1/devices', { kind: 'pulse_oximeter', patientId: patient.id }));

const start = Date.now() - 30 * 86_400_000;
let seq = 0;
const reading = () => ({ id: `r${seq++}`, type: 'spo2', measuredAt: start + seq * 1000, value: 90 + (seq % 10), pulse: 70 });

// MQTT: every device its own connection, each publishing its messages one after another (QoS 1 waits for
// the PUBACK), all devices at once.
const clients = await Promise.all(
  devices.map((d) => mqtt.connectAsync(`mqtt://127.0.0.1:${ports.mqtt}`, { username: d.id, password: d.token, clientId: d.id, reconnectPeriod: 0 })),
);
const mqttStarted = performance.now();
await Promise.all(
  clients.map(async (client, i) => {
    for (let m = 0; m < MESSAGES; m++) await client.publishAsync(`rpm/devices/${devices[i]!.id}/readings`, JSON.stringify(reading()), { qos: 1 });
  }),
);
const mqttSeconds = (performance.now() - mqttStarted) / 1000;
await Promise.all(clients.map((c) => c.endAsync()));
const mqttReadings = DEVICES * MESSAGES;

// HTTP: batches of BATCH readings, CONCURRENCY requests in flight.
let sent = 0;
const httpStarted = performance.now();
await Promise.all(
  Array.from({ length: CONCURRENCY }, async (_, worker) => {
    const device = devices[worker % devices.length]!;
    while (sent < HTTP_BATCHES) {
      sent++;
      const body = JSON.stringify({ readings: Array.from({ length: BATCH }, reading) });
      const response = await fetch(`${base}/v1/readings`, {
        method: 'POST',
        headers: { authorization: `Bearer ${device.token}`, 'content-type': 'application/json' },
        body,
      });
      if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
      await response.arrayBuffer();
    }
  }),
);
const httpSeconds = (performance.now() - httpStarted) / 1000;
const httpReadings = HTTP_BATCHES * BATCH;

child.kill('SIGTERM');
await new Promise((resolve) => child.once('exit', resolve));
await rm(dataDir, { recursive: true, force: true });

const figures = {
  machine: `${cpus().length} × ${cpus()[0]?.model.trim()}`,
  node: process.version,
  mqttDevices: DEVICES,
  mqttReadings,
  mqttReadingsPerSecond: Math.round(mqttReadings / mqttSeconds),
  httpBatch: BATCH,
  httpConcurrency: CONCURRENCY,
  httpReadings,
  httpReadingsPerSecond: Math.round(httpReadings / httpSeconds),
};
console.log(`
Homewatch ingest benchmark (${figures.machine}, Node ${figures.node}; load generator on the same machine)
  MQTT QoS 1, ${DEVICES} devices × ${MESSAGES} messages, 1 reading each:  ${figures.mqttReadingsPerSecond.toLocaleString('en-US')} readings/s
  HTTP, batches of ${BATCH}, ${CONCURRENCY} in flight, ${HTTP_BATCHES} batches:        ${figures.httpReadingsPerSecond.toLocaleString('en-US')} readings/s
Every reading counted was acknowledged after its commit (fsynced WAL).`);
console.log(JSON.stringify(figures));
