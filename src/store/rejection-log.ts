import { desc, eq, sql } from 'drizzle-orm';
import type { ErrorDetail } from '../domain/errors.ts';
import type { Db } from './db.ts';
import { rejections } from './schema.ts';

export type RejectionReason = (typeof rejections.$inferInsert)['reason'];

export interface Rejection {
  deviceId: string;
  receivedAt: number;
  transport: 'http' | 'mqtt';
  reason: RejectionReason;
  /** The raw payload as received. */
  payload: string;
  errors: ErrorDetail[];
}

/** Every refused payload, kept with its reasons so that nothing a device sent is lost. */
export class RejectionLog {
  readonly #insert;

  constructor(private readonly db: Db) {
    this.#insert = db
      .insert(rejections)
      .values({
        deviceId: sql.placeholder('deviceId'),
        receivedAt: sql.placeholder('receivedAt'),
        transport: sql.placeholder('transport'),
        reason: sql.placeholder('reason'),
        payload: sql.placeholder('payload'),
        errors: sql.placeholder('errors'),
      })
      .prepare();
  }

  /** Call inside a transaction (a GroupCommit job), so the rejection is stored before the device is answered. */
  add(rejection: Rejection): void {
    this.#insert.run({ ...rejection, errors: JSON.stringify(rejection.errors) });
  }

  /** Newest first. */
  list(deviceId: string, limit: number): Rejection[] {
    return this.db
      .select()
      .from(rejections)
      .where(eq(rejections.deviceId, deviceId))
      .orderBy(desc(rejections.seq))
      .limit(limit)
      .all()
      .map((row) => ({ ...row, errors: JSON.parse(row.errors) as ErrorDetail[] }));
  }
}
