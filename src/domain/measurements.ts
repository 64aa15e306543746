/**
 * What readings measure, in which units, and the words clinicians read for them. Plain data, no zod and
 * no node: the schemas in reading.ts and rule.ts build on it, and the web client bundles it as it is.
 */

export const READING_TYPES = ['blood_pressure', 'weight', 'spo2'] as const;
export type ReadingType = (typeof READING_TYPES)[number];
export const READING_TYPE_LABELS: Record<ReadingType, string> = {
  blood_pressure: 'Blood pressure',
  weight: 'Weight',
  spo2: 'SpO2',
};

export const KG_PER_UNIT = { kg: 1, lb: 0.45359237, g: 0.001 } as const;
export type WeightUnit = keyof typeof KG_PER_UNIT;

/** What a care-plan rule can watch. */
export const METRICS = ['systolic', 'diastolic', 'pulse', 'weight', 'spo2'] as const;
export type Metric = (typeof METRICS)[number];
export const METRIC_LABELS: Record<Metric, string> = {
  systolic: 'Systolic',
  diastolic: 'Diastolic',
  pulse: 'Pulse',
  weight: 'Weight',
  spo2: 'SpO2',
};

/** The units a rule may be written in for each metric; the first is the one readings are stored and shown in. */
export const METRIC_UNITS: Record<Metric, readonly [string, ...string[]]> = {
  systolic: ['mmHg'],
  diastolic: ['mmHg'],
  pulse: ['bpm'],
  weight: ['kg', 'lb', 'g'],
  spo2: ['%'],
};
