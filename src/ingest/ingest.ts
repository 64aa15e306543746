import { uuidv7 } from '../domain/ids.ts';
import type { DeviceIdentity } from '../devices/directory.ts';
import { AppError, type ErrorDetail } from '../domain/errors.ts';
import { dedupeKey, sameMeasurement, toStored, type StoredReading } from '../domain/reading.ts';
import { normalizeReading, splitBody, type ItemOutcome } from '../normalize/reading.ts';
import type { Metrics } from '../ops/metrics.ts';
import type { GroupCommit } from '../store/db.ts';
import type { PartialPayload, RejectionLog, RejectionReason } from '../store/rejection-log.ts';
import type { SqliteReadingStore } from '../store/sqlite-reading-store.ts';
import type { AlertChange, RuleEngine } from '../rules/engine.ts';

export type Transport = 'http' | 'mqtt';

export type ItemResult =
  | { index: number; status: 'accepted' | 'duplicate'; readingId: string }
  | { index: number; status: 'rejected'; errors: ErrorDetail[] };

export interface IngestResponse {
  accepted: number;
  duplicates: number;
  rejected: number;
  results: ItemResult[];
}

/** The answer to one message: the contract's HTTP status and body; MQTT publishes the body on the results topic. */
export interface IngestAnswer {
  status: number;
  body: IngestResponse | ReturnType<AppError['toBody']>;
}

export interface IngestOptions {
  commits: GroupCommit;
  readings: SqliteReadingStore;
  rejections: RejectionLog;
  metrics: Metrics;
  /** The care-plan rules, run inside the transaction that stores the readings. */
  rules?: RuleEngine;
  /** Called after the commit with the alerts the readings opened or updated. */
  onAlertChanges?: (changes: AlertChange[]) => void;
  /**
   * Asked before anything of a message is stored; throws an AppError (503 `unavailable`) to refuse the
   * whole message, which is then neither stored nor acknowledged, so the device sends it again later
   * (the InfluxDB backlog limit).
   */
  admission?: () => void;
}

/**
 * One message from a device, over HTTP or MQTT: parse, validate each reading, then store the accepted
 * ones and keep the refused ones in one transaction. Resolves only after that transaction has committed,
 * so whoever acknowledges on its answer acknowledges durable data.
 */
export class Ingest {
  constructor(private readonly options: IngestOptions) {}

  async handleMessage(
    device: DeviceIdentity,
    raw: string,
    transport: Transport,
    receivedAt = Date.now(),
  ): Promise<IngestAnswer> {
    const started = performance.now();
    try {
      this.options.admission?.();
    } catch (error) {
      if (error instanceof AppError) this.options.metrics.messagesRefused.inc({ transport, reason: error.code });
      throw error;
    }
    let items: unknown[];
    try {
      items = splitBody(JSON.parse(raw));
    } catch (error) {
      const refusal =
        error instanceof AppError
          ? error
          : new AppError('invalid_json', `The body is not valid JSON: ${(error as Error).message}`, [
              { path: '', message: 'must be valid JSON' },
            ]);
      await this.refuse(device.id, raw, transport, refusal, undefined, receivedAt);
      return { status: refusal.status, body: refusal.toBody() };
    }

    const outcomes = items.map((item) => normalizeReading(item, receivedAt));
    // A rollback drops the rules' caches (GroupCommit's onRollback), so a failure here needs nothing more.
    const { response, changes } = await this.options.commits.run(() =>
      this.#store(device, raw, items, outcomes, transport, receivedAt),
    );

    const { metrics } = this.options;
    metrics.ingestSeconds.observe({ transport }, (performance.now() - started) / 1000);
    if (response.accepted) metrics.readings.inc({ transport, outcome: 'accepted' }, response.accepted);
    if (response.duplicates) metrics.readings.inc({ transport, outcome: 'duplicate' }, response.duplicates);
    if (response.rejected) metrics.readings.inc({ transport, outcome: 'rejected' }, response.rejected);
    if (changes.length) this.options.onAlertChanges?.(changes);
    return { status: response.accepted + response.duplicates > 0 ? 200 : 422, body: response };
  }

  /** Counts a message over its device's rate limit (MQTT slows the device down rather than refusing). */
  countRateLimited(transport: Transport): void {
    this.options.metrics.messagesRefused.inc({ transport, reason: 'rate_limited' });
  }

  /**
   * Keeps a whole refused message (bad JSON, wrong shape, over the rate limit) among the rejections: as
   * received, or the head of one that was not read whole.
   */
  async refuse(
    deviceId: string,
    raw: string | Buffer | PartialPayload,
    transport: Transport,
    error: AppError,
    reason: RejectionReason = error.code === 'rate_limited' ? 'rate_limited' : 'malformed',
    receivedAt = Date.now(),
  ): Promise<void> {
    this.options.metrics.messagesRefused.inc({ transport, reason: error.code });
    const errors = error.details.length ? error.details : [{ path: '', message: error.message }];
    await this.options.commits.run(() =>
      this.options.rejections.add({ deviceId, receivedAt, transport, reason, payload: raw, errors }),
    );
  }

  /** Runs inside a GroupCommit job: synchronous, all or nothing for this message. */
  #store(
    device: DeviceIdentity,
    raw: string,
    items: unknown[],
    outcomes: ItemOutcome[],
    transport: Transport,
    receivedAt: number,
  ) {
    const { readings, rejections } = this.options;
    const response: IngestResponse = { accepted: 0, duplicates: 0, rejected: 0, results: [] };
    const stored: StoredReading[] = [];
    const reject = (index: number, reason: RejectionReason, errors: ErrorDetail[]) => {
      rejections.add({
        deviceId: device.id,
        receivedAt,
        transport,
        reason,
        payload: itemText(items[index], raw),
        errors,
      });
    };

    outcomes.forEach((outcome, index) => {
      if (!outcome.ok) {
        reject(index, 'invalid', outcome.errors);
        response.rejected++;
        response.results.push({ index, status: 'rejected', errors: outcome.errors });
        return;
      }
      if (device.patientId === null) {
        const errors = [
          {
            path: '',
            message: 'the device is not assigned to a patient; an admin assigns it with PUT /v1/devices/{id}/patient',
          },
        ];
        reject(index, 'unassigned', errors);
        response.rejected++;
        response.results.push({ index, status: 'rejected', errors });
        return;
      }
      const reading = toStored(outcome.reading, uuidv7(receivedAt), device.id, device.patientId, receivedAt);
      const key = dedupeKey(reading);
      if (readings.insert(reading, key)) {
        stored.push(reading);
        response.accepted++;
        response.results.push({ index, status: 'accepted', readingId: reading.id });
        return;
      }
      const earlier = readings.findByDedupeKey(device.id, key)!;
      if (!sameMeasurement(earlier, reading)) {
        reject(index, 'conflict', [
          {
            path: reading.messageId !== null ? 'id' : 'measuredAt',
            message: `repeats reading ${earlier.id} with different content; the first one is kept`,
          },
        ]);
      }
      response.duplicates++;
      response.results.push({ index, status: 'duplicate', readingId: earlier.id });
    });
    const changes = stored.length && this.options.rules ? this.options.rules.evaluateReadings(stored, receivedAt) : [];
    return { response, stored, changes };
  }
}

/**
 * One item of a message as JSON text, to keep among the rejections. JSON.parse takes nesting that
 * JSON.stringify cannot write back (it recurses: thousands of levels overflow the stack); such an item
 * is kept as the whole message instead.
 */
function itemText(item: unknown, raw: string): string {
  try {
    return JSON.stringify(item);
  } catch (error) {
    if (error instanceof RangeError) return raw;
    throw error;
  }
}
