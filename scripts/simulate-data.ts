/**
 * The simulator's data generator: made-up patients and the readings their devices would send.
 *
 * Pure and deterministic: everything is derived from a seed, and the readings of a local day depend only
 * on the patient's seed and that day, so `generateReadings(p, a, c)` equals
 * `[...generateReadings(p, a, b), ...generateReadings(p, b, c)]`. The live mode relies on that to generate
 * one small window at a time. No I/O here; `simulate.ts` sends what this produces.
 */

export type DeviceKind = 'bp_monitor' | 'scale' | 'pulse_oximeter';

export const DEVICE_KINDS: readonly DeviceKind[] = ['bp_monitor', 'scale', 'pulse_oximeter'];

/** A generated reading; `measuredAt` is epoch milliseconds, whole seconds. */
export type SimReading =
  | { type: 'blood_pressure'; measuredAt: number; systolic: number; diastolic: number; pulse: number }
  | { type: 'weight'; measuredAt: number; value: number; unit: 'lb' }
  | { type: 'spo2'; measuredAt: number; value: number; pulse: number };

export type ReadingType = SimReading['type'];

export const KIND_OF_TYPE: Readonly<Record<ReadingType, DeviceKind>> = {
  blood_pressure: 'bp_monitor',
  weight: 'scale',
  spo2: 'pulse_oximeter',
};

/** The device protocol's reading, as sent (see the contract's "Reading"). */
export type ReadingPayload =
  | {
      id: string;
      type: 'blood_pressure';
      measuredAt: string | number;
      systolic: number;
      diastolic: number;
      pulse: number;
      unit: 'mmHg';
    }
  | { id: string; type: 'weight'; measuredAt: string | number; value: number; unit: 'lb' }
  | { id: string; type: 'spo2'; measuredAt: string | number; value: number; pulse: number };

/**
 * How a device writes `measuredAt`: RFC 3339 in the patient's local offset, RFC 3339 in UTC, or epoch
 * milliseconds. The contract accepts all three; each simulated kind uses a different one so a run
 * exercises them all.
 */
export type MeasuredAtFormat = 'offset' | 'utc' | 'epoch';

export const MEASURED_AT_FORMAT_OF_KIND: Readonly<Record<DeviceKind, MeasuredAtFormat>> = {
  bp_monitor: 'offset',
  scale: 'epoch',
  pulse_oximeter: 'utc',
};

export interface PatientProfile {
  seed: number;
  name: string;
  /** IANA time zone; morning and evening are local to it. */
  timezone: string;
  /** Usual morning-and-evening systolic, mmHg. */
  systolic: number;
  diastolic: number;
  /** Resting pulse, bpm. */
  pulse: number;
  /** Dry weight, lb. */
  weightLb: number;
  /** Usual SpO2, % (not rounded). */
  spo2: number;
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

// ---------------------------------------------------------------------------------------------------
// Seeded randomness

export type Random = () => number;

/** mulberry32: a small, fast 32-bit generator; plenty for test data. Returns numbers in [0, 1). */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Combines integers into one 32-bit seed (murmur3's finalizer per part). */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    h = Math.imul(h ^ (part | 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

function uniform(random: Random, min: number, max: number): number {
  return min + (max - min) * random();
}

/** Standard normal by Box-Muller. */
function gaussian(random: Random): number {
  const u = 1 - random(); // (0, 1], so the log is finite
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function pick<T>(random: Random, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

// ---------------------------------------------------------------------------------------------------
// Time zones, with Intl only

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** Local time minus UTC at the instant `utcMs`, in milliseconds (e.g. -5 h for New York in winter). */
export function timeZoneOffsetMs(utcMs: number, timeZone: string): number {
  const fields: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(utcMs)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  const local = Date.UTC(
    fields.year ?? 1970,
    (fields.month ?? 1) - 1,
    fields.day ?? 1,
    fields.hour ?? 0,
    fields.minute ?? 0,
    fields.second ?? 0,
  );
  return local - Math.floor(utcMs / 1000) * 1000;
}

/** Days since 1970-01-01 of the local calendar date at `utcMs`. */
export function localDayNumber(utcMs: number, timeZone: string): number {
  return Math.floor((utcMs + timeZoneOffsetMs(utcMs, timeZone)) / DAY);
}

/** The instant at which the local clock in `timeZone` shows `minuteOfDay` on local day `day`. */
export function localTimeToUtc(day: number, minuteOfDay: number, timeZone: string): number {
  const wall = day * DAY + minuteOfDay * MINUTE;
  const first = wall - timeZoneOffsetMs(wall, timeZone);
  // Near a DST change the offset at the guess and at the answer differ; the second pass settles it.
  return wall - timeZoneOffsetMs(first, timeZone);
}

/** RFC 3339 with the zone's offset at that instant, e.g. "2026-11-21T07:58:00-05:00". */
export function formatWithOffset(utcMs: number, timeZone: string): string {
  const offsetMinutes = Math.round(timeZoneOffsetMs(utcMs, timeZone) / MINUTE);
  const local = new Date(utcMs + offsetMinutes * MINUTE).toISOString().slice(0, 19);
  if (offsetMinutes === 0) return `${local}Z`;
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `${local}${sign}${hh}:${mm}`;
}

/** RFC 3339 in UTC without fractional seconds, e.g. "2026-11-21T12:58:00Z". */
export function formatUtc(utcMs: number): string {
  return `${new Date(utcMs).toISOString().slice(0, 19)}Z`;
}

// ---------------------------------------------------------------------------------------------------
// Patients

const FIRST_NAMES = [
  'Ada',
  'Bernard',
  'Carmen',
  'Desmond',
  'Elena',
  'Farid',
  'Greta',
  'Hiroshi',
  'Ines',
  'Jonas',
  'Kalani',
  'Leonor',
  'Mateo',
  'Nadia',
  'Oskar',
  'Priya',
  'Quentin',
  'Rosa',
  'Samuel',
  'Tamsin',
  'Ulrich',
  'Vera',
  'Walter',
  'Ximena',
  'Yusuf',
  'Zofia',
] as const;

const LAST_NAMES = [
  'Abernathy',
  'Brightwater',
  'Castellano',
  'Dunmore',
  'Eskildsen',
  'Fairweather',
  'Galloway',
  'Holloway',
  'Ivanova',
  'Jaramillo',
  'Kowalczyk',
  'Lindqvist',
  'Marchetti',
  'Nakamura',
  'Okafor',
  'Pemberton',
  'Quinlan',
  'Rasmussen',
  'Szabo',
  'Thornbury',
  'Underhill',
  'Valdivia',
  'Whitcombe',
] as const;

const TIME_ZONES = [
  'America/New_York',
  'America/Chicago',
  'America/Denver',
  'America/Los_Angeles',
  'Europe/London',
  'Europe/Berlin',
  'Asia/Kolkata',
  'UTC',
] as const;

/** A made-up patient with a baseline of their own. Example: `makePatientProfile(mixSeed(runSeed, 0))`. */
export function makePatientProfile(seed: number): PatientProfile {
  const random = createRandom(mixSeed(seed, 0x9a71e47));
  const systolic = uniform(random, 120, 150);
  return {
    seed: seed >>> 0,
    name: `${pick(random, FIRST_NAMES)} ${pick(random, LAST_NAMES)}`,
    timezone: pick(random, TIME_ZONES),
    systolic,
    diastolic: 72 + (systolic - 120) * 0.4 + uniform(random, -6, 6),
    pulse: uniform(random, 62, 84),
    weightLb: uniform(random, 140, 240),
    spo2: uniform(random, 95, 98),
  };
}

// ---------------------------------------------------------------------------------------------------
// Readings

// Salts that keep the random streams of different purposes apart.
const DAY_SALT = 0xd4e;
const EPISODE_SALT = 0xe915;
const DRIFT_SALT = 0xd21f;

/** At most one weight episode starts in each block of this many days; see weightEpisode. */
const EPISODE_BLOCK_DAYS = 10;

interface WeightEpisode {
  /** Day (fractional, since 1970) when the gain starts. */
  start: number;
  gainLb: number;
  riseDays: number;
  plateauDays: number;
  recoveryDays: number;
}

/**
 * About once every 10 days, a heart-failure-like fluid gain: either 2–3 lb over one day or about 5 lb
 * over a week, then a plateau and a recovery over a few days (as if diuretics were adjusted). These are
 * the classic warning signs clinicians teach patients to call about.
 */
function weightEpisode(seed: number, block: number): WeightEpisode | undefined {
  const random = createRandom(mixSeed(seed, EPISODE_SALT, block));
  if (random() >= 0.85) return undefined;
  const start = (block + random()) * EPISODE_BLOCK_DAYS;
  const fast = random() < 0.5;
  return {
    start,
    gainLb: fast ? uniform(random, 2.2, 3) : uniform(random, 4.8, 5.5),
    riseDays: fast ? 1 : 7,
    plateauDays: uniform(random, 1, 2),
    recoveryDays: uniform(random, 3, 4),
  };
}

function episodeGain(episode: WeightEpisode, day: number): number {
  const t = day - episode.start;
  if (t <= 0) return 0;
  if (t < episode.riseDays) return (episode.gainLb * t) / episode.riseDays;
  const afterRise = t - episode.riseDays;
  if (afterRise < episode.plateauDays) return episode.gainLb;
  const recovering = afterRise - episode.plateauDays;
  if (recovering < episode.recoveryDays) return episode.gainLb * (1 - recovering / episode.recoveryDays);
  return 0;
}

/** The patient's true weight (lb) at an instant, before the scale's own noise. */
export function weightTrendLb(profile: PatientProfile, utcMs: number): number {
  const drift = createRandom(mixSeed(profile.seed, DRIFT_SALT));
  const phaseA = drift() * 2 * Math.PI;
  const phaseB = drift() * 2 * Math.PI;
  const day = utcMs / DAY;
  let weight =
    profile.weightLb +
    1.2 * Math.sin((2 * Math.PI * day) / 47 + phaseA) +
    0.5 * Math.sin((2 * Math.PI * day) / 11 + phaseB);
  // An episode lasts at most 7 + 2 + 4 = 13 days, so only the last three 10-day blocks can still matter.
  const block = Math.floor(day / EPISODE_BLOCK_DAYS);
  for (let b = block - 2; b <= block; b++) {
    const episode = weightEpisode(profile.seed, b);
    if (episode) weight += episodeGain(episode, day);
  }
  return weight;
}

/** A time around `minuteOfDay` local, with a normal jitter (sd in minutes) cut at 2.5 sd, whole seconds. */
function jitteredTime(random: Random, day: number, minuteOfDay: number, sdMinutes: number, timeZone: string): number {
  const minutes = minuteOfDay + clamp(gaussian(random) * sdMinutes, -2.5 * sdMinutes, 2.5 * sdMinutes);
  return Math.round(localTimeToUtc(day, minutes, timeZone) / 1000) * 1000;
}

function bloodPressure(
  profile: PatientProfile,
  random: Random,
  measuredAt: number,
  dayShift: number,
  morning: boolean,
): SimReading {
  // Home pressure is a little higher in the morning (the morning surge).
  const surge = morning ? 4 : 0;
  const systolic = Math.round(clamp(profile.systolic + dayShift + surge + gaussian(random) * 7, 95, 200));
  const diastolic = Math.round(
    clamp(profile.diastolic + 0.45 * (systolic - profile.systolic) + gaussian(random) * 4, 50, systolic - 25),
  );
  const pulse = Math.round(clamp(profile.pulse + (morning ? 3 : 0) + gaussian(random) * 5, 55, 95));
  return { type: 'blood_pressure', measuredAt, systolic, diastolic, pulse };
}

function spo2(profile: PatientProfile, random: Random, measuredAt: number): SimReading {
  const dip = random() < 0.05;
  const value = dip
    ? Math.round(uniform(random, 86, 89.49))
    : Math.round(clamp(profile.spo2 + gaussian(random) * 1, 93, 100));
  const pulse = Math.round(clamp(profile.pulse + (dip ? 12 : 0) + gaussian(random) * 5, 55, 110));
  return { type: 'spo2', measuredAt, value, pulse };
}

/** Everything the patient's three devices measure on local day `day` (not sorted). */
function readingsOfDay(profile: PatientProfile, day: number): SimReading[] {
  const random = createRandom(mixSeed(profile.seed, DAY_SALT, day));
  const tz = profile.timezone;
  const readings: SimReading[] = [];
  // Decide every draw in a fixed order, so a day's readings don't depend on which ones are kept.
  const dayShift = gaussian(random) * 5;

  const morningBp = jitteredTime(random, day, 7 * 60, 20, tz);
  if (random() < 0.92) readings.push(bloodPressure(profile, random, morningBp, dayShift, true));
  const eveningBp = jitteredTime(random, day, 19 * 60, 30, tz);
  if (random() < 0.85) readings.push(bloodPressure(profile, random, eveningBp, dayShift, false));

  const weighing = jitteredTime(random, day, 6 * 60 + 45, 12, tz);
  const noise = gaussian(random) * 0.3;
  if (random() < 0.93) {
    const value = Math.round((weightTrendLb(profile, weighing) + noise) * 10) / 10;
    readings.push({ type: 'weight', measuredAt: weighing, value, unit: 'lb' });
  }

  const checks = random() < 0.5 ? [9 * 60, 21 * 60] : [9 * 60, 14 * 60 + 30, 21 * 60];
  for (const minuteOfDay of checks) {
    readings.push(spo2(profile, random, jitteredTime(random, day, minuteOfDay, 25, tz)));
  }
  return readings;
}

const TYPE_ORDER: Readonly<Record<ReadingType, number>> = { blood_pressure: 0, weight: 1, spo2: 2 };

/**
 * Every reading the patient's devices take in [fromMs, toMs), oldest first.
 *
 * Example: `generateReadings(makePatientProfile(42), Date.now() - 30 * DAY, Date.now())`.
 */
export function generateReadings(profile: PatientProfile, fromMs: number, toMs: number): SimReading[] {
  if (!(toMs > fromMs)) return [];
  const readings: SimReading[] = [];
  // Jitter can move a reading an hour or so across local midnight; look one day further each way.
  const first = localDayNumber(fromMs, profile.timezone) - 1;
  const last = localDayNumber(toMs, profile.timezone) + 1;
  for (let day = first; day <= last; day++) {
    for (const reading of readingsOfDay(profile, day)) {
      if (reading.measuredAt >= fromMs && reading.measuredAt < toMs) readings.push(reading);
    }
  }
  return readings.sort((a, b) => a.measuredAt - b.measuredAt || TYPE_ORDER[a.type] - TYPE_ORDER[b.type]);
}

export interface ReadingPayloadOptions {
  /** The device's message id, unique per device, e.g. `${serial}-${n}`. */
  id: string;
  format: MeasuredAtFormat;
  /** The patient's zone, for the `offset` format. */
  timezone: string;
  /** Device clock error added to `measuredAt`; positive is ahead of true time. */
  skewMinutes?: number;
}

/** The JSON a device would send for a reading. */
export function toReadingPayload(reading: SimReading, options: ReadingPayloadOptions): ReadingPayload {
  const at = reading.measuredAt + Math.round((options.skewMinutes ?? 0) * MINUTE);
  const measuredAt =
    options.format === 'epoch' ? at : options.format === 'utc' ? formatUtc(at) : formatWithOffset(at, options.timezone);
  switch (reading.type) {
    case 'blood_pressure':
      return {
        id: options.id,
        type: reading.type,
        measuredAt,
        systolic: reading.systolic,
        diastolic: reading.diastolic,
        pulse: reading.pulse,
        unit: 'mmHg',
      };
    case 'weight':
      return { id: options.id, type: reading.type, measuredAt, value: reading.value, unit: reading.unit };
    case 'spo2':
      return { id: options.id, type: reading.type, measuredAt, value: reading.value, pulse: reading.pulse };
  }
}

/** Splits a list into consecutive chunks of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (!(size >= 1)) throw new RangeError(`chunk size must be at least 1, got ${size}`);
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/**
 * Live mode's clock: simulated time runs `speed` simulated minutes per real second from `simStart`, and
 * each simulated instant is stamped with the real instant it maps to, so a live reading is never in the
 * future. At speed 1/60 simulated time is real time.
 */
export interface LiveClock {
  simAt(realMs: number): number;
  realAt(simMs: number): number;
}

export function createLiveClock(options: { simStart: number; realStart: number; speed: number }): LiveClock {
  const { simStart, realStart, speed } = options;
  const factor = speed * 60; // simulated ms per real ms
  if (!(factor > 0) || !Number.isFinite(factor)) throw new RangeError(`speed must be positive, got ${speed}`);
  return {
    simAt: (realMs) => simStart + (realMs - realStart) * factor,
    realAt: (simMs) => realStart + (simMs - simStart) / factor,
  };
}
