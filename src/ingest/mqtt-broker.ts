import { createServer, type Server } from 'node:net';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { DeviceDirectory } from '../auth/device-directory.ts';
import { AppError } from '../domain/errors.ts';
import { listen } from '../listen.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../ops/metrics.ts';
import { handleDeviceMessage, READINGS_TOPIC, resultsTopic, type DeviceMessageOptions } from './mqtt.ts';

export interface MqttBrokerOptions extends DeviceMessageOptions {
  host: string;
  port: number;
  directory: DeviceDirectory;
  metrics: Metrics;
  log: Logger;
}

export interface MqttBroker {
  port: number;
  close(): Promise<void>;
}

// aedes reads these codes into the CONNACK (MQTT 3.1.1 §3.2.2.3).
const BAD_USERNAME_OR_PASSWORD = 4;

/**
 * The embedded broker. A device connects with username = its id and password = its token, may publish
 * only to its own readings topic, and subscribe only below its own `rpm/devices/{id}/`. Readings are
 * stored inside authorizePublish, because aedes sends the PUBACK right after it returns: so a PUBACK
 * always means the readings are committed.
 */
export async function startMqttBroker(options: MqttBrokerOptions): Promise<MqttBroker> {
  const { directory, metrics, log } = options;
  const deviceOf = new WeakMap<Client, string>();

  const broker = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      const device = password ? directory.byToken(password.toString('utf8')) : undefined;
      if (!device || device.id !== username) {
        log.warn({ event: 'mqtt_auth_failed', deviceId: username, clientId: client.id }, 'MQTT connection refused: wrong device id or token');
        const error = new Error('Bad device id or token') as AuthenticateError;
        error.returnCode = BAD_USERNAME_OR_PASSWORD;
        return done(error, false);
      }
      deviceOf.set(client, device.id);
      done(null, true);
    },

    authorizePublish(client, packet, done) {
      if (!client) return done(null); // the broker's own publishes (results)
      const deviceId = deviceOf.get(client);
      const match = READINGS_TOPIC.exec(packet.topic);
      if (!deviceId || match?.[1] !== deviceId) {
        log.warn({ event: 'mqtt_publish_refused', deviceId, topic: packet.topic }, 'MQTT publish refused: not this device\'s readings topic');
        return done(new Error(`Device ${deviceId} may not publish to ${packet.topic}`));
      }
      // Looked up again, not taken from the connection, so a re-assignment applies to the next message.
      const device = directory.byId(deviceId);
      if (!device) return done(new Error(`Device ${deviceId} no longer exists`));
      handleDeviceMessage(options, device, packet.payload as Buffer, { throttle: true }).then(
        (body) => {
          broker.publish(
            { cmd: 'publish', topic: resultsTopic(deviceId), payload: Buffer.from(JSON.stringify(body)), qos: 1, retain: false, dup: false },
            () => {},
          );
          done(null);
        },
        (error: unknown) => {
          // Not stored, so no PUBACK: the connection closes and the device sends again. A refusal by
          // design (the InfluxDB backlog is full) is a warning; anything else is an error.
          const refused = error instanceof AppError && (error.code === 'unavailable' || error.code === 'rate_limited');
          log[refused ? 'warn' : 'error']({ event: 'mqtt_store_failed', deviceId, err: error }, 'Readings were not stored; the device will resend');
          done(error as Error);
        },
      );
    },

    authorizeSubscribe(client, subscription, done) {
      const deviceId = deviceOf.get(client);
      const own = `rpm/devices/${deviceId}/`;
      if (deviceId && subscription.topic.startsWith(own)) return done(null, subscription);
      log.warn({ event: 'mqtt_subscribe_refused', deviceId, topic: subscription.topic }, 'MQTT subscribe refused: not this device\'s topics');
      done(null, null); // SUBACK with the failure code 0x80
    },
  });

  broker.on('client', () => metrics.connectedDevices.set(broker.connectedClients));
  broker.on('clientDisconnect', () => metrics.connectedDevices.set(broker.connectedClients));

  const server: Server = createServer(broker.handle);
  let port: number;
  try {
    port = await listen(server, options.port, options.host, 'MQTT_PORT');
  } catch (error) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw error;
  }
  log.info({ event: 'mqtt_listening', host: options.host, port }, 'Embedded MQTT broker listening');

  return {
    port,
    async close() {
      // The broker first: it disconnects the clients, which server.close() would otherwise wait for.
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
