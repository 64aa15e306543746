import type { DeviceDirectory, DeviceIdentity } from '../devices/directory.ts';
import { AppError, type ErrorDetail } from '../domain/errors.ts';
import { MAX_READINGS_PER_BATCH } from '../domain/reading.ts';
import type { Ingest, IngestResponse } from '../ingest/ingest.ts';
import type { Logger } from '../ops/log.ts';
import type { RejectionReason } from '../store/rejection-log.ts';
import type { DeviceReading, VendorBatch } from './mapping.ts';
import { type Integration, integrationRejectionKey } from './store.ts';

/**
 * The answer to a vendor: what became of what it sent. It is sent with 200 once everything is stored or
 * kept; vendors only look at the status, people reading their delivery logs at the rest.
 */
export interface VendorReceipt {
  accepted: number;
  duplicates: number;
  /** Refused and kept among the rejections: invalid readings, unknown devices, unreadable items. */
  rejected: number;
  /** Not measurements (battery levels, heartbeats): acknowledged and not kept. */
  ignored: number;
  /** The vendor's ids that name no provisioned device; their readings are kept among the integration's rejections. */
  unknownDevices: string[];
}

export interface VendorIngestOptions {
  ingest: Ingest;
  directory: DeviceDirectory;
  log: Logger;
}

/**
 * The one way vendor readings enter the pipeline: each reading goes to `Ingest` as a message from the
 * device its vendor id names, so validation, de-duplication, rules, alerts and rejections are those of
 * any device. What names no provisioned device, or could not be read, is kept among the integration's
 * rejections. Resolves once everything is durably stored or kept.
 */
export class VendorIngest {
  constructor(private readonly options: VendorIngestOptions) {}

  async receive(integration: Integration, batch: VendorBatch, receivedAt = Date.now()): Promise<VendorReceipt> {
    const { directory, ingest, log } = this.options;
    const receipt: VendorReceipt = {
      accepted: 0,
      duplicates: 0,
      rejected: 0,
      ignored: batch.ignored,
      unknownDevices: [],
    };
    const find = (vendorDeviceId: string) => directory.byVendorId(integration.vendor, vendorDeviceId, receivedAt);

    const byDevice = new Map<string, { device: DeviceIdentity; readings: DeviceReading[] }>();
    const unknown = new Map<string, unknown[]>();
    for (const { vendorDeviceId, reading, source } of batch.readings) {
      const device = find(vendorDeviceId);
      if (!device) unknown.set(vendorDeviceId, [...(unknown.get(vendorDeviceId) ?? []), ...source]);
      else if (byDevice.has(device.id)) byDevice.get(device.id)!.readings.push(reading);
      else byDevice.set(device.id, { device, readings: [reading] });
    }

    for (const { device, readings } of byDevice.values()) {
      for (let start = 0; start < readings.length; start += MAX_READINGS_PER_BATCH) {
        const message = JSON.stringify({ readings: readings.slice(start, start + MAX_READINGS_PER_BATCH) });
        const answer = await ingest.handleMessage(device, message, 'http', receivedAt);
        const body = answer.body as IngestResponse;
        receipt.accepted += body.accepted;
        receipt.duplicates += body.duplicates;
        receipt.rejected += body.rejected;
      }
    }
    for (const [vendorDeviceId, items] of unknown) {
      receipt.unknownDevices.push(vendorDeviceId);
      log.warn(
        { event: 'vendor_unknown_device', integrationId: integration.id, vendor: integration.vendor, vendorDeviceId },
        'A vendor sent readings for a device that is not provisioned; kept among the integration rejections',
      );
      await this.keep(integration, JSON.stringify(items.length === 1 ? items[0] : items), 'unknown_device', [
        {
          path: '',
          message: `no device is provisioned with vendor "${integration.vendor}" and vendorDeviceId ${JSON.stringify(vendorDeviceId)}; provision it with POST /v1/devices`,
        },
      ]);
    }
    for (const problem of batch.problems) {
      const device = problem.vendorDeviceId === null ? undefined : find(problem.vendorDeviceId);
      await this.keep(integration, JSON.stringify(problem.payload), 'invalid', problem.errors, device);
    }
    receipt.rejected += unknown.size + batch.problems.length;
    log.info(
      {
        event: 'vendor_ingest',
        integrationId: integration.id,
        vendor: integration.vendor,
        accepted: receipt.accepted,
        duplicates: receipt.duplicates,
        rejected: receipt.rejected,
        ignored: receipt.ignored,
      },
      'vendor payload',
    );
    return receipt;
  }

  /**
   * Keeps what could not be used: under its device when it names a provisioned one, else under the
   * integration (GET /v1/integrations/{id}/rejections shows both).
   */
  async keep(
    integration: Integration,
    payload: string,
    reason: RejectionReason,
    errors: ErrorDetail[],
    device?: DeviceIdentity,
  ): Promise<void> {
    const error = new AppError('validation_failed', errors[0]?.message ?? 'could not be used', errors);
    await this.options.ingest.refuse(
      device?.id ?? integrationRejectionKey(integration.id),
      payload,
      'http',
      error,
      reason,
    );
  }
}
