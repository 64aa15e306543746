/**
 * Reading → push latency: from a device publishing a breaching reading over MQTT to the push request
 * reaching a local HTTPS push receiver (which verifies the VAPID JWT and decrypts the payload), while
 * every other device keeps up a steady load of normal readings. Prints p50/p99/max and a JSON line.
 * The load runs `warmup` seconds before the first measured breach, so the figures are of the steady state,
 * not of a cold start (caches loading, JIT, the first TLS handshake: the first second's alerts take up to a
 * second, the first pushes a few hundred ms). During the warm-up, a tenth of the devices also report a
 * pulse under 40 once, a rule of its own, so the push path is warm too; those pushes are not measured.
 * Then every device breaches two rules once each, at random moments: an SpO2 under 88 and a pulse over
 * 150, so that the p99 is of 2 × devices pushes (with 200 pushes, it was the second slowest alone).
 *
 *   npm run bench:push -- --devices 200 --rate 5000 --seconds 10 --warmup 3
 */
import { parseArgs } from 'node:util';
import { startWorker } from '../src/ops/worker-thread.ts';
import { startPushReceiver } from '../test/helpers/push-receiver.ts';
import { BENCH_ADMIN_TOKEN, buildService, quantile, startBenchService } from './bench-lib.ts';
import type { DevicesPlan, DevicesReport } from './bench-push-devices.ts';

export interface PushLatency {
  devices: number;
  readingsPerSecond: number;
  warmupSeconds: number;
  achievedReadingsPerSecond: number;
  pushes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export async function benchPush({
  devices: DEVICES,
  rate: RATE,
  seconds: SECONDS,
  warmup: WARMUP,
}: {
  devices: number;
  rate: number;
  seconds: number;
  warmup: number;
}): Promise<PushLatency> {
  const receiver = await startPushReceiver();
  const svc = await startBenchService({ PUSH_ENDPOINT_HOSTS: receiver.host, OUTBOUND_CA_FILE: receiver.caFile });
  const { base } = svc;
  const call = (pathname: string, body: unknown, token?: string, method?: string) =>
    svc.call(pathname, body, { token, method }) as Promise<Record<string, string>>;

  // One patient per device, all with the same primary nurse, whose phone is a subscription of the receiver.
  const password = 'bench-password-0123';
  const nurse = await call('/v1/clinicians', {
    name: 'Bench Nurse',
    email: 'nurse@bench.example',
    role: 'nurse',
    password,
  });
  const { token: nurseToken } = await call('/v1/auth/login', { email: 'nurse@bench.example', password });
  await call('/v1/push/subscriptions', receiver.subscribe('nurse'), nurseToken!);
  const devices: Array<{ id: string; token: string; patientId: string }> = [];
  for (let i = 0; i < DEVICES; i++) {
    const patient = await call('/v1/patients', { name: `Bench Patient${i}` });
    await call(
      `/v1/patients/${patient.id}/care-team`,
      { members: [{ clinicianId: nurse.id, role: 'primary_nurse' }] },
      undefined,
      'PUT',
    );
    await call(
      `/v1/patients/${patient.id}/care-plan`,
      {
        rules: [
          {
            id: 'spo2-critical',
            metric: 'spo2',
            when: { kind: 'threshold', op: '<', value: 88 },
            severity: 'critical',
            message: 'SpO2 below 88 %',
          },
          {
            id: 'pulse-critical',
            metric: 'pulse',
            when: { kind: 'threshold', op: '>', value: 150 },
            severity: 'critical',
            message: 'Pulse over 150',
          },
          {
            id: 'warm-up',
            metric: 'pulse',
            when: { kind: 'threshold', op: '<', value: 40 },
            severity: 'critical',
            message: 'Pulse under 40',
          },
        ],
      },
      undefined,
      'PUT',
    );
    devices.push(
      (await call('/v1/devices', { kind: 'pulse_oximeter', patientId: patient.id })) as {
        id: string;
        token: string;
        patientId: string;
      },
    );
  }

  const perDevicePerSecond = RATE / DEVICES;
  const warm = Math.round(perDevicePerSecond * WARMUP);
  const total = warm + Math.round(perDevicePerSecond * SECONDS);
  // Two breaches per device, at two different messages of the measured part.
  const measuredPart = total - warm;
  const spo2BreachAt = devices.map(() => warm + Math.floor(Math.random() * measuredPart));
  const pulseBreachAt = spo2BreachAt.map(
    (spo2) => warm + ((spo2 - warm + 1 + Math.floor(Math.random() * (measuredPart - 1))) % measuredPart),
  );
  const plan: DevicesPlan = {
    mqttUrl: svc.mqttUrl,
    devices,
    perDevicePerSecond,
    total,
    spo2BreachAt,
    pulseBreachAt,
    // Warm-up pushes, from every tenth device, in the second half of the warm-up.
    warmBreachAt: devices.map((_, i) => (i % 10 === 0 ? Math.floor(warm / 2 + Math.random() * (warm / 2)) : -1)),
  };
  const warmPushes = plan.warmBreachAt.filter((n) => n >= 0).length;
  const measured = 2 * DEVICES;
  const published = new Map<string, number>(); // `${patient id} ${rule id}` → publish time of the breach
  const worker = startWorker(new URL('./bench-push-devices', import.meta.url), plan);
  const reports: Partial<Record<DevicesReport['type'], (report: DevicesReport) => void>> = {};
  const next = <T extends DevicesReport['type']>(type: T) =>
    new Promise<Extract<DevicesReport, { type: T }>>((resolve) => (reports[type] = resolve as never));
  const failed = new Promise<never>((_, reject) => worker.once('error', reject));
  worker.on('message', (report: DevicesReport) =>
    report.type === 'breach'
      ? published.set(`${report.patientId} ${report.ruleId}`, report.at)
      : reports[report.type]?.(report),
  );
  const { seconds: elapsed } = await Promise.race([next('paced'), failed]);
  // Every breach must come through; wait for the last pushes.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && receiver.messages.length < measured + warmPushes)
    await new Promise((r) => setTimeout(r, 50));

  const { alerts } = (await (
    await fetch(`${base}/v1/alerts?limit=1000`, { headers: { authorization: `Bearer ${BENCH_ADMIN_TOKEN}` } })
  ).json()) as {
    alerts: Array<{ id: string; patientId: string; ruleId: string }>;
  };
  const breachOf = new Map(alerts.map((a) => [a.id, `${a.patientId} ${a.ruleId}`]));
  const stopped = next('stopped');
  worker.postMessage('stop');
  const { acknowledged } = await Promise.race([stopped, failed]);
  await worker.terminate();
  const latencies = receiver.messages
    .map((m) => published.get(breachOf.get((m.payload as { alertId: string }).alertId) ?? '') ?? NaN)
    .map((at, i) => receiver.messages[i]!.receivedAt - at)
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  await svc.stop();
  await receiver.stop();
  return {
    devices: DEVICES,
    readingsPerSecond: RATE,
    warmupSeconds: WARMUP,
    achievedReadingsPerSecond: Math.round(acknowledged / elapsed),
    pushes: latencies.length,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    maxMs: latencies.at(-1) ?? NaN,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values: args } = parseArgs({
    options: {
      devices: { type: 'string', default: '200' },
      rate: { type: 'string', default: '5000' },
      seconds: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
    },
  });
  buildService();
  const result = await benchPush({
    devices: Number(args.devices),
    rate: Number(args.rate),
    seconds: Number(args.seconds),
    warmup: Number(args.warmup),
  });
  console.log(`
Reading → push latency (${result.devices} devices over MQTT, target ${result.readingsPerSecond} readings/s, achieved ${result.achievedReadingsPerSecond}/s, after ${result.warmupSeconds} s of warm-up)
  ${result.pushes} critical alerts pushed: p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, max ${result.maxMs} ms`);
  console.log(JSON.stringify(result));
}
