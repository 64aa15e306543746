import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../domain/ids.ts';
import { dedupeKey, type StoredReading } from '../domain/reading.ts';
import { SqliteReadingStore } from '../store/sqlite-reading-store.ts';
import { openTestDatabase } from '../store/test-db.ts';
import { heartRateId, observationKinds } from './mapping.ts';
import { pageObservations, parseObservationSearch, readingsPerPage, readingTypesFor } from './search.ts';
import { FhirStore, uuidv7Time } from './store.ts';

const T0 = Date.parse('2026-11-01T00:00:00Z');
const MINUTE = 60_000;

let database: ReturnType<typeof openTestDatabase>;
let readings: SqliteReadingStore;
let fhir: FhirStore;

beforeAll(() => {
  database = openTestDatabase();
  readings = new SqliteReadingStore(database.db);
  fhir = new FhirStore(database.db);
});
afterAll(() => database.close());

/** Stores readings as ingest does: in the order received, each id a UUIDv7 of its arrival time. */
function store(batch: StoredReading[]) {
  database.db.transaction(() => {
    for (const reading of batch) readings.insert(reading, dedupeKey(reading));
  });
}

function reading(
  patientId: string,
  type: StoredReading['type'],
  measuredAt: number,
  receivedAt: number,
  pulse: number | null,
): StoredReading {
  return {
    id: uuidv7(receivedAt),
    deviceId: 'device-1',
    patientId,
    type,
    measuredAt,
    receivedAt,
    messageId: `m-${randomUUID()}`,
    systolic: type === 'blood_pressure' ? 130 : null,
    diastolic: type === 'blood_pressure' ? 80 : null,
    pulse: type === 'weight' ? null : pulse,
    value: type === 'blood_pressure' ? null : 95,
    unit: type === 'blood_pressure' ? 'mmHg' : type === 'weight' ? 'kg' : null,
  };
}

/** Every page of a search, through the store and the merge as the route does it, following `next`. */
function allPages(query: Record<string, string[]>): string[][] {
  const pages: string[][] = [];
  let cursor: string | undefined;
  do {
    const search = parseObservationSearch(cursor ? { ...query, _cursor: [cursor] } : query);
    const fetched = readingTypesFor(search.kinds).map(({ type, withPulse }) =>
      fhir.readingPage({
        patientId: search.patientId,
        type,
        from: search.from,
        to: search.to,
        descending: search.descending,
        startAt: search.after && { at: search.after.at, id: search.after.readingId },
        withPulse,
        limit: readingsPerPage(search),
      }),
    );
    const page = pageObservations(fetched, search);
    pages.push(page.items.map(({ reading, kind }) => (kind === 'heart-rate' ? heartRateId(reading.id) : reading.id)));
    cursor = page.next;
  } while (cursor && pages.length < 1000);
  return pages;
}

describe('searching Observations a page at a time', () => {
  it('gives every matching Observation once, in order, whatever the page size, order and codes', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            type: fc.constantFrom('blood_pressure', 'spo2', 'weight') as fc.Arbitrary<StoredReading['type']>,
            // Few distinct times, so that many readings share one and the id must break the tie.
            minute: fc.integer({ min: 0, max: 40 }),
            pulse: fc.option(fc.integer({ min: 40, max: 120 }), { nil: null }),
          }),
          { maxLength: 120 },
        ),
        fc.integer({ min: 1, max: 25 }),
        fc.boolean(),
        fc.constantFrom(undefined, '8867-4', '85354-9,8867-4', '59408-5', '29463-7'),
        fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
        (generated, count, descending, code, fromMinute) => {
          const patientId = randomUUID();
          const received = T0 + 10 * 24 * 60 * MINUTE;
          const all = generated.map((r, i) =>
            reading(patientId, r.type, T0 + r.minute * MINUTE, received + i, r.pulse),
          );
          store(all);
          const query: Record<string, string[]> = { patient: [patientId], _count: [String(count)] };
          if (descending) query._sort = ['-date'];
          if (code) query.code = [code];
          if (fromMinute !== undefined) query.date = [`ge${new Date(T0 + fromMinute * MINUTE).toISOString()}`];

          const wanted = parseObservationSearch(query).kinds;
          const expected = all
            .filter((r) => fromMinute === undefined || r.measuredAt >= T0 + fromMinute * MINUTE)
            .flatMap((r) =>
              observationKinds(r)
                .filter((kind) => wanted.has(kind))
                .map((kind) => ({
                  key: [r.measuredAt, r.id, kind === 'heart-rate' ? 1 : 0] as const,
                  id: kind === 'heart-rate' ? heartRateId(r.id) : r.id,
                })),
            )
            .sort(
              (a, b) =>
                (a.key[0] - b.key[0] || (a.key[1] < b.key[1] ? -1 : a.key[1] > b.key[1] ? 1 : a.key[2] - b.key[2])) *
                (descending ? -1 : 1),
            )
            .map((o) => o.id);

          const pages = allPages(query);
          expect(pages.flat()).toEqual(expected);
          for (const page of pages.slice(0, -1)) expect(page).toHaveLength(count);
          expect(pages.at(-1)!.length).toBeLessThanOrEqual(count);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('a reading by its id', () => {
  it('is found among many, by the time in its UUIDv7', () => {
    const patientId = randomUUID();
    const start = Date.parse('2026-11-20T00:00:00Z');
    const many = Array.from({ length: 5000 }, (_, i) =>
      reading(patientId, 'spo2', start + i * MINUTE, start + i * 5_000 + 100, 70),
    );
    store(many);
    for (const expected of [many[0]!, many[1234]!, many.at(-1)!])
      expect(fhir.readingById(expected.id)).toEqual(expected);
    expect(fhir.readingById(uuidv7(start + 1234 * 5_000 + 100))).toBeUndefined();
    expect(fhir.readingById('not-a-uuid')).toBeUndefined();
    expect(fhir.readingById(randomUUID())).toBeUndefined(); // a UUIDv4: never a reading's
  });

  it('is found when the clock stepped back a little between two readings', () => {
    const patientId = randomUUID();
    const late = Date.parse('2026-11-25T00:00:00Z');
    const before = reading(patientId, 'weight', late, late, null);
    const afterStep = reading(patientId, 'weight', late + MINUTE, late - 5_000, null);
    store([before, afterStep]);
    expect(fhir.readingById(afterStep.id)).toEqual(afterStep);
  });

  it('reads the time of a UUIDv7', () => {
    expect(uuidv7Time(uuidv7(T0))).toBe(T0);
    expect(uuidv7Time('01a1fe2f-5fc0-4ebe-8b46-6c243b84744e')).toBeUndefined();
  });
});
