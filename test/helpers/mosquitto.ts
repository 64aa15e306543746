/**
 * Starts a real Mosquitto broker for integration tests (e.g. the service's MQTT_URL mode with the shared
 * subscription `$share/rpm/rpm/devices/+/readings`).
 *
 *   describe.skipIf(!requireBinary('mosquitto', mosquittoAvailable()))('with an external broker', () => {
 *     let broker: Awaited<ReturnType<typeof startMosquitto>>;
 *     beforeAll(async () => { broker = await startMosquitto(); });
 *     afterAll(async () => { await broker.stop(); });
 *   });
 *
 * Set MOSQUITTO_BIN to use a binary that is neither on PATH nor in /usr/sbin, and TEST_BROKER_LOGS=1
 * to see the broker's log on the test's stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from './ports.ts';

export interface RunningMosquitto {
  /** e.g. `mqtt://127.0.0.1:40123` */
  url: string;
  port: number;
  /** SIGTERM, wait for the process to exit, remove the temporary folder. Safe to call twice. */
  stop(): Promise<void>;
}

// Debian puts daemons in sbin, which is not on a normal user's PATH.
const SBIN_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

/**
 * Absolute path of an executable named `name`, looked up in `envOverride` (a variable naming the
 * binary), then PATH, then the sbin folders; undefined when there is none.
 */
export function findBinary(name: string, envOverride?: string): string | undefined {
  const override = envOverride ? process.env[envOverride] : undefined;
  if (override) return isExecutable(override) ? path.resolve(override) : undefined;
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const dir of [...dirs, ...SBIN_DIRS]) {
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Absolute path of the mosquitto binary, or undefined. */
export function mosquittoPath(): string | undefined {
  return findBinary('mosquitto', 'MOSQUITTO_BIN');
}

export function mosquittoAvailable(): boolean {
  return mosquittoPath() !== undefined;
}

const APT_PACKAGE: Record<string, string> = {
  mosquitto: 'mosquitto',
  influxd: 'influxdb',
  chromium: 'chromium',
};

/**
 * The "skip loudly, but never in CI" policy for tests that need an external program.
 * Returns true when `available`. Otherwise: in CI (CI set) throws, so a missing install step fails the
 * run instead of silently skipping tests; elsewhere prints a banner and returns false.
 */
export function requireBinary(name: string, available: boolean): boolean {
  if (available) return true;
  const pkg = APT_PACKAGE[name] ?? name;
  const install = `apt-get install -y --no-install-recommends ${pkg}`;
  if (process.env.CI) {
    throw new Error(
      `${name} is required in CI (CI=${process.env.CI}) but is not installed; .ci/run must install it: ${install}`,
    );
  }
  const line = '!'.repeat(78);
  console.warn(
    [
      '',
      line,
      `!! SKIPPED: these tests need \`${name}\`, which is not installed.`,
      `!! Install it with: sudo ${install}`,
      '!! (In CI a missing binary is an error, not a skip.)',
      line,
      '',
    ].join('\n'),
  );
  return false;
}

/** Keeps the last `limit` characters of a stream, for error messages. */
export function tail(limit = 8_192): { push(chunk: Buffer | string): void; text(): string } {
  let buf = '';
  return {
    push(chunk) {
      buf += chunk.toString();
      if (buf.length > limit) buf = buf.slice(buf.length - limit);
    },
    text: () => buf,
  };
}

const children = new Set<ChildProcess>();
let exitHookInstalled = false;
/** Kills the brokers a crashed or aborted test run left behind. */
export function killOnExit(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of children) c.kill('SIGKILL');
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
export async function terminate(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Spawns a test server with its output kept (echoed too with TEST_BROKER_LOGS), killed if the test run
 * dies. `failure()` tells whether it could not start or has already exited, with its output.
 */
export function launchServer(
  name: string,
  bin: string,
  args: string[],
): { child: ChildProcess; output: ReturnType<typeof tail>; failure(): Error | undefined } {
  const output = tail();
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  killOnExit(child);
  const echo = Boolean(process.env.TEST_BROKER_LOGS);
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (c: Buffer) => {
      output.push(c);
      if (echo) process.stderr.write(c);
    });
  }
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  // 'close' comes after the process exited and its stdio drained, so the output is complete by then.
  let closed = false;
  child.once('close', () => {
    closed = true;
  });
  return {
    child,
    output,
    failure: () =>
      spawnError
        ? new Error(`could not start ${bin}: ${spawnError.message}`)
        : closed
          ? new Error(`${name} exited early (code ${child.exitCode}, signal ${child.signalCode}):\n${output.text()}`)
          : undefined,
  };
}

export async function startMosquitto(): Promise<RunningMosquitto> {
  const bin = mosquittoPath();
  if (!bin) throw new Error('mosquitto is not installed (apt-get install mosquitto)');

  const dir = await mkdtemp(path.join(os.tmpdir(), 'homewatch-mosquitto-'));
  const port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence true',
    // 1.x appends the file name to this string as is, so keep the trailing slash (2.x copes either way).
    `persistence_location ${dir}${path.sep}`,
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'connection_messages true',
    'log_timestamp true',
  ];
  // Started as root, mosquitto drops to the `mosquitto` user, which may not write our mkdtemp folder
  // (mode 0700). Stay as the caller instead.
  if (process.getuid?.() === 0) lines.push('user root');
  await writeFile(conf, `${lines.join('\n')}\n`);

  const { child, output, failure } = launchServer('mosquitto', bin, ['-c', conf]);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await terminate(child);
      await rm(dir, { recursive: true, force: true });
    })());

  try {
    await waitForPort(port, { timeoutMs: 10_000, abort: failure });
  } catch (err) {
    // A failure() already carries the output; a timeout does not.
    const alreadyTold = failure() !== undefined;
    await stop();
    if (err instanceof Error && !alreadyTold) err.message += `\nmosquitto output:\n${output.text()}`;
    throw err;
  }

  return { url: `mqtt://127.0.0.1:${port}`, port, stop };
}
