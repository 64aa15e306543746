import { z } from 'zod';
import { decodeCursor, encodeCursor } from '../domain/cursor.ts';
import { AppError } from '../domain/errors.ts';
import type { ReadingType, StoredReading } from '../domain/reading.ts';
import { heartRateId, observationKinds, OBSERVATION_CATEGORY, VITAL_KINDS, VITALS, type VitalKind } from './mapping.ts';

/**
 * `GET /fhir/R4/Observation?...`: the search parameters (https://hl7.org/fhir/R4/search.html) read into
 * a query, and the pages of readings the store gives merged into a page of Observations. Pure.
 */

export const DEFAULT_COUNT = 100;
export const MAX_COUNT = 1000;

export interface ObservationSearch {
  patientId: string;
  /** The vital signs asked for (by `code` and `category`); none: nothing matches. */
  kinds: Set<VitalKind>;
  /** Inclusive, epoch ms. */
  from?: number;
  /** Exclusive, epoch ms. */
  to?: number;
  count: number;
  descending: boolean;
  /** The last Observation of the previous page. */
  after?: ObservationKey;
  /** The search as the parameters it was understood with, for the Bundle's links. */
  params: URLSearchParams;
}

/** Where an Observation sits in a search's order: its reading's time and id, the reading's own before its pulse. */
export interface ObservationKey {
  at: number;
  readingId: string;
  /** 0: the reading's own Observation; 1: its pulse's. */
  part: 0 | 1;
}

const invalid = (path: string, message: string) =>
  new AppError('bad_request', `The search parameter ${path} is not valid: ${message}`, [{ path, message }]);

/**
 * Reads the query (every value of every parameter, as `c.req.queries()` gives them). Parameters it does
 * not know are left out, as FHIR's lenient handling has it, and the Bundle's `self` link shows which
 * were used. A wrong value of a known one is a 400.
 */
export function parseObservationSearch(query: Record<string, string[]>): ObservationSearch {
  for (const key of Object.keys(query)) {
    const [name, modifier] = key.split(':');
    if (modifier !== undefined && KNOWN.has(name!)) throw invalid(key, `the modifier :${modifier} is not supported`);
  }
  const single = (name: string) => {
    const values = query[name];
    if (values && values.length > 1) throw invalid(name, 'may be given once');
    return values?.[0];
  };
  const params = new URLSearchParams();

  const patientId = patientParam(single('patient') ?? single('subject'));
  params.set('patient', patientId);

  let kinds = new Set<VitalKind>(VITAL_KINDS);
  for (const value of query.category ?? []) {
    params.append('category', value);
    if (!value.split(',').some(isVitalSignsCategory)) kinds = new Set();
  }
  for (const value of query.code ?? []) {
    params.append('code', value);
    const asked = new Set(value.split(',').flatMap(kindsOfToken));
    kinds = new Set([...kinds].filter((kind) => asked.has(kind)));
  }

  let from: number | undefined;
  let to: number | undefined;
  for (const value of query.date ?? []) {
    params.append('date', value);
    const range = dateParam(value);
    if (range.from !== undefined) from = Math.max(from ?? range.from, range.from);
    if (range.to !== undefined) to = Math.min(to ?? range.to, range.to);
  }

  const countText = single('_count');
  let count = DEFAULT_COUNT;
  if (countText !== undefined) {
    if (!/^\d+$/.test(countText) || Number(countText) < 1) throw invalid('_count', 'must be a whole number from 1');
    // More than the most a page holds gets the most, as FHIR lets a server do.
    count = Math.min(Number(countText), MAX_COUNT);
  }
  params.set('_count', String(count));

  const sort = single('_sort') ?? 'date';
  if (sort !== 'date' && sort !== '-date')
    throw invalid('_sort', 'must be date (oldest first) or -date (newest first)');
  params.set('_sort', sort);

  const cursorText = single('_cursor');
  let after: ObservationKey | undefined;
  if (cursorText !== undefined) {
    const cursor = decodeCursor(cursorText);
    const key = cursor && observationKey(cursor.at, cursor.id);
    if (!key) throw invalid('_cursor', 'is not a page this server gave out (follow the next link as it is)');
    after = key;
    params.set('_cursor', cursorText);
  }

  return { patientId, kinds, from, to, count, descending: sort === '-date', after, params };
}

/**
 * The parameters `parseObservationSearch` reads, for the OpenAPI document (search.test.ts holds the two
 * to the same names). Not parsed with: FHIR search values are lists and prefixes, read by hand above.
 */
export const observationSearchParams = z.object({
  patient: z.string().describe('Patient/{id} or the id (`subject` is read the same way); required'),
  category: z.string().optional().describe('vital-signs; other categories match nothing'),
  code: z
    .string()
    .optional()
    .describe('LOINC or MDC codes, comma-separated: 85354-9, http://loinc.org|8867-4, 29463-7, 59408-5, 2708-6'),
  date: z
    .array(z.string())
    .optional()
    .describe('The measurement time with a prefix, repeatable: date=ge2026-11-01&date=lt2026-12-01'),
  _count: z.string().optional().describe(`Observations a page, default ${DEFAULT_COUNT}, at most ${MAX_COUNT}`),
  _sort: z.enum(['date', '-date']).optional().describe('date (oldest first, the default) or -date (newest first)'),
  _cursor: z.string().optional().describe('Set by the `next` link: follow it as it is'),
});

/** The parameters of `GET /fhir/R4/Patient`, for the OpenAPI document. */
export const patientSearchParams = z.object({
  identifier: z.string().describe('The externalId, or urn:homewatch:patient-external-id|{externalId}'),
});

const KNOWN = new Set(['subject', ...Object.keys(observationSearchParams.shape)]);

/** `Patient/{id}`, an absolute URL ending so, or the bare id. */
function patientParam(value: string | undefined): string {
  if (value === undefined || value === '') {
    throw invalid('patient', 'is required: Observations are searched one patient at a time');
  }
  if (value.includes(',')) throw invalid('patient', 'must name one patient');
  const match = /^(?:.*\/)?Patient\/([^/]+)$/.exec(value);
  if (match) return match[1]!;
  if (value.includes('/')) throw invalid('patient', 'must be Patient/{id} or the id');
  return value;
}

function isVitalSignsCategory(token: string): boolean {
  return token === 'vital-signs' || token === `${OBSERVATION_CATEGORY}|vital-signs`;
}

/** The kinds a `code` token names: `code`, `system|code`, or `system|` (every code of that system). */
function kindsOfToken(token: string): VitalKind[] {
  const bar = token.indexOf('|');
  const system = bar < 0 ? undefined : token.slice(0, bar);
  const code = bar < 0 ? token : token.slice(bar + 1);
  return VITAL_KINDS.filter((kind) =>
    [...VITALS[kind].loinc, ...VITALS[kind].mdc].some(
      (coding) => (system === undefined || coding.system === system) && (code === '' || coding.code === code),
    ),
  );
}

const DATE =
  /^(?<prefix>eq|ne|gt|lt|ge|le|sa|eb|ap)?(?<year>\d{4})(?:-(?<month>\d{2})(?:-(?<day>\d{2})(?:T(?<hour>\d{2}):(?<minute>\d{2})(?::(?<second>\d{2})(?<fraction>\.\d+)?)?(?<zone>Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * A `date` value as the range of measurement times it keeps, [from, to). The value stands for the whole
 * of its precision (`2026-03` is March), as FHIR's date search has it: `ge` keeps from its start, `gt`
 * from its end, `le` until its end, `lt` until its start, `eq` (or no prefix) within it. A time without a
 * zone is taken as UTC.
 */
export function dateParam(value: string): { from?: number; to?: number } {
  const match = DATE.exec(value);
  if (!match?.groups) {
    throw invalid(
      'date',
      `${JSON.stringify(value)} must be a FHIR date or dateTime, with ge, gt, le, lt or eq before it`,
    );
  }
  const { prefix = 'eq', year, month, day, hour, minute, second, fraction, zone } = match.groups;
  if (!['eq', 'ge', 'gt', 'le', 'lt'].includes(prefix)) throw invalid('date', `the prefix ${prefix} is not supported`);
  const start = Date.parse(
    `${year}-${month ?? '01'}-${day ?? '01'}T${hour ?? '00'}:${minute ?? '00'}:${second ?? '00'}${fraction ?? ''}${zone ?? 'Z'}`,
  );
  if (Number.isNaN(start) || (month && !Number(month)) || (day && !Number(day))) {
    throw invalid('date', `${JSON.stringify(value)} is not a date`);
  }
  const end = endOf(start, { year, month, day, hour, second, fraction, zone });
  switch (prefix) {
    case 'ge':
      return { from: start };
    case 'gt':
      return { from: end };
    case 'le':
      return { to: end };
    case 'lt':
      return { to: start };
    default:
      return { from: start, to: end };
  }
}

/** The end (exclusive) of the span a date value of this precision stands for. */
function endOf(start: number, parts: Record<string, string | undefined>): number {
  const next = new Date(start);
  if (parts.fraction) return start + 10 ** (3 - Math.min(3, parts.fraction.length - 1));
  if (parts.second) return start + 1000;
  if (parts.hour) return start + 60_000;
  if (parts.day) next.setUTCDate(next.getUTCDate() + 1);
  else if (parts.month) next.setUTCMonth(next.getUTCMonth() + 1);
  else next.setUTCFullYear(next.getUTCFullYear() + 1);
  return next.getTime();
}

/** An Observation id as a search position; undefined for an id that is not one of a reading. */
function observationKey(at: number, observationId: string): ObservationKey | undefined {
  const hr = observationId.endsWith('-hr');
  const readingId = hr ? observationId.slice(0, -3) : observationId;
  return readingId ? { at, readingId, part: hr ? 1 : 0 } : undefined;
}

function compareKeys(a: ObservationKey, b: ObservationKey): number {
  if (a.at !== b.at) return a.at - b.at;
  if (a.readingId !== b.readingId) return a.readingId < b.readingId ? -1 : 1;
  return a.part - b.part;
}

/** What to ask the store for each reading type: only the types whose Observations the search wants. */
export function readingTypesFor(kinds: Set<VitalKind>): Array<{ type: ReadingType; withPulse: boolean }> {
  const plan: Array<{ type: ReadingType; withPulse: boolean }> = [];
  const own: Record<ReadingType, VitalKind> = {
    blood_pressure: 'blood-pressure',
    spo2: 'oxygen-saturation',
    weight: 'body-weight',
  };
  for (const [type, kind] of Object.entries(own) as Array<[ReadingType, VitalKind]>) {
    const pulse = kinds.has('heart-rate') && VITALS['heart-rate'].readingTypes.includes(type);
    if (kinds.has(kind) || pulse) plan.push({ type, withPulse: !kinds.has(kind) });
  }
  return plan;
}

/** How many readings of each type to fetch for a page: each gives at least one Observation, and the cursor's reading may come back. */
export const readingsPerPage = (search: ObservationSearch) => search.count + 2;

export interface ObservationPage {
  items: Array<{ reading: StoredReading; kind: VitalKind }>;
  /** The `_cursor` of the next page, when more remain. */
  next?: string;
}

/**
 * Merges the store's pages (one per reading type, each in the search's order) into the page of
 * Observations: each reading becomes its Observations (`observationKinds`) that the search wants, past
 * the cursor, in order, `count` of them.
 */
export function pageObservations(pages: StoredReading[][], search: ObservationSearch): ObservationPage {
  const direction = search.descending ? -1 : 1;
  const candidates: Array<{ reading: StoredReading; kind: VitalKind; key: ObservationKey }> = [];
  for (const page of pages) {
    for (const reading of page) {
      for (const kind of observationKinds(reading)) {
        if (!search.kinds.has(kind)) continue;
        const key: ObservationKey = {
          at: reading.measuredAt,
          readingId: reading.id,
          part: kind === 'heart-rate' ? 1 : 0,
        };
        if (search.after && compareKeys(key, search.after) * direction <= 0) continue;
        candidates.push({ reading, kind, key });
      }
    }
  }
  candidates.sort((a, b) => compareKeys(a.key, b.key) * direction);
  const items = candidates.slice(0, search.count).map(({ reading, kind }) => ({ reading, kind }));
  const last = items.at(-1);
  if (candidates.length <= search.count || !last) return { items };
  const id = last.kind === 'heart-rate' ? heartRateId(last.reading.id) : last.reading.id;
  return { items, next: encodeCursor(last.reading.measuredAt, id) };
}
