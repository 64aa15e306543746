import type { DeviceDirectory } from '../devices/directory.ts';
import { AppError } from '../domain/errors.ts';
import type { Logger } from '../ops/log.ts';
import type { Metrics } from '../ops/metrics.ts';
import type { Answer, FromFront, FrontOptions, ToFront } from './mqtt-broker-thread.ts';
import { handleDeviceMessage, type DeviceMessageOptions } from './device-message.ts';
import { batched, startWorker } from '../ops/worker-thread.ts';

export interface MqttBrokerOptions extends DeviceMessageOptions {
  host: string;
  port: number;
  directory: DeviceDirectory;
  metrics: Metrics;
  log: Logger;
  logLevel: string;
}

export interface MqttBroker {
  port: number;
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
 * only to its own readings topic, and subscribe only below its own `rpm/devices/{id}/`.
 */
export async function startMqttBroker(options: MqttBrokerOptions): Promise<MqttBroker> {
  const { directory, metrics, log } = options;
  const front = startWorker(
    new URL('./mqtt-broker-thread', import.meta.url),
    { host: options.host, port: options.port, logLevel: options.logLevel } satisfies FrontOptions,
    { maxYoungGenerationSizeMb: FRONT_YOUNG_GENERATION_MB },
  );
  const post = batched<ToFront>((messages) => front.postMessage(messages));
  const answer = (message: Answer) => post(message);

  let listening: (port: number) => void;
  let failed: (error: Error) => void;
  let closed: () => void;
  const started = new Promise<number>((resolve, reject) => {
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
        return listening(message.port);
      case 'failed':
        return failed(new Error(message.message));
      case 'closed':
        return closed();
    }
  }

  let port: number;
  try {
    port = await started;
  } catch (error) {
    await front.terminate();
    throw error;
  }
  serving = true;
  log.info({ event: 'mqtt_listening', host: options.host, port }, 'Embedded MQTT broker listening');

  return {
    port,
    async close() {
      post({ type: 'close' });
      await stopped;
      await front.terminate();
    },
  };
}
