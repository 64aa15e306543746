import type { z } from 'zod';
import type { ErrorDetail } from '../domain/errors.ts';
import type { ReadingType, readingInputSchema } from '../domain/reading.ts';

/** A reading in the device protocol's JSON (`POST /v1/readings`), as a vendor mapping writes it. */
export type DeviceReading = z.input<typeof readingInputSchema>;

/**
 * What one vendor payload came to, before anything is stored: readings for the pipeline, each under the
 * vendor's id for the device that took it, and the items that cannot be used, with their reasons. Every
 * mapping is pure: validation, de-duplication, rules and rejections happen after, in `Ingest`.
 */
export interface VendorBatch {
  /** `source`: the vendor's items the reading was made of, kept as sent if its device is not provisioned. */
  readings: Array<{ vendorDeviceId: string; reading: DeviceReading; source: unknown[] }>;
  /** Kept among the integration's rejections; `vendorDeviceId` when the item names one. */
  problems: Array<{ vendorDeviceId: string | null; payload: unknown; errors: ErrorDetail[] }>;
  /** Items that are not measurements (a battery level, a heartbeat): acknowledged and not kept. */
  ignored: number;
}

export const emptyBatch = (): VendorBatch => ({ readings: [], problems: [], ignored: 0 });

/**
 * A vendor whose cloud posts readings to us (a webhook). Adding one is a file like `tenovi.ts` exporting
 * one of these, its samples in `devices/<name>/`, and a line in `registry.ts`.
 */
export interface PushVendor {
  /** Lower case; the path `/v1/vendors/{name}` and the `vendor` of its integrations and devices. */
  name: string;
  /** The vendor's name for people. */
  title: string;
  /**
   * How its webhook presents the integration's secret: `Authorization: Bearer <secret>`, or HTTP Basic
   * with the integration's id as the user name and the secret as the password.
   */
  auth: 'bearer' | 'basic';
  /** One request body, parsed from JSON, to readings. Pure; never throws for a bad payload. */
  map(body: unknown): VendorBatch;
}

/**
 * The reading `id` that makes a re-sent vendor payload a duplicate: the vendor, the measurement time and
 * the type, unique per device (`Ingest` de-duplicates per device). Two readings of one type at the same
 * instant from one device are one measurement.
 */
export function vendorReadingId(vendor: string, measuredAt: number, type: ReadingType): string {
  return `${vendor}:${new Date(measuredAt).toISOString()}:${type}`;
}

/** A finite number from a JSON number or a numeric string (some vendors send "142"); otherwise undefined. */
export function numberFrom(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(value)) return Number(value);
  return undefined;
}

/** A non-empty id from a JSON string or integer (BodyTrace sends its device ids as numbers). */
export function idFrom(value: unknown): string | undefined {
  if (typeof value === 'string' && value.trim() !== '') return value.trim();
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  return undefined;
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
