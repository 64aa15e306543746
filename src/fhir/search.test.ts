import { describe, expect, it } from 'vitest';
import { AppError } from '../domain/errors.ts';
import { dateParam, MAX_COUNT, observationSearchParams, parseObservationSearch, readingTypesFor } from './search.ts';

const PATIENT = 'd3c1f0aa-5b7e-4c55-9b57-1f3f5f0c9a01';
const search = (query: Record<string, string | string[]>) =>
  parseObservationSearch(
    Object.fromEntries(Object.entries({ patient: PATIENT, ...query }).map(([k, v]) => [k, Array.isArray(v) ? v : [v]])),
  );
const refusal = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError) return { status: error.status, path: error.details[0]?.path };
    throw error;
  }
  throw new Error('not refused');
};
const at = (text: string) => Date.parse(text);

describe('date', () => {
  it('stands for the whole of its precision, each prefix keeping its side', () => {
    expect(dateParam('2026-11-21')).toEqual({ from: at('2026-11-21T00:00:00Z'), to: at('2026-11-22T00:00:00Z') });
    expect(dateParam('eq2026-11')).toEqual({ from: at('2026-11-01T00:00:00Z'), to: at('2026-12-01T00:00:00Z') });
    expect(dateParam('ge2026')).toEqual({ from: at('2026-01-01T00:00:00Z') });
    expect(dateParam('gt2026-11-21')).toEqual({ from: at('2026-11-22T00:00:00Z') });
    expect(dateParam('le2026-11-21')).toEqual({ to: at('2026-11-22T00:00:00Z') });
    expect(dateParam('lt2026-11-21')).toEqual({ to: at('2026-11-21T00:00:00Z') });
    expect(dateParam('gt2026-11-21T10:00')).toEqual({ from: at('2026-11-21T10:01:00Z') });
    expect(dateParam('le2026-11-21T10:00:05+01:00')).toEqual({ to: at('2026-11-21T09:00:06Z') });
    expect(dateParam('ge2026-11-21T10:00:05.250Z')).toEqual({ from: at('2026-11-21T10:00:05.250Z') });
    expect(dateParam('2026-12')).toEqual({ from: at('2026-12-01T00:00:00Z'), to: at('2027-01-01T00:00:00Z') });
  });

  it('refuses what is not a FHIR date, and the prefixes a reading time has no use for', () => {
    for (const value of ['yesterday', '2026-13-01', '2026-11-21T10', 'ne2026-11-21', 'ap2026', 'sa2026']) {
      expect(refusal(() => dateParam(value))).toEqual({ status: 400, path: 'date' });
    }
  });

  it('repeated, keeps what every value keeps', () => {
    const s = search({ date: ['ge2026-11-01', 'lt2026-12-01', 'ge2026-11-15'] });
    expect([s.from, s.to]).toEqual([at('2026-11-15T00:00:00Z'), at('2026-12-01T00:00:00Z')]);
    expect(s.params.getAll('date')).toEqual(['ge2026-11-01', 'lt2026-12-01', 'ge2026-11-15']);
  });
});

describe('the other parameters', () => {
  it('patient as the id, Patient/{id} or an absolute reference; subject alike', () => {
    for (const patient of [PATIENT, `Patient/${PATIENT}`, `https://ehr.example/fhir/Patient/${PATIENT}`]) {
      expect(search({ patient }).patientId).toBe(PATIENT);
    }
    expect(parseObservationSearch({ subject: [`Patient/${PATIENT}`] }).patientId).toBe(PATIENT);
    expect(refusal(() => parseObservationSearch({}))).toEqual({ status: 400, path: 'patient' });
    expect(refusal(() => search({ patient: `Group/${PATIENT}` }))).toEqual({ status: 400, path: 'patient' });
  });

  it('code in LOINC or MDC, with or without its system, comma for either', () => {
    const kinds = (code: string | string[]) => [...search({ code }).kinds].sort();
    expect(kinds('85354-9')).toEqual(['blood-pressure']);
    expect(kinds('http://loinc.org|85354-9')).toEqual(['blood-pressure']);
    expect(kinds('urn:iso:std:iso:11073:10101|150456')).toEqual(['oxygen-saturation']);
    expect(kinds('2708-6,8867-4')).toEqual(['heart-rate', 'oxygen-saturation']);
    expect(kinds(['2708-6,8867-4', '8867-4'])).toEqual(['heart-rate']);
    expect(kinds('http://snomed.info/sct|85354-9')).toEqual([]);
    expect(kinds('8310-5')).toEqual([]);
    expect(kinds('http://loinc.org|')).toHaveLength(4);
  });

  it('category vital-signs, which every Observation is', () => {
    expect(search({ category: 'vital-signs' }).kinds.size).toBe(4);
    expect(
      search({ category: 'http://terminology.hl7.org/CodeSystem/observation-category|vital-signs' }).kinds.size,
    ).toBe(4);
    expect(search({ category: 'laboratory' }).kinds.size).toBe(0);
  });

  it('_count defaults to 100, and more than 1000 is 1000', () => {
    expect(search({}).count).toBe(100);
    expect(search({ _count: '5000' }).count).toBe(MAX_COUNT);
    expect(search({ _count: '5000' }).params.get('_count')).toBe('1000');
    for (const _count of ['0', '-1', '10.5', 'ten'])
      expect(refusal(() => search({ _count }))).toEqual({ status: 400, path: '_count' });
  });

  it('_sort by date either way', () => {
    expect(search({}).descending).toBe(false);
    expect(search({ _sort: '-date' }).descending).toBe(true);
    expect(refusal(() => search({ _sort: '_lastUpdated' }))).toEqual({ status: 400, path: '_sort' });
  });

  it('refuses a cursor it did not give out, and modifiers', () => {
    expect(refusal(() => search({ _cursor: 'nonsense' }))).toEqual({ status: 400, path: '_cursor' });
    expect(refusal(() => search({ 'code:text': 'pressure' }))).toEqual({ status: 400, path: 'code:text' });
  });

  it('leaves out parameters it does not know, and says so in its links', () => {
    const s = search({ _include: 'Observation:device', _summary: 'true' });
    expect([...s.params.keys()]).toEqual(['patient', '_count', '_sort']);
  });

  it('documents exactly the parameters it reads', () => {
    expect(Object.keys(observationSearchParams.shape).sort()).toEqual([
      '_count',
      '_cursor',
      '_sort',
      'category',
      'code',
      'date',
      'patient',
    ]);
  });
});

describe('which readings a search needs', () => {
  it('asks only for the types whose Observations it wants; for a pulse alone, readings with one', () => {
    const plan = (code: string) => readingTypesFor(search({ code }).kinds);
    expect(plan('85354-9')).toEqual([{ type: 'blood_pressure', withPulse: false }]);
    expect(plan('8867-4')).toEqual([
      { type: 'blood_pressure', withPulse: true },
      { type: 'spo2', withPulse: true },
    ]);
    expect(plan('8867-4,59408-5')).toEqual([
      { type: 'blood_pressure', withPulse: true },
      { type: 'spo2', withPulse: false },
    ]);
    expect(readingTypesFor(search({}).kinds)).toHaveLength(3);
  });
});
