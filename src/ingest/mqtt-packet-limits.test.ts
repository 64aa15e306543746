import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { MAX_BYTES_BEFORE_CONNECT, MAX_PACKET_BYTES, PacketSizeGuard } from './mqtt-packet-limits.ts';

const connect = (password = 'token') =>
  mqttPacket.generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    clientId: 'device-1',
    keepalive: 60,
    username: 'device-1',
    password: Buffer.from(password),
  });
const publish = (payloadBytes: number, messageId = 1) =>
  mqttPacket.generate({
    cmd: 'publish',
    topic: 'rpm/devices/device-1/readings',
    payload: Buffer.alloc(payloadBytes, 0x20),
    qos: 1,
    messageId,
    retain: false,
    dup: false,
  });
const pingreq = () => mqttPacket.generate({ cmd: 'pingreq' });
/** `make(n)` for the `n` that makes it exactly `total` bytes long (its remaining length grows with `n`). */
function sized(make: (n: number) => Buffer, total: number): Buffer {
  let n = total - make(0).length;
  while (make(n).length > total) n--;
  return make(n);
}
const publishOf = (total: number) => sized((n) => publish(n), total);
const connectOf = (total: number) => sized((n) => connect('x'.repeat(n)), total);

/** Feeds `bytes` to a new guard in pieces cut at `cuts`; whether every piece was accepted. */
function feed(bytes: Buffer, cuts: number[] = []): boolean {
  const guard = new PacketSizeGuard();
  let from = 0;
  for (const cut of [...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length]) {
    if (!guard.accepts(bytes.subarray(from, cut))) return false;
    from = cut;
  }
  return true;
}

describe('PacketSizeGuard', () => {
  it('a device session within the limits passes, however the bytes are cut', () => {
    const stream = Buffer.concat([connect(), publish(200, 1), pingreq(), publishOf(MAX_PACKET_BYTES), publish(0, 3)]);
    expect(publishOf(MAX_PACKET_BYTES).length).toBe(MAX_PACKET_BYTES);
    expect(feed(stream)).toBe(true);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: stream.length }), { maxLength: 20 }), (cuts) =>
        feed(stream, cuts),
      ),
    );
    // One byte at a time, across every fixed header.
    const guard = new PacketSizeGuard();
    let accepted = true;
    for (let at = 0; at < stream.length; at++) accepted &&= guard.accepts(stream.subarray(at, at + 1));
    expect(accepted).toBe(true);
  });

  it('a packet one byte over MAX_PACKET_BYTES is refused from its fixed header alone', () => {
    const tooLarge = publishOf(MAX_PACKET_BYTES + 1);
    expect(tooLarge.length).toBe(MAX_PACKET_BYTES + 1);
    const header = tooLarge.subarray(0, 4); // type and a three-byte remaining length
    expect(feed(Buffer.concat([connect(), header]))).toBe(false);
  });

  it('the first packet may be at most MAX_BYTES_BEFORE_CONNECT long', () => {
    const exactly = connectOf(MAX_BYTES_BEFORE_CONNECT);
    expect(exactly.length).toBe(MAX_BYTES_BEFORE_CONNECT);
    expect(feed(exactly)).toBe(true);
    const over = connectOf(MAX_BYTES_BEFORE_CONNECT + 1);
    expect(over.length).toBe(MAX_BYTES_BEFORE_CONNECT + 1);
    expect(feed(over.subarray(0, 4))).toBe(false);
  });

  it('the largest length MQTT can announce, 268 MB, is refused after five bytes', () => {
    expect(new PacketSizeGuard().accepts(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]))).toBe(false);
    expect(feed(Buffer.concat([connect(), Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f])]))).toBe(false);
  });

  it('a remaining length of more than four bytes is not MQTT', () => {
    expect(new PacketSizeGuard().accepts(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x80, 0x00]))).toBe(false);
  });
});
