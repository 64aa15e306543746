import { createHash } from 'node:crypto';
import { desc, eq, getTableColumns, sql } from 'drizzle-orm';
import type { ErrorDetail } from '../domain/errors.ts';
import type { Db } from './db.ts';
import { rejections } from './schema.ts';

export type RejectionReason = (typeof rejections.$inferInsert)['reason'];

/** Payloads up to this size are kept whole… */
export const KEPT_WHOLE_BYTES = 16 * 1024;
/** …larger ones as their first bytes, up to this many, with their size and SHA-256. */
export const KEPT_HEAD_BYTES = 4 * 1024;

/** The head of a payload that was not read whole (an HTTP body over 1 MiB), and its size if it was declared. */
export interface PartialPayload {
  head: Buffer;
  bytes: number | null;
}

export interface Rejection {
  deviceId: string;
  receivedAt: number;
  transport: 'http' | 'mqtt';
  reason: RejectionReason;
  /** The raw payload as received (or its head, when it was not read whole). */
  payload: string | Buffer | PartialPayload;
  errors: ErrorDetail[];
}

/** A rejection as stored: the payload's text, whole or its head. */
export interface StoredRejection {
  deviceId: string;
  receivedAt: number;
  transport: 'http' | 'mqtt';
  reason: RejectionReason;
  /** The payload's text: all of it, or its first KEPT_HEAD_BYTES when `truncated`. */
  payload: string;
  truncated: boolean;
  /** The payload's size as received, when known. */
  bytes: number | null;
  /** SHA-256 (hex) of the whole payload, when truncated and received whole. */
  sha256: string | null;
  errors: ErrorDetail[];
}

export interface RejectionLogOptions {
  /** At most this many rejections are kept per device, the newest (REJECTIONS_PER_DEVICE). */
  perDevice: number;
}

/** How many devices' trimming budgets are remembered; past that they are forgotten, which only trims early. */
const BUDGETS_REMEMBERED = 10_000;

/**
 * Every refused payload, kept with its reasons for the admins to see what a device sent, within bounds:
 * at most `perDevice` per device (the newest), and of a payload over KEPT_WHOLE_BYTES only its head, size
 * and SHA-256. A device sending junk as fast as its rate limit allows therefore holds a bounded share of
 * the data folder.
 */
export class RejectionLog {
  readonly #insert;
  readonly #trim;
  readonly #perDevice: number;
  /** Trims keep this many rows, so that the next `#trimEvery` inserts need no trim and stay within the cap. */
  readonly #keptByTrim: number;
  readonly #trimEvery: number;
  /**
   * Per device, how many more rows may be inserted before it must be trimmed again. Unknown (after a
   * start, or forgotten) means trim now. A rolled-back insert still counts, which only trims early.
   */
  readonly #budget = new Map<string, number>();

  constructor(
    private readonly db: Db,
    { perDevice }: RejectionLogOptions,
  ) {
    this.#perDevice = perDevice;
    // Trimmed a tenth at a time rather than one row per insert: the trim walks the device's index, so a
    // device at its cap costs that walk once every perDevice/10 rejections. In between, the device keeps
    // from 90 % to all of its cap.
    this.#trimEvery = Math.max(1, Math.floor(perDevice / 10));
    this.#keptByTrim = perDevice - this.#trimEvery;
    this.#insert = db
      .insert(rejections)
      .values({
        deviceId: sql.placeholder('deviceId'),
        receivedAt: sql.placeholder('receivedAt'),
        transport: sql.placeholder('transport'),
        reason: sql.placeholder('reason'),
        payload: sql.placeholder('payload'),
        truncated: sql.placeholder('truncated'),
        bytes: sql.placeholder('bytes'),
        sha256: sql.placeholder('sha256'),
        errors: sql.placeholder('errors'),
      })
      .prepare();
    // Everything of the device older than its newest `keep` rows (none when it has no more than that).
    this.#trim = db
      .delete(rejections)
      .where(
        sql`${rejections.deviceId} = ${sql.placeholder('deviceId')} and ${rejections.seq} <= (
          select ${rejections.seq} from ${rejections} where ${rejections.deviceId} = ${sql.placeholder('deviceId')}
          order by ${rejections.seq} desc limit 1 offset ${sql.placeholder('keep')})`,
      )
      .prepare();
  }

  /** Call inside a transaction (a GroupCommit job), so the rejection is stored before the device is answered. */
  add(rejection: Rejection): void {
    const { deviceId } = rejection;
    const budget = this.#budget.get(deviceId) ?? 0;
    if (budget > 0) {
      this.#budget.set(deviceId, budget - 1);
    } else {
      this.#trim.run({ deviceId, keep: this.#keptByTrim });
      if (this.#budget.size >= BUDGETS_REMEMBERED) this.#budget.clear();
      this.#budget.set(deviceId, this.#trimEvery - 1);
    }
    this.#insert.run({ ...rejection, ...keptPayload(rejection.payload), errors: JSON.stringify(rejection.errors) });
  }

  /** Newest first. */
  list(deviceId: string, limit: number): StoredRejection[] {
    const { seq: _, ...columns } = getTableColumns(rejections);
    return this.db
      .select(columns)
      .from(rejections)
      .where(eq(rejections.deviceId, deviceId))
      .orderBy(desc(rejections.seq))
      .limit(Math.min(limit, this.#perDevice))
      .all()
      .map((row) => ({ ...row, errors: JSON.parse(row.errors) as ErrorDetail[] }));
  }
}

/** What is stored of a payload: all of it up to KEPT_WHOLE_BYTES, else its head, size and SHA-256. */
export function keptPayload(payload: string | Buffer | PartialPayload): {
  payload: string;
  truncated: boolean;
  bytes: number | null;
  sha256: string | null;
} {
  if (typeof payload === 'object' && !Buffer.isBuffer(payload)) {
    return { payload: headText(payload.head), truncated: true, bytes: payload.bytes, sha256: null };
  }
  const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (bytes <= KEPT_WHOLE_BYTES) {
    return { payload: payload.toString(), truncated: false, bytes, sha256: null };
  }
  const whole = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return {
    payload: headText(whole),
    truncated: true,
    bytes,
    sha256: createHash('sha256').update(whole).digest('hex'),
  };
}

/** The first KEPT_HEAD_BYTES as text (a character cut in two at the end becomes U+FFFD). */
function headText(bytes: Buffer): string {
  return bytes.subarray(0, KEPT_HEAD_BYTES).toString('utf8');
}
