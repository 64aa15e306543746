import { BP_COMPONENTS, LOINC, MDC, UCUM, VITALS, WEIGHT_UCUM, type Coding, type VitalKind } from './mapping.ts';

/**
 * Observations a gateway posts, back into the device protocol's readings: the reverse of mapping.ts.
 * This only reads the FHIR structure (which vital sign, which element holds which number, in which unit);
 * whether the numbers are plausible is left to the device protocol's own validation in the one ingest
 * pipeline, and `paths` lets its refusals name the FHIR element they came from. Pure.
 */

/** A problem with one element of the input, named by its FHIRPath (`Observation.component[0].valueQuantity.value`). */
export interface Issue {
  expression: string;
  message: string;
}

/** One Observation to read, where it sits in the request, and its conditional-create identifier if any. */
export interface ObservationInput {
  resource: unknown;
  /** The FHIRPath of the resource in the request: `Observation`, or `Bundle.entry[3].resource`. */
  base: string;
  /** `system|value` from If-None-Exist (or the entry's `request.ifNoneExist`): the reading's id. */
  identifier?: string;
  /** The FHIRPath that identifier came from, to name it if it is refused. */
  identifierPath?: string;
}

/** A reading in the device protocol made of one input (and the pulse posted beside it). */
export interface InboundReading {
  /** The device protocol's JSON for it, as a device would have sent it. */
  reading: Record<string, unknown>;
  /** The FHIRPath each field of `reading` came from ('' for the whole), to name refusals in FHIR's terms. */
  paths: Record<string, string>;
  /** The inputs it is made of (their indexes): its own first, then the heart rate posted with it. */
  inputs: number[];
  /** The vital sign each of those inputs was. */
  kinds: VitalKind[];
}

export interface InboundResult {
  readings: InboundReading[];
  /** The inputs that make no reading, by index, with the reasons. */
  refused: Map<number, Issue[]>;
}

/** The elements read (the rest of this list and of IGNORED are refused). */
const READ = new Set([
  'resourceType',
  'identifier',
  'status',
  'code',
  'subject',
  'effectiveDateTime',
  'effectiveInstant',
  'valueQuantity',
  'component',
]);

/**
 * Elements that say something about the measurement's context and nothing about its value, so a reading
 * loses nothing without them: the HL7 examples' performer, interpretation, body site and reference range,
 * the PHD IG's gateway and coincident-time-stamp extensions, derivedFrom and performer. Extensions are
 * ignored as FHIR allows for any extension that is not a modifierExtension. `category` is not checked (the
 * code says what was measured), `device` is not read (the device is the one whose token posted it), and
 * `issued` is the time Homewatch receives it.
 */
const IGNORED = new Set([
  'id',
  'meta',
  'language',
  'text',
  'contained',
  'extension',
  'basedOn',
  'partOf',
  'category',
  'encounter',
  'issued',
  'performer',
  'interpretation',
  'note',
  'bodySite',
  'method',
  'device',
  'referenceRange',
  'derivedFrom',
]);

/** Why some elements are refused: each would change what the reading means if it were dropped. */
const REFUSED: Record<string, string> = {
  modifierExtension: 'is a modifier extension Homewatch does not know, so it cannot store the Observation',
  implicitRules: 'is not supported: the Observation must be understood by the base rules',
  focus: 'is not supported: an Observation is about its subject, the patient',
  effectivePeriod: 'is not supported: a reading has one time, effectiveDateTime',
  effectiveTiming: 'is not supported: a reading has one time, effectiveDateTime',
  dataAbsentReason: 'is not supported: Homewatch stores measured values only',
  hasMember: 'is not supported: post the member Observations themselves',
  specimen: 'is not supported: Homewatch stores vital signs measured on the patient',
};

const COMPONENT_KEYS = new Set(['id', 'extension', 'code', 'valueQuantity', 'interpretation', 'referenceRange']);
const QUANTITY_KEYS = new Set(['id', 'extension', 'value', 'unit', 'system', 'code']);

type ComponentRole = 'systolic' | 'diastolic' | 'pulse' | 'ignored';

/**
 * Components that carry nothing a reading holds, accepted so that a personal health gateway's Observation
 * is not refused for them: a blood pressure monitor's mean arterial pressure (LOINC 8478-0, MDC 150023),
 * which it computes from the other two, and the PHD IG's supplemental types (MDC 68193).
 */
const IGNORED_COMPONENTS: Coding[] = [
  { system: LOINC, code: '8478-0' },
  { system: MDC, code: '150023' },
  { system: MDC, code: '68193' },
];

const COMPONENT_CODES: Array<{ role: ComponentRole; codings: Coding[] }> = [
  { role: 'systolic', codings: BP_COMPONENTS.systolic },
  { role: 'diastolic', codings: BP_COMPONENTS.diastolic },
  { role: 'pulse', codings: [...VITALS['heart-rate'].loinc, ...VITALS['heart-rate'].mdc] },
  { role: 'ignored', codings: IGNORED_COMPONENTS },
];

const KIND_CODES = Object.entries(VITALS).map(([kind, vital]) => ({
  role: kind as VitalKind,
  codings: [...vital.loinc, ...vital.mdc],
}));

const KNOWN_CODES =
  'LOINC 85354-9 (blood pressure), 8867-4 (heart rate), 29463-7 (body weight), 59408-5 or 2708-6 (SpO2)';

/** The UCUM codes accepted for each kind of value, and the device protocol's unit for each. */
const MM_HG = { 'mm[Hg]': 'mmHg' } as const;
const PER_MINUTE = { '/min': null, '{beats}/min': null, '{beat}/min': null } as const;
const PERCENT = { '%': null } as const;
const WEIGHT = Object.fromEntries(Object.entries(WEIGHT_UCUM).map(([unit, ucum]) => [ucum, unit])) as Record<
  string,
  string
>;

interface Parsed {
  kind: VitalKind;
  /** effectiveDateTime as sent (the device protocol validates it). */
  at: unknown;
  fields: Record<string, unknown>;
  paths: Record<string, string>;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Reads Observations into readings. A heart rate is not a reading of its own in the device protocol but
 * the pulse of a blood pressure or SpO2 reading, so a heart-rate Observation is joined to the one blood
 * pressure or SpO2 Observation among the inputs with the same effective time (as Homewatch itself lists
 * them); alone, it is refused. `patientId` is the posting device's patient: a `subject` naming another is
 * refused, because readings belong to the device's patient and a mismatch means the wrong patient.
 */
export function readObservations(inputs: ObservationInput[], patientId: string | null): InboundResult {
  const refused = new Map<number, Issue[]>();
  const parsed = new Map<number, Parsed>();
  inputs.forEach((input, index) => {
    const result = readObservation(input, patientId);
    if (Array.isArray(result)) refused.set(index, result);
    else parsed.set(index, result);
  });

  const readings: InboundReading[] = [];
  const byIndex = new Map<number, InboundReading>();
  for (const [index, observation] of parsed) {
    if (observation.kind === 'heart-rate') continue;
    const reading: InboundReading = {
      reading: observation.fields,
      paths: observation.paths,
      inputs: [index],
      kinds: [observation.kind],
    };
    readings.push(reading);
    byIndex.set(index, reading);
  }
  for (const [index, pulse] of parsed) {
    if (pulse.kind !== 'heart-rate') continue;
    const base = inputs[index]!.base;
    const partners = [...byIndex.entries()].filter(
      ([partnerIndex, reading]) =>
        reading.reading.type !== 'weight' && sameInstant(parsed.get(partnerIndex)!.at, pulse.at),
    );
    if (partners.length !== 1) {
      refused.set(index, [
        {
          expression: `${base}.code`,
          message:
            partners.length === 0
              ? 'a heart rate is stored as the pulse of a blood pressure or SpO2 reading: post it with that Observation (same effectiveDateTime) in one Bundle, or as a component of the blood pressure'
              : 'more than one blood pressure or SpO2 Observation in this Bundle has the same effectiveDateTime as this heart rate',
        },
      ]);
      continue;
    }
    const [partnerIndex, reading] = partners[0]!;
    if (reading.reading.pulse !== undefined) {
      refused.set(index, [
        {
          expression: `${base}.valueQuantity`,
          message: `the Observation it belongs with (${inputs[partnerIndex]!.base}) already has a heart rate component`,
        },
      ]);
      continue;
    }
    reading.reading.pulse = pulse.fields.pulse;
    reading.paths.pulse = pulse.paths.pulse!;
    reading.inputs.push(index);
    reading.kinds.push('heart-rate');
  }
  return { readings, refused };
}

function sameInstant(a: unknown, b: unknown): boolean {
  if (typeof a !== 'string' || typeof b !== 'string') return false;
  const [x, y] = [Date.parse(a), Date.parse(b)];
  return Number.isNaN(x) || Number.isNaN(y) ? a === b : x === y;
}

/** One Observation: its vital sign and the device protocol's fields for it, or why it cannot be one. */
function readObservation(input: ObservationInput, patientId: string | null): Parsed | Issue[] {
  const { resource, base } = input;
  if (!isObject(resource)) return [{ expression: base, message: 'must be an Observation' }];
  if (resource.resourceType !== 'Observation') {
    return [{ expression: `${base}.resourceType`, message: 'must be "Observation"' }];
  }
  const issues: Issue[] = [];
  const issue = (expression: string, message: string) => {
    issues.push({ expression, message });
  };

  for (const key of Object.keys(resource)) {
    if (READ.has(key) || IGNORED.has(key)) continue;
    if (key.startsWith('_')) continue; // a primitive's extensions (`_status`), ignorable as extensions are
    issue(
      `${base}.${key}`,
      REFUSED[key] ??
        (key.startsWith('value')
          ? 'is not supported: a vital sign is a valueQuantity'
          : 'is not an element of Observation Homewatch reads'),
    );
  }
  if (resource.status !== 'final') {
    issue(
      `${base}.status`,
      `must be "final" (a measurement as the device took it), not ${JSON.stringify(resource.status)}`,
    );
  }
  checkSubject(resource.subject, `${base}.subject`, patientId, issue);

  const timeKey = resource.effectiveDateTime !== undefined ? 'effectiveDateTime' : 'effectiveInstant';
  const at = resource[timeKey];
  if (at === undefined) issue(`${base}.effectiveDateTime`, 'is required: when the measurement was taken');

  const kind = codeRole(resource.code, `${base}.code`, KIND_CODES, issue, KNOWN_CODES);
  const fields: Record<string, unknown> = {};
  const paths: Record<string, string> = { '': base, type: `${base}.code`, measuredAt: `${base}.${timeKey}` };
  const identifier = input.identifier ?? senderIdentifier(resource.identifier);
  if (identifier !== undefined) {
    fields.id = identifier;
    paths.id = (input.identifier !== undefined && input.identifierPath) || `${base}.identifier`;
  }
  if (kind === undefined) return issues;

  const components = readComponents(resource.component, `${base}.component`, issue);
  const quantity = (field: string, units: Record<string, string | null>, unitField?: string) => {
    const path = `${base}.valueQuantity`;
    if (resource.valueQuantity === undefined) return issue(path, 'is required');
    const value = readQuantity(resource.valueQuantity, path, units, issue);
    if (!value) return;
    fields[field] = value.value;
    paths[field] = `${path}.value`;
    if (unitField) {
      fields[unitField] = value.unit;
      paths[unitField] = `${path}.code`;
    }
  };
  switch (kind) {
    case 'blood-pressure': {
      if (resource.valueQuantity !== undefined) {
        issue(
          `${base}.valueQuantity`,
          'is not used by a blood pressure: its values are the systolic and diastolic components',
        );
      }
      fields.type = 'blood_pressure';
      for (const role of ['systolic', 'diastolic'] as const) {
        const found = components.filter((c) => c.role === role);
        if (found.length !== 1) {
          const code = role === 'systolic' ? '8480-6' : '8462-4';
          issue(`${base}.component`, `must have one ${role} component (LOINC ${code}), not ${found.length}`);
          continue;
        }
        const value = readQuantity(found[0]!.quantity, found[0]!.path, MM_HG, issue);
        if (!value) continue;
        fields[role] = value.value;
        paths[role] = `${found[0]!.path}.value`;
        fields.unit = value.unit;
        paths.unit = `${found[0]!.path}.code`;
      }
      const pulses = components.filter((c) => c.role === 'pulse');
      if (pulses.length > 1) issue(`${base}.component`, 'must have at most one heart rate component');
      else if (pulses.length === 1) {
        const value = readQuantity(pulses[0]!.quantity, pulses[0]!.path, PER_MINUTE, issue);
        if (value) {
          fields.pulse = value.value;
          paths.pulse = `${pulses[0]!.path}.value`;
        }
      }
      break;
    }
    case 'heart-rate':
      quantity('pulse', PER_MINUTE);
      break;
    case 'oxygen-saturation':
      fields.type = 'spo2';
      quantity('value', PERCENT);
      break;
    case 'body-weight':
      fields.type = 'weight';
      quantity('value', WEIGHT, 'unit');
      break;
  }
  if (kind !== 'blood-pressure') {
    for (const component of components) {
      if (component.role !== 'ignored')
        issue(
          `${component.path.replace(/\.valueQuantity$/, '')}.code`,
          `is not a component of a ${VITALS[kind].text.toLowerCase()} Observation`,
        );
    }
  }
  if (issues.length) return issues;
  fields.measuredAt = at;
  return { kind, at, fields, paths };
}

/** A subject is optional; one that names a patient must name the device's. */
function checkSubject(
  subject: unknown,
  path: string,
  patientId: string | null,
  issue: (expression: string, message: string) => void,
) {
  if (subject === undefined) return;
  if (!isObject(subject)) return issue(path, 'must be a Reference');
  if (subject.reference === undefined) return; // by identifier or display only: nothing to check against
  const match = typeof subject.reference === 'string' ? /(?:^|\/)Patient\/([^/]+)$/.exec(subject.reference) : null;
  if (!match) return issue(`${path}.reference`, 'must be a Patient: vital signs are measured on a patient');
  if (patientId !== null && match[1] !== patientId) {
    issue(
      `${path}.reference`,
      "names another patient than the device's: readings are stored for the patient the device is assigned to",
    );
  }
}

/** The role of a CodeableConcept among `table`: the one entry any of its codings matches. */
function codeRole<R>(
  concept: unknown,
  path: string,
  table: Array<{ role: R; codings: Coding[] }>,
  issue: (expression: string, message: string) => void,
  known: string,
): R | undefined {
  if (!isObject(concept) || !Array.isArray(concept.coding)) {
    issue(path, `must have a coding: ${known}`);
    return undefined;
  }
  const roles = new Set<R>();
  for (const coding of concept.coding) {
    if (!isObject(coding)) continue;
    for (const entry of table) {
      if (entry.codings.some((c) => c.system === coding.system && c.code === coding.code)) roles.add(entry.role);
    }
  }
  if (roles.size === 1) return [...roles][0];
  issue(
    `${path}.coding`,
    roles.size === 0 ? `has no code Homewatch records: ${known}` : 'has codes of different things',
  );
  return undefined;
}

interface Component {
  role: ComponentRole;
  quantity: unknown;
  /** The FHIRPath of its valueQuantity. */
  path: string;
}

function readComponents(
  components: unknown,
  path: string,
  issue: (expression: string, message: string) => void,
): Component[] {
  if (components === undefined) return [];
  if (!Array.isArray(components)) {
    issue(path, 'must be an array');
    return [];
  }
  const read: Component[] = [];
  for (const [i, component] of components.entries()) {
    const at = `${path}[${i}]`;
    if (!isObject(component)) {
      issue(at, 'must be an object');
      continue;
    }
    for (const key of Object.keys(component)) {
      if (COMPONENT_KEYS.has(key) || key.startsWith('_')) continue;
      issue(`${at}.${key}`, REFUSED[key] ?? 'is not supported in a component');
    }
    const role = codeRole(
      component.code,
      `${at}.code`,
      COMPONENT_CODES,
      issue,
      'LOINC 8480-6 (systolic), 8462-4 (diastolic) or 8867-4 (heart rate)',
    );
    if (role === undefined) continue;
    if (role !== 'ignored' && component.valueQuantity === undefined) {
      issue(`${at}.valueQuantity`, 'is required');
      continue;
    }
    read.push({ role, quantity: component.valueQuantity, path: `${at}.valueQuantity` });
  }
  return read;
}

/**
 * A Quantity in one of `units` (UCUM codes, each with the device protocol's name for it): its value, as
 * sent, for the device protocol to validate, and the unit.
 */
function readQuantity(
  quantity: unknown,
  path: string,
  units: Record<string, string | null>,
  issue: (expression: string, message: string) => void,
): { value: unknown; unit: string | null } | undefined {
  if (!isObject(quantity)) {
    issue(path, 'must be a Quantity');
    return undefined;
  }
  let ok = true;
  for (const key of Object.keys(quantity)) {
    if (QUANTITY_KEYS.has(key) || key.startsWith('_')) continue;
    issue(
      `${path}.${key}`,
      key === 'comparator' ? 'is not supported: a reading is an exact value' : 'is not an element of Quantity',
    );
    ok = false;
  }
  const codes = Object.keys(units)
    .map((code) => `"${code}"`)
    .join(', ');
  if (quantity.system !== undefined && quantity.system !== UCUM) {
    issue(`${path}.system`, `must be UCUM (${UCUM})`);
    ok = false;
  }
  if (typeof quantity.code !== 'string' || !Object.hasOwn(units, quantity.code)) {
    issue(`${path}.code`, `must be the UCUM code ${codes}`);
    ok = false;
  }
  return ok ? { value: quantity.value, unit: units[quantity.code as string] ?? null } : undefined;
}

/**
 * The first identifier with a value, as the reading's message id `system|value`, so that posting the same
 * Observation again is a duplicate (the device protocol's de-duplication by id); undefined for none.
 */
function senderIdentifier(identifiers: unknown): string | undefined {
  if (!Array.isArray(identifiers)) return undefined;
  for (const identifier of identifiers) {
    if (isObject(identifier) && typeof identifier.value === 'string' && identifier.value) {
      return `${typeof identifier.system === 'string' ? identifier.system : ''}|${identifier.value}`;
    }
  }
  return undefined;
}

/**
 * The identifier of a conditional create, `identifier=system|value` (If-None-Exist, or a Bundle entry's
 * `request.ifNoneExist`), as the reading's message id `system|value`; undefined when it is not one.
 * Homewatch supports this one search only: it is what the device protocol de-duplicates by.
 */
export function parseIfNoneExist(query: string): string | undefined {
  const params = new URLSearchParams(query.startsWith('?') ? query.slice(1) : query);
  const keys = [...params.keys()];
  const identifier = params.get('identifier');
  if (keys.length !== 1 || identifier === null) return undefined;
  const bar = identifier.indexOf('|');
  return bar >= 0 && bar < identifier.length - 1 ? identifier : undefined;
}
