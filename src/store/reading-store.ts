import type { ReadingType, StoredReading } from '../domain/reading.ts';

/**
 * Where readings are kept and queried. Two implementations: SQLite (embedded) and InfluxDB; both pass
 * the contract suite in test/reading-store.contract.ts.
 */
export interface ReadingStore {
  /** Stores readings; a reading whose id is already stored is left as it is. */
  append(readings: StoredReading[]): Promise<void>;
  /** Raw readings oldest first, `limit` at a time, with a cursor for the next page. */
  list(query: ReadingQuery): Promise<ReadingPage>;
  /** Count, min, max and mean per time bucket (UTC; weeks start on Monday). */
  buckets(query: BucketQuery): Promise<TrendBucket[]>;
  close(): Promise<void>;
}

export interface ReadingQuery {
  patientId: string;
  type?: ReadingType;
  /** Inclusive, epoch ms. */
  from?: number;
  /** Exclusive, epoch ms. */
  to?: number;
  limit: number;
  /** The `next` cursor of the previous page. */
  after?: string;
}

export interface ReadingPage {
  readings: StoredReading[];
  next?: string;
}

export const BUCKET_SIZES = ['1h', '1d', '1w'] as const;
export type BucketSize = (typeof BUCKET_SIZES)[number];

export const BUCKET_MS: Record<BucketSize, number> = { '1h': 3_600_000, '1d': 86_400_000, '1w': 604_800_000 };
/** Epoch day 0 was a Thursday; weeks are shifted by four days so that they start on Monday 00:00 UTC. */
export const BUCKET_OFFSET_MS: Record<BucketSize, number> = { '1h': 0, '1d': 0, '1w': 4 * 86_400_000 };

export interface BucketQuery {
  patientId: string;
  type: ReadingType;
  from?: number;
  to?: number;
  bucket: BucketSize;
  /** The patient's IANA time zone: daily and weekly buckets start at its local midnight (weeks on Monday). */
  timeZone?: string;
}

export interface BloodPressureStats {
  systolic: number | null;
  diastolic: number | null;
  pulse: number | null;
}

export interface TrendBucket {
  /** Epoch ms of the bucket's start. */
  start: number;
  count: number;
  min: number | BloodPressureStats;
  max: number | BloodPressureStats;
  mean: number | BloodPressureStats;
}
