import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import packageJson from '../package.json' with { type: 'json' };

export const BENCH_ADMIN_TOKEN = 'bench-admin-token-0123456789';
const ROOT = path.resolve(import.meta.dirname, '..');

export interface BenchService {
  base: string;
  mqttUrl: string;
  child: ChildProcess;
  /** POST/PUT/GET as admin (or with `token`), JSON in and out; throws on a non-2xx answer. */
  call(pathname: string, body?: unknown, options?: { token?: string; method?: string }): Promise<Record<string, unknown>>;
  /** The service's resident memory, from /proc. */
  rssBytes(): Promise<number>;
  stop(): Promise<void>;
  /** Stops it and starts a new process on the same data. */
  restart(): Promise<BenchService>;
}

/** Compiles the service once (`npm run build`, as `npm start` does), so every run measures the same build. */
export function buildService(): void {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
}

/**
 * Starts the service the way `npm start` does (`node <config.nodeFlags> dist/main.js`, built by buildService) in its own
 * process, with a fresh DATA_DIR and free ports, and waits for it to say it is serving. Logs at info, as
 * in production.
 */
export async function startBenchService(
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
  dataDir?: string,
): Promise<BenchService> {
  dataDir ??= await mkdtemp(path.join(tmpdir(), 'homewatch-bench-'));
  const child = spawn(process.execPath, [...nodeArgs, ...packageJson.config.nodeFlags.split(' '), 'dist/main.js'], {
    cwd: ROOT,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: '0',
      MQTT_PORT: '0',
      DATA_DIR: dataDir,
      RPM_ADMIN_TOKEN: BENCH_ADMIN_TOKEN,
      LOG_LEVEL: 'info',
      DEVICE_RATE_LIMIT: '1000000',
      ...env,
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
  return {
    base,
    mqttUrl: `mqtt://127.0.0.1:${ports.mqtt}`,
    child,
    async call(pathname, body, { token = BENCH_ADMIN_TOKEN, method = body === undefined ? 'GET' : 'POST' } = {}) {
      const response = await fetch(base + pathname, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (!response.ok) throw new Error(`${method} ${pathname}: ${response.status} ${await response.text()}`);
      return response.status === 204 ? {} : ((await response.json()) as Record<string, unknown>);
    },
    async rssBytes() {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      await rm(dataDir, { recursive: true, force: true });
    },
    async restart() {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      return startBenchService(env, nodeArgs, dataDir);
    },
  };
}

/** Quantile of sorted numbers. */
export function quantile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN;
}
