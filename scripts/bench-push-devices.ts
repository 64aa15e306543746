/**
 * The devices of the push benchmark (bench-push.ts), in a worker thread of their own: 200 MQTT clients
 * publishing 5,000 readings a second keep an event loop busy, and the push receiver must not wait on it
 * to notice a push that has arrived. Posts the publish time of every measured breach and, once every
 * message is sent, how long that took; on 'stop', disconnects and posts how many readings were acknowledged.
 */
import { parentPort, workerData } from 'node:worker_threads';
import mqtt, { type MqttClient } from 'mqtt';

export interface DevicesPlan {
  mqttUrl: string;
  devices: Array<{ id: string; token: string; patientId: string }>;
  perDevicePerSecond: number;
  /** Messages per device. */
  total: number;
  /** Per device, the message with a low SpO2 (rule spo2-critical) and the one with a high pulse (pulse-critical). */
  spo2BreachAt: number[];
  pulseBreachAt: number[];
  /** Per device, the message with a low pulse (the warm-up rule, not measured), or -1. */
  warmBreachAt: number[];
}

export type DevicesReport =
  | { type: 'breach'; patientId: string; ruleId: 'spo2-critical' | 'pulse-critical'; at: number }
  | { type: 'paced'; seconds: number }
  | { type: 'stopped'; acknowledged: number };

const { mqttUrl, devices, perDevicePerSecond, total, spo2BreachAt, pulseBreachAt, warmBreachAt } =
  workerData as DevicesPlan;
const report = (message: DevicesReport) => parentPort!.postMessage(message);

const clients: MqttClient[] = await Promise.all(
  devices.map((d) =>
    mqtt.connectAsync(mqttUrl, { username: d.id, password: d.token, clientId: d.id, reconnectPeriod: 0 }),
  ),
);
let acknowledged = 0;
const started = performance.now();
await Promise.all(
  clients.map(async (client, i) => {
    for (let n = 0; n < total; n++) {
      // Paced: message n of this device is due at n / perDevicePerSecond seconds.
      const due = started + (n * 1000) / perDevicePerSecond;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const spo2 = n === spo2BreachAt[i];
      const pulse = n === pulseBreachAt[i];
      const reading = {
        id: `m${n}`,
        type: 'spo2',
        measuredAt: Date.now() - 1000,
        value: spo2 ? 84 : 96,
        pulse: pulse ? 160 : n === warmBreachAt[i] ? 35 : 72,
      };
      if (spo2 || pulse)
        report({
          type: 'breach',
          patientId: devices[i]!.patientId,
          ruleId: spo2 ? 'spo2-critical' : 'pulse-critical',
          at: Date.now(),
        });
      void client
        .publishAsync(`rpm/devices/${devices[i]!.id}/readings`, JSON.stringify(reading), { qos: 1 })
        .then(() => acknowledged++);
    }
  }),
);
report({ type: 'paced', seconds: (performance.now() - started) / 1000 });
parentPort!.once('message', async () => {
  await Promise.all(clients.map((c) => c.endAsync()));
  report({ type: 'stopped', acknowledged });
});
