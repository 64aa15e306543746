/**
 * The embedded MQTT broker's own thread: aedes, the TCP server and every device connection live here,
 * so parsing and answering MQTT packets runs beside the main thread (which stores and evaluates) rather
 * than taking turns with it. What needs the database is asked of the main thread (mqtt-broker.ts): who a
 * device is, and storing a message. A PUBACK still goes out only after the main thread answers that the
 * message is committed.
 */
import { createServer, type Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { listen } from '../ops/listen.ts';
import { createLogger } from '../ops/log.ts';
import { batched } from '../ops/worker-thread.ts';
import { CONNECT_TIMEOUT_MS, PacketSizeGuard } from './mqtt-packet-limits.ts';
import { READINGS_TOPIC, resultsTopic } from './topics.ts';

export interface FrontOptions {
  host: string;
  port: number;
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
  | { id: number; ok: false; message: string };

/** What the front tells the main thread unasked. */
export type Notice =
  | { type: 'listening'; port: number }
  | { type: 'failed'; message: string }
  | { type: 'connected'; count: number }
  | { type: 'closed' };

export type FromFront = Request | Notice;
export type ToFront = Answer | { type: 'close' };

// aedes reads these codes into the CONNACK (MQTT 3.1.1 §3.2.2.3).
const BAD_USERNAME_OR_PASSWORD = 4;

const main = parentPort!;
const { host, port, logLevel } = workerData as FrontOptions;
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

const broker = await Aedes.createBroker({
  connectTimeout: CONNECT_TIMEOUT_MS,

  authenticate(client, username, password, done) {
    const signedInAt = Date.now();
    void ask((id) => ({
      type: 'authenticate',
      id,
      username,
      password: password?.toString('utf8'),
      clientId: client.id,
    })).then((answer) => {
      if (!answer.ok) {
        const error = new Error(answer.message) as AuthenticateError;
        error.returnCode = BAD_USERNAME_OR_PASSWORD;
        return done(error, false);
      }
      sessionOf.set(client, { deviceId: username!, signedInAt });
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

const server = createServer(handle);

main.on('message', (messages: ToFront[]) => {
  for (const message of messages) {
    if ('type' in message) {
      // The broker first: it disconnects the clients, which server.close() would otherwise wait for.
      broker.close(() => server.close(() => post({ type: 'closed' })));
      continue;
    }
    const resolve = waiting.get(message.id);
    waiting.delete(message.id);
    resolve?.(message);
  }
});

try {
  post({ type: 'listening', port: await listen(server, port, host, 'MQTT_PORT') });
} catch (error) {
  broker.close(() => post({ type: 'failed', message: (error as Error).message }));
}
