/**
 * What one MQTT connection may send to the embedded broker (CONTRACT.md, "Security rules"). mqtt-packet,
 * which aedes parses with, has no size limit: it keeps every byte of a packet until the length its fixed
 * header announced has arrived, so one socket announcing 268 MB could make the broker hold 268 MB. These
 * limits are checked on the fixed headers as the bytes arrive, before the parser is given them.
 */

/** The largest packet after CONNECT: a 1 MiB payload (the HTTP body limit) with room for its topic. */
export const MAX_PACKET_BYTES = 1024 * 1024 + 1024;
/**
 * What may arrive before CONNECT is complete: the CONNECT itself. A device's is about a hundred bytes
 * (client id, username, token, perhaps a will).
 */
export const MAX_BYTES_BEFORE_CONNECT = 64 * 1024;
/** How long a connection may take from TCP (or the start of the TLS handshake) to a complete CONNECT. */
export const CONNECT_TIMEOUT_MS = 10_000;

// A remaining length takes at most four bytes (MQTT 3.1.1 §2.2.3, MQTT 5 §1.5.5).
const MAX_LENGTH_BYTES = 4;

/**
 * Follows the packet boundaries of one connection's byte stream, reading only fixed headers: the body of
 * a packet is skipped by its length, so a chunk costs a few steps per packet it starts, and nothing is
 * allocated. The first packet (the CONNECT: any other first packet aedes refuses) may be at most
 * `MAX_BYTES_BEFORE_CONNECT` long, every later one `MAX_PACKET_BYTES`, fixed header included (as MQTT 5's
 * Maximum Packet Size counts).
 *
 * @example
 * const guard = new PacketSizeGuard();
 * socket.on('data', (chunk) => guard.accepts(chunk) ? parser.parse(chunk) : socket.destroy());
 */
export class PacketSizeGuard {
  /** Bytes of the current packet's body still to come. */
  #bodyLeft = 0;
  /** 0: the next byte starts a packet; n > 0: the next byte is the n-th of its remaining length. */
  #lengthByte = 0;
  #length = 0;
  #multiplier = 1;
  #limit = MAX_BYTES_BEFORE_CONNECT;

  /**
   * Whether `chunk`, the next bytes of the stream, keeps every packet within its limit. Once it answers
   * false the connection must be closed: the guard no longer knows where packets start.
   */
  accepts(chunk: Uint8Array): boolean {
    const end = chunk.length;
    let at = 0;
    while (at < end) {
      if (this.#bodyLeft > 0) {
        const skipped = Math.min(this.#bodyLeft, end - at);
        this.#bodyLeft -= skipped;
        at += skipped;
        continue;
      }
      const byte = chunk[at++]!;
      if (this.#lengthByte === 0) {
        // The packet type and flags: the remaining length follows.
        this.#lengthByte = 1;
        this.#length = 0;
        this.#multiplier = 1;
        continue;
      }
      this.#length += (byte & 0x7f) * this.#multiplier;
      if (byte & 0x80) {
        if (this.#lengthByte === MAX_LENGTH_BYTES) return false; // not MQTT
        this.#lengthByte++;
        this.#multiplier *= 128;
        continue;
      }
      if (1 + this.#lengthByte + this.#length > this.#limit) return false;
      this.#limit = MAX_PACKET_BYTES;
      this.#bodyLeft = this.#length;
      this.#lengthByte = 0;
    }
    return true;
  }
}
