import { AppError, plainErrors, toDetails, type ErrorDetail } from '../domain/errors.ts';
import {
  EARLIEST_MEASURED_AT,
  KG_PER_UNIT,
  LIMITS,
  MAX_CLOCK_AHEAD_MS,
  MESSAGE_ID_MAX,
  READING_FIELDS,
  plausibleWeight,
  MAX_READINGS_PER_BATCH,
  readingBatchSchema,
  readingInputSchema,
  type NormalizedReading,
  type ReadingType,
  type WeightUnit,
} from '../domain/reading.ts';

/** What one item of a body came to: a reading ready to store, or the reasons it was refused. */
export type ItemOutcome = { ok: true; reading: NormalizedReading } | { ok: false; errors: ErrorDetail[] };

/**
 * Splits a parsed body into its items: one reading, or `{readings: [...]}`. Anything else is a 400,
 * too many items a 413, as the contract says. Pure: the same for HTTP and MQTT.
 */
export function splitBody(body: unknown): unknown[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new AppError('bad_request', 'The body must be a reading object or {"readings": [...]}');
  }
  if (!('readings' in body)) return [body];
  const readings = (body as { readings: unknown }).readings;
  if (Array.isArray(readings) && readings.length > MAX_READINGS_PER_BATCH) {
    throw new AppError('payload_too_large', `A batch holds at most ${MAX_READINGS_PER_BATCH} readings`, [
      { path: 'readings', message: `must have at most ${MAX_READINGS_PER_BATCH} items, got ${readings.length}` },
    ]);
  }
  const parsed = readingBatchSchema.safeParse(body, { error: plainErrors });
  if (!parsed.success) {
    throw new AppError(
      'bad_request',
      'The body must be a reading object or {"readings": [...]}',
      toDetails(parsed.error),
    );
  }
  return parsed.data.readings;
}

/** Validates one item against the schema, the clock and the unit rules. Pure. */
export function normalizeReading(item: unknown, receivedAt: number): ItemOutcome {
  return quickNormalize(item, receivedAt) ?? normalizeWithSchema(item, receivedAt);
}

const within = (value: unknown, [min, max]: readonly [number, number]): value is number =>
  typeof value === 'number' && value >= min && value <= max;
const optionalPulse = (value: unknown) => value === undefined || within(value, LIMITS.pulse);

/**
 * The everyday reading, checked by hand: a plain object with known fields only, epoch-ms time, values in
 * range. The schema's parse was a tenth of HTTP ingest, most of it garbage to collect. Anything else
 * (an RFC 3339 time, a field out of range, an unknown field) gets undefined and goes through the
 * schema, which also words the errors. A property test holds this to give the schema's answer.
 */
export function quickNormalize(item: unknown, receivedAt: number): ItemOutcome | undefined {
  if (typeof item !== 'object' || item === null || Object.getPrototypeOf(item) !== Object.prototype) return undefined;
  const input = item as Record<string, unknown>;
  const { id, type, measuredAt, pulse } = input;
  const fields =
    typeof type === 'string' && Object.hasOwn(READING_FIELDS, type) ? READING_FIELDS[type as ReadingType] : undefined;
  if (!fields) return undefined;
  for (const key in input) if (!fields.has(key)) return undefined;
  if (typeof measuredAt !== 'number' || !Number.isSafeInteger(measuredAt)) return undefined;
  if (measuredAt < EARLIEST_MEASURED_AT || measuredAt > receivedAt + MAX_CLOCK_AHEAD_MS) return undefined;
  if (id !== undefined && (typeof id !== 'string' || id.length < 1 || id.length > MESSAGE_ID_MAX)) return undefined;
  if (!optionalPulse(pulse)) return undefined;
  const reading: NormalizedReading = {
    messageId: id ?? null,
    type: type as NormalizedReading['type'],
    measuredAt,
    systolic: null,
    diastolic: null,
    pulse: (pulse as number | undefined) ?? null,
    value: null,
    unit: null,
  };
  if (type === 'spo2') {
    if (!within(input.value, LIMITS.spo2)) return undefined;
    reading.value = input.value;
  } else if (type === 'blood_pressure') {
    const { systolic, diastolic, unit } = input;
    if (!within(systolic, LIMITS.systolic) || !within(diastolic, LIMITS.diastolic) || systolic <= diastolic)
      return undefined;
    if (unit !== undefined && unit !== 'mmHg') return undefined;
    reading.systolic = systolic;
    reading.diastolic = diastolic;
    reading.unit = 'mmHg';
  } else {
    const { value, unit } = input;
    if (typeof value !== 'number' || !(value > 0) || typeof unit !== 'string' || !Object.hasOwn(KG_PER_UNIT, unit))
      return undefined;
    if (!plausibleWeight(value, unit as WeightUnit)) return undefined;
    reading.value = toKg(value, unit as WeightUnit);
    reading.unit = unit;
  }
  return { ok: true, reading };
}

/** The same, through the schema: every case, and the wording of every refusal. */
export function normalizeWithSchema(item: unknown, receivedAt: number): ItemOutcome {
  const parsed = readingInputSchema.safeParse(item, { error: plainErrors });
  if (!parsed.success) return { ok: false, errors: toDetails(parsed.error) };
  const input = parsed.data;

  const measuredAt = typeof input.measuredAt === 'number' ? input.measuredAt : Date.parse(input.measuredAt);
  if (measuredAt < EARLIEST_MEASURED_AT) {
    return {
      ok: false,
      errors: [{ path: 'measuredAt', message: 'must not be before 2020-01-01 (is the device clock set?)' }],
    };
  }
  if (measuredAt > receivedAt + MAX_CLOCK_AHEAD_MS) {
    return {
      ok: false,
      errors: [{ path: 'measuredAt', message: 'must not be more than 10 minutes after the time it is received' }],
    };
  }

  const reading: NormalizedReading = {
    messageId: input.id ?? null,
    type: input.type,
    measuredAt,
    systolic: null,
    diastolic: null,
    pulse: null,
    value: null,
    unit: null,
  };
  switch (input.type) {
    case 'blood_pressure':
      Object.assign(reading, {
        systolic: input.systolic,
        diastolic: input.diastolic,
        pulse: input.pulse ?? null,
        unit: 'mmHg',
      });
      break;
    case 'weight':
      Object.assign(reading, { value: toKg(input.value, input.unit), unit: input.unit });
      break;
    case 'spo2':
      Object.assign(reading, { value: input.value, pulse: input.pulse ?? null });
      break;
  }
  return { ok: true, reading };
}

/** Converts a weight to kg, rounded to a tenth of a gram so that float noise does not look like a change. */
export function toKg(value: number, unit: WeightUnit): number {
  return Math.round(value * KG_PER_UNIT[unit] * 10_000) / 10_000;
}
