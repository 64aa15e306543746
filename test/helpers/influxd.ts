/**
 * Starts a real InfluxDB 1.x server (Debian's `influxdb` package, binary /usr/bin/influxd) for the
 * READINGS_STORE=influxdb integration tests.
 *
 *   describe.skipIf(!requireBinary('influxd', influxdAvailable()))('readings in InfluxDB', () => {
 *     let influx: RunningInfluxd;
 *     beforeAll(async () => { influx = await startInfluxd(); }, 30_000);
 *     afterAll(async () => { await influx.stop(); });
 *   });
 *
 * For outage tests, `halt()` stops the server and keeps its folder and port; `restart()` starts it again
 * on them, with everything it had stored.
 *
 * Set INFLUXD_BIN to use another binary and TEST_BROKER_LOGS=1 to see the server's log on stderr.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { findBinary, launchServer, requireBinary, terminate } from './mosquitto.ts';
import { freePort } from './ports.ts';

export { requireBinary };

export interface RunningInfluxd {
  /** e.g. `http://127.0.0.1:40123` (no trailing slash) */
  url: string;
  port: number;
  /** SIGTERM and wait for the process to exit, keeping the folder and port for `restart()`. */
  halt(): Promise<void>;
  /** Starts the server again on the same folder and port (after `halt()`); resolves once it answers /ping. */
  restart(): Promise<void>;
  /** SIGTERM, wait for the process to exit, remove the temporary folder. Safe to call twice. */
  stop(): Promise<void>;
}

/** Absolute path of the influxd binary, or undefined. */
export function influxdPath(): string | undefined {
  return findBinary('influxd', 'INFLUXD_BIN');
}

export function influxdAvailable(): boolean {
  return influxdPath() !== undefined;
}

const toml = (s: string): string => JSON.stringify(s); // a JSON string is a valid TOML basic string

export async function startInfluxd(opts: { timeoutMs?: number } = {}): Promise<RunningInfluxd> {
  const bin = influxdPath();
  if (!bin) throw new Error('influxd is not installed (apt-get install influxdb)');
  const timeoutMs = opts.timeoutMs ?? 20_000;

  const dir = await mkdtemp(path.join(os.tmpdir(), 'homewatch-influxd-'));
  const port = await freePort();
  let rpcPort = await freePort();
  while (rpcPort === port) rpcPort = await freePort();
  const conf = path.join(dir, 'influxdb.conf');
  await writeFile(
    conf,
    [
      'reporting-disabled = true',
      // The RPC service used for backup/restore; its default :8088 would clash between servers.
      `bind-address = ${toml(`127.0.0.1:${rpcPort}`)}`,
      '',
      '[meta]',
      `  dir = ${toml(path.join(dir, 'meta'))}`,
      '  logging-enabled = false',
      '',
      '[data]',
      `  dir = ${toml(path.join(dir, 'data'))}`,
      `  wal-dir = ${toml(path.join(dir, 'wal'))}`,
      '  query-log-enabled = false',
      '',
      '[monitor]',
      // no _internal database: less disk and CPU for a throw-away server
      '  store-enabled = false',
      '',
      '[http]',
      '  enabled = true',
      `  bind-address = ${toml(`127.0.0.1:${port}`)}`,
      '  auth-enabled = false',
      '  log-enabled = false',
      '',
      '[logging]',
      '  level = "warn"',
      '',
      '[continuous_queries]',
      '  log-enabled = false',
      '',
    ].join('\n'),
  );

  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  /** Spawns influxd on the folder and waits for /ping; on failure the process is gone when it throws. */
  const launch = async (): Promise<void> => {
    const { child: proc, output, failure } = launchServer('influxd', bin, ['-config', conf]);
    child = proc;

    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    for (;;) {
      const failed = failure();
      if (failed) {
        await terminate(proc, 10_000);
        throw failed;
      }
      try {
        const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1_000) });
        await res.body?.cancel();
        if (res.status === 204) return;
        last = `GET /ping answered ${res.status}`;
      } catch (err) {
        last =
          err instanceof Error
            ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}`
            : String(err);
      }
      if (Date.now() >= deadline) {
        await terminate(proc, 10_000);
        throw new Error(
          `influxd did not answer GET /ping with 204 within ${timeoutMs} ms (${last}):\n${output.text()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const halt = async (): Promise<void> => {
    if (child) await terminate(child, 10_000);
  };
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await halt();
      await rm(dir, { recursive: true, force: true });
    })());

  try {
    await launch();
  } catch (error) {
    await stop();
    throw error;
  }
  const restart = async (): Promise<void> => {
    await halt();
    await launch();
  };
  return { url, port, halt, restart, stop };
}
