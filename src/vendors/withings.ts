import type { ErrorDetail } from '../domain/errors.ts';
import {
  type DeviceReading,
  emptyBatch,
  idFrom,
  isRecord,
  numberFrom,
  type VendorBatch,
  vendorReadingId,
} from './mapping.ts';

/**
 * Withings, as its Data API documents it (https://developer.withings.com): a form-encoded notification
 * (`userid`, `appli`, `startdate`, `enddate`) says a user has new data; the measures themselves come from
 * `POST /measure action=getmeas`, as measure groups. Pure: parsing and mapping only; the calls are in
 * withings-api.ts and withings-sync.ts.
 */

/** The notification categories that carry measures Homewatch records: 1 weight, 4 blood pressure, SpO2, heart rate. */
export const MEASURE_APPLIS = new Set([1, 4]);

/** Withings measure types (getmeas `type`) that Homewatch reads. */
export const MEASURE_TYPES = { weight: 1, diastolic: 9, systolic: 10, pulse: 11, spo2: 54 } as const;

/**
 * `attrib` values of a group measured by a device and known to be this user's (0 and 8; 5: the blood
 * pressure monitor's automatic best of several). Others are ambiguous (1: the scale could not tell who
 * stepped on it) or typed in by hand (2, 4), and are not the patient's measured vital signs.
 */
const MEASURED_ATTRIBS = new Set([0, 5, 8]);

export interface WithingsNotification {
  userid: string;
  appli: number;
  /** Unix seconds, as Withings sends them and getmeas takes them. */
  startdate: number;
  enddate: number;
}

/** The notification's form fields, or what is wrong with them. */
export function parseWithingsNotification(
  form: Record<string, string | undefined>,
): WithingsNotification | { errors: ErrorDetail[] } {
  const errors: ErrorDetail[] = [];
  const userid = form.userid?.trim();
  if (!userid || !/^\d+$/.test(userid)) errors.push({ path: 'userid', message: 'must be a Withings user id' });
  const integer = (name: 'appli' | 'startdate' | 'enddate') => {
    const value = form[name]?.trim();
    if (value && /^\d+$/.test(value)) return Number(value);
    errors.push({ path: name, message: 'must be a whole number' });
    return 0;
  };
  const appli = integer('appli');
  // Event notifications (a device linked, a user deleted) carry no window; only measure categories need one.
  const window = MEASURE_APPLIS.has(appli);
  const startdate = window ? integer('startdate') : 0;
  const enddate = window ? integer('enddate') : 0;
  if (window && startdate > enddate) errors.push({ path: 'enddate', message: 'must not be before startdate' });
  return errors.length ? { errors } : { userid: userid!, appli, startdate, enddate };
}

/**
 * getmeas's `body.measuregrps` → readings of the Withings user `userid`. One measure group is one
 * reading: blood pressure (types 10 and 9, with 11 as its pulse), else SpO2 (54, with 11), else weight
 * (1, kg); the value of each measure is `value × 10^unit`. Groups with none of these (height, body
 * composition alone, temperature) and user objectives (category 2) are not measurements: ignored.
 */
export function mapWithingsMeasures(userid: string, measuregrps: unknown): VendorBatch {
  const batch = emptyBatch();
  if (!Array.isArray(measuregrps)) {
    batch.problems.push({
      vendorDeviceId: userid,
      payload: measuregrps,
      errors: [{ path: 'measuregrps', message: 'must be an array' }],
    });
    return batch;
  }
  for (const group of measuregrps) {
    const outcome = toReading(group);
    if (outcome === 'ignored') batch.ignored++;
    else if ('errors' in outcome)
      batch.problems.push({ vendorDeviceId: userid, payload: group, errors: outcome.errors });
    else batch.readings.push({ vendorDeviceId: userid, reading: outcome, source: [group] });
  }
  return batch;
}

function toReading(group: unknown): DeviceReading | 'ignored' | { errors: ErrorDetail[] } {
  if (!isRecord(group)) return { errors: [{ path: '', message: 'must be a measure group (an object)' }] };
  if (group.category !== undefined && group.category !== 1) return 'ignored';
  const date = numberFrom(group.date);
  if (date === undefined || !Number.isSafeInteger(date) || date <= 0)
    return { errors: [{ path: 'date', message: 'must be a unix time in seconds' }] };
  if (!Array.isArray(group.measures)) return { errors: [{ path: 'measures', message: 'must be an array' }] };

  const values = new Map<number, number>();
  const errors: ErrorDetail[] = [];
  group.measures.forEach((measure, index) => {
    const type = isRecord(measure) ? idFrom(measure.type) : undefined;
    const value = isRecord(measure) ? numberFrom(measure.value) : undefined;
    const unit = isRecord(measure) ? numberFrom(measure.unit) : undefined;
    if (type === undefined || value === undefined || unit === undefined || !Number.isInteger(unit)) {
      errors.push({ path: `measures.${index}`, message: 'must have a numeric type, value and unit' });
      return;
    }
    values.set(Number(type), scaled(value, unit));
  });
  if (errors.length) return { errors };

  const { weight, diastolic, systolic, pulse, spo2 } = MEASURE_TYPES;
  const type =
    values.has(systolic) || values.has(diastolic)
      ? 'blood_pressure'
      : values.has(spo2)
        ? 'spo2'
        : values.has(weight)
          ? 'weight'
          : undefined;
  if (type === undefined) return 'ignored';
  const attrib = group.attrib === undefined ? 0 : numberFrom(group.attrib);
  if (attrib === undefined || !MEASURED_ATTRIBS.has(attrib)) {
    return {
      errors: [
        {
          path: 'attrib',
          message: `is ${JSON.stringify(group.attrib)}: not measured by a device as this user's (ambiguous or entered by hand)`,
        },
      ],
    };
  }

  const measuredAt = date * 1000;
  const id = vendorReadingId('withings', measuredAt, type);
  const withPulse = values.has(pulse) ? { pulse: values.get(pulse)! } : {};
  switch (type) {
    case 'blood_pressure':
      if (!values.has(systolic) || !values.has(diastolic)) {
        return {
          errors: [{ path: 'measures', message: 'a blood pressure needs both systolic (10) and diastolic (9)' }],
        };
      }
      return {
        id,
        type,
        measuredAt,
        systolic: values.get(systolic)!,
        diastolic: values.get(diastolic)!,
        ...withPulse,
      };
    case 'spo2':
      return { id, type, measuredAt, value: values.get(spo2)!, ...withPulse };
    case 'weight':
      return { id, type, measuredAt, value: values.get(weight)!, unit: 'kg' };
  }
}

/** `value × 10^unit`, dividing by an exact power of ten for negative units so 58788 × 10^-3 is 58.788. */
function scaled(value: number, unit: number): number {
  return unit < 0 ? value / 10 ** -unit : value * 10 ** unit;
}
