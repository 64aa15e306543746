import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnService } from '../test/helpers/service.ts';

export const BENCH_ADMIN_TOKEN = 'bench-admin-token-0123456789';
const ROOT = path.resolve(import.meta.dirname, '..');

export interface BenchService {
  base: string;
  mqttUrl: string;
  child: ChildProcess;
  /** POST/PUT/GET as admin (or with `token`), JSON in and out; throws on a non-2xx answer. */
  call(
    pathname: string,
    body?: unknown,
    options?: { token?: string; method?: string },
  ): Promise<Record<string, unknown>>;
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
 * Starts the service the way `npm start` does (spawnService: `node <config.nodeFlags> dist/main.js`, built
 * by buildService) in its own process, with a DATA_DIR of its own and free ports, and waits for it to say
 * it is serving. Logs at info, as in production.
 */
export async function startBenchService(
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
  dataDir?: string,
): Promise<BenchService> {
  dataDir ??= await mkdtemp(path.join(tmpdir(), 'homewatch-bench-'));
  const proc = await spawnService(
    { DATA_DIR: dataDir, RPM_ADMIN_TOKEN: BENCH_ADMIN_TOKEN, DEVICE_RATE_LIMIT: '1000000', ...env },
    nodeArgs,
  );
  const { child } = proc;
  const halt = async () => {
    child.kill('SIGTERM');
    await proc.exited;
  };
  return {
    base: proc.url,
    mqttUrl: `mqtt://127.0.0.1:${proc.mqttPort}`,
    child,
    async call(pathname, body, { token = BENCH_ADMIN_TOKEN, method = body === undefined ? 'GET' : 'POST' } = {}) {
      const response = await proc.request(pathname, token, { method, body });
      if (!response.ok) throw new Error(`${method} ${pathname}: ${response.status} ${await response.text()}`);
      return response.status === 204 ? {} : ((await response.json()) as Record<string, unknown>);
    },
    async rssBytes() {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
    },
    async stop() {
      await halt();
      await rm(dataDir, { recursive: true, force: true });
    },
    async restart() {
      await halt();
      return startBenchService(env, nodeArgs, dataDir);
    },
  };
}

/** Quantile of sorted numbers. */
export function quantile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN;
}
