import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { DeviceDirectory } from '../devices/directory.ts';
import { AppError } from '../domain/errors.ts';
import type { Logger } from '../ops/log.ts';
import type { Metrics } from '../ops/metrics.ts';
import type { Answer, FromFront, FrontOptions, ToFront } from './mqtt-broker-thread.ts';
import { handleDeviceMessage, type DeviceMessageOptions } from './device-message.ts';
import { batched, startWorker } from '../ops/worker-thread.ts';

export interface MqttBrokerOptions extends DeviceMessageOptions {
  host: string;
  /** The plain MQTT port (0: any free one), or 'off'. */
  port: number | 'off';
  /** MQTT over TLS: its port (0: any free one) and the PEM files of its certificate and key; unset: off. */
  tls?: { port: number; certFile: string; keyFile: string } | undefined;
  directory: DeviceDirectory;
  metrics: Metrics;
  log: Logger;
  logLevel: string;
}

export interface MqttBroker {
  /** The plain MQTT port bound; undefined when it is off. */
  port: number | undefined;
  /** The MQTT over TLS port bound; undefined when it is off. */
  tlsPort: number | undefined;
  /** What listens, in words, for /readyz: "MQTT on port 1883, MQTT over TLS on port 8883". */
  listeners: string;
  close(): Promise<void>;
}

/**
 * The broker thread's young generation (V8's semi-spaces of 4 MB). The main thread keeps V8's default,
 * which grows up to 48 MB and took about 15 % off its CPU per reading. This thread holds every
 * connection: a larger young generation here kept more of what a reconnect storm leaves behind (10,000
 * devices settled at 300 MB with 48), a smaller one promoted more of it (a higher peak with 6).
 */
const FRONT_YOUNG_GENERATION_MB = 12;

/**
 * The embedded broker. Its connections live in a thread of their own (mqtt-broker-thread.ts); this side answers
 * what needs the database. A device connects with username = its id and password = its token, may publish
 * only to its own readings topic, and subscribe only below its own `rpm/devices/{id}/`; plain MQTT, MQTT over
 * TLS or both. With neither (MQTT_PORT=off and no MQTT_TLS_PORT) no thread is started.
 */
export async function startMqttBroker(options: MqttBrokerOptions): Promise<MqttBroker> {
  const { directory, metrics, log } = options;
  const port = options.port === 'off' ? null : options.port;
  const tls = options.tls ? { port: options.tls.port, ...readTlsFiles(options.tls) } : null;
  if (port === null && tls === null) {
    return { port: undefined, tlsPort: undefined, listeners: 'MQTT off', close: async () => {} };
  }
  const front = startWorker(
    new URL('./mqtt-broker-thread', import.meta.url),
    { host: options.host, port, tls, logLevel: options.logLevel } satisfies FrontOptions,
    { maxYoungGenerationSizeMb: FRONT_YOUNG_GENERATION_MB },
  );
  const post = batched<ToFront>((messages) => front.postMessage(messages));
  const answer = (message: Answer) => post(message);

  let listening: (ports: { port: number | null; tlsPort: number | null }) => void;
  let failed: (error: Error) => void;
  let closed: () => void;
  const started = new Promise<{ port: number | null; tlsPort: number | null }>((resolve, reject) => {
    listening = resolve;
    failed = reject;
  });
  const stopped = new Promise<void>((resolve) => {
    closed = resolve;
  });
  let serving = false;
  front.on('error', (error) => {
    if (!serving) return failed(error);
    // No device can connect or publish any more: fail fast, so the supervisor restarts the service
    // rather than leaving it up without its broker.
    log.fatal({ event: 'mqtt_broker_failed', err: error }, 'The embedded MQTT broker thread failed');
    throw error;
  });

  front.on('message', (messages: FromFront[]) => messages.forEach(handle));
  function handle(message: FromFront) {
    switch (message.type) {
      case 'authenticate': {
        const { id, username, clientId } = message;
        const device = message.password ? directory.byToken(message.password) : undefined;
        if (!device || device.id !== username) {
          log.warn(
            { event: 'mqtt_auth_failed', deviceId: username, clientId },
            'MQTT connection refused: wrong device id or token',
          );
          return answer({ id, ok: false, message: 'Bad device id or token' });
        }
        // A device's id as client id is that device's, even before it first connects (the broker thread
        // checks the ids in use).
        if (clientId !== device.id && directory.byId(clientId)) {
          log.warn(
            { event: 'mqtt_client_id_refused', deviceId: device.id, clientId },
            "MQTT connection refused: its client id is another device's id",
          );
          return answer({ id, ok: false, message: `Client id ${clientId} is another device's`, clientIdTaken: true });
        }
        return answer({ id, ok: true });
      }
      case 'store': {
        const { id, deviceId } = message;
        // Looked up again, not taken from the connection, so a re-assignment applies to the next message.
        const device = directory.byId(deviceId);
        if (!device) return answer({ id, ok: false, message: `Device ${deviceId} no longer exists` });
        // Its token was rotated after this connection signed in with it (perhaps because it leaked): nothing
        // more is taken from the connection, which closes; the device signs in again with its new token.
        if (device.tokenRotatedAt !== null && message.signedInAt < device.tokenRotatedAt) {
          log.warn(
            { event: 'mqtt_token_rotated', deviceId },
            'MQTT publish refused: the token this connection signed in with was rotated since',
          );
          return answer({
            id,
            ok: false,
            message: `Device ${deviceId}'s token was rotated after this connection signed in`,
          });
        }
        const payload = Buffer.from(message.payload.buffer, message.payload.byteOffset, message.payload.byteLength);
        handleDeviceMessage(options, device, payload, { throttle: true }).then(
          (body) =>
            answer(
              message.results
                ? { id, ok: true, results: JSON.stringify(body), tokenRotatedAt: device.tokenRotatedAt }
                : { id, ok: true },
            ),
          (error: unknown) => {
            // Not stored, so no PUBACK: the connection closes and the device sends again. A refusal by
            // design (the InfluxDB backlog is full) is a warning; anything else is an error.
            const refused =
              error instanceof AppError && (error.code === 'unavailable' || error.code === 'rate_limited');
            log[refused ? 'warn' : 'error'](
              { event: 'mqtt_store_failed', deviceId, err: error },
              'Readings were not stored; the device will resend',
            );
            answer({ id, ok: false, message: (error as Error).message });
          },
        );
        return;
      }
      case 'connected':
        return metrics.connectedDevices.set(message.count);
      case 'listening':
        return listening(message);
      case 'failed':
        return failed(new Error(message.message));
      case 'closed':
        return closed();
    }
  }

  let bound: { port: number | null; tlsPort: number | null };
  try {
    bound = await started;
  } catch (error) {
    await front.terminate();
    throw error;
  }
  serving = true;
  const ports = { port: bound.port ?? undefined, tlsPort: bound.tlsPort ?? undefined };
  const listeners = [
    ports.port === undefined ? undefined : `MQTT on port ${ports.port}`,
    ports.tlsPort === undefined ? undefined : `MQTT over TLS on port ${ports.tlsPort}`,
    ports.port === undefined ? 'plain MQTT off' : undefined,
  ]
    .filter(Boolean)
    .join(', ');
  log.info({ event: 'mqtt_listening', host: options.host, ...ports }, `Embedded MQTT broker: ${listeners}`);

  return {
    ...ports,
    listeners,
    async close() {
      post({ type: 'close' });
      await stopped;
      await front.terminate();
    },
  };
}

/**
 * Reads MQTT over TLS's certificate and key, and checks that they make a TLS context (PEM, and a key that
 * matches the certificate) before the broker starts: a bad one stops the start naming its variable.
 */
function readTlsFiles({ certFile, keyFile }: { certFile: string; keyFile: string }): { cert: string; key: string } {
  const read = (file: string, variable: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new Error(`${variable}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? error})`);
    }
  };
  const cert = read(certFile, 'MQTT_TLS_CERT');
  const key = read(keyFile, 'MQTT_TLS_KEY');
  try {
    createSecureContext({ cert });
  } catch (error) {
    throw new Error(`MQTT_TLS_CERT: ${certFile} is not a PEM certificate (${(error as Error).message})`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new Error(
      `MQTT_TLS_KEY: ${keyFile} is not the PEM private key of MQTT_TLS_CERT's certificate (${(error as Error).message})`,
    );
  }
  return { cert, key };
}
