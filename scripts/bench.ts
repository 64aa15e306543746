/**
 * `npm run bench`: the service as a user starts it, measured against baselines on the same machine.
 *   1. MQTT QoS 1 ingest, many devices each with its own connection, heart-failure rules evaluated,
 *      against a bare aedes broker with a no-op handler: live (each device waits for its PUBACK before
 *      the next reading) and a backlog (10 readings in flight per device), each after a warm-up. The
 *      devices are raw connections speaking through mqtt-packet (bench-mqtt-device.ts), light enough that
 *      the baseline measures aedes rather than the load generator.
 *   2. HTTP ingest in batches of 100, against a Hono hello-world.
 *   3. Reading → push latency at a steady rate with a few breaching readings (bench-push.ts).
 *   4. Memory with many connected idle devices.
 *   5. A 90-day bucketed trend query for a patient with a year of readings, and the first page of a
 *      FHIR search of the same readings, newest first.
 * Beside each ingest figure, the CPU used per reading (Linux /proc): by the service and its main thread,
 * by the baseline, and by the load generator. With everything on the same cores, that says more about a
 * change than readings/s, which move with the machine's speed from one minute to the next.
 * Prints a table, then one JSON line with every figure. Counts only acknowledged readings.
 * Options: --quick (smaller runs), --profile DIR (V8 CPU profiles of the services of 1 and 2),
 * --only mqtt,http,push,memory,trend,fhir (just those measures; the table shows the others as -).
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { buildService, quantile, startBenchService, type BenchService } from './bench-lib.ts';
import { BenchDevice } from './bench-mqtt-device.ts';
import { benchPush } from './bench-push.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    profile: { type: 'string' },
    'idle-devices': { type: 'string', default: '10000' },
    only: { type: 'string', default: 'mqtt,http,push,memory,trend,fhir' },
  },
});
const QUICK = args.quick;
const MQTT_DEVICES = 200;
/** Readings per device before each MQTT measurement, not counted: JIT, caches and the first commits. */
const MQTT_WARMUP = QUICK ? 10 : 50;
const MQTT_MESSAGES = QUICK ? 50 : 200;
/** In flight per device when sending a backlog (a scale back from a week offline, a fleet after an outage). */
const MQTT_BACKLOG_IN_FLIGHT = 10;
/** Batches before each HTTP measurement, not counted, as for MQTT. */
const HTTP_WARMUP_BATCHES = QUICK ? 20 : 100;
const HTTP_BATCHES = QUICK ? 100 : 600;
const HTTP_BATCH = 100;
const HTTP_CONCURRENCY = 16;
const IDLE_DEVICES = QUICK ? 1000 : Number(args['idle-devices']);
const DAY = 86_400_000;
const only = new Set(args.only.split(','));
const want = (measure: 'mqtt' | 'http' | 'push' | 'memory' | 'trend' | 'fhir') => only.has(measure);

type Device = { id: string; token: string; patientId: string };

/** Patients with the heart-failure care plan, each with one device of `kind`. */
async function provision(svc: BenchService, count: number, kind: string, carePlan = true): Promise<Device[]> {
  const devices: Device[] = [];
  for (let i = 0; i < count; i++) {
    const patient = await svc.call('/v1/patients', { name: `Bench Patient ${i}` });
    if (carePlan)
      await svc.call(
        `/v1/patients/${patient.id}/care-plan`,
        { templates: ['heart-failure', 'copd'] },
        { method: 'PUT' },
      );
    const device = await svc.call('/v1/devices', { kind, patientId: patient.id });
    devices.push({ id: device.id as string, token: device.token as string, patientId: patient.id as string });
  }
  return devices;
}

interface MqttRun {
  /** Readings/s acknowledged while measuring. */
  perSecond: number;
  /** The load generator's (this process's) CPU while measuring, % of one core: near 100, it is the limit. */
  generatorCpu: number;
  /** The load generator's CPU µs per reading. */
  generatorMicros: number;
  server: ServerCpu;
}

/** The CPU a server (the service or a baseline) used while measuring. */
interface ServerCpu {
  /** Of all its threads, µs per reading. */
  micros: number;
  /** Of its main thread, µs per reading, and % of one core. */
  mainMicros: number;
  mainCpu: number;
}

/** CPU seconds used so far (Linux /proc, 100 ticks a second) by a process, or by one of its threads. */
async function cpuSeconds(pid: number, tid?: number): Promise<number> {
  const stat = await readFile(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  // The fields after the command name, which is in parentheses and may hold spaces: utime, then stime.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Starts counting a server's CPU; the function returned gives what it has used since, per reading. */
async function countServerCpu(pid: number): Promise<(readings: number, seconds: number) => Promise<ServerCpu>> {
  const [all, main] = await Promise.all([cpuSeconds(pid), cpuSeconds(pid, pid)]);
  return async (readings, seconds) => {
    const [allNow, mainNow] = await Promise.all([cpuSeconds(pid), cpuSeconds(pid, pid)]);
    return {
      micros: Math.round(((allNow - all) / readings) * 1e6),
      mainMicros: Math.round(((mainNow - main) / readings) * 1e6),
      mainCpu: Math.round(((mainNow - main) / seconds) * 100),
    };
  };
}

/**
 * All devices at once, each publishing its readings `inFlight` at a time (1: each waits for its PUBACK
 * before sending the next): MQTT_WARMUP readings each, not counted, then MQTT_MESSAGES each, measured.
 * Readings are numbered from `first`, so that runs against the same service are new readings, not duplicates.
 */
async function mqttLoad(
  server: { url: string; pid: number },
  devices: Array<{ id: string; token: string }>,
  inFlight: number,
  first = 0,
): Promise<MqttRun> {
  const { url } = server;
  const clients = await Promise.all(devices.map((d) => BenchDevice.connect(url, d.id, d.id, d.token)));
  const start = Date.now() - 60 * DAY;
  const publish = (from: number, count: number) =>
    Promise.all(
      clients.map((client, i) =>
        Promise.all(
          Array.from({ length: inFlight }, async (_, lane) => {
            for (let m = from + lane; m < from + count; m += inFlight) {
              const reading = {
                id: `m${m}`,
                type: 'spo2',
                measuredAt: start + m * 60_000,
                value: 93 + (m % 6),
                pulse: 70 + (m % 20),
              };
              await client.publish(`rpm/devices/${devices[i]!.id}/readings`, JSON.stringify(reading));
            }
          }),
        ),
      ),
    );
  await publish(first, MQTT_WARMUP);
  const serverCpu = await countServerCpu(server.pid);
  const cpu = process.cpuUsage();
  const started = performance.now();
  await publish(first + MQTT_WARMUP, MQTT_MESSAGES);
  const seconds = (performance.now() - started) / 1000;
  const { user, system } = process.cpuUsage(cpu);
  const readings = devices.length * MQTT_MESSAGES;
  const serverUsed = await serverCpu(readings, seconds);
  await Promise.all(clients.map((c) => c.end()));
  return {
    perSecond: Math.round(readings / seconds),
    generatorCpu: Math.round((user + system) / 1e4 / seconds),
    generatorMicros: Math.round((user + system) / readings),
    server: serverUsed,
  };
}

/** The live load, then the backlog load, against the broker at `url`. */
async function mqttLoads(
  server: { url: string; pid: number },
  devices: Array<{ id: string; token: string }>,
): Promise<{ live: MqttRun; backlog: MqttRun }> {
  const live = await mqttLoad(server, devices, 1);
  const backlog = await mqttLoad(server, devices, MQTT_BACKLOG_IN_FLIGHT, MQTT_WARMUP + MQTT_MESSAGES);
  return { live, backlog };
}

/**
 * HTTP_CONCURRENCY senders post batches of HTTP_BATCH readings: HTTP_WARMUP_BATCHES not counted, then
 * HTTP_BATCHES measured. The bodies are serialized before each phase and sent through node:http over
 * kept-alive connections: building them and fetch() during the measure cost the generator 15 µs of CPU a
 * reading, CPU the service, on the same two cores, did not get.
 */
async function httpLoad(
  { url, pid }: { url: string; pid: number },
  tokens: string[],
): Promise<{ perSecond: number; generatorMicros: number; server: ServerCpu }> {
  let seq = 0;
  const start = Date.now() - 300 * DAY;
  const bodies = (count: number) =>
    Array.from({ length: count }, () => {
      const readings = Array.from({ length: HTTP_BATCH }, () => ({
        id: `h${seq++}`,
        type: 'spo2',
        measuredAt: start + seq * 1000,
        value: 95,
        pulse: 72,
      }));
      return Buffer.from(JSON.stringify({ readings }));
    });
  const agent = new HttpAgent({ keepAlive: true, maxSockets: HTTP_CONCURRENCY });
  const send = (body: Buffer, token: string) =>
    new Promise<void>((resolve, reject) => {
      const headers = {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'content-length': body.length,
      };
      const request = httpRequest(url, { method: 'POST', agent, headers }, (response) => {
        const chunks: Buffer[] = [];
        response
          .on('data', (chunk: Buffer) => chunks.push(chunk))
          .on('end', () =>
            response.statusCode === 200
              ? resolve()
              : reject(new Error(`HTTP ${response.statusCode}: ${Buffer.concat(chunks)}`)),
          )
          .on('error', reject);
      });
      request.on('error', reject).end(body);
    });
  // In order: each device's readings arrive oldest first, as from a real one (a late reading is not evaluated).
  const post = async (queue: Buffer[]) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: HTTP_CONCURRENCY }, async (_, worker) => {
        const token = tokens[worker % tokens.length]!;
        while (next < queue.length) await send(queue[next++]!, token);
      }),
    );
  };
  await post(bodies(HTTP_WARMUP_BATCHES));
  const measured = bodies(HTTP_BATCHES);
  const serverCpu = await countServerCpu(pid);
  const cpu = process.cpuUsage();
  const started = performance.now();
  await post(measured);
  const seconds = (performance.now() - started) / 1000;
  const { user, system } = process.cpuUsage(cpu);
  agent.destroy();
  const readings = HTTP_BATCHES * HTTP_BATCH;
  return {
    perSecond: Math.round(readings / seconds),
    generatorMicros: Math.round((user + system) / readings),
    server: await serverCpu(readings, seconds),
  };
}

/** Runs a baseline server (scripts/bench-baselines.ts) in its own process. */
async function startBaseline(which: 'aedes' | 'hono') {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(import.meta.dirname, 'bench-baselines.ts'), which],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve) =>
    createInterface({ input: child.stdout! }).once('line', (line) =>
      resolve((JSON.parse(line) as { port: number }).port),
    ),
  );
  return {
    port,
    pid: child.pid!,
    stop: () =>
      new Promise((r) => {
        child.once('exit', r);
        child.kill('SIGTERM');
      }),
  };
}

const figures: Record<string, number | string> = {
  machine: `${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB`,
  node: process.version,
};
const log = (line: string) => process.stderr.write(`${line}\n`);

log('building the service (npm run build)…');
buildService();

// 1 and 2: ingest, each against a service of its own, then its baseline.
const profile = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(args.profile)}`] : [];
if (want('mqtt')) {
  log('1/5 MQTT ingest…');
  const svc = await startBenchService({}, profile);
  const devices = await provision(svc, MQTT_DEVICES, 'pulse_oximeter');
  const service = await mqttLoads({ url: svc.mqttUrl, pid: svc.child.pid! }, devices);
  await svc.stop();
  const aedes = await startBaseline('aedes');
  const baseline = await mqttLoads({ url: `mqtt://127.0.0.1:${aedes.port}`, pid: aedes.pid }, devices);
  await aedes.stop();
  const ratio = (a: MqttRun, b: MqttRun) => Math.round((a.perSecond / b.perSecond) * 100) / 100;
  Object.assign(figures, {
    mqttDevices: MQTT_DEVICES,
    mqttReadingsPerSecond: service.live.perSecond,
    mqttBaselinePerSecond: baseline.live.perSecond,
    mqttRatio: ratio(service.live, baseline.live),
    mqttBaselineGeneratorCpu: baseline.live.generatorCpu,
    mqttMainThreadCpu: service.live.server.mainCpu,
    mqttCpuMicros: service.live.server.micros,
    mqttMainThreadCpuMicros: service.live.server.mainMicros,
    mqttGeneratorCpuMicros: service.live.generatorMicros,
    mqttBaselineCpuMicros: baseline.live.server.micros,
    mqttBaselineGeneratorCpuMicros: baseline.live.generatorMicros,
    mqttBacklogReadingsPerSecond: service.backlog.perSecond,
    mqttBacklogBaselinePerSecond: baseline.backlog.perSecond,
    mqttBacklogRatio: ratio(service.backlog, baseline.backlog),
    mqttBacklogBaselineGeneratorCpu: baseline.backlog.generatorCpu,
    mqttBacklogMainThreadCpu: service.backlog.server.mainCpu,
    mqttBacklogCpuMicros: service.backlog.server.micros,
    mqttBacklogMainThreadCpuMicros: service.backlog.server.mainMicros,
    mqttBacklogGeneratorCpuMicros: service.backlog.generatorMicros,
    mqttBacklogBaselineCpuMicros: baseline.backlog.server.micros,
    mqttBacklogBaselineGeneratorCpuMicros: baseline.backlog.generatorMicros,
  });
}
if (want('http')) {
  log('2/5 HTTP ingest…');
  // Not the MQTT measure's service: its checkpointer would still be copying the MQTT readings' pages.
  const svc = await startBenchService({}, profile);
  const devices = await provision(svc, HTTP_CONCURRENCY, 'pulse_oximeter');
  const http = await httpLoad(
    { url: `${svc.base}/v1/readings`, pid: svc.child.pid! },
    devices.map((d) => d.token),
  );
  await svc.stop();
  const hono = await startBaseline('hono');
  const honoHttp = await httpLoad({ url: `http://127.0.0.1:${hono.port}/`, pid: hono.pid }, ['x']);
  Object.assign(figures, {
    httpReadingsPerSecond: http.perSecond,
    httpMainThreadCpu: http.server.mainCpu,
    httpCpuMicros: http.server.micros,
    httpMainThreadCpuMicros: http.server.mainMicros,
    httpGeneratorCpuMicros: http.generatorMicros,
    httpBaselinePerSecond: honoHttp.perSecond,
    httpBaselineCpuMicros: honoHttp.server.micros,
    httpBaselineGeneratorCpuMicros: honoHttp.generatorMicros,
  });
  await hono.stop();
  figures.httpRatio =
    Math.round(((figures.httpReadingsPerSecond as number) / (figures.httpBaselinePerSecond as number)) * 100) / 100;
}

// 3: reading → push latency.
if (want('push')) {
  log('3/5 reading → push latency…');
  const push = await benchPush({ devices: 200, rate: 5000, seconds: QUICK ? 4 : 10, warmup: 3 });
  Object.assign(figures, {
    pushRateAchieved: push.achievedReadingsPerSecond,
    pushWarmupSeconds: push.warmupSeconds,
    pushes: push.pushes,
    pushP50Ms: push.p50Ms,
    pushP99Ms: push.p99Ms,
    pushMaxMs: push.maxMs,
  });
}

// 4: memory with idle devices.
if (want('memory')) {
  log(`4/5 memory with ${IDLE_DEVICES} idle devices…`);
  const provisioning = await startBenchService();
  const patient = await provisioning.call('/v1/patients', { name: 'Idle' });
  const devices: Array<{ id: string; token: string }> = [];
  while (devices.length < IDLE_DEVICES) {
    const chunk = Math.min(200, IDLE_DEVICES - devices.length);
    devices.push(
      ...(await Promise.all(
        Array.from(
          { length: chunk },
          async () =>
            (await provisioning.call('/v1/devices', { kind: 'scale', patientId: patient.id })) as {
              id: string;
              token: string;
            },
        ),
      )),
    );
  }
  // The fleet reconnecting to a freshly started service (after an upgrade or an outage), not to the
  // process that just did 10,000 provisioning requests.
  const svc = await provisioning.restart();
  figures.rssBeforeMb = Math.round((await svc.rssBytes()) / 2 ** 20);
  const clients: MqttClient[] = [];
  for (let i = 0; i < devices.length; i += 500) {
    clients.push(
      ...(await Promise.all(
        devices.slice(i, i + 500).map((d) =>
          mqtt.connectAsync(svc.mqttUrl, {
            username: d.id,
            password: d.token,
            clientId: d.id,
            reconnectPeriod: 0,
            keepalive: 600,
          }),
        ),
      )),
    );
  }
  // Sampled each second for 30 s: the peak right after the connections, and where it settles once V8
  // has collected what connecting left behind. Idle, it does so 12-13 s after the last connection here;
  // on a slower machine a 15 s window had still caught the peak.
  const samples: number[] = [];
  for (let s = 0; s < 30; s++) {
    await new Promise((r) => setTimeout(r, 1000));
    samples.push(Math.round((await svc.rssBytes()) / 2 ** 20));
  }
  figures.idleDevices = clients.length;
  figures.rssPeakMb = Math.max(...samples);
  figures.rssWithIdleDevicesMb = samples.at(-1)!;
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await svc.stop();
}

// 5: a 90-day trend query, and a FHIR search's first page, over a year of readings.
if (want('trend') || want('fhir')) {
  log('5/5 trend query and FHIR search…');
  const svc = await startBenchService();
  const [oximeter] = await provision(svc, 1, 'pulse_oximeter', false);
  const now = Date.now();
  // A year of SpO2 every 5 minutes: continuous home oximetry.
  const total = 365 * 288;
  for (let sent = 0; sent < total; sent += 1000) {
    const readings = Array.from({ length: Math.min(1000, total - sent) }, (_, i) => ({
      type: 'spo2',
      measuredAt: now - 365 * DAY + (sent + i) * 300_000,
      value: 92 + ((sent + i) % 7),
    }));
    await svc.call('/v1/readings', { readings }, { token: oximeter!.token });
  }
  /** p50 and p95 of 50 runs of a query, in ms. */
  const timed = async (query: () => Promise<void>) => {
    const times: number[] = [];
    for (let i = 0; i < 50; i++) {
      const started = performance.now();
      await query();
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    return { p50: Math.round(quantile(times, 0.5) * 10) / 10, p95: Math.round(quantile(times, 0.95) * 10) / 10 };
  };
  figures.trendReadings = total;
  if (want('trend')) {
    const from = new Date(now - 90 * DAY).toISOString();
    const trend = await timed(async () => {
      const { buckets } = (await svc.call(
        `/v1/patients/${oximeter!.patientId}/readings?type=spo2&bucket=1d&from=${from}`,
      )) as { buckets: unknown[] };
      if (buckets.length < 89) throw new Error(`expected about 90 daily buckets, got ${buckets.length}`);
    });
    figures.trendQueryP50Ms = trend.p50;
    figures.trendQueryP95Ms = trend.p95;
  }
  if (want('fhir')) {
    // What an EHR asks first: the latest vital signs, a page of 100 with its next link.
    const search = `/fhir/R4/Observation?patient=${oximeter!.patientId}&category=vital-signs&_sort=-date&_count=100`;
    const fhir = await timed(async () => {
      const { entry } = (await svc.call(search)) as { entry: unknown[] };
      if (entry.length !== 100) throw new Error(`expected a page of 100 Observations, got ${entry.length}`);
    });
    figures.fhirSearchP50Ms = fhir.p50;
    figures.fhirSearchP95Ms = fhir.p95;
  }
  await svc.stop();
}

/** A figure for the table; '-' for a measure left out by --only. */
const f = (key: string) => figures[key] ?? '-';
const row = (what: string, value: string, target: string) => `  ${what.padEnd(84)} ${value.padStart(14)}   ${target}`;
console.log(`
Homewatch benchmark — ${f('machine')}, Node ${f('node')}; load generators on the same machine
${row('measure', 'result', 'target')}
${row(`MQTT QoS 1 ingest, ${f('mqttDevices')} devices, rules evaluated, live: 1 in flight each (readings/s)`, `${f('mqttReadingsPerSecond')}`, '≥ 15,000')}
${row(`  CPU µs a reading: service ${f('mqttCpuMicros')} (its main thread ${f('mqttMainThreadCpuMicros')}, at ${f('mqttMainThreadCpu')} % of a core), load generator ${f('mqttGeneratorCpuMicros')}`, '', '')}
${row(`  bare aedes, no-op handler (readings/s; load generator at ${f('mqttBaselineGeneratorCpu')} % of a core)`, `${f('mqttBaselinePerSecond')}`, '')}
${row(`  CPU µs a reading: aedes ${f('mqttBaselineCpuMicros')}, load generator ${f('mqttBaselineGeneratorCpuMicros')}`, '', '')}
${row('  ratio to the bare broker', `${f('mqttRatio')}`, '≥ 0.5')}
${row(`  backlog: ${MQTT_BACKLOG_IN_FLIGHT} in flight per device (readings/s)`, `${f('mqttBacklogReadingsPerSecond')}`, '≥ 15,000')}
${row(`  CPU µs a reading: service ${f('mqttBacklogCpuMicros')} (its main thread ${f('mqttBacklogMainThreadCpuMicros')}, at ${f('mqttBacklogMainThreadCpu')} % of a core), load generator ${f('mqttBacklogGeneratorCpuMicros')}`, '', '')}
${row(`  bare aedes, same backlog (readings/s; load generator at ${f('mqttBacklogBaselineGeneratorCpu')} %)`, `${f('mqttBacklogBaselinePerSecond')}`, '')}
${row(`  CPU µs a reading: aedes ${f('mqttBacklogBaselineCpuMicros')}, load generator ${f('mqttBacklogBaselineGeneratorCpuMicros')}`, '', '')}
${row('  ratio to the bare broker', `${f('mqttBacklogRatio')}`, '≥ 0.5')}
${row(`HTTP ingest, batches of ${HTTP_BATCH}, ${HTTP_CONCURRENCY} in flight (readings/s)`, `${f('httpReadingsPerSecond')}`, '≥ 50,000')}
${row(`  CPU µs a reading: service ${f('httpCpuMicros')} (its main thread ${f('httpMainThreadCpuMicros')}, at ${f('httpMainThreadCpu')} % of a core), load generator ${f('httpGeneratorCpuMicros')}`, '', '')}
${row('  Hono hello-world with the same bodies (readings/s)', `${f('httpBaselinePerSecond')}`, '')}
${row(`  CPU µs a reading: Hono ${f('httpBaselineCpuMicros')}, load generator ${f('httpBaselineGeneratorCpuMicros')}`, '', '')}
${row(`reading → push at ${f('pushRateAchieved')} readings/s after ${f('pushWarmupSeconds')} s, ${f('pushes')} pushes (p50 / p99 / max ms)`, `${f('pushP50Ms')} / ${f('pushP99Ms')} / ${f('pushMaxMs')}`, 'p99 ≤ 50')}
${row(`RSS with ${f('idleDevices')} idle MQTT devices, 30 s after connecting (MB; peak ${f('rssPeakMb')}, before ${f('rssBeforeMb')})`, `${f('rssWithIdleDevicesMb')}`, '≤ 256')}
${row(`90-day daily trend over ${f('trendReadings')} readings (p50 / p95 ms)`, `${f('trendQueryP50Ms')} / ${f('trendQueryP95Ms')}`, '≤ 20')}
${row(`FHIR Observation search over the same readings, newest first, first page of 100 (p50 / p95 ms)`, `${f('fhirSearchP50Ms')} / ${f('fhirSearchP95Ms')}`, '≤ 20')}
`);
console.log(JSON.stringify(figures));
