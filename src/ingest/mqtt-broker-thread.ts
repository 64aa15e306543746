/**
 * The embedded MQTT broker's own thread: aedes, the TCP and TLS servers and every device connection live
 * here, so parsing and answering MQTT packets runs beside the main thread (which stores and evaluates)
 * rather than taking turns with it. What needs the database is asked of the main thread (mqtt-broker.ts):
 * who a device is, and storing a message. A PUBACK still goes out only after the main thread answers that
 * the message is committed. Both listeners hand their connections to the same aedes, so authentication,
 * topic access, limits and PUBACK-after-commit are the same over TLS.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, TLSSocket } from 'node:tls';
import { parentPort, workerData } from 'node:worker_threads';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { listen } from '../ops/listen.ts';
import { createLogger } from '../ops/log.ts';
import { batched } from '../ops/worker-thread.ts';
import { CONNECT_TIMEOUT_MS, PacketSizeGuard } from './mqtt-packet-limits.ts';
import { READINGS_TOPIC, resultsTopic } from './topics.ts';

export interface FrontOptions {
  host: string;
  /** The plain MQTT port (0: any free one), or null when MQTT_PORT=off. */
  port: number | null;
  /** MQTT over TLS: its port and the PEM certificate (chain) and key; null when MQTT_TLS_PORT is unset. */
  tls: { port: number; cert: string; key: string } | null;
  logLevel: string;
}

/** Questions to the main thread, each answered by an `Answer` with the same id. */
export type Request =
  | { type: 'authenticate'; id: number; username: string | undefined; password: string | undefined; clientId: string }
  /**
   * `results`: whether to answer with the results body (someone may be subscribed to it). `signedInAt`:
   * when the connection asked to authenticate (ms), so a token rotated since then is refused.
   */
  | { type: 'store'; id: number; deviceId: string; signedInAt: number; payload: Uint8Array; results: boolean };

export type Answer =
  /**
   * With `results`, `tokenRotatedAt`: when the device's token was last rotated (ms), or null, so that
   * the results go to no connection signed in before then.
   */
  | { id: number; ok: true; results?: string; tokenRotatedAt?: number | null }
  /** `clientIdTaken`: the credentials are right, but the client id is another device's id. */
  | { id: number; ok: false; message: string; clientIdTaken?: boolean };

/** What the front tells the main thread unasked. The ports bound, null for a listener that is off. */
export type Notice =
  | { type: 'listening'; port: number | null; tlsPort: number | null }
  | { type: 'failed'; message: string }
  | { type: 'connected'; count: number }
  | { type: 'closed' };

export type FromFront = Request | Notice;
export type ToFront = Answer | { type: 'close' };

// aedes reads these codes into the CONNACK (MQTT 3.1.1 §3.2.2.3). aedes speaks MQTT 3.1 and 3.1.1 only
// (it refuses 5 with "unacceptable protocol version"), so the MQTT 5 reason code 0x85 never applies.
const IDENTIFIER_REJECTED = 2;
const BAD_USERNAME_OR_PASSWORD = 4;

const main = parentPort!;
const { host, port, tls, logLevel } = workerData as FrontOptions;
const log = createLogger(logLevel);
const post = batched<FromFront>((messages) => main.postMessage(messages));

const waiting = new Map<number, (answer: Answer) => void>();
let lastId = 0;
/** Posts the request `build` makes with a new id; resolves with the main thread's answer to it. */
function ask(build: (id: number) => Request): Promise<Answer> {
  const id = ++lastId;
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    post(build(id));
  });
}

/** Each signed-in connection's device, and when it asked to authenticate. */
const sessionOf = new WeakMap<Client, { deviceId: string; signedInAt: number }>();
/**
 * Devices that subscribed below their own topics since this broker started; results are the only thing
 * published there. Subscriptions, persistent ones included, live in this thread's memory, so for a device
 * not in here nobody would receive its results: they are neither built nor published.
 */
const listening = new Set<string>();
/** Each device's last token rotation (ms) that the main thread has told of, for `authorizeForward`. */
const tokenRotatedAt = new Map<string, number>();

/**
 * The device each client id in use belongs to. aedes keys connections and sessions by client id alone: a
 * second connection with an id takes over the first, and one with clean=false resumes its session, queued
 * results included. So an id is held by the device that signed in with it while it has a connection with
 * it or a persistent session under it (sessions live in this thread's memory, as this map does), and any
 * other device is refused it. A device's own id is never another's: the main thread refuses those.
 */
const clientIds = new Map<string, { deviceId: string; connections: number; persistent: boolean }>();

/** Holds `client.id` for `deviceId` until the connection closes; false when another device holds it. */
function holdClientId(client: Client, deviceId: string): boolean {
  const clientId = client.id;
  const held = clientIds.get(clientId) ?? { deviceId, connections: 0, persistent: false };
  if (held.deviceId !== deviceId) return false;
  held.connections++;
  // aedes ends any session stored under the id on a clean CONNECT and keeps it on a persistent one.
  held.persistent = !client.clean;
  clientIds.set(clientId, held);
  client.conn.once('close', () => {
    if (--held.connections === 0 && !held.persistent && clientIds.get(clientId) === held) clientIds.delete(clientId);
  });
  return true;
}

const broker = await Aedes.createBroker({
  connectTimeout: CONNECT_TIMEOUT_MS,

  authenticate(client, username, password, done) {
    const signedInAt = Date.now();
    const refuse = (returnCode: number, message: string) => {
      // aedes clears what is stored under the id when a clean connection closes, refused or not; the
      // id may be another device's, whose session that is.
      (client as { clean: boolean }).clean = false;
      const error = new Error(message) as AuthenticateError;
      error.returnCode = returnCode;
      done(error, false);
    };
    void ask((id) => ({
      type: 'authenticate',
      id,
      username,
      password: password?.toString('utf8'),
      clientId: client.id,
    })).then((answer) => {
      if (!answer.ok)
        return refuse(answer.clientIdTaken ? IDENTIFIER_REJECTED : BAD_USERNAME_OR_PASSWORD, answer.message);
      if (client.closed) return done(null, false); // gone while asking: aedes stops here
      const deviceId = username!;
      if (!holdClientId(client, deviceId)) {
        log.warn(
          { event: 'mqtt_client_id_refused', deviceId, clientId: client.id },
          'MQTT connection refused: its client id is in use by another device',
        );
        return refuse(IDENTIFIER_REJECTED, `Client id ${client.id} is in use by another device`);
      }
      sessionOf.set(client, { deviceId, signedInAt });
      done(null, true);
    });
  },

  // Readings are stored before this calls back, because aedes sends the PUBACK right after: so a PUBACK
  // always means the readings are committed.
  authorizePublish(client, packet, done) {
    if (!client) return done(null); // the broker's own publishes (results)
    const session = sessionOf.get(client);
    const match = READINGS_TOPIC.exec(packet.topic);
    if (!session || match?.[1] !== session.deviceId) {
      log.warn(
        { event: 'mqtt_publish_refused', deviceId: session?.deviceId, topic: packet.topic },
        "MQTT publish refused: not this device's readings topic",
      );
      return done(new Error(`Device ${session?.deviceId} may not publish to ${packet.topic}`));
    }
    const { deviceId, signedInAt } = session;
    void ask((id) => ({
      type: 'store',
      id,
      deviceId,
      signedInAt,
      payload: packet.payload as Buffer,
      results: listening.has(deviceId),
    })).then((answer) => {
      // Not stored: no PUBACK, the connection closes and the device sends again. The main thread logged why.
      if (!answer.ok) return done(new Error(answer.message));
      if (answer.results !== undefined) {
        if (answer.tokenRotatedAt) tokenRotatedAt.set(deviceId, answer.tokenRotatedAt);
        broker.publish(
          {
            cmd: 'publish',
            topic: resultsTopic(deviceId),
            payload: Buffer.from(answer.results),
            qos: 1,
            retain: false,
            dup: false,
          },
          () => {},
        );
      }
      done(null);
    });
  },

  // A connection signed in with a token rotated since (perhaps leaked, and only subscribed) is told
  // nothing more of what the device sends: it is closed instead. Its publishes the main thread refuses.
  authorizeForward(client, packet) {
    const session = sessionOf.get(client);
    if (session === undefined || session.signedInAt >= (tokenRotatedAt.get(session.deviceId) ?? 0)) return packet;
    log.warn(
      { event: 'mqtt_token_rotated', deviceId: session.deviceId },
      'MQTT connection closed: the token it signed in with was rotated since',
    );
    client.close();
    return null;
  },

  authorizeSubscribe(client, subscription, done) {
    const deviceId = sessionOf.get(client)?.deviceId;
    const own = `rpm/devices/${deviceId}/`;
    if (deviceId && subscription.topic.startsWith(own)) {
      listening.add(deviceId);
      return done(null, subscription);
    }
    log.warn(
      { event: 'mqtt_subscribe_refused', deviceId, topic: subscription.topic },
      "MQTT subscribe refused: not this device's topics",
    );
    done(null, null); // SUBACK with the failure code 0x80
  },
});

broker.on('client', () => post({ type: 'connected', count: broker.connectedClients }));
broker.on('clientDisconnect', () => post({ type: 'connected', count: broker.connectedClients }));

/**
 * Hands a connection to aedes behind a PacketSizeGuard. aedes reads the socket itself and gives each
 * chunk to its mqtt-packet parser (`client._parser`, outside its typed API), which keeps a packet's bytes
 * until all have come, however many its header announced. The guard sees every chunk first; one that
 * breaks a limit closes the connection rather than reaching the parser. test/mqtt-security.test.ts
 * fails if a new aedes stops reading this way.
 */
function handle(socket: Socket) {
  const client = broker.handle(socket) as Client & { _parser: { parse(chunk: Buffer): number } };
  const parser = client._parser;
  const parse = parser.parse;
  const guard = new PacketSizeGuard();
  parser.parse = (chunk) => {
    if (guard.accepts(chunk)) return parse.call(parser, chunk);
    log.warn(
      { event: 'mqtt_packet_too_large', deviceId: sessionOf.get(client)?.deviceId, clientId: client.id ?? undefined },
      'MQTT connection closed: a packet over 1 MiB + 1 KiB, or over 64 KiB before CONNECT',
    );
    socket.destroy();
    return 0;
  };
}

const plain = port === null ? undefined : createServer(handle);
// A TLS connection goes to aedes as soon as it is made, its handshake still to come, rather than once the
// handshake is done (as tls.Server would hand it over): so the time it has to send CONNECT counts from
// the TCP connection, handshake included, and a failed handshake closes it as any socket error does.
const secureContext = tls === null ? undefined : createSecureContext({ cert: tls.cert, key: tls.key });
const secure =
  secureContext === undefined
    ? undefined
    : createServer((socket) => handle(new TLSSocket(socket, { isServer: true, secureContext })));
const servers = [plain, secure].filter((server): server is Server => server !== undefined);
const closeServers = () =>
  Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve)))).then(() => {});

main.on('message', (messages: ToFront[]) => {
  for (const message of messages) {
    if ('type' in message) {
      // The broker first: it disconnects the clients, which server.close() would otherwise wait for.
      broker.close(() => void closeServers().then(() => post({ type: 'closed' })));
      continue;
    }
    const resolve = waiting.get(message.id);
    waiting.delete(message.id);
    resolve?.(message);
  }
});

try {
  post({
    type: 'listening',
    port: plain ? await listen(plain, port!, host, 'MQTT_PORT') : null,
    tlsPort: secure ? await listen(secure, tls!.port, host, 'MQTT_TLS_PORT') : null,
  });
} catch (error) {
  broker.close(() => void closeServers().then(() => post({ type: 'failed', message: (error as Error).message })));
}
