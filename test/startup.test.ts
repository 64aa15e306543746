import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers/ports.ts';
import { spawnFailingService, spawnService, type ServiceProcess } from './helpers/service.ts';
import { mosquittoAvailable, requireBinary, startMosquitto, type RunningMosquitto } from './helpers/mosquitto.ts';

/** A start-up failure must come at once, not after a retry loop (tsx start-up included). */
const FAILS_WITHIN_MS = 15_000;

let root: string;
const running: ServiceProcess[] = [];
const servers: net.Server[] = [];
const sockets: net.Socket[] = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'homewatch-startup-'));
});

afterEach(async () => {
  for (const proc of running.splice(0)) {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    await proc.exited;
  }
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let dirs = 0;
async function dataDir() {
  const dir = path.join(root, `data-${++dirs}`);
  await mkdir(dir);
  return dir;
}

async function spawn(env: Record<string, string>) {
  const proc = await spawnService(env);
  running.push(proc);
  return proc;
}

async function failingStart(env: Record<string, string>) {
  const started = Date.now();
  const result = await spawnFailingService(env);
  return { ...result, ms: Date.now() - started };
}

/** Occupies a loopback port the way another program would. */
async function occupyPort(): Promise<number> {
  const server = net.createServer();
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as net.AddressInfo).port;
}

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('a start that cannot bind its ports fails at once, naming the variable', () => {
  it('PORT in use', async () => {
    const port = await occupyPort();
    const { code, stderr, ms } = await failingStart({ PORT: String(port), DATA_DIR: await dataDir() });
    expect(code).not.toBe(0);
    expect(ms).toBeLessThan(FAILS_WITHIN_MS);
    expect(stderr).toMatch(new RegExp(`(^|[^_])PORT ${port} is already in use`));
    expect(stderr).toMatch(/set PORT to a free port/);
    expect(stderr).not.toMatch(/MQTT_PORT/);
  });

  it('MQTT_PORT in use', async () => {
    const port = await occupyPort();
    const { code, stderr, ms } = await failingStart({ MQTT_PORT: String(port), DATA_DIR: await dataDir() });
    expect(code).not.toBe(0);
    expect(ms).toBeLessThan(FAILS_WITHIN_MS);
    expect(stderr).toContain(`MQTT_PORT ${port} is already in use`);
    expect(stderr).toMatch(/set MQTT_PORT to a free port/);
  });

  it('a stack trace is not the message', async () => {
    const port = await occupyPort();
    const { stderr } = await failingStart({ PORT: String(port), DATA_DIR: await dataDir() });
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('a DATA_DIR that cannot be opened fails at once, naming DATA_DIR', () => {
  it('a folder under a regular file', async () => {
    const file = path.join(root, 'not-a-folder');
    await writeFile(file, 'x');
    const { code, stderr, ms } = await failingStart({ DATA_DIR: path.join(file, 'data') });
    expect(code).not.toBe(0);
    expect(ms).toBeLessThan(FAILS_WITHIN_MS);
    expect(stderr).toMatch(/DATA_DIR/);
    expect(stderr).toContain(path.join(file, 'data'));
    expect(stderr).toMatch(/set DATA_DIR to a writable folder/);
  });

  it('a regular file', async () => {
    const file = path.join(root, 'a-file');
    await writeFile(file, 'x');
    const { code, stderr } = await failingStart({ DATA_DIR: file });
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/DATA_DIR/);
    expect(stderr).toMatch(/set DATA_DIR/);
  });

  it('a folder whose database file cannot be opened', async () => {
    const dir = await dataDir();
    await mkdir(path.join(dir, 'homewatch.db')); // a folder where the database file should be
    const { code, stderr } = await failingStart({ DATA_DIR: dir });
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/DATA_DIR/);
    expect(stderr).toMatch(/homewatch\.db cannot be opened/);
  });
});

describe.concurrent('every setting is validated at start', () => {
  it.each([
    ['PORT', 'abc', /expected a TCP port number/],
    ['MQTT_PORT', '99999', /expected a TCP port number/],
    ['DEVICE_RATE_LIMIT', '-1', /expected a whole number of messages per minute/],
    ['ESCALATION_CRITICAL', 'soon', /expected a duration such as 30s, 15m, 4h or 7d/],
    ['RPM_ADMIN_TOKEN', 'short', /expected at least 16 characters/],
    ['READINGS_STORE', 'cassandra', /expected "sqlite" or "influxdb"/],
    ['MQTT_URL', 'not-a-url', /expected a broker URL such as mqtt:\/\/127\.0\.0\.1:1883/],
  ])('%s=%s stops the process with a message naming it', async (name, value, expected) => {
    const { code, stderr, ms } = await failingStart({ DATA_DIR: path.join(root, `never-${name}`), [name]: value });
    expect(code).not.toBe(0);
    expect(ms).toBeLessThan(FAILS_WITHIN_MS);
    const line = stderr.split('\n').find((l) => l.trim().startsWith(`${name}:`));
    expect(line, stderr).toBeDefined();
    expect(line).toMatch(expected);
    if (name === 'RPM_ADMIN_TOKEN') expect(stderr).not.toContain('"short"');
    else expect(line).toContain(JSON.stringify(value));
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('READINGS_STORE=influxdb without INFLUX_URL names INFLUX_URL', async () => {
    const { code, stderr } = await failingStart({
      DATA_DIR: path.join(root, 'never-influx'),
      READINGS_STORE: 'influxdb',
    });
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/INFLUX_URL: is required when READINGS_STORE=influxdb/);
  });
});

describe('a fresh start', () => {
  it('serves with no variable set but DATA_DIR and ports 0 (npm start)', async () => {
    // Empty values count as unset: this is the environment `npm start` sees, minus fixed ports.
    const proc = await spawn({ DATA_DIR: await dataDir(), HOST: '', RPM_ADMIN_TOKEN: '', LOG_LEVEL: '' });
    const health = await fetch(`${proc.url}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${proc.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(proc.mqttPort).toBeGreaterThan(0);
    expect(proc.logs.some((l) => l.event === 'no_admin_token' && String(l.msg).includes('RPM_ADMIN_TOKEN'))).toBe(true);
    // Without RPM_ADMIN_TOKEN, provisioning refuses everyone.
    expect((await proc.admin('/v1/patients', { method: 'POST', body: { name: 'x' } })).status).toBe(401);
  });
});

describe('an unreachable MQTT_URL', () => {
  it('serves HTTP, logs in plain words naming MQTT_URL, answers /readyz 503 naming mqtt, and stops cleanly', async () => {
    const port = await freePort();
    const proc = await spawn({ DATA_DIR: await dataDir(), MQTT_URL: `mqtt://rpm:hunter2-secret@127.0.0.1:${port}` });
    expect(proc.mqttPort).toBeUndefined();

    expect((await fetch(`${proc.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${proc.url}/readyz`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as {
      status: string;
      checks: Array<{ name: string; ok: boolean; detail?: string }>;
    };
    expect(body.status).toBe('not_ready');
    expect(body.checks).toContainEqual(expect.objectContaining({ name: 'mqtt', ok: false }));
    expect(body.checks).toContainEqual(expect.objectContaining({ name: 'database', ok: true }));

    // Retried with backoff: several failures, the later gaps longer than the first.
    const failures = await until(
      'three failed connection attempts',
      () => {
        const lines = proc.logs.filter((l) => l.event === 'mqtt_connect_failed');
        return lines.length >= 3 ? lines : undefined;
      },
      20_000,
    );
    for (const line of failures) {
      expect(line.msg).toMatch(/MQTT_URL/);
      expect(line.msg).toContain(`127.0.0.1:${port}`);
      expect(line.msg).toMatch(/retrying in \d+ s/);
    }
    const times = failures.map((l) => l.time as number);
    const firstGap = times[1]! - times[0]!;
    const secondGap = times[2]! - times[1]!;
    expect(firstGap).toBeGreaterThanOrEqual(800);
    expect(secondGap).toBeGreaterThan(firstGap * 1.4);
    expect((await fetch(`${proc.url}/readyz`)).status).toBe(503);
    // The broker password in MQTT_URL never reaches the logs.
    expect(JSON.stringify(proc.logs)).not.toContain('hunter2-secret');

    proc.child.kill('SIGTERM');
    const exit = await Promise.race([
      proc.exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no exit within 10 s of SIGTERM')), 10_000)),
    ]);
    expect(exit).toEqual({ code: 0, signal: null });
  }, 40_000);

  describe.skipIf(!requireBinary('mosquitto', mosquittoAvailable()))('once the broker is reachable', () => {
    let broker: RunningMosquitto;
    beforeAll(async () => {
      broker = await startMosquitto();
    }, 15_000);
    afterAll(async () => {
      await broker?.stop();
    });

    it('/readyz turns 200 when the subscription is up', async () => {
      // The service dials a port where nothing listens yet; later that port starts relaying to Mosquitto.
      const port = await freePort();
      const proc = await spawn({
        DATA_DIR: await dataDir(),
        MQTT_URL: `mqtt://127.0.0.1:${port}`,
        MQTT_CLIENT_ID: 'homewatch-startup-test',
      });
      await until('a failed connection attempt', () => proc.logs.some((l) => l.event === 'mqtt_connect_failed'));
      expect((await fetch(`${proc.url}/readyz`)).status).toBe(503);

      const relay = net.createServer((socket) => {
        sockets.push(socket);
        const upstream = net.connect(broker.port, '127.0.0.1');
        sockets.push(upstream);
        socket.pipe(upstream).pipe(socket);
        socket.on('error', () => upstream.destroy());
        upstream.on('error', () => socket.destroy());
        socket.on('close', () => upstream.destroy());
      });
      servers.push(relay);
      await new Promise<void>((resolve, reject) => {
        relay.once('error', reject);
        relay.listen(port, '127.0.0.1', () => resolve());
      });

      const body = await until(
        '/readyz 200',
        async () => {
          const response = await fetch(`${proc.url}/readyz`);
          return response.status === 200
            ? ((await response.json()) as { checks: Array<{ name: string; ok: boolean }> })
            : undefined;
        },
        20_000,
      );
      expect(body.checks).toContainEqual(expect.objectContaining({ name: 'mqtt', ok: true }));
      expect(proc.logs.some((l) => l.event === 'mqtt_subscribed')).toBe(true);

      proc.child.kill('SIGTERM');
      expect(await proc.exited).toEqual({ code: 0, signal: null });
    }, 40_000);
  });
});
