/**
 * The MQTT rows of the security rules (CONTRACT.md, version 2, "Security rules"), each played as the attack
 * that worked against the embedded broker: packets announcing hundreds of megabytes, a socket that never
 * sends CONNECT, a device taking another device's session over by its client id, and device tokens sent
 * in clear (MQTT over TLS). The service runs in its own process, so that its memory can be measured.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findBinary, requireBinary } from './helpers/mosquitto.ts';
import { listeningPorts, rssBytes, watchRss } from './helpers/process-stats.ts';
import { spawnFailingService, spawnService, type ProvisionedDevice, type ServiceProcess } from './helpers/service.ts';
import { makeCertificates, type TestCertificates } from './helpers/tls.ts';

const run = promisify(execFile);

const MiB = 1024 * 1024;
/** What the service may grow by while it is attacked. */
const RSS_GROWTH_LIMIT = 50 * MiB;
/** The largest remaining length MQTT can announce (four bytes of 0x7f): 268,435,455 bytes. */
const LARGEST_REMAINING_LENGTH = 268_435_455;

const readingsTopic = (deviceId: string) => `rpm/devices/${deviceId}/readings`;
const resultsTopic = (deviceId: string) => `rpm/devices/${deviceId}/results`;
const reading = (minutesAgo = 1) => ({
  type: 'blood_pressure',
  measuredAt: new Date(Date.now() - minutesAgo * 60_000).toISOString(),
  systolic: 120,
  diastolic: 80,
});

let root: string;
let certs: TestCertificates;
let ca: Buffer;
/** The service with both listeners: plain MQTT and MQTT over TLS. */
let proc: ServiceProcess;
let tlsPort: number;
const running: ServiceProcess[] = [];

function startedLog(service: ServiceProcess) {
  return service.logs.find((entry) => entry.event === 'started')!;
}

async function spawn(env: Record<string, string> = {}) {
  const dataDir = path.join(root, `data-${running.length}`);
  await mkdir(dataDir);
  const service = await spawnService({
    DATA_DIR: dataDir,
    MQTT_TLS_PORT: '0',
    MQTT_TLS_CERT: certs.certFile,
    MQTT_TLS_KEY: certs.keyFile,
    ...env,
  });
  running.push(service);
  return service;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'homewatch-mqtt-security-'));
  certs = await makeCertificates();
  ca = await readFile(certs.caFile);
  proc = await spawn();
  tlsPort = startedLog(proc).mqttTlsPort as number;
}, 60_000);

afterAll(async () => {
  for (const service of running) {
    if (service.child.exitCode === null && service.child.signalCode === null) service.child.kill('SIGTERM');
    await service.exited;
  }
  await certs?.remove();
  await rm(root, { recursive: true, force: true });
});

const sockets: net.Socket[] = [];
const clients: MqttClient[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true).catch(() => {})));
});

/** A raw connection to the broker, speaking bytes rather than MQTT. */
async function rawConnection(port: number, { secure = false } = {}): Promise<net.Socket> {
  const socket = secure
    ? tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' })
    : net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {}); // the broker cuts these connections: EPIPE, ECONNRESET
  sockets.push(socket);
  await once(socket, secure ? 'secureConnect' : 'connect');
  return socket;
}

/** An MQTT fixed header: the packet's first byte and its remaining length (MQTT 3.1.1 §2.2.3). */
function fixedHeader(first: number, remaining: number): Buffer {
  const bytes = [first];
  do {
    let byte = remaining % 128;
    remaining = Math.floor(remaining / 128);
    if (remaining > 0) byte |= 0x80;
    bytes.push(byte);
  } while (remaining > 0);
  return Buffer.from(bytes);
}

/** Resolves with the milliseconds until `socket` closed, or undefined if it is still open after `ms`. */
function closedWithin(socket: net.Socket, ms: number): Promise<number | undefined> {
  const started = Date.now();
  if (socket.closed) return Promise.resolve(0);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

/** Writes `bytes` bytes as fast as the socket takes them, or until the broker closes it. */
async function flood(socket: net.Socket, bytes: number): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 0x41);
  for (let sent = 0; sent < bytes && !socket.destroyed; sent += chunk.length) {
    if (socket.write(chunk)) continue;
    await new Promise<void>((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.once('drain', done);
      socket.once('close', done);
    });
  }
}

/**
 * Sends `header` then floods `bytes` bytes on `socket`: whether the broker closed the connection, and how
 * much the service's resident memory grew meanwhile (its peak).
 */
async function attack(socket: net.Socket, header: Buffer, bytes: number) {
  const pid = proc.child.pid!;
  const before = rssBytes(pid);
  const rss = watchRss(pid);
  socket.write(header);
  await flood(socket, bytes);
  const closed = (await closedWithin(socket, 5_000)) !== undefined;
  return { closed, growth: rss.stop() - before };
}

/** A CONNECT with the device's credentials on a raw connection; resolves on its CONNACK's return code. */
async function signIn(socket: net.Socket, device: ProvisionedDevice): Promise<number> {
  socket.write(
    mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      clientId: `raw-${randomUUID()}`,
      keepalive: 60,
      username: device.deviceId,
      password: Buffer.from(device.token),
    }),
  );
  const [connack] = (await once(socket, 'data')) as [Buffer];
  expect(connack[0], 'a CONNACK').toBe(0x20);
  return connack[3]!;
}

describe('packet limits: the connection is closed before the broker holds the bytes', () => {
  it('a CONNECT announcing 268 MB, then streaming, is cut off; the service grows less than 50 MB', async () => {
    const socket = await rawConnection(proc.mqttPort!);
    const { closed, growth } = await attack(socket, fixedHeader(0x10, LARGEST_REMAINING_LENGTH), 128 * MiB);
    expect(closed, 'the connection should have been closed').toBe(true);
    expect(growth).toBeLessThan(RSS_GROWTH_LIMIT);
  });

  it('the same over TLS', async () => {
    const socket = await rawConnection(tlsPort, { secure: true });
    const { closed, growth } = await attack(socket, fixedHeader(0x10, LARGEST_REMAINING_LENGTH), 64 * MiB);
    expect(closed, 'the connection should have been closed').toBe(true);
    expect(growth).toBeLessThan(RSS_GROWTH_LIMIT);
  });

  it('a PUBLISH announcing 100 MB after a valid CONNECT is cut off; the service grows less than 50 MB', async () => {
    const device = await proc.provision('bp_monitor');
    const socket = await rawConnection(proc.mqttPort!);
    expect(await signIn(socket, device)).toBe(0);
    const { closed, growth } = await attack(socket, fixedHeader(0x32, 100 * MiB), 100 * MiB);
    expect(closed, 'the connection should have been closed').toBe(true);
    expect(growth).toBeLessThan(RSS_GROWTH_LIMIT);
    expect((await proc.readings(device.patientId)).readings).toEqual([]);
  });

  it('more than 64 KiB before CONNECT is complete closes the connection at once', async () => {
    // A CONNECT of 1 MiB would pass the limit on packets after CONNECT (1 MiB + 1 KiB); not this one.
    const socket = await rawConnection(proc.mqttPort!);
    socket.write(fixedHeader(0x10, MiB));
    await flood(socket, 80 * 1024);
    expect(await closedWithin(socket, 2_000), 'the connection should have been closed').toBeDefined();
  });

  it('a connection that sends no CONNECT is closed after 10 s, on both listeners and before a TLS handshake', async () => {
    const connections = {
      plain: await rawConnection(proc.mqttPort!),
      tls: await rawConnection(tlsPort, { secure: true }),
      'tls, no handshake': await rawConnection(tlsPort), // TCP to the TLS port, and silence
    };
    const closedAfter = await Promise.all(
      Object.entries(connections).map(async ([name, socket]) => [name, await closedWithin(socket, 13_000)] as const),
    );
    for (const [name, ms] of closedAfter) {
      expect(ms, `${name}: the connection should have been closed`).toBeDefined();
      expect(ms, name).toBeGreaterThanOrEqual(9_000);
    }
  }, 20_000);

  it('a reading of exactly 1 MiB is still taken, on both listeners', async () => {
    for (const url of [`mqtt://127.0.0.1:${proc.mqttPort}`, `mqtts://127.0.0.1:${tlsPort}`]) {
      const device = await proc.provision('bp_monitor');
      const { client } = await connectDevice(url, device);
      const json = JSON.stringify(reading());
      await client.publishAsync(readingsTopic(device.deviceId), json.padEnd(MiB, ' '), { qos: 1 });
      expect((await proc.readings(device.patientId)).readings, url).toHaveLength(1);
    }
  });
});

/** Connects a device with MQTT.js; what it receives is collected from the start, queued messages included. */
async function connectDevice(url: string, device: ProvisionedDevice, options: IClientOptions = {}) {
  const client = mqtt.connect(url, {
    username: device.deviceId,
    password: device.token,
    clientId: `test-${randomUUID()}`,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    ca,
    ...options,
  });
  clients.push(client);
  const received: Array<{ topic: string; payload: string }> = [];
  client.on('message', (topic, payload) => received.push({ topic, payload: payload.toString('utf8') }));
  const connack = await new Promise<mqttPacket.IConnackPacket>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return { client, received, connack };
}

/** The error a refused connection ends with (MQTT.js puts the CONNACK's return code in `code`). */
async function refusal(url: string, device: ProvisionedDevice, options: IClientOptions) {
  const error = await connectDevice(url, device, options).then(
    () => undefined,
    (e: unknown) => e as Error & { code?: number },
  );
  expect(error, 'the connection should have been refused').toBeInstanceOf(Error);
  return error!;
}

async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("client ids: a device never takes over another device's connection or session", () => {
  const IDENTIFIER_REJECTED = 2;

  it("D1 with D2's client id is refused (identifier rejected); D2 stays connected and keeps getting its results", async () => {
    const url = `mqtt://127.0.0.1:${proc.mqttPort}`;
    const d1 = await proc.provision('bp_monitor');
    const d2 = await proc.provision('bp_monitor');
    // The device's own id, and an id of its choosing.
    for (const clientId of [d2.deviceId, `d2-${randomUUID()}`]) {
      const owner = await connectDevice(url, d2, { clientId, clean: false });
      await owner.client.subscribeAsync(resultsTopic(d2.deviceId), { qos: 1 });
      let ownerClosed = false;
      owner.client.on('close', () => (ownerClosed = true));

      const error = await refusal(url, d1, { clientId, clean: false });
      expect(error.code, clientId).toBe(IDENTIFIER_REJECTED);
      expect(error.message).toMatch(/identifier rejected/i);

      await owner.client.publishAsync(readingsTopic(d2.deviceId), JSON.stringify(reading()), { qos: 1 });
      const result = await waitFor('no result for D2', () =>
        owner.received.find((message) => message.topic === resultsTopic(d2.deviceId)),
      );
      expect(JSON.parse(result.payload)).toMatchObject({ accepted: 1 });
      expect(ownerClosed, 'D2 should still be connected').toBe(false);
      await owner.client.endAsync();
    }
  });

  it("D1 with D2's client id gets none of D2's queued results; D2 finds them in its session when it returns", async () => {
    const url = `mqtt://127.0.0.1:${proc.mqttPort}`;
    const d1 = await proc.provision('bp_monitor');
    const d2 = await proc.provision('bp_monitor');
    const clientId = `d2-${randomUUID()}`;

    // D2's persistent session, subscribed to its results, goes offline.
    const first = await connectDevice(url, d2, { clientId, clean: false });
    await first.client.subscribeAsync(resultsTopic(d2.deviceId), { qos: 1 });
    await first.client.endAsync();
    // A result is queued in it: D2 sends a reading from another connection.
    const sender = await connectDevice(url, d2);
    await sender.client.publishAsync(readingsTopic(d2.deviceId), JSON.stringify(reading()), { qos: 1 });
    await sender.client.endAsync();

    const thief = mqtt.connect(url, {
      username: d1.deviceId,
      password: d1.token,
      clientId,
      clean: false,
      reconnectPeriod: 0,
      connectTimeout: 5_000,
    });
    clients.push(thief);
    const stolen: string[] = [];
    thief.on('message', (_topic, payload) => stolen.push(payload.toString('utf8')));
    const outcome = await new Promise<Error | 'connected'>((resolve) => {
      thief.once('connect', () => resolve('connected'));
      thief.once('error', resolve);
    });
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error & { code?: number }).code).toBe(IDENTIFIER_REJECTED);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(stolen).toEqual([]);

    const back = await connectDevice(url, d2, { clientId, clean: false });
    expect(back.connack.sessionPresent).toBe(true);
    const result = await waitFor('no queued result for D2', () =>
      back.received.find((message) => message.topic === resultsTopic(d2.deviceId)),
    );
    expect(JSON.parse(result.payload)).toMatchObject({ accepted: 1 });
  });

  it("a device's own id is its own client id even before it first connects; honest reconnections keep their session", async () => {
    const url = `mqtt://127.0.0.1:${proc.mqttPort}`;
    const d1 = await proc.provision('bp_monitor');
    const d2 = await proc.provision('bp_monitor');
    expect((await refusal(url, d1, { clientId: d2.deviceId, clean: false })).code).toBe(IDENTIFIER_REJECTED);

    const first = await connectDevice(url, d2, { clientId: d2.deviceId, clean: false });
    await first.client.subscribeAsync(resultsTopic(d2.deviceId), { qos: 1 });
    // The same device again (a reconnection before the old connection is seen to drop): it takes over its own.
    const again = await connectDevice(url, d2, { clientId: d2.deviceId, clean: false });
    expect(again.connack.sessionPresent).toBe(true);
    await again.client.publishAsync(readingsTopic(d2.deviceId), JSON.stringify(reading()), { qos: 1 });
    const result = await waitFor('no result for D2', () =>
      again.received.find((message) => message.topic === resultsTopic(d2.deviceId)),
    );
    expect(JSON.parse(result.payload)).toMatchObject({ accepted: 1 });
  });

  it('an id no other device uses is free, and free again once its clean session ended', async () => {
    const url = `mqtt://127.0.0.1:${proc.mqttPort}`;
    const d1 = await proc.provision('bp_monitor');
    const d2 = await proc.provision('bp_monitor');
    const clientId = `shared-${randomUUID()}`;
    const first = await connectDevice(url, d1, { clientId, clean: true });
    expect((await refusal(url, d2, { clientId })).code).toBe(IDENTIFIER_REJECTED);
    await first.client.endAsync();
    // The broker sees the DISCONNECT a moment after MQTT.js has sent it.
    const deadline = Date.now() + 5_000;
    for (;;) {
      const second = await connectDevice(url, d2, { clientId, clean: true }).catch((error: Error) => error);
      if (!(second instanceof Error)) break;
      expect((second as Error & { code?: number }).code).toBe(IDENTIFIER_REJECTED);
      expect(Date.now(), 'the id should be free once its clean session ended').toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
});

const mosquittoPub = findBinary('mosquitto_pub');

describe.skipIf(!requireBinary('mosquitto-clients', mosquittoPub !== undefined))('MQTT over TLS', () => {
  const publish = (port: number, device: ProvisionedDevice, token = device.token) =>
    run(
      mosquittoPub!,
      [
        '--cafile',
        certs.caFile,
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-u',
        device.deviceId,
        '-P',
        token,
        '-q',
        '1',
        '-t',
        readingsTopic(device.deviceId),
        '-m',
        JSON.stringify(reading()),
      ],
      { timeout: 10_000 },
    );

  it('mosquitto_pub with the CA stores a reading; a wrong token is refused as on plain MQTT', async () => {
    const device = await proc.provision('bp_monitor');
    await publish(tlsPort, device);
    expect((await proc.readings(device.patientId)).readings).toHaveLength(1);

    await expect(publish(tlsPort, device, `${device.token}x`)).rejects.toThrow();
    expect((await proc.readings(device.patientId)).readings).toHaveLength(1);
  });

  it('MQTT_PORT=off leaves no plain listener; the start log and /readyz say TLS only', async () => {
    const only = await spawn({ MQTT_PORT: 'off' });
    const started = startedLog(only);
    expect(started.mqttPort).toBeUndefined();
    const onlyTlsPort = started.mqttTlsPort as number;
    expect(onlyTlsPort).toBeGreaterThan(0);
    expect(listeningPorts(only.child.pid!)).toEqual([only.httpPort, onlyTlsPort].sort((a, b) => a - b));

    const ready = await fetch(`${only.url}/readyz`);
    expect(ready.status).toBe(200);
    const { checks } = (await ready.json()) as { checks: Array<{ name: string; ok: boolean; detail?: string }> };
    const check = checks.find((c) => c.name === 'mqtt');
    expect(check?.detail).toBe(`embedded broker: MQTT over TLS on port ${onlyTlsPort}, plain MQTT off`);

    const device = await only.provision('bp_monitor');
    await publish(onlyTlsPort, device);
    expect((await only.readings(device.patientId)).readings).toHaveLength(1);
  });

  it('a missing certificate or key stops the start with a message naming the variable', async () => {
    const base = { DATA_DIR: path.join(root, 'never'), MQTT_TLS_PORT: '0' };
    const noFile = await spawnFailingService({
      ...base,
      MQTT_TLS_CERT: path.join(root, 'missing.pem'),
      MQTT_TLS_KEY: certs.keyFile,
    });
    expect(noFile.code).not.toBe(0);
    expect(noFile.stderr).toMatch(/MQTT_TLS_CERT/);

    const wrongKey = await spawnFailingService({ ...base, MQTT_TLS_CERT: certs.certFile, MQTT_TLS_KEY: certs.caFile });
    expect(wrongKey.code).not.toBe(0);
    expect(wrongKey.stderr).toMatch(/MQTT_TLS_KEY/);
  });
});
