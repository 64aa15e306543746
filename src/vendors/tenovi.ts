import type { ErrorDetail } from '../domain/errors.ts';
import {
  type DeviceReading,
  emptyBatch,
  idFrom,
  isRecord,
  numberFrom,
  type PushVendor,
  type VendorBatch,
  vendorReadingId,
} from './mapping.ts';

/**
 * Tenovi's measurement webhook (https://docs.tenovi.com/hwi-api/webhooks/measurement-webhooks): one
 * measurement per object, `metric` naming it, `value_1`/`value_2` its values, `timestamp` in UTC and
 * `hwi_device_id` the activated device (never `hardware_uuid`, the gateway's id, which changes when a
 * gateway is replaced). Sent one object per POST, or, with "Post as Array", every measurement of one
 * physical reading in an array; coincident measurements share their `timestamp` (and
 * `filter_params.measurement_index`). Units per Tenovi's device overview: mmHg, beats per minute, %, lb.
 */

/** Sent with readings but not measurements Homewatch records: acknowledged and dropped. */
const IGNORED_METRICS = new Set(['battery_percentage', 'perfusion_index']);

type Item = { raw: Record<string, unknown>; device: string; metric: string; at: number; key: string };

export const tenovi: PushVendor = {
  name: 'tenovi',
  title: 'Tenovi',
  auth: 'bearer',
  map: mapTenovi,
};

/** Tenovi webhook body (one measurement or an array) → readings; a pulse joins its blood pressure or SpO2. */
export function mapTenovi(body: unknown): VendorBatch {
  const batch = emptyBatch();
  const items = Array.isArray(body) ? body : [body];
  const parsed: Item[] = [];
  items.forEach((raw, index) => {
    const item = parseItem(raw, index);
    if ('errors' in item) batch.problems.push(item);
    else if (IGNORED_METRICS.has(item.metric)) batch.ignored++;
    else parsed.push(item);
  });

  // The readings, in the order they came, so that a pulse can find the reading it belongs to.
  type Joinable = VendorBatch['readings'][number] & { reading: { type: 'blood_pressure' | 'spo2'; pulse?: number } };
  const joinable = new Map<string, Joinable>();
  const pulses: Item[] = [];
  for (const item of parsed) {
    const reading = toReading(item);
    if (reading === 'pulse') pulses.push(item);
    else if ('errors' in reading)
      batch.problems.push({ vendorDeviceId: item.device, payload: item.raw, errors: reading.errors });
    else {
      const entry = { vendorDeviceId: item.device, reading, source: [item.raw] };
      batch.readings.push(entry);
      if (reading.type === 'blood_pressure' || reading.type === 'spo2') joinable.set(item.key, entry as Joinable);
    }
  }
  for (const item of pulses) {
    const pulse = numberFrom(item.raw.value_1);
    const target = joinable.get(item.key);
    const problem = (message: string) =>
      batch.problems.push({ vendorDeviceId: item.device, payload: item.raw, errors: [{ path: 'value_1', message }] });
    if (pulse === undefined) problem('must be a number (the pulse, beats per minute)');
    else if (!target)
      problem(
        'is a pulse with no blood_pressure or spO2 measurement of the same device and timestamp in this request; Homewatch records a pulse with those (set the Tenovi webhook to "Post as Array")',
      );
    else if (target.reading.pulse !== undefined) problem('is a second pulse for the same reading');
    else {
      target.reading.pulse = pulse;
      target.source.push(item.raw);
    }
  }
  return batch;
}

function parseItem(raw: unknown, index: number): Item | VendorBatch['problems'][number] {
  if (!isRecord(raw)) {
    return { vendorDeviceId: null, payload: raw, errors: [{ path: String(index), message: 'must be an object' }] };
  }
  const device = idFrom(raw.hwi_device_id);
  const errors: ErrorDetail[] = [];
  if (device === undefined) errors.push({ path: 'hwi_device_id', message: 'is required' });
  if (typeof raw.metric !== 'string' || raw.metric === '') errors.push({ path: 'metric', message: 'is required' });
  const at = parseTimestamp(raw.timestamp);
  if (at === undefined) errors.push({ path: 'timestamp', message: 'must be a date-time in UTC' });
  if (errors.length) return { vendorDeviceId: device ?? null, payload: raw, errors };
  const filter = isRecord(raw.filter_params) ? raw.filter_params : {};
  const key = `${device}|${at}|${String(filter.measurement_index ?? '')}`;
  return { raw, device: device!, metric: raw.metric as string, at: at!, key };
}

/** `2026-11-21T12:58:00Z`, with or without fractions or an offset; without an offset it is UTC, as Tenovi says. */
function parseTimestamp(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?$/i.exec(value.trim());
  if (!match) return undefined;
  const at = Date.parse(`${match[1]}T${match[2]}${match[3] ?? 'Z'}`);
  return Number.isNaN(at) ? undefined : at;
}

function toReading(item: Item): DeviceReading | 'pulse' | { errors: ErrorDetail[] } {
  const { raw, at } = item;
  const value1 = numberFrom(raw.value_1);
  const need = (path: string, what: string) => ({ errors: [{ path, message: `must be a number (${what})` }] });
  switch (item.metric) {
    case 'pulse':
      return 'pulse';
    case 'blood_pressure': {
      const value2 = numberFrom(raw.value_2);
      if (value1 === undefined) return need('value_1', 'systolic, mmHg');
      if (value2 === undefined) return need('value_2', 'diastolic, mmHg');
      const id = vendorReadingId('tenovi', at, 'blood_pressure');
      return { id, type: 'blood_pressure', measuredAt: at, systolic: value1, diastolic: value2 };
    }
    case 'spO2':
      if (value1 === undefined) return need('value_1', 'oxygen saturation, %');
      return { id: vendorReadingId('tenovi', at, 'spo2'), type: 'spo2', measuredAt: at, value: value1 };
    case 'weight':
      if (value1 === undefined) return need('value_1', 'weight, lb');
      return { id: vendorReadingId('tenovi', at, 'weight'), type: 'weight', measuredAt: at, value: value1, unit: 'lb' };
    default:
      return {
        errors: [
          {
            path: 'metric',
            message: `"${item.metric}" is not a measurement Homewatch records (blood_pressure, pulse, spO2, weight)`,
          },
        ],
      };
  }
}
