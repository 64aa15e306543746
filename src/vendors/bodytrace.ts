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
 * BodyTrace's device message, which its cloud posts for each transmission of a cellular scale or blood
 * pressure monitor: `{deviceId, ts, batteryVoltage, rssi, values}`. `deviceId` is the IMEI without its
 * leading zeros and last digit, `ts` the measurement time in epoch milliseconds (UTC). A scale's `values`
 * are `{unit, weight, tare}` with the weight in grams whatever `unit` the display was set to; a blood
 * pressure monitor's are `{systolic, diastolic, pulse}` (mmHg, beats per minute). An empty `values` is a
 * heartbeat. Sources in devices/bodytrace/README.md.
 */

/**
 * A tare beyond ±0.1 kg means the scale's zero was off (it was not stored on a flat surface) and the
 * weight sent is offset by the tare: BodyTrace's own guidance, so the weight is corrected by it.
 */
export const TARE_TOLERANCE_G = 100;

export const bodytrace: PushVendor = {
  name: 'bodytrace',
  title: 'BodyTrace',
  auth: 'basic',
  map: mapBodyTrace,
};

/** One BodyTrace message (or an array of them) → readings. */
export function mapBodyTrace(body: unknown): VendorBatch {
  const batch = emptyBatch();
  for (const [index, message] of (Array.isArray(body) ? body : [body]).entries()) {
    if (!isRecord(message)) {
      batch.problems.push({
        vendorDeviceId: null,
        payload: message,
        errors: [{ path: String(index), message: 'must be an object' }],
      });
      continue;
    }
    const device = idFrom(message.deviceId);
    const outcome = toReading(message);
    if (outcome === 'heartbeat') batch.ignored++;
    else if ('errors' in outcome || device === undefined) {
      const errors = device === undefined ? [{ path: 'deviceId', message: 'is required' }] : [];
      batch.problems.push({
        vendorDeviceId: device ?? null,
        payload: message,
        errors: [...errors, ...('errors' in outcome ? outcome.errors : [])],
      });
    } else batch.readings.push({ vendorDeviceId: device, reading: outcome, source: [message] });
  }
  return batch;
}

function toReading(message: Record<string, unknown>): DeviceReading | 'heartbeat' | { errors: ErrorDetail[] } {
  const { values } = message;
  if (!isRecord(values)) return { errors: [{ path: 'values', message: 'is required (an object)' }] };
  const ts = numberFrom(message.ts);
  const measured = ts !== undefined && Number.isSafeInteger(ts) && ts > 0;
  const number = (name: string) => numberFrom(values[name]);
  const missing = (name: string, what: string): ErrorDetail => ({
    path: `values.${name}`,
    message: `must be a number (${what})`,
  });

  if (values.weight !== undefined) {
    const weight = number('weight');
    const tare = values.tare === undefined ? 0 : number('tare');
    const errors: ErrorDetail[] = [];
    if (!measured) errors.push({ path: 'ts', message: 'must be epoch milliseconds' });
    if (weight === undefined) errors.push(missing('weight', 'grams'));
    if (tare === undefined) errors.push(missing('tare', 'grams'));
    if (errors.length) return { errors };
    const grams = Math.abs(tare!) > TARE_TOLERANCE_G ? weight! - tare! : weight!;
    return {
      id: vendorReadingId('bodytrace', ts!, 'weight'),
      type: 'weight',
      measuredAt: ts!,
      value: grams,
      unit: 'g',
    };
  }
  if (values.systolic !== undefined || values.diastolic !== undefined) {
    const [systolic, diastolic] = [number('systolic'), number('diastolic')];
    const pulse = values.pulse === undefined ? undefined : number('pulse');
    const errors: ErrorDetail[] = [];
    if (!measured) errors.push({ path: 'ts', message: 'must be epoch milliseconds' });
    if (systolic === undefined) errors.push(missing('systolic', 'mmHg'));
    if (diastolic === undefined) errors.push(missing('diastolic', 'mmHg'));
    if (values.pulse !== undefined && pulse === undefined) errors.push(missing('pulse', 'beats per minute'));
    if (errors.length) return { errors };
    const reading: DeviceReading = {
      id: vendorReadingId('bodytrace', ts!, 'blood_pressure'),
      type: 'blood_pressure',
      measuredAt: ts!,
      systolic: systolic!,
      diastolic: diastolic!,
    };
    if (pulse !== undefined) reading.pulse = pulse;
    return reading;
  }
  // A heartbeat: the device reporting in (battery, signal), with nothing measured.
  if (Object.keys(values).every((key) => key === 'unit')) return 'heartbeat';
  return {
    errors: [{ path: 'values', message: 'holds neither a weight nor a blood pressure (systolic, diastolic)' }],
  };
}
