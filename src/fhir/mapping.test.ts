import { describe, expect, it } from 'vitest';
import { fhirErrors } from '../../test/helpers/fhir-validator.ts';
import { uuidv7 } from '../domain/ids.ts';
import { toStored, type NormalizedReading, type StoredReading } from '../domain/reading.ts';
import { capabilityStatement } from './capability.ts';
import {
  READING_IDENTIFIER_SYSTEM,
  toDevice,
  toObservation,
  toObservations,
  toPatient,
  VITAL_SIGNS_PROFILE,
  type Observation,
} from './mapping.ts';
import { errorOutcome } from './outcome.ts';
import { AppError } from '../domain/errors.ts';

const T0 = Date.parse('2026-11-21T12:58:00Z');
const PATIENT = 'd3c1f0aa-5b7e-4c55-9b57-1f3f5f0c9a01';
const DEVICE = '8a0e2b44-0f6d-4d7b-a1f5-3b2d9b1c7e10';

function stored(reading: Partial<NormalizedReading> & Pick<NormalizedReading, 'type'>): StoredReading {
  return toStored(
    {
      messageId: null,
      measuredAt: T0,
      systolic: null,
      diastolic: null,
      pulse: null,
      value: null,
      unit: null,
      ...reading,
    },
    uuidv7(T0 + 60_000),
    DEVICE,
    PATIENT,
    T0 + 60_000,
  );
}

const bloodPressure = stored({ type: 'blood_pressure', systolic: 142, diastolic: 91, pulse: 72, unit: 'mmHg' });
const spo2 = stored({ type: 'spo2', value: 94, pulse: 80 });
const weightLb = stored({ type: 'weight', value: 82.327, unit: 'lb' }); // 181.5 lb as normalize stores it
const weightKg = stored({ type: 'weight', value: 81.6, unit: 'kg' });
const weightG = stored({ type: 'weight', value: 81.6005, unit: 'g' });

const codes = (observation: Observation) => observation.code.coding!.map((c) => `${c.system}|${c.code}`);

describe('readings as vital-signs Observations, checked by a FHIR validator', () => {
  const observations = [bloodPressure, spo2, weightLb, weightKg, weightG].flatMap(toObservations);

  it('shows a reading with a pulse as two Observations, the pulse as {readingId}-hr', () => {
    expect(toObservations(bloodPressure).map((o) => o.id)).toEqual([bloodPressure.id, `${bloodPressure.id}-hr`]);
    expect(toObservations(stored({ type: 'spo2', value: 97 })).map((o) => o.id)).toEqual([expect.any(String)]);
  });

  it.each(observations.map((o) => [`${o.code.text} ${o.id.slice(-6)}`, o] as const))(
    '%s conforms to R4 and to the vital signs profiles it claims',
    (_, observation) => {
      expect(observation.meta.profile[0]).toBe(VITAL_SIGNS_PROFILE);
      // Medplum reports false slice errors against the core `bp` profile (its slices by pattern): a blood
      // pressure is checked against `vitalsigns` here, and its components below.
      const profiles = observation.meta.profile.filter((url) => !url.endsWith('/bp'));
      expect(fhirErrors(observation, profiles)).toEqual([]);
    },
  );

  it('has the validator catch what the profiles forbid', () => {
    const [saturation] = toObservations(spo2);
    const withoutLoinc2708 = { ...saturation, code: { coding: saturation!.code.coding!.slice(0, 1) } };
    expect(fhirErrors(withoutLoinc2708, [`${'http://hl7.org/fhir/StructureDefinition'}/oxygensat`])).not.toEqual([]);
    expect(fhirErrors({ ...saturation, category: [] }, [VITAL_SIGNS_PROFILE])).not.toEqual([]);
    expect(fhirErrors({ ...saturation, effectiveDateTime: 'yesterday' })).not.toEqual([]);
  });

  it('gives a blood pressure the bp profile: 85354-9 with 8480-6 and 8462-4 components in mm[Hg]', () => {
    const [bp] = toObservations(bloodPressure);
    expect(bp!.meta.profile).toContain('http://hl7.org/fhir/StructureDefinition/bp');
    expect(codes(bp!)).toContain('http://loinc.org|85354-9');
    expect(bp!.valueQuantity).toBeUndefined();
    expect(bp!.component).toEqual([
      {
        code: {
          coding: expect.arrayContaining([expect.objectContaining({ system: 'http://loinc.org', code: '8480-6' })]),
        },
        valueQuantity: { value: 142, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
      },
      {
        code: {
          coding: expect.arrayContaining([expect.objectContaining({ system: 'http://loinc.org', code: '8462-4' })]),
        },
        valueQuantity: { value: 91, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
      },
    ]);
  });

  it('gives the pulse 8867-4 in /min, with the MDC code of the device that measured it', () => {
    const fromCuff = toObservation(bloodPressure, 'heart-rate');
    const fromOximeter = toObservation(spo2, 'heart-rate');
    expect(codes(fromCuff)).toEqual(['http://loinc.org|8867-4', 'urn:iso:std:iso:11073:10101|149546']);
    expect(codes(fromOximeter)).toEqual(['http://loinc.org|8867-4', 'urn:iso:std:iso:11073:10101|149530']);
    expect(fromCuff.valueQuantity).toMatchObject({ value: 72, system: 'http://unitsofmeasure.org', code: '/min' });
  });

  it('gives SpO2 59408-5 and 2708-6 in %', () => {
    const [saturation] = toObservations(spo2);
    expect(codes(saturation!)).toEqual(expect.arrayContaining(['http://loinc.org|59408-5', 'http://loinc.org|2708-6']));
    expect(saturation!.valueQuantity).toMatchObject({ value: 94, code: '%' });
  });

  it('gives a weight 29463-7 in the unit the scale sent, as that scale showed it', () => {
    const quantity = (reading: StoredReading) => toObservations(reading)[0]!.valueQuantity;
    expect(quantity(weightLb)).toEqual({
      value: 181.5,
      unit: 'lb',
      system: 'http://unitsofmeasure.org',
      code: '[lb_av]',
    });
    expect(quantity(weightKg)).toEqual({ value: 81.6, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' });
    expect(quantity(weightG)).toEqual({ value: 81600.5, unit: 'g', system: 'http://unitsofmeasure.org', code: 'g' });
    expect(codes(toObservations(weightKg)[0]!)).toContain('http://loinc.org|29463-7');
  });

  it('names the patient, the device, the measurement and arrival times, and the reading id', () => {
    const [bp, pulse] = toObservations(bloodPressure);
    expect(bp).toMatchObject({
      status: 'final',
      category: [
        { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] },
      ],
      subject: { reference: `Patient/${PATIENT}` },
      device: { reference: `Device/${DEVICE}` },
      effectiveDateTime: '2026-11-21T12:58:00.000Z',
      issued: '2026-11-21T12:59:00.000Z',
      identifier: [{ system: READING_IDENTIFIER_SYSTEM, value: bloodPressure.id }],
    });
    expect(pulse!.identifier).toEqual([{ system: READING_IDENTIFIER_SYSTEM, value: `${bloodPressure.id}-hr` }]);
  });

  it("keeps a gateway's identifier beside the reading's", () => {
    const posted = stored({ type: 'spo2', value: 95, messageId: 'https://gateway.example/obs|o-1' });
    expect(toObservations(posted)[0]!.identifier).toEqual([
      { system: READING_IDENTIFIER_SYSTEM, value: posted.id },
      { system: 'https://gateway.example/obs', value: 'o-1' },
    ]);
    // A device protocol message id is not an identifier of the Observation.
    expect(toObservations(stored({ type: 'spo2', value: 95, messageId: 'PO-1' }))[0]!.identifier).toHaveLength(1);
  });
});

describe('the other resources Homewatch produces, checked by a FHIR validator', () => {
  it('Patient', () => {
    const patient = toPatient({
      id: PATIENT,
      name: 'Ada Example',
      birthDate: '1948-02-03',
      externalId: 'MRN-0042',
      status: 'discharged',
    });
    expect(fhirErrors(patient)).toEqual([]);
    expect(patient).toMatchObject({
      active: false,
      identifier: [{ value: 'MRN-0042' }],
      name: [{ text: 'Ada Example' }],
    });
  });

  it('Device', () => {
    for (const kind of ['bp_monitor', 'scale', 'pulse_oximeter']) {
      const device = toDevice({ id: DEVICE, kind, serial: 'SN-1', patientId: PATIENT });
      expect(fhirErrors(device)).toEqual([]);
      expect(device.type?.coding[0]?.system).toBe('urn:iso:std:iso:11073:10101');
    }
    expect(fhirErrors(toDevice({ id: DEVICE, kind: 'scale', serial: null, patientId: null }))).toEqual([]);
  });

  it('CapabilityStatement', () => {
    const statement = capabilityStatement('https://homewatch.example/fhir/R4');
    expect(fhirErrors(statement)).toEqual([]);
    expect(statement.fhirVersion).toBe('4.0.1');
  });

  it('OperationOutcome', () => {
    const outcome = errorOutcome(
      new AppError('validation_failed', 'The reading was refused', [
        { path: 'Observation.component[0].valueQuantity.value', message: 'must be at most 300' },
        { path: '_count', message: 'must be a whole number' },
      ]),
    );
    expect(fhirErrors(outcome)).toEqual([]);
    expect(outcome.issue[1]).toMatchObject({ expression: ['Observation.component[0].valueQuantity.value'] });
    expect(outcome.issue[2]).toMatchObject({ diagnostics: '_count: must be a whole number' });
  });
});
