import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { uuidv7 } from '../domain/ids.ts';
import { toStored, type NormalizedReading } from '../domain/reading.ts';
import { normalizeReading } from '../normalize/reading.ts';
import { parseIfNoneExist, readObservations, type ObservationInput } from './inbound.ts';
import { READING_IDENTIFIER_SYSTEM, toObservations } from './mapping.ts';

const PATIENT = 'd3c1f0aa-5b7e-4c55-9b57-1f3f5f0c9a01';
const DEVICE = '8a0e2b44-0f6d-4d7b-a1f5-3b2d9b1c7e10';
const T0 = Date.parse('2026-11-22T00:00:00Z');

/** A fixture from devices/fhir/, its subject set to the device's patient as a gateway would. */
function fixture(name: string): Record<string, unknown> {
  const file = path.resolve(import.meta.dirname, '../../devices/fhir', `${name}.json`);
  const resource = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  return { ...resource, subject: { reference: `Patient/${PATIENT}` } };
}

const one = (resource: unknown, extra: Partial<ObservationInput> = {}) =>
  readObservations([{ resource, base: 'Observation', ...extra }], PATIENT);

/** The problems with one Observation, as `expression: message`. */
function problems(resource: unknown): string[] {
  return (one(resource).refused.get(0) ?? []).map((issue) => `${issue.expression}: ${issue.message}`);
}

describe('Observations as device protocol readings', () => {
  it('reads the HL7 blood pressure example', () => {
    const { readings, refused } = one(fixture('blood-pressure'));
    expect(refused.size).toBe(0);
    expect(readings[0]!.reading).toEqual({
      id: 'urn:ietf:rfc:3986|urn:uuid:6c2e3f8a-51d4-4b8e-9a0c-3f1d2b7e4a11',
      type: 'blood_pressure',
      measuredAt: '2026-11-21T07:58:00-05:00',
      systolic: 142,
      diastolic: 91,
      unit: 'mmHg',
    });
    expect(readings[0]!.paths).toMatchObject({
      systolic: 'Observation.component[0].valueQuantity.value',
      diastolic: 'Observation.component[1].valueQuantity.value',
      measuredAt: 'Observation.effectiveDateTime',
      id: 'Observation.identifier',
    });
  });

  it('reads the HL7 body weight example in the unit it was sent in', () => {
    const { readings } = one(fixture('body-weight'));
    expect(readings[0]!.reading).toMatchObject({ type: 'weight', value: 185, unit: 'lb' });
    expect(readings[0]!.reading.id).toBeUndefined();
  });

  it('reads the HL7 oxygen saturation example, ignoring its context (device, reference range, interpretation)', () => {
    const { readings } = one(fixture('oxygen-saturation'));
    expect(readings[0]!.reading).toEqual({
      id: 'https://clinic.example/observation/id|o1223435-10',
      type: 'spo2',
      measuredAt: '2026-11-21T09:30:10+01:00',
      value: 95,
    });
  });

  it('reads a PHD blood pressure with MDC codes, ignoring the gateway extension and the mean pressure', () => {
    const { readings, refused } = one(fixture('phd-blood-pressure'));
    expect(refused.size).toBe(0);
    expect(readings[0]!.reading).toMatchObject({ type: 'blood_pressure', systolic: 116, diastolic: 71, unit: 'mmHg' });
    expect(readings[0]!.reading.id).toBe('|711000FEFF5F49B0-patientExample-150020-20261121075800.00');
  });

  it('reads an Observation coded in MDC alone', () => {
    const resource = fixture('phd-blood-pressure');
    const code = resource.code as { coding: Array<{ system: string }> };
    const { readings } = one({
      ...resource,
      code: { coding: code.coding.filter((c) => c.system !== 'http://loinc.org') },
    });
    expect(readings[0]!.reading.type).toBe('blood_pressure');
  });

  it('joins a heart rate to the blood pressure or SpO2 measured with it, as the pulse', () => {
    const { readings, refused } = readObservations(
      [
        { resource: fixture('phd-pulse-rate'), base: 'Bundle.entry[0].resource' },
        { resource: fixture('phd-blood-pressure'), base: 'Bundle.entry[1].resource' },
        { resource: fixture('oxygen-saturation'), base: 'Bundle.entry[2].resource' },
        { resource: fixture('heart-rate'), base: 'Bundle.entry[3].resource' },
      ],
      PATIENT,
    );
    expect(refused.size).toBe(0);
    expect(readings.map((r) => [r.reading.type, r.reading.pulse, r.inputs, r.kinds])).toEqual([
      ['blood_pressure', 68, [1, 0], ['blood-pressure', 'heart-rate']],
      ['spo2', 44, [2, 3], ['oxygen-saturation', 'heart-rate']],
    ]);
    expect(readings[0]!.paths.pulse).toBe('Bundle.entry[0].resource.valueQuantity.value');
  });

  it('reads a heart rate component of a blood pressure as its pulse', () => {
    const resource = fixture('blood-pressure');
    const component = [
      ...(resource.component as unknown[]),
      {
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
        valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
      },
    ];
    expect(one({ ...resource, component }).readings[0]!.reading.pulse).toBe(72);
  });

  it('uses the If-None-Exist identifier as the reading id', () => {
    const { readings } = one(fixture('oxygen-saturation'), {
      identifier: 'urn:gw|42',
      identifierPath: 'If-None-Exist',
    });
    expect(readings[0]!.reading.id).toBe('urn:gw|42');
    expect(readings[0]!.paths.id).toBe('If-None-Exist');
  });
});

describe('Observations refused, naming the element', () => {
  const bp = fixture('blood-pressure');
  const saturation = fixture('oxygen-saturation');

  it('a heart rate alone: the device protocol has no reading for it', () => {
    expect(problems(fixture('heart-rate'))).toEqual([
      expect.stringMatching(/^Observation\.code: a heart rate is stored as the pulse/),
    ]);
  });

  it('a code Homewatch does not record', () => {
    const temperature = { ...saturation, code: { coding: [{ system: 'http://loinc.org', code: '8310-5' }] } };
    expect(problems(temperature)).toEqual([
      expect.stringMatching(/^Observation\.code\.coding: has no code Homewatch records/),
    ]);
  });

  it('codes of two different vital signs', () => {
    const both = {
      ...saturation,
      code: {
        coding: [
          { system: 'http://loinc.org', code: '2708-6' },
          { system: 'http://loinc.org', code: '29463-7' },
        ],
      },
    };
    expect(problems(both)).toEqual(['Observation.code.coding: has codes of different things']);
  });

  it('a unit the device protocol has no name for, or one that is not UCUM', () => {
    const kpa = structuredClone(bp) as { component: Array<{ valueQuantity: Record<string, unknown> }> };
    kpa.component[0]!.valueQuantity.code = 'kPa';
    expect(problems(kpa)).toEqual([
      expect.stringMatching(/^Observation\.component\[0\]\.valueQuantity\.code: must be the UCUM code "mm\[Hg\]"/),
    ]);
    const stones = {
      ...fixture('body-weight'),
      valueQuantity: { value: 13, system: 'http://unitsofmeasure.org', code: '[stone_av]' },
    };
    expect(problems(stones)).toEqual([
      expect.stringMatching(/^Observation\.valueQuantity\.code: must be the UCUM code "kg", "\[lb_av\]", "g"/),
    ]);
    const notUcum = { ...saturation, valueQuantity: { value: 95, system: 'urn:iso:std:iso:11073:10101', code: '%' } };
    expect(problems(notUcum)).toEqual([expect.stringMatching(/^Observation\.valueQuantity\.system: must be UCUM/)]);
  });

  it('a value that is not a Quantity, or a comparator', () => {
    expect(problems({ ...saturation, valueQuantity: undefined, valueString: '95 %' })).toEqual([
      'Observation.valueString: is not supported: a vital sign is a valueQuantity',
      'Observation.valueQuantity: is required',
    ]);
    const below = {
      ...saturation,
      valueQuantity: { value: 90, comparator: '<', system: 'http://unitsofmeasure.org', code: '%' },
    };
    expect(problems(below)).toEqual([
      'Observation.valueQuantity.comparator: is not supported: a reading is an exact value',
    ]);
  });

  it('elements that change what the Observation means', () => {
    const modified = { ...saturation, modifierExtension: [{ url: 'https://x.example/entered-in-error' }] };
    expect(problems(modified)).toEqual([expect.stringMatching(/^Observation\.modifierExtension: /)]);
    expect(problems({ ...saturation, valueQuantity: undefined, dataAbsentReason: { text: 'error' } })).toContain(
      'Observation.dataAbsentReason: is not supported: Homewatch stores measured values only',
    );
    expect(problems({ ...saturation, status: 'preliminary' })).toEqual([
      expect.stringMatching(/^Observation\.status: must be "final"/),
    ]);
    const period = { ...saturation, effectiveDateTime: undefined, effectivePeriod: { start: '2026-11-21T09:30:10Z' } };
    expect(problems(period)).toEqual([
      expect.stringMatching(/^Observation\.effectivePeriod: is not supported/),
      'Observation.effectiveDateTime: is required: when the measurement was taken',
    ]);
  });

  it('a blood pressure without its diastolic component, or with an unknown one', () => {
    const withoutDiastolic = { ...bp, component: (bp.component as unknown[]).slice(0, 1) };
    expect(problems(withoutDiastolic)).toEqual([
      'Observation.component: must have one diastolic component (LOINC 8462-4), not 0',
    ]);
    const extra = {
      ...bp,
      component: [
        ...(bp.component as unknown[]),
        { code: { coding: [{ system: 'http://loinc.org', code: '8310-5' }] }, valueQuantity: { value: 37 } },
      ],
    };
    expect(problems(extra)).toEqual([
      expect.stringMatching(/^Observation\.component\[2\]\.code\.coding: has no code Homewatch records/),
    ]);
  });

  it("a subject that is another patient than the device's", () => {
    expect(problems({ ...saturation, subject: { reference: 'Patient/example' } })).toEqual([
      expect.stringMatching(/^Observation\.subject\.reference: names another patient than the device's/),
    ]);
    expect(problems({ ...saturation, subject: { reference: 'Group/ward-3' } })).toEqual([
      'Observation.subject.reference: must be a Patient: vital signs are measured on a patient',
    ]);
    expect(problems({ ...saturation, subject: { display: 'Ada' } })).toEqual([]);
    expect(problems({ ...saturation, subject: undefined })).toEqual([]);
  });

  it('anything that is not an Observation', () => {
    expect(problems({ resourceType: 'Patient' })).toEqual(['Observation.resourceType: must be "Observation"']);
    expect(problems([1, 2])).toEqual(['Observation: must be an Observation']);
  });
});

describe('If-None-Exist', () => {
  it('is identifier=system|value, URL-encoded or not', () => {
    expect(parseIfNoneExist('identifier=urn:gw|42')).toBe('urn:gw|42');
    expect(parseIfNoneExist('identifier=https%3A%2F%2Fgw.example%2Fobs%7C42')).toBe('https://gw.example/obs|42');
    expect(parseIfNoneExist('identifier=|42')).toBe('|42');
  });

  it('is nothing else: no other search, no identifier without its system', () => {
    for (const query of ['identifier=42', 'identifier=urn:gw|', 'code=8867-4', 'identifier=a|1&code=2', '']) {
      expect(parseIfNoneExist(query)).toBeUndefined();
    }
  });
});

/** Any reading the device protocol accepts, normalized as ingest stores it. */
const anyReading: fc.Arbitrary<NormalizedReading> = fc
  .record({
    type: fc.constantFrom('blood_pressure', 'spo2', 'weight') as fc.Arbitrary<NormalizedReading['type']>,
    measuredAt: fc.integer({ min: Date.parse('2020-01-01T00:00:00Z'), max: T0 }),
    systolic: fc.integer({ min: 51, max: 300 }),
    diastolicBelow: fc.integer({ min: 1, max: 100 }),
    pulse: fc.option(fc.integer({ min: 20, max: 250 }), { nil: null }),
    spo2: fc.integer({ min: 50, max: 100 }),
    weight: fc.double({ min: 2.01, max: 399.9, noNaN: true }),
    unit: fc.constantFrom('kg', 'lb', 'g'),
    messageId: fc.option(
      fc.webUrl().map((url) => `${url}|m-1`),
      { nil: null },
    ),
  })
  .map((r) => {
    const input: Record<string, unknown> = { type: r.type, measuredAt: r.measuredAt };
    if (r.messageId) input.id = r.messageId;
    if (r.type === 'blood_pressure') {
      Object.assign(input, {
        systolic: r.systolic,
        diastolic: Math.min(200, Math.max(20, r.systolic - r.diastolicBelow)),
      });
    }
    if (r.type !== 'weight' && r.pulse !== null) input.pulse = r.pulse;
    if (r.type === 'spo2') input.value = r.spo2;
    if (r.type === 'weight') {
      const perKg = { kg: 1, lb: 1 / 0.45359237, g: 1000 }[r.unit];
      Object.assign(input, { value: Math.round(r.weight * perKg * 1000) / 1000, unit: r.unit });
    }
    return normalizeReading(input, T0);
  })
  .filter((outcome) => outcome.ok)
  .map((outcome) => outcome.reading);

describe('the reverse of the mapping', () => {
  it('gives back the reading its Observations were made of, through the device protocol', () => {
    fc.assert(
      fc.property(anyReading, (reading) => {
        const observations = toObservations(toStored(reading, uuidv7(T0), DEVICE, PATIENT, T0));
        const inputs = observations.map((observation, i) => ({
          // As the gateway that sent it would send it again: with its own identifier, not Homewatch's.
          resource: {
            ...observation,
            identifier: observation.identifier.filter((id) => id.system !== READING_IDENTIFIER_SYSTEM),
          },
          base: `Bundle.entry[${i}].resource`,
        }));
        const { readings, refused } = readObservations(inputs, PATIENT);
        expect([...refused]).toEqual([]);
        expect(readings).toHaveLength(1);
        expect(normalizeReading(readings[0]!.reading, T0)).toEqual({ ok: true, reading });
      }),
      { numRuns: 300 },
    );
  });
});
