import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { mosquittoAvailable, requireBinary, startMosquitto, type RunningMosquitto } from './mosquitto.ts';

describe.skipIf(!requireBinary('mosquitto', mosquittoAvailable()))('test helper: startMosquitto', () => {
  let broker: RunningMosquitto;

  beforeAll(async () => {
    broker = await startMosquitto();
  }, 15_000);

  afterAll(async () => {
    await broker?.stop();
  });

  it('serves MQTT on a free loopback port and delivers a QoS 1 message', async () => {
    expect(broker.url).toBe(`mqtt://127.0.0.1:${broker.port}`);
    const sub = await mqtt.connectAsync(broker.url, { clientId: 'helper-sub', reconnectPeriod: 0 });
    const pub = await mqtt.connectAsync(broker.url, { clientId: 'helper-pub', reconnectPeriod: 0 });
    try {
      const received = new Promise<{ topic: string; payload: string; qos: number }>((resolve) => {
        sub.on('message', (topic, payload, packet) => resolve({ topic, payload: payload.toString(), qos: packet.qos }));
      });
      const granted = await sub.subscribeAsync('helper/+/ping', { qos: 1 });
      expect(granted[0]?.qos).toBe(1);
      await pub.publishAsync('helper/a/ping', 'hello', { qos: 1 });
      await expect(received).resolves.toEqual({ topic: 'helper/a/ping', payload: 'hello', qos: 1 });
    } finally {
      await Promise.all([sub.endAsync(), pub.endAsync()]);
    }
  });

  it('stop() ends the broker and is idempotent', async () => {
    const other = await startMosquitto();
    await other.stop();
    await other.stop();
    await expect(mqtt.connectAsync(other.url, { reconnectPeriod: 0, connectTimeout: 1_000 })).rejects.toThrow();
  });
});
