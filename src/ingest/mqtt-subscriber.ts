import { hostname } from 'node:os';
import mqtt, { type MqttClient } from 'mqtt';
import type { DeviceDirectory } from '../devices/directory.ts';
import { AppError } from '../domain/errors.ts';
import type { Logger } from '../ops/log.ts';
import { handleDeviceMessage, type DeviceMessageOptions } from './device-message.ts';
import { READINGS_TOPIC, resultsTopic, SHARED_READINGS_SUBSCRIPTION } from './topics.ts';

export interface MqttSubscriberOptions extends DeviceMessageOptions {
  url: string;
  clientId: string | undefined;
  username: string | undefined;
  password: string | undefined;
  directory: DeviceDirectory;
  log: Logger;
}

export interface MqttSubscriber {
  /** True while the shared subscription is up (for /readyz). */
  ready(): boolean;
  close(): Promise<void>;
}

/** Reconnect backoff: 1 s doubling to 30 s, so a broker that is down for long is not hammered. */
const RECONNECT_FIRST_MS = 1_000;
const RECONNECT_MAX_MS = 30_000;
/** A session that outlives a restart or a deploy: the broker keeps queueing for us for a week. */
const SESSION_EXPIRY_SECONDS = 7 * 24 * 3600;

/**
 * External broker mode: a persistent MQTT 5 session with the shared subscription, so several Homewatch
 * instances split the devices' messages and whatever arrives while one is down waits for it.
 * MQTT.js sends the PUBACK only after `handleMessage` calls back, which we do once the readings are
 * committed; if storing fails we drop the connection unacknowledged and the broker redelivers.
 */
export function startMqttSubscriber(options: MqttSubscriberOptions): MqttSubscriber {
  const { url, directory, log } = options;
  let subscribed = false;
  const client: MqttClient = mqtt.connect(url, {
    clientId: options.clientId ?? `homewatch-${hostname()}`,
    username: options.username,
    password: options.password,
    protocolVersion: 5,
    clean: false,
    properties: { sessionExpiryInterval: SESSION_EXPIRY_SECONDS },
    reconnectPeriod: RECONNECT_FIRST_MS,
    connectTimeout: 10_000,
  });

  client.handleMessage = (packet, done) => {
    const deviceId = READINGS_TOPIC.exec(packet.topic)?.[1];
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    receive(deviceId, payload).then(
      () => done(),
      (error: unknown) => {
        log.error(
          { event: 'mqtt_store_failed', deviceId, err: error },
          'Readings could not be stored; reconnecting so the broker redelivers',
        );
        client.stream.destroy();
      },
    );
  };

  async function receive(deviceId: string | undefined, payload: Buffer) {
    if (!deviceId) return; // not a readings topic: the subscription cannot deliver one
    const device = directory.byId(deviceId);
    if (!device) {
      // The broker authenticates devices in this mode; an unknown id is still kept, for the admin to see.
      const error = new AppError('unauthorized', `No device ${deviceId} is provisioned`);
      await options.ingest.refuse(deviceId, payload, 'mqtt', error, 'unknown_device');
      log.warn({ event: 'mqtt_unknown_device', deviceId }, 'Message for an unknown device kept among the rejections');
      return;
    }
    const body = await handleDeviceMessage(options, device, payload, { throttle: false });
    client.publish(resultsTopic(device.id), JSON.stringify(body), { qos: 1, retain: false });
  }

  client.on('connect', () => {
    client.options.reconnectPeriod = RECONNECT_FIRST_MS;
    client.subscribe(SHARED_READINGS_SUBSCRIPTION, { qos: 1 }, (error, granted) => {
      const refused =
        error ??
        (granted?.some((g) => g.qos > 2) ? new Error(`the broker refused ${SHARED_READINGS_SUBSCRIPTION}`) : null);
      if (refused) {
        log.error(
          { event: 'mqtt_subscribe_failed', err: refused },
          `MQTT_URL: cannot subscribe to ${SHARED_READINGS_SUBSCRIPTION}`,
        );
        return;
      }
      subscribed = true;
      log.info({ event: 'mqtt_subscribed', topic: SHARED_READINGS_SUBSCRIPTION }, 'Subscribed to the external broker');
    });
  });
  client.on('close', () => {
    if (subscribed) log.warn({ event: 'mqtt_disconnected' }, 'Lost the connection to the external broker');
    subscribed = false;
  });
  client.on('reconnect', () => {
    client.options.reconnectPeriod = Math.min(
      RECONNECT_MAX_MS,
      (client.options.reconnectPeriod ?? RECONNECT_FIRST_MS) * 2,
    );
  });
  client.on('error', (error) => {
    log.error(
      { event: 'mqtt_connect_failed', err: error },
      `MQTT_URL ${redactUrl(url)} is unreachable or refused us (${error.message}); retrying in ${Math.round((client.options.reconnectPeriod ?? 0) / 1000)} s`,
    );
  });

  return {
    ready: () => subscribed,
    close: () => client.endAsync(),
  };
}

function redactUrl(url: string) {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
