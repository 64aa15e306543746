import { z } from 'zod';
import { KG_PER_UNIT, READING_TYPES, type ReadingType, type WeightUnit } from './measurements.ts';

/** Defined with the browser-safe vocabulary; exported here too, beside the schemas that use them. */
export { KG_PER_UNIT, READING_TYPES, type ReadingType, type WeightUnit };

/**
 * A device reading as the contract defines it: one zod schema per payload, used by HTTP and MQTT alike.
 * Plausibility bounds are physiological limits a working device cannot exceed, not clinical thresholds
 * (those belong to care plans).
 */

export const MAX_READINGS_PER_BATCH = 1000;

/** Readings measured before this are refused as a device clock that was never set. */
export const EARLIEST_MEASURED_AT = Date.parse('2020-01-01T00:00:00Z');
/** How far ahead of the server's clock a device's clock may run. */
export const MAX_CLOCK_AHEAD_MS = 10 * 60_000;

export const WEIGHT_KG_MIN = 2;
export const WEIGHT_KG_MAX = 400;

/** Whether a weight, converted to kg (unrounded), is one a scale can weigh. */
export const plausibleWeight = (value: number, unit: WeightUnit): boolean => {
  const kg = value * KG_PER_UNIT[unit];
  return kg >= WEIGHT_KG_MIN && kg <= WEIGHT_KG_MAX;
};

/** What a working device can measure (physiological limits, inclusive), and the longest message id. */
export const LIMITS = { pulse: [20, 250], systolic: [50, 300], diastolic: [20, 200], spo2: [50, 100] } as const;
export const MESSAGE_ID_MAX = 128;

const inLimits = (what: keyof typeof LIMITS) => z.number().min(LIMITS[what][0]).max(LIMITS[what][1]);
const pulse = inLimits('pulse');
const messageId = z.string().min(1).max(MESSAGE_ID_MAX);
const measuredAt = z.union([z.iso.datetime({ offset: true, local: false }), z.number().int().min(0)], {
  error: (issue) =>
    issue.input === undefined
      ? 'is required'
      : 'must be an RFC 3339 date-time with an offset or Z, or epoch milliseconds',
});

const bloodPressure = z
  .strictObject({
    id: messageId.optional(),
    type: z.literal('blood_pressure'),
    measuredAt,
    systolic: inLimits('systolic'),
    diastolic: inLimits('diastolic'),
    pulse: pulse.optional(),
    unit: z.literal('mmHg').optional(),
  })
  .refine((r) => r.systolic > r.diastolic, { path: ['systolic'], message: 'must be greater than diastolic' });

const weight = z
  .strictObject({
    id: messageId.optional(),
    type: z.literal('weight'),
    measuredAt,
    value: z.number().positive(),
    unit: z.enum(['kg', 'lb', 'g']),
  })
  .refine((r) => plausibleWeight(r.value, r.unit), {
    path: ['value'],
    message: `must be from ${WEIGHT_KG_MIN} to ${WEIGHT_KG_MAX} kg after conversion`,
  });

const spo2 = z.strictObject({
  id: messageId.optional(),
  type: z.literal('spo2'),
  measuredAt,
  value: inLimits('spo2'),
  pulse: pulse.optional(),
});

/** The fields each type may have (the schemas are strict). */
export const READING_FIELDS: Record<ReadingType, ReadonlySet<string>> = {
  blood_pressure: new Set(Object.keys(bloodPressure.shape)),
  weight: new Set(Object.keys(weight.shape)),
  spo2: new Set(Object.keys(spo2.shape)),
};

export const readingInputSchema = z.discriminatedUnion('type', [bloodPressure, weight, spo2], {
  error: (issue) =>
    issue.code === 'invalid_union' ? `must be one of ${READING_TYPES.map((t) => `"${t}"`).join(', ')}` : undefined,
});

/** The batch form of the body; items are validated one by one so that one bad item rejects only itself. */
export const readingBatchSchema = z.strictObject({ readings: z.array(z.unknown()).max(MAX_READINGS_PER_BATCH) });

/** A reading after validation: units converted, time as epoch ms, ready to store and evaluate. */
export interface NormalizedReading {
  /** The device's own message id, if it sent one. */
  messageId: string | null;
  type: ReadingType;
  measuredAt: number;
  systolic: number | null;
  diastolic: number | null;
  pulse: number | null;
  /** Weight in kg, or SpO2 in %. */
  value: number | null;
  /** The unit the device sent (weight: kg, lb or g; blood pressure: mmHg). */
  unit: string | null;
}

/** A stored reading, as the store keeps it. */
export interface StoredReading extends NormalizedReading {
  id: string;
  deviceId: string;
  patientId: string;
  receivedAt: number;
}

/**
 * A validated reading with what storing it adds. Written out field by field: V8 turns an object
 * spread with extra properties into a slow dictionary copy, on the hot path of every reading.
 */
export function toStored(
  reading: NormalizedReading,
  id: string,
  deviceId: string,
  patientId: string,
  receivedAt: number,
): StoredReading {
  return {
    messageId: reading.messageId,
    type: reading.type,
    measuredAt: reading.measuredAt,
    systolic: reading.systolic,
    diastolic: reading.diastolic,
    pulse: reading.pulse,
    value: reading.value,
    unit: reading.unit,
    id,
    deviceId,
    patientId,
    receivedAt,
  };
}

/** The contract's output shape: `{id, deviceId, type, measuredAt, receivedAt, ...the type's fields}`. */
export function presentReading(reading: StoredReading) {
  const base = {
    id: reading.id,
    deviceId: reading.deviceId,
    type: reading.type,
    measuredAt: new Date(reading.measuredAt).toISOString(),
    receivedAt: new Date(reading.receivedAt).toISOString(),
  };
  switch (reading.type) {
    case 'blood_pressure':
      return { ...base, systolic: reading.systolic, diastolic: reading.diastolic, pulse: reading.pulse, unit: 'mmHg' };
    case 'weight':
      return { ...base, value: reading.value, unit: 'kg', sentUnit: reading.unit };
    case 'spo2':
      return { ...base, value: reading.value, pulse: reading.pulse, unit: '%' };
  }
}

/** Two readings with the same de-duplication key hold the same measurement. */
export function sameMeasurement(a: NormalizedReading, b: NormalizedReading): boolean {
  return (
    a.type === b.type &&
    a.measuredAt === b.measuredAt &&
    a.systolic === b.systolic &&
    a.diastolic === b.diastolic &&
    a.pulse === b.pulse &&
    a.value === b.value &&
    a.unit === b.unit
  );
}

/** The contract's de-duplication key: the device's message id, else type and measurement time. */
export function dedupeKey(reading: NormalizedReading): string {
  return reading.messageId !== null ? `id:${reading.messageId}` : `at:${reading.type}:${reading.measuredAt}`;
}
