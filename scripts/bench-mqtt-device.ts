/**
 * A device for the MQTT ingest benchmark: one raw TCP connection, MQTT 3.1.1 packets encoded and parsed by
 * mqtt-packet (MQTT.js's own codec), and nothing else. MQTT.js costs 30-40 µs of CPU per QoS 1 publish,
 * so 200 of its clients in one process capped the bare-broker baseline at what that process could send
 * (100 % of a core at 20,000-35,000 readings/s); this costs about 20 µs, and the baseline measures the
 * broker and the machine rather than the load generator.
 */
import { connect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';

export class BenchDevice {
  readonly #socket: Socket;
  readonly #acks = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  #lastId = 0;
  #failed: Error | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
  }

  /** Connects (clean session) and resolves on a successful CONNACK. */
  static connect(url: string, clientId: string, username?: string, password?: string): Promise<BenchDevice> {
    const { hostname, port } = new URL(url);
    const socket = connect(Number(port), hostname);
    socket.setNoDelay(true);
    const device = new BenchDevice(socket);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    return new Promise((resolve, reject) => {
      const fail = (error: Error) => {
        device.#failed ??= error;
        for (const ack of device.#acks.values()) ack.reject(error);
        device.#acks.clear();
        reject(error);
      };
      socket.on('error', fail);
      socket.on('close', () => fail(new Error(`device ${clientId}: connection closed`)));
      socket.on('data', (chunk) => parser.parse(chunk));
      parser.on('error', fail);
      parser.on('packet', (packet: mqttPacket.Packet) => {
        if (packet.cmd === 'connack') {
          if (packet.returnCode === 0) resolve(device);
          else fail(new Error(`device ${clientId}: CONNACK return code ${packet.returnCode}`));
        } else if (packet.cmd === 'puback') {
          device.#acks.get(packet.messageId!)?.resolve();
          device.#acks.delete(packet.messageId!);
        }
      });
      const credentials = username === undefined ? {} : { username, password: Buffer.from(password ?? '') };
      socket.write(
        mqttPacket.generate({
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: 4,
          clean: true,
          clientId,
          keepalive: 600,
          ...credentials,
        }),
      );
    });
  }

  /** Publishes at QoS 1; resolves on its PUBACK, rejects if the connection fails first. */
  publish(topic: string, payload: string): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    this.#lastId = (this.#lastId % 65535) + 1;
    const messageId = this.#lastId;
    return new Promise((resolve, reject) => {
      this.#acks.set(messageId, { resolve, reject });
      this.#socket.write(
        mqttPacket.generate({ cmd: 'publish', topic, payload, qos: 1, messageId, retain: false, dup: false }),
      );
    });
  }

  /** Sends DISCONNECT and closes. */
  end(): Promise<void> {
    this.#failed = new Error('disconnected');
    return new Promise((resolve) => this.#socket.end(mqttPacket.generate({ cmd: 'disconnect' }), () => resolve()));
  }
}
