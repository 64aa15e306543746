import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import packageJson from '../../package.json' with { type: 'json' };
import { loadConfig } from '../../src/config.ts';
import { startHomewatch, type Homewatch } from '../../src/main.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export type DeviceKind = 'bp_monitor' | 'scale' | 'pulse_oximeter';

export type ClinicianRole = 'admin' | 'nurse' | 'physician';

/** A clinician account created through the API, with the password it was created with. */
export interface TestClinician {
  id: string;
  name: string;
  email: string;
  role: ClinicianRole;
  password: string;
}

export interface ProvisionedDevice {
  patientId: string;
  deviceId: string;
  token: string;
}

/** A client of a running service, over real HTTP. */
export class ServiceClient {
  constructor(readonly url: string) {}

  /** fetch with the admin token and JSON body. */
  admin(pathname: string, init: { method?: string; body?: unknown } = {}) {
    return this.request(pathname, ADMIN_TOKEN, init);
  }

  request(
    pathname: string,
    token: string | undefined,
    { method = 'GET', body }: { method?: string; body?: unknown } = {},
  ) {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    return fetch(this.url + pathname, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  }

  /** Posts readings as a device; `body` is sent as given (a string is sent raw). */
  postReadings(token: string, body: unknown, contentType = 'application/json') {
    return fetch(`${this.url}/v1/readings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': contentType },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  async createPatient(name = 'Test Patient'): Promise<string> {
    const response = await this.admin('/v1/patients', { method: 'POST', body: { name } });
    if (response.status !== 201) throw new Error(`createPatient: ${response.status} ${await response.text()}`);
    return ((await response.json()) as { id: string }).id;
  }

  /** A new patient with one device of `kind` assigned to them (or the given patient). */
  async provision(kind: DeviceKind = 'bp_monitor', patientId?: string): Promise<ProvisionedDevice> {
    const patient = patientId ?? (await this.createPatient());
    const response = await this.admin('/v1/devices', { method: 'POST', body: { kind, patientId: patient } });
    if (response.status !== 201) throw new Error(`provision: ${response.status} ${await response.text()}`);
    const device = (await response.json()) as { id: string; token: string };
    return { patientId: patient, deviceId: device.id, token: device.token };
  }

  /**
   * Creates a clinician through POST /v1/clinicians with a unique email and a random password (or the
   * given ones). Costs one scrypt hash (~0.5 s): create once per file and reuse.
   */
  async createClinician(
    role: ClinicianRole,
    given: { name?: string; email?: string; password?: string } = {},
  ): Promise<TestClinician> {
    const unique = randomUUID().slice(0, 8);
    const input = {
      name: given.name ?? `Test ${role} ${unique}`,
      email: given.email ?? `${role}-${unique}@clinic.test`,
      password: given.password ?? `pw-${randomUUID()}`,
    };
    const response = await this.admin('/v1/clinicians', { method: 'POST', body: { ...input, role } });
    if (response.status !== 201) throw new Error(`createClinician: ${response.status} ${await response.text()}`);
    const created = (await response.json()) as { id: string; email: string };
    return { ...input, id: created.id, email: created.email, role };
  }

  /** POST /v1/auth/login as it is, for tests of the answer itself. */
  loginResponse(email: string, password: string) {
    return this.request('/v1/auth/login', undefined, { method: 'POST', body: { email, password } });
  }

  /** Signs in and returns the session token; throws unless the answer is 200. Costs one scrypt verify. */
  async login(email: string, password: string): Promise<string> {
    const response = await this.loginResponse(email, password);
    if (response.status !== 200) throw new Error(`login: ${response.status} ${await response.text()}`);
    return ((await response.json()) as { token: string }).token;
  }

  async rejections(deviceId: string) {
    const response = await this.admin(`/v1/devices/${deviceId}/rejections`);
    return (
      (await response.json()) as {
        rejections: Array<{
          reason: string;
          payload: unknown;
          rawPayload: string;
          /** Set when only the payload's first 4 KiB is kept (it was over 16 KiB). */
          truncated?: true;
          bytes?: number | null;
          sha256?: string | null;
          errors: Array<{ path: string; message: string }>;
        }>;
      }
    ).rejections;
  }

  async readings(patientId: string, query = '') {
    const response = await this.admin(`/v1/patients/${patientId}/readings${query}`);
    if (response.status !== 200) throw new Error(`readings: ${response.status} ${await response.text()}`);
    return (await response.json()) as { readings: Array<Record<string, unknown>>; next?: string };
  }
}

export interface TestService extends ServiceClient {
  dataDir: string;
  mqttUrl: string;
  service: Homewatch;
  stop(): Promise<void>;
}

/**
 * The real service, in this process, on free ports with a throw-away DATA_DIR. `env` overrides settings
 * exactly as the environment would (it goes through loadConfig).
 */
export async function startTestService(env: Record<string, string> = {}, dataDir?: string): Promise<TestService> {
  const dir = dataDir ?? (await mkdtemp(path.join(tmpdir(), 'homewatch-test-')));
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    MQTT_PORT: '0',
    DATA_DIR: dir,
    RPM_ADMIN_TOKEN: ADMIN_TOKEN,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...env,
  });
  const service = await startHomewatch(config);
  const client = new ServiceClient(`http://127.0.0.1:${service.httpPort}`);
  return Object.assign(client, {
    dataDir: dir,
    mqttUrl: `mqtt://127.0.0.1:${service.mqttPort}`,
    service,
    async stop() {
      await service.stop();
      if (!dataDir) await rm(dir, { recursive: true, force: true });
    },
  });
}

export interface ServiceProcess extends ServiceClient {
  child: ChildProcess;
  httpPort: number;
  mqttPort: number | undefined;
  /** Every log line the process printed, parsed. */
  logs: Array<Record<string, unknown>>;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const ROOT = path.resolve(import.meta.dirname, '../..');

/** What `npm start` runs (its node flags are in package.json), built by the tests' globalSetup (test/helpers/build.ts). */
const START = [...packageJson.config.nodeFlags.split(' '), 'dist/main.js'];

/**
 * The service as a separate process, started the way `npm start` starts it, for what needs a process
 * boundary: SIGKILL, SIGTERM, start-up failures. Resolves once it logs that it is serving.
 */
export function spawnService(env: Record<string, string>, nodeArgs: string[] = []): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [...nodeArgs, ...START], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOST: '127.0.0.1',
      PORT: '0',
      MQTT_PORT: '0',
      RPM_ADMIN_TOKEN: ADMIN_TOKEN,
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.event === 'started') {
        const client = new ServiceClient(`http://127.0.0.1:${entry.httpPort}`);
        resolve(
          Object.assign(client, {
            child,
            httpPort: entry.httpPort as number,
            mqttPort: entry.mqttPort as number | undefined,
            logs,
            exited,
          }),
        );
      }
    });
    void exited.then(({ code, signal }) =>
      reject(new Error(`the service exited (${code ?? signal}) before serving: ${stderr}`)),
    );
  });
}

/** Runs the service expecting it to fail at start; resolves with its exit code and stderr. */
export async function spawnFailingService(
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, START, {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', MQTT_PORT: '0', LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { code, stderr };
}
