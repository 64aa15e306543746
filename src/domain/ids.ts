import { randomFillSync } from 'node:crypto';

/** Random bytes drawn 4 KiB at a time: a syscall per id would cost more than the rest of the id. */
const pool = Buffer.alloc(4096);
let offset = pool.length;

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));
/** The time part of the last id's text: ingest makes all the ids of a message with one `now`. */
let lastNow = -1;
let timeHex = '';

/**
 * A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, so ids sort by when they
 * were made (the readings API pages by measured time, then id). Written as text straight from a table of
 * hex pairs, because going through a Buffer and its hex string showed in the ingest profile.
 */
export function uuidv7(now = Date.now()): string {
  if (now !== lastNow) {
    const hex = now.toString(16).padStart(12, '0');
    timeHex = `${hex.slice(0, 8)}-${hex.slice(8)}-`;
    lastNow = now;
  }
  if (offset + 10 > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const o = offset;
  offset += 10;
  const version = HEX[(pool[o]! & 0x0f) | 0x70]; // version 7
  const variant = HEX[(pool[o + 2]! & 0x3f) | 0x80]; // variant 10
  const node =
    HEX[pool[o + 4]!]! +
    HEX[pool[o + 5]!] +
    HEX[pool[o + 6]!] +
    HEX[pool[o + 7]!] +
    HEX[pool[o + 8]!] +
    HEX[pool[o + 9]!];
  return `${timeHex}${version}${HEX[pool[o + 1]!]}-${variant}${HEX[pool[o + 3]!]}-${node}`;
}
