import type { StoredReading } from '../domain/reading.ts';

/**
 * Homewatch's records as FHIR R4 resources: each reading as vital-signs Observations (the R4 Vital Signs
 * profiles, https://hl7.org/fhir/R4/observation-vitalsigns.html), patients and devices. Pure: data in,
 * resources out. The codes live in one table (`VITALS`), which the reverse mapping (inbound.ts) and
 * search (search.ts) read too.
 */

export const FHIR_VERSION = '4.0.1';
export const FHIR_JSON = 'application/fhir+json';

export const LOINC = 'http://loinc.org';
export const UCUM = 'http://unitsofmeasure.org';
/** IEEE 11073-10101 (MDC), the nomenclature of personal health devices and the Personal Health Device IG. */
export const MDC = 'urn:iso:std:iso:11073:10101';
export const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

/**
 * The system of the identifier every Observation carries: its value is the Observation's id, which is
 * the reading's id (`{readingId}-hr` for the pulse sent with a reading). A URN of Homewatch's own, not a
 * web address: the ids are Homewatch's, and no host name of one deployment should be baked into them.
 */
export const READING_IDENTIFIER_SYSTEM = 'urn:homewatch:reading';
/** The system of a patient's `externalId` (often the EHR's medical record number) as a Patient identifier. */
export const PATIENT_IDENTIFIER_SYSTEM = 'urn:homewatch:patient-external-id';

const PROFILE = 'http://hl7.org/fhir/StructureDefinition';
export const VITAL_SIGNS_PROFILE = `${PROFILE}/vitalsigns`;

export interface Coding {
  system?: string;
  code?: string;
  display?: string;
}
export interface CodeableConcept {
  coding?: Coding[];
  text?: string;
}
export interface Quantity {
  value: number;
  unit: string;
  system: string;
  code: string;
}
export interface Reference {
  reference: string;
}
export interface Identifier {
  system?: string;
  value: string;
}

export interface Observation {
  resourceType: 'Observation';
  id: string;
  meta: { versionId: string; lastUpdated: string; profile: string[] };
  identifier: Identifier[];
  status: 'final';
  category: CodeableConcept[];
  code: CodeableConcept;
  subject: Reference;
  effectiveDateTime: string;
  issued: string;
  device: Reference;
  valueQuantity?: Quantity;
  component?: Array<{ code: CodeableConcept; valueQuantity: Quantity }>;
}

/** What Homewatch records, as the vital signs it maps to. */
export const VITAL_KINDS = ['blood-pressure', 'heart-rate', 'body-weight', 'oxygen-saturation'] as const;
export type VitalKind = (typeof VITAL_KINDS)[number];

/**
 * Each vital sign's codes: the LOINC codes the R4 profile names (the first is the one Observations are
 * searched by), and the MDC codes personal health devices send beside them (IEEE 11073-10101, as the
 * Personal Health Device IG's examples show: 150020 non-invasive blood pressure, 149546 its pulse rate,
 * 149530 a pulse oximeter's pulse rate, 188736 body mass, 150456 SpO2).
 */
export const VITALS: Record<
  VitalKind,
  { loinc: Coding[]; mdc: Coding[]; text: string; profile: string; readingTypes: StoredReading['type'][] }
> = {
  'blood-pressure': {
    loinc: [{ system: LOINC, code: '85354-9', display: 'Blood pressure panel with all children optional' }],
    mdc: [{ system: MDC, code: '150020', display: 'MDC_PRESS_BLD_NONINV' }],
    text: 'Blood pressure',
    profile: `${PROFILE}/bp`,
    readingTypes: ['blood_pressure'],
  },
  'heart-rate': {
    loinc: [{ system: LOINC, code: '8867-4', display: 'Heart rate' }],
    mdc: [
      { system: MDC, code: '149546', display: 'MDC_PULS_RATE_NON_INV' },
      { system: MDC, code: '149530', display: 'MDC_PULS_OXIM_PULS_RATE' },
    ],
    text: 'Heart rate',
    profile: `${PROFILE}/heartrate`,
    readingTypes: ['blood_pressure', 'spo2'],
  },
  'body-weight': {
    loinc: [{ system: LOINC, code: '29463-7', display: 'Body weight' }],
    mdc: [{ system: MDC, code: '188736', display: 'MDC_MASS_BODY_ACTUAL' }],
    text: 'Body weight',
    profile: `${PROFILE}/bodyweight`,
    readingTypes: ['weight'],
  },
  'oxygen-saturation': {
    loinc: [
      { system: LOINC, code: '59408-5', display: 'Oxygen saturation in Arterial blood by Pulse oximetry' },
      { system: LOINC, code: '2708-6', display: 'Oxygen saturation in Arterial blood' },
    ],
    mdc: [{ system: MDC, code: '150456', display: 'MDC_PULS_OXIM_SAT_O2' }],
    text: 'Oxygen saturation',
    profile: `${PROFILE}/oxygensat`,
    readingTypes: ['spo2'],
  },
};

/** The blood pressure components (the R4 `bp` profile's slices, with the MDC codes the PHD IG pairs with them). */
export const BP_COMPONENTS = {
  systolic: [
    { system: LOINC, code: '8480-6', display: 'Systolic blood pressure' },
    { system: MDC, code: '150021', display: 'MDC_PRESS_BLD_NONINV_SYS' },
  ],
  diastolic: [
    { system: LOINC, code: '8462-4', display: 'Diastolic blood pressure' },
    { system: MDC, code: '150022', display: 'MDC_PRESS_BLD_NONINV_DIA' },
  ],
} satisfies Record<string, Coding[]>;

/** UCUM codes of the units a scale may send, by the device protocol's name for them. */
export const WEIGHT_UCUM = { kg: 'kg', lb: '[lb_av]', g: 'g' } as const;
const KG_PER = { kg: 1, lb: 0.45359237, g: 0.001 } as const;
/**
 * Decimals to show a weight with in the unit the scale sent. Readings keep weight in kg to a tenth of a
 * gram (normalize/reading.ts), so these give back the number the scale sent (181.5 lb, not 181.49996).
 */
const WEIGHT_DECIMALS = { kg: 4, lb: 3, g: 1 } as const;

const MMHG = { unit: 'mmHg', system: UCUM, code: 'mm[Hg]' } as const;
const PER_MINUTE = { unit: 'beats/minute', system: UCUM, code: '/min' } as const;
const PERCENT = { unit: '%', system: UCUM, code: '%' } as const;

const VITAL_SIGNS_CATEGORY: CodeableConcept[] = [
  { coding: [{ system: OBSERVATION_CATEGORY, code: 'vital-signs', display: 'Vital Signs' }], text: 'Vital Signs' },
];

/** The id of the Observation of the pulse sent with a blood pressure or SpO2 reading. */
export const heartRateId = (readingId: string) => `${readingId}-hr`;

const iso = (ms: number) => new Date(ms).toISOString();
const round = (value: number, decimals: number) => Math.round(value * 10 ** decimals) / 10 ** decimals;

/** The kinds of Observation a reading is shown as, in the order they are listed: the reading's own, then its pulse. */
export function observationKinds(reading: Pick<StoredReading, 'type' | 'pulse'>): VitalKind[] {
  switch (reading.type) {
    case 'blood_pressure':
      return reading.pulse === null ? ['blood-pressure'] : ['blood-pressure', 'heart-rate'];
    case 'spo2':
      return reading.pulse === null ? ['oxygen-saturation'] : ['oxygen-saturation', 'heart-rate'];
    case 'weight':
      return ['body-weight'];
  }
}

/** One Observation of a reading: `heart-rate` is the pulse sent with it, the others the reading itself. */
export function toObservation(reading: StoredReading, kind: VitalKind): Observation {
  const id = kind === 'heart-rate' ? heartRateId(reading.id) : reading.id;
  const vital = VITALS[kind];
  const base: Observation = {
    resourceType: 'Observation',
    id,
    // Readings never change: every Observation is version 1, last updated when the reading arrived.
    meta: { versionId: '1', lastUpdated: iso(reading.receivedAt), profile: [VITAL_SIGNS_PROFILE, vital.profile] },
    identifier: [{ system: READING_IDENTIFIER_SYSTEM, value: id }, ...senderIdentifier(reading.messageId)],
    status: 'final',
    category: VITAL_SIGNS_CATEGORY,
    code: { coding: [...vital.loinc, ...mdcCodings(kind, reading.type)], text: vital.text },
    subject: { reference: `Patient/${reading.patientId}` },
    effectiveDateTime: iso(reading.measuredAt),
    issued: iso(reading.receivedAt),
    device: { reference: `Device/${reading.deviceId}` },
  };
  switch (kind) {
    case 'blood-pressure':
      base.component = [
        { code: { coding: BP_COMPONENTS.systolic }, valueQuantity: { value: reading.systolic!, ...MMHG } },
        { code: { coding: BP_COMPONENTS.diastolic }, valueQuantity: { value: reading.diastolic!, ...MMHG } },
      ];
      break;
    case 'heart-rate':
      base.valueQuantity = { value: reading.pulse!, ...PER_MINUTE };
      break;
    case 'oxygen-saturation':
      base.valueQuantity = { value: reading.value!, ...PERCENT };
      break;
    case 'body-weight': {
      const unit = (reading.unit ?? 'kg') as keyof typeof WEIGHT_UCUM;
      base.valueQuantity = {
        value: round(reading.value! / KG_PER[unit], WEIGHT_DECIMALS[unit]),
        unit,
        system: UCUM,
        code: WEIGHT_UCUM[unit],
      };
      break;
    }
  }
  return base;
}

/** Every Observation of a reading, in `observationKinds` order. */
export function toObservations(reading: StoredReading): Observation[] {
  return observationKinds(reading).map((kind) => toObservation(reading, kind));
}

/** The MDC coding for the kind; for a pulse, the one of the device that measured it. */
function mdcCodings(kind: VitalKind, type: StoredReading['type']): Coding[] {
  const { mdc } = VITALS[kind];
  if (kind !== 'heart-rate') return mdc;
  return [mdc[type === 'spo2' ? 1 : 0]!];
}

/**
 * The identifier the sender gave, when it came as one: Observations posted over FHIR keep theirs as the
 * reading's message id, `system|value` (see inbound.ts); a device-protocol message id is not an identifier.
 */
function senderIdentifier(messageId: string | null): Identifier[] {
  if (messageId === null) return [];
  const bar = messageId.indexOf('|');
  if (bar < 0) return [];
  const system = messageId.slice(0, bar);
  const value = messageId.slice(bar + 1);
  if (!value || (system && !/^[a-z][a-z0-9+.-]*:\S+$/i.test(system))) return [];
  return [system ? { system, value } : { value }];
}

/** The fields of a patient the Patient resource shows. */
export interface PatientRecord {
  id: string;
  name: string;
  birthDate: string | null;
  externalId: string | null;
  status: 'active' | 'paused' | 'discharged';
}

export function toPatient(patient: PatientRecord) {
  return {
    resourceType: 'Patient' as const,
    id: patient.id,
    ...(patient.externalId ? { identifier: [{ system: PATIENT_IDENTIFIER_SYSTEM, value: patient.externalId }] } : {}),
    // Discharged: monitoring has ended, and the record is kept for history (FHIR's `active: false`).
    active: patient.status !== 'discharged',
    name: [{ text: patient.name }],
    ...(patient.birthDate ? { birthDate: patient.birthDate } : {}),
  };
}

/** The device kinds as IEEE 11073 device specializations (the PHD IG's DeviceTypes11073MDC value set). */
const DEVICE_TYPES: Record<string, { coding: Coding[]; text: string }> = {
  bp_monitor: {
    coding: [{ system: MDC, code: '528391', display: 'MDC_DEV_SPEC_PROFILE_BP' }],
    text: 'Blood pressure monitor',
  },
  scale: { coding: [{ system: MDC, code: '528399', display: 'MDC_DEV_SPEC_PROFILE_SCALE' }], text: 'Weight scale' },
  pulse_oximeter: {
    coding: [{ system: MDC, code: '528388', display: 'MDC_DEV_SPEC_PROFILE_PULS_OXIM' }],
    text: 'Pulse oximeter',
  },
};

/** The fields of a device the Device resource shows. */
export interface DeviceRecord {
  id: string;
  kind: string;
  serial: string | null;
  patientId: string | null;
}

export function toDevice(device: DeviceRecord) {
  return {
    resourceType: 'Device' as const,
    id: device.id,
    status: 'active' as const,
    ...(device.serial ? { serialNumber: device.serial } : {}),
    ...(DEVICE_TYPES[device.kind] ? { type: DEVICE_TYPES[device.kind] } : {}),
    ...(device.patientId ? { patient: { reference: `Patient/${device.patientId}` } } : {}),
  };
}
