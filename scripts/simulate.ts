/**
 * `npm run simulate`: provisions made-up patients and their devices through the admin API, sends their
 * history, then keeps sending readings as they would arrive, over MQTT or HTTP. It uses only the public
 * contract (shared CONTRACT.md), so it works against any deployment. `npm run simulate -- --help` lists
 * the options; the data itself comes from the pure generator in `simulate-data.ts`.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import {
  DAY,
  DEVICE_KINDS,
  KIND_OF_TYPE,
  MEASURED_AT_FORMAT_OF_KIND,
  chunk,
  createLiveClock,
  createRandom,
  formatUtc,
  generateReadings,
  makePatientProfile,
  mixSeed,
  toReadingPayload,
} from './simulate-data.ts';
import type { DeviceKind, PatientProfile, Random, ReadingPayload, SimReading } from './simulate-data.ts';

const HELP = `Usage: npm run simulate -- [options]

Creates made-up patients, each with a blood pressure monitor, a scale and a pulse oximeter, through the
admin API, and gives each a care plan (the heart-failure, hypertension and COPD templates in turn) so that
their readings open alerts, and a demo care team (a nurse and a physician, new accounts each run, whose
emails and passwords it prints) so that the alerts are routed to someone who can sign in; sends D days of
their history; then keeps sending new readings until interrupted (Ctrl-C).

Options:
  --url URL              service base URL (default http://127.0.0.1:3000)
  --mqtt URL             MQTT broker URL (default mqtt://127.0.0.1:1883)
  --admin-token TOKEN    admin bearer token (default: the RPM_ADMIN_TOKEN environment variable)
  --patients N           patients to create (default 3)
  --transport mqtt|http  how the devices send (default mqtt)
  --days D               days of history to backfill first (default 30; 0 for none)
  --live, --no-live      keep sending after the backfill, or stop (default --live; --live=false works too)
  --speed S              simulated minutes per real second in live mode (default 60; 0.0167 is real time)
  --skew-minutes M       device clock error added to every measuredAt, in minutes (default 0);
                         write negative values as --skew-minutes=-5
  --duplicates F         fraction 0..1 of messages sent a second time, like a device re-sending (default 0)
  --batch-size B         readings per backfill message, 1..1000 (default 500)
  --seed S               seed of the generated data, to repeat a run (default random, printed at start)
  -h, --help             show this help

In live mode simulated time runs at --speed and every reading is stamped with the wall-clock moment its
simulated time maps to, so no reading is ever in the future.

Example: RPM_ADMIN_TOKEN=... npm run simulate -- --patients 5 --days 7 --transport http --no-live
`;

const SERIAL_PREFIX: Readonly<Record<DeviceKind, string>> = {
  bp_monitor: 'BPM',
  scale: 'SCL',
  pulse_oximeter: 'OXI',
};

/** The care-plan template each simulated patient gets, in turn (see rules/). */
const CARE_PLAN_TEMPLATES = ['heart-failure', 'hypertension', 'copd'] as const;

/** Parallel admin calls, device connections and device senders. Enough to be quick, few enough to be polite. */
const CONCURRENCY = 8;
/** How long a device waits for its outcome on the results topic before counting the message unanswered. */
const RESULT_TIMEOUT_MS = 30_000;
/** Retries of one HTTP message answered 429; with Retry-After of a few seconds this waits under a minute. */
const RATE_LIMIT_RETRIES = 5;
const LIVE_TICK_MS = 1_000;
const REPORT_EVERY_MS = 10_000;
/** Distinct transport errors printed as they happen; the rest only count. */
const ERRORS_SHOWN = 5;

// ---------------------------------------------------------------------------------------------------
// Options

type Transport = 'mqtt' | 'http';

interface SimulateOptions {
  url: string;
  mqttUrl: string;
  adminToken: string | undefined;
  patients: number;
  transport: Transport;
  days: number;
  live: boolean;
  speed: number;
  skewMinutes: number;
  duplicates: number;
  batchSize: number;
  seed: number;
}

class UsageError extends Error {}
/** A failure worth one sentence to the user and exit code 1, with no stack trace. */
class SimulateError extends Error {}

const TRUE_WORDS = ['true', '1', 'yes', 'on'];
const FALSE_WORDS = ['false', '0', 'no', 'off'];

function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): SimulateOptions | 'help' {
  // parseArgs has no "--flag=false" for booleans (allowNegative needs Node 20.16+), so spell it out first.
  const args = argv.map((arg) => {
    const match = /^--live=(.*)$/.exec(arg);
    if (!match) return arg;
    const word = (match[1] ?? '').toLowerCase();
    if (TRUE_WORDS.includes(word)) return '--live';
    if (FALSE_WORDS.includes(word)) return '--no-live';
    throw new UsageError(`--live takes true or false, not "${match[1]}"`);
  });
  const parse = () =>
    parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: 'string' },
        mqtt: { type: 'string' },
        'admin-token': { type: 'string' },
        patients: { type: 'string' },
        transport: { type: 'string' },
        days: { type: 'string' },
        live: { type: 'boolean' },
        'no-live': { type: 'boolean' },
        speed: { type: 'string' },
        'skew-minutes': { type: 'string' },
        duplicates: { type: 'string' },
        'batch-size': { type: 'string' },
        seed: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  let values: ReturnType<typeof parse>['values'];
  try {
    ({ values } = parse());
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return 'help';

  const transport = values.transport ?? 'mqtt';
  if (transport !== 'mqtt' && transport !== 'http') {
    throw new UsageError(`--transport must be mqtt or http, not "${transport}"`);
  }
  const speed = numberOption('speed', values.speed, 60, { min: 0 });
  if (speed <= 0) throw new UsageError('--speed must be greater than 0');

  return {
    url: urlOption('url', values.url ?? 'http://127.0.0.1:3000', ['http:', 'https:']).replace(/\/+$/, ''),
    mqttUrl: urlOption('mqtt', values.mqtt ?? 'mqtt://127.0.0.1:1883', [
      'mqtt:',
      'mqtts:',
      'tcp:',
      'ssl:',
      'ws:',
      'wss:',
    ]),
    adminToken: values['admin-token'] || env.RPM_ADMIN_TOKEN || undefined,
    patients: numberOption('patients', values.patients, 3, { min: 1, max: 10_000, integer: true }),
    transport,
    days: numberOption('days', values.days, 30, { min: 0, max: 3650 }),
    live: !values['no-live'],
    speed,
    skewMinutes: numberOption('skew-minutes', values['skew-minutes'], 0, { min: -525_600, max: 525_600 }),
    duplicates: numberOption('duplicates', values.duplicates, 0, { min: 0, max: 1 }),
    batchSize: numberOption('batch-size', values['batch-size'], 500, { min: 1, max: 1000, integer: true }),
    seed: numberOption('seed', values.seed, randomBytes(4).readUInt32BE(0), {
      min: 0,
      max: 0xffff_ffff,
      integer: true,
    }),
  };
}

function numberOption(
  name: string,
  raw: string | undefined,
  fallback: number,
  limits: { min: number; max?: number; integer?: boolean },
): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value)) throw new UsageError(`--${name} must be a number, not "${raw}"`);
  if (limits.integer && !Number.isInteger(value))
    throw new UsageError(`--${name} must be a whole number, not "${raw}"`);
  if (value < limits.min || (limits.max !== undefined && value > limits.max)) {
    const range = limits.max === undefined ? `at least ${limits.min}` : `between ${limits.min} and ${limits.max}`;
    throw new UsageError(`--${name} must be ${range}, not ${raw}`);
  }
  return value;
}

function urlOption(name: string, raw: string, protocols: readonly string[]): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--${name} must be a URL, not "${raw}"`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new UsageError(`--${name} must start with ${protocols.map((p) => `${p}//`).join(', ')}; got "${raw}"`);
  }
  return raw;
}

// ---------------------------------------------------------------------------------------------------
// Counting outcomes

/** What one message got back: the contract's response body, or why there was none. */
type Outcome =
  | { kind: 'answered'; accepted: number; duplicates: number; rejected: number; reasons: string[] }
  | { kind: 'failed'; error: string }
  | { kind: 'unanswered' };

interface Tally {
  messages: number;
  readings: number;
  resent: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  failed: number;
  unanswered: number;
  reasons: Map<string, number>;
  errorsShown: Set<string>;
}

function createTally(): Tally {
  return {
    messages: 0,
    readings: 0,
    resent: 0,
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    failed: 0,
    unanswered: 0,
    reasons: new Map(),
    errorsShown: new Set(),
  };
}

function recordOutcome(tally: Tally, outcome: Outcome): void {
  switch (outcome.kind) {
    case 'answered':
      tally.accepted += outcome.accepted;
      tally.duplicates += outcome.duplicates;
      tally.rejected += outcome.rejected;
      for (const reason of outcome.reasons) tally.reasons.set(reason, (tally.reasons.get(reason) ?? 0) + 1);
      return;
    case 'failed':
      tally.failed++;
      if (tally.errorsShown.size < ERRORS_SHOWN && !tally.errorsShown.has(outcome.error)) {
        tally.errorsShown.add(outcome.error);
        console.error(`simulate: ${outcome.error}`);
      }
      return;
    case 'unanswered':
      tally.unanswered++;
      return;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The sentence of a contract error body `{error: {code, message}}`, or the start of whatever came back. */
function errorMessage(body: unknown, text: string): string {
  if (isRecord(body) && isRecord(body.error)) {
    const { code, message } = body.error;
    return [code, message].filter((part) => typeof part === 'string').join(': ') || text.slice(0, 200);
  }
  return text.slice(0, 200) || '(empty body)';
}

/** Reads `{accepted, duplicates, rejected, results}`; the reasons drop the `readings.N.` prefix so they add up. */
function parseIngestAnswer(text: string): Outcome {
  const body = parseJson(text);
  if (
    !isRecord(body) ||
    typeof body.accepted !== 'number' ||
    typeof body.duplicates !== 'number' ||
    typeof body.rejected !== 'number'
  ) {
    return { kind: 'failed', error: `unexpected answer: ${errorMessage(body, text)}` };
  }
  const reasons: string[] = [];
  if (Array.isArray(body.results)) {
    for (const result of body.results) {
      if (!isRecord(result) || result.status !== 'rejected' || !Array.isArray(result.errors)) continue;
      for (const error of result.errors) {
        if (!isRecord(error)) continue;
        const path = typeof error.path === 'string' ? error.path.replace(/^readings\.\d+\.?/, '') : '';
        reasons.push(`${path || '(reading)'}: ${String(error.message)}`);
      }
    }
  }
  return { kind: 'answered', accepted: body.accepted, duplicates: body.duplicates, rejected: body.rejected, reasons };
}

function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

function plural(n: number, noun: string): string {
  return `${formatCount(n)} ${noun}${n === 1 ? '' : 's'}`;
}

function formatElapsed(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

function formatTotals(tally: Tally): string {
  let text = `accepted ${formatCount(tally.accepted)}, duplicates ${formatCount(tally.duplicates)}, rejected ${formatCount(tally.rejected)}`;
  if (tally.failed > 0) text += `, failed messages ${formatCount(tally.failed)}`;
  if (tally.unanswered > 0) text += `, unanswered ${formatCount(tally.unanswered)}`;
  return text;
}

// ---------------------------------------------------------------------------------------------------
// Admin API

interface SimDevice {
  id: string;
  token: string;
  kind: DeviceKind;
  serial: string;
  patient: SimPatient;
  /** The next message id number: readings are `${serial}-${n}`, unique per device. */
  nextSequence: number;
}

interface SimPatient {
  id: string;
  profile: PatientProfile;
  /** The care-plan template applied. */
  template: string;
  devices: SimDevice[];
}

function describeFetchError(error: unknown): string {
  if (error instanceof Error) {
    const cause: unknown = error.cause;
    if (isRecord(cause) && typeof cause.code === 'string') return cause.code;
    if (cause instanceof Error) return cause.message;
    return error.message;
  }
  return String(error);
}

async function callAdmin(
  options: SimulateOptions,
  path: string,
  body: unknown,
  signal: AbortSignal,
  method: 'POST' | 'PUT' = 'POST',
): Promise<Record<string, unknown>> {
  let response: Response;
  try {
    response = await fetch(`${options.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${options.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (signal.aborted) throw error;
    throw new SimulateError(
      `cannot reach the service at ${options.url} (${describeFetchError(error)}); is it running?`,
    );
  }
  const text = await response.text();
  const json = parseJson(text);
  if (!response.ok) {
    const hint =
      response.status === 401 || response.status === 403
        ? ' (the admin token must equal the RPM_ADMIN_TOKEN the service was started with)'
        : '';
    throw new SimulateError(`${method} ${path} answered ${response.status}: ${errorMessage(json, text)}${hint}`);
  }
  if (!isRecord(json)) throw new SimulateError(`${method} ${path} answered ${response.status} without a JSON object`);
  return json;
}

function stringField(body: Record<string, unknown>, field: string, what: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value === '') throw new SimulateError(`${what}: the answer has no "${field}"`);
  return value;
}

/** A demo clinician made by this run, with the password to sign in with (printed once). */
interface DemoClinician {
  id: string;
  email: string;
  name: string;
  password: string;
}

/**
 * A demo care team for the tour: a nurse (primary nurse of every simulated patient, so alerts are
 * routed to her) and a physician (their PCP). Fresh accounts each run, with generated passwords.
 */
async function createDemoTeam(
  options: SimulateOptions,
  runId: string,
  signal: AbortSignal,
): Promise<{ nurse: DemoClinician; physician: DemoClinician }> {
  const create = async (role: 'nurse' | 'physician', name: string): Promise<DemoClinician> => {
    const email = `demo-${role}-${runId}@homewatch.example`;
    const password = randomBytes(18).toString('base64url');
    const created = await callAdmin(options, '/v1/clinicians', { name, email, role, password }, signal);
    return { id: stringField(created, 'id', 'POST /v1/clinicians'), email, name, password };
  };
  return { nurse: await create('nurse', 'Nora Demo, RN'), physician: await create('physician', 'Dr. Paul Demo') };
}

async function provision(
  options: SimulateOptions,
  runId: string,
  team: { nurse: DemoClinician; physician: DemoClinician },
  signal: AbortSignal,
): Promise<SimPatient[]> {
  const patients: SimPatient[] = [];
  const indexes = Array.from({ length: options.patients }, (_, i) => i);
  await forEachLimit(indexes, CONCURRENCY, signal, async (index) => {
    const profile = makePatientProfile(mixSeed(options.seed, index));
    const created = await callAdmin(
      options,
      '/v1/patients',
      { name: profile.name, timezone: profile.timezone },
      signal,
    );
    const template = CARE_PLAN_TEMPLATES[index % CARE_PLAN_TEMPLATES.length]!;
    const patient: SimPatient = { id: stringField(created, 'id', 'POST /v1/patients'), profile, template, devices: [] };
    // Before any reading, so that the history is judged by the plan and its alerts are routed to the team.
    await callAdmin(options, `/v1/patients/${patient.id}/care-plan`, { templates: [template] }, signal, 'PUT');
    const members = [
      { clinicianId: team.nurse.id, role: 'primary_nurse' },
      { clinicianId: team.physician.id, role: 'pcp' },
    ];
    await callAdmin(options, `/v1/patients/${patient.id}/care-team`, { members }, signal, 'PUT');
    for (const kind of DEVICE_KINDS) {
      const serial = `${SERIAL_PREFIX[kind]}-${runId}-${String(index + 1).padStart(3, '0')}`;
      const device = await callAdmin(options, '/v1/devices', { kind, serial, patientId: patient.id }, signal);
      patient.devices.push({
        id: stringField(device, 'id', 'POST /v1/devices'),
        token: stringField(device, 'token', 'POST /v1/devices'),
        kind,
        serial,
        patient,
        nextSequence: 1,
      });
    }
    patients[index] = patient;
  });
  return patients;
}

// ---------------------------------------------------------------------------------------------------
// Transports: how a device's message reaches the service. Both report outcomes to the same callback.

interface DeviceTransport {
  open(device: SimDevice): Promise<void>;
  /** Sends one message and returns once its outcome is recorded (or it failed, timed out or was aborted). */
  send(device: SimDevice, body: string): Promise<void>;
  close(): Promise<void>;
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function retryAfterMs(response: Response): number {
  const seconds = Number(response.headers.get('retry-after'));
  return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 60) * 1000 : 1000;
}

function createHttpTransport(
  options: SimulateOptions,
  report: (outcome: Outcome) => void,
  signal: AbortSignal,
): DeviceTransport {
  return {
    async open() {},
    async send(device, body) {
      try {
        for (let attempt = 0; ; attempt++) {
          const response = await fetch(`${options.url}/v1/readings`, {
            method: 'POST',
            headers: { authorization: `Bearer ${device.token}`, 'content-type': 'application/json' },
            body,
            signal,
          });
          const text = await response.text();
          if (response.status === 429 && attempt < RATE_LIMIT_RETRIES) {
            await sleep(retryAfterMs(response), undefined, { signal });
            continue;
          }
          // 422 carries the same body as 200: every reading was rejected.
          if (response.status === 200 || response.status === 422) report(parseIngestAnswer(text));
          else report({ kind: 'failed', error: `HTTP ${response.status}: ${errorMessage(parseJson(text), text)}` });
          return;
        }
      } catch (error) {
        if (signal.aborted) return;
        report({ kind: 'failed', error: `POST /v1/readings failed: ${describeFetchError(error)}` });
      }
    },
    async close() {},
  };
}

interface MqttLink {
  client: MqttClient;
  published: number;
  answered: number;
  /** Woken on every result and on publish errors; each checks its own condition. */
  wakers: Set<() => void>;
}

/**
 * Waits until `done()` holds, the timeout passes or the run is aborted. The contract's results carry no
 * reference to the message they answer, so a device sends one message at a time and counts answers.
 */
function waitUntil(
  link: MqttLink,
  done: () => boolean,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<'done' | 'timeout' | 'aborted'> {
  return new Promise((resolve) => {
    const finish = (result: 'done' | 'timeout' | 'aborted') => {
      clearTimeout(timer);
      link.wakers.delete(check);
      signal.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const check = () => {
      if (done()) finish('done');
    };
    const onAbort = () => finish('aborted');
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    link.wakers.add(check);
    signal.addEventListener('abort', onAbort);
    if (signal.aborted) finish('aborted');
    else check();
  });
}

function createMqttTransport(
  options: SimulateOptions,
  report: (outcome: Outcome) => void,
  signal: AbortSignal,
): DeviceTransport {
  const links = new Map<string, MqttLink>();
  let closed = false;
  return {
    async open(device) {
      let client: MqttClient;
      try {
        client = await mqtt.connectAsync(
          options.mqttUrl,
          {
            username: device.id,
            password: device.token,
            clientId: `sim-${device.serial}`,
            clean: true,
            connectTimeout: 10_000,
            reconnectPeriod: 2_000,
          },
          false,
        );
      } catch (error) {
        throw new SimulateError(`device ${device.id} cannot connect to ${options.mqttUrl}: ${toError(error).message}`);
      }
      if (closed) {
        // The run stopped while this device was connecting.
        await client.endAsync();
        return;
      }
      const link: MqttLink = { client, published: 0, answered: 0, wakers: new Set() };
      const resultsTopic = `rpm/devices/${device.id}/results`;
      client.on('error', (error) => report({ kind: 'failed', error: `MQTT (device ${device.id}): ${error.message}` }));
      client.on('message', (topic, payload) => {
        if (topic !== resultsTopic) return;
        link.answered++;
        report(parseIngestAnswer(payload.toString('utf8')));
        for (const wake of [...link.wakers]) wake();
      });
      links.set(device.id, link);
      const grants = await client.subscribeAsync(resultsTopic, { qos: 1 });
      if (grants.some((grant) => grant.qos !== 0 && grant.qos !== 1 && grant.qos !== 2)) {
        throw new SimulateError(`the broker refused device ${device.id} a subscription to ${resultsTopic}`);
      }
    },
    async send(device, body) {
      const link = links.get(device.id);
      if (!link) throw new Error(`device ${device.id} is not connected`);
      const expected = ++link.published;
      let publishError: Error | undefined;
      // PUBACK comes once the readings are stored; the outcome follows on the results topic.
      link.client.publishAsync(`rpm/devices/${device.id}/readings`, body, { qos: 1 }).catch((error: unknown) => {
        publishError = toError(error);
        for (const wake of [...link.wakers]) wake();
      });
      const result = await waitUntil(
        link,
        () => link.answered >= expected || publishError !== undefined,
        RESULT_TIMEOUT_MS,
        signal,
      );
      if (result === 'aborted') return;
      if (publishError)
        report({ kind: 'failed', error: `publish failed (device ${device.id}): ${publishError.message}` });
      else if (result === 'timeout') report({ kind: 'unanswered' });
    },
    async close() {
      closed = true;
      await Promise.all([...links.values()].map((link) => link.client.endAsync()));
      links.clear();
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Sending

interface RunContext {
  options: SimulateOptions;
  transport: DeviceTransport;
  tally: Tally;
  /** Decides which messages are re-sent (--duplicates). */
  random: Random;
  signal: AbortSignal;
}

async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  signal: AbortSignal,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !signal.aborted) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function toPayloads(device: SimDevice, readings: readonly SimReading[], skewMinutes: number): ReadingPayload[] {
  return readings.map((reading) =>
    toReadingPayload(reading, {
      id: `${device.serial}-${device.nextSequence++}`,
      format: MEASURED_AT_FORMAT_OF_KIND[device.kind],
      timezone: device.patient.profile.timezone,
      skewMinutes,
    }),
  );
}

/** Sends readings as one message (a batch, or a bare reading when `bare` and there is one), maybe twice. */
async function sendReadings(
  context: RunContext,
  device: SimDevice,
  readings: readonly SimReading[],
  bare: boolean,
): Promise<void> {
  const payloads = toPayloads(device, readings, context.options.skewMinutes);
  const body = JSON.stringify(bare && payloads.length === 1 ? payloads[0] : { readings: payloads });
  context.tally.messages++;
  context.tally.readings += payloads.length;
  await context.transport.send(device, body);
  if (context.options.duplicates > 0 && context.random() < context.options.duplicates && !context.signal.aborted) {
    context.tally.resent++;
    await context.transport.send(device, body);
  }
}

function readingsByDevice(
  patient: SimPatient,
  readings: readonly SimReading[],
): Array<{ device: SimDevice; readings: SimReading[] }> {
  return patient.devices
    .map((device) => ({ device, readings: readings.filter((reading) => KIND_OF_TYPE[reading.type] === device.kind) }))
    .filter((job) => job.readings.length > 0);
}

async function backfill(
  context: RunContext,
  patients: readonly SimPatient[],
  fromMs: number,
  toMs: number,
): Promise<void> {
  const jobs = patients.flatMap((patient) =>
    readingsByDevice(patient, generateReadings(patient.profile, fromMs, toMs)),
  );
  const total = jobs.reduce((sum, job) => sum + job.readings.length, 0);
  console.log(
    `backfill: ${formatCount(total)} readings from ${formatUtc(fromMs)} to ${formatUtc(toMs)}, ` +
      `up to ${context.options.batchSize} per message, over ${context.options.transport}`,
  );
  await forEachLimit(jobs, CONCURRENCY, context.signal, async ({ device, readings }) => {
    for (const batch of chunk(readings, context.options.batchSize)) {
      if (context.signal.aborted) return;
      await sendReadings(context, device, batch, false);
    }
  });
}

async function runLive(
  context: RunContext,
  patients: readonly SimPatient[],
  simStart: number,
  onTick: (simNow: number) => void,
): Promise<void> {
  const clock = createLiveClock({ simStart, realStart: Date.now(), speed: context.options.speed });
  let simFrom = simStart;
  console.log(
    `live: ${context.options.speed} simulated minutes per second from ${formatUtc(simStart)}; Ctrl-C to stop`,
  );
  while (!context.signal.aborted) {
    try {
      await sleep(LIVE_TICK_MS, undefined, { signal: context.signal });
    } catch {
      return; // aborted
    }
    const simTo = clock.simAt(Date.now());
    const jobs = patients.flatMap((patient) =>
      readingsByDevice(
        patient,
        // A device stamps a reading with its own (real) clock: map simulated time back to the wall clock.
        generateReadings(patient.profile, simFrom, simTo).map((reading) => ({
          ...reading,
          measuredAt: Math.floor(clock.realAt(reading.measuredAt) / 1000) * 1000,
        })),
      ),
    );
    simFrom = simTo;
    await forEachLimit(jobs, CONCURRENCY, context.signal, async ({ device, readings }) => {
      for (const batch of chunk(readings, context.options.batchSize)) {
        if (context.signal.aborted) return;
        await sendReadings(context, device, batch, true);
      }
    });
    onTick(simTo);
  }
}

// ---------------------------------------------------------------------------------------------------
// Main

/** How to see the data: the web app, signed in as the demo nurse (or physician) this run created. */
function signInHint(options: SimulateOptions, team: { nurse: DemoClinician; physician: DemoClinician }): string {
  return [
    `web app: open ${options.url}/ and sign in as the demo care team of these patients (passwords shown this once):`,
    `  nurse      ${team.nurse.email}   ${team.nurse.password}`,
    `  physician  ${team.physician.email}   ${team.physician.password}`,
  ].join('\n');
}

async function main(): Promise<number> {
  let options: SimulateOptions | 'help';
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`simulate: ${error.message}\nRun with --help to see the options.`);
    return 1;
  }
  if (options === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (!options.adminToken) {
    console.error(
      'simulate: an admin token is required: pass --admin-token <token> or set RPM_ADMIN_TOKEN to the value the service was started with.',
    );
    return 1;
  }

  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130); // a second Ctrl-C: don't wait for the broker
    console.log(`\n${name}: stopping`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const started = Date.now();
  const tally = createTally();
  const report = (outcome: Outcome) => recordOutcome(tally, outcome);
  const transport =
    options.transport === 'mqtt'
      ? createMqttTransport(options, report, controller.signal)
      : createHttpTransport(options, report, controller.signal);
  const context: RunContext = {
    options,
    transport,
    tally,
    random: createRandom(mixSeed(options.seed, 0xd0b1e)),
    signal: controller.signal,
  };

  let phase = 'provisioning';
  let simNow = 0;
  let lastReport = { at: started, tally: { ...tally } };
  const printProgress = () => {
    const now = Date.now();
    const sent = tally.readings - lastReport.tally.readings;
    const accepted = tally.accepted - lastReport.tally.accepted;
    const duplicates = tally.duplicates - lastReport.tally.duplicates;
    const rejected = tally.rejected - lastReport.tally.rejected;
    const where = phase === 'live' ? ` simulated ${formatUtc(simNow).slice(0, 16)}Z |` : '';
    console.log(
      `[${phase} ${formatElapsed(now - started)}]${where} last ${formatElapsed(now - lastReport.at)}: ` +
        `${formatCount(sent)} sent, ${formatCount(accepted)} accepted, ${formatCount(duplicates)} duplicates, ` +
        `${formatCount(rejected)} rejected | total ${formatTotals(tally)}`,
    );
    lastReport = { at: now, tally: { ...tally } };
  };
  const reporter = setInterval(() => {
    if (phase === 'backfill') printProgress();
  }, REPORT_EVERY_MS);

  let exitCode = 0;
  let devices = 0;
  let demoTeam: { nurse: DemoClinician; physician: DemoClinician } | undefined;
  try {
    const runId = randomBytes(3).toString('hex');
    console.log(`simulate: seed ${options.seed}, run ${runId}, service ${options.url}`);
    const team = await createDemoTeam(options, runId, controller.signal);
    demoTeam = team;
    const patients = await provision(options, runId, team, controller.signal);
    devices = patients.reduce((sum, patient) => sum + patient.devices.length, 0);
    for (const patient of patients) {
      const list = patient.devices.map((device) => `${device.kind} ${device.id}`).join(', ');
      console.log(
        `  ${patient.profile.name} (${patient.profile.timezone}, care plan ${patient.template}) ${patient.id}: ${list}`,
      );
    }
    if (options.transport === 'mqtt') {
      console.log(`connecting ${devices} devices to ${options.mqttUrl}`);
      const all = patients.flatMap((patient) => patient.devices);
      await forEachLimit(all, CONCURRENCY, controller.signal, (device) => transport.open(device));
    }

    const backfillEnd = Date.now();
    if (options.days > 0 && !controller.signal.aborted) {
      phase = 'backfill';
      lastReport = { at: Date.now(), tally: { ...tally } };
      await backfill(context, patients, backfillEnd - options.days * DAY, backfillEnd);
      console.log(`backfill done in ${formatElapsed(Date.now() - lastReport.at)}: ${formatTotals(tally)}`);
    }
    if (!controller.signal.aborted) console.log(signInHint(options, team));
    if (options.live && !controller.signal.aborted) {
      phase = 'live';
      lastReport = { at: Date.now(), tally: { ...tally } };
      await runLive(context, patients, backfillEnd, (simTo) => {
        simNow = simTo;
        if (Date.now() - lastReport.at >= REPORT_EVERY_MS) printProgress();
      });
    }
  } catch (error) {
    if (!controller.signal.aborted) {
      console.error(
        `simulate: ${error instanceof SimulateError ? error.message : (toError(error).stack ?? String(error))}`,
      );
      exitCode = 1;
    }
    controller.abort(); // stop any sender still running
  } finally {
    clearInterval(reporter);
    await transport.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  if (devices === 0) return exitCode;
  const resent = tally.resent > 0 ? ` (${formatCount(tally.resent)} of them re-sends)` : '';
  console.log(
    `summary: ${plural(options.patients, 'patient')}, ${plural(devices, 'device')} over ${options.transport}, ` +
      `${plural(tally.readings, 'reading')} in ${plural(tally.messages + tally.resent, 'message')}${resent}, ` +
      `${formatElapsed(Date.now() - started)}`,
  );
  console.log(`  ${formatTotals(tally)}`);
  const reasons = [...tally.reasons].sort((a, b) => b[1] - a[1]).slice(0, 5);
  for (const [reason, count] of reasons) console.log(`  rejected ${formatCount(count)}× ${reason}`);
  if (exitCode === 0 && options.live && demoTeam) console.log(signInHint(options, demoTeam));
  return exitCode;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
