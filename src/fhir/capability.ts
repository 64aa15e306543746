import { FHIR_VERSION, VITAL_KINDS, VITAL_SIGNS_PROFILE, VITALS } from './mapping.ts';

/** When what this server can do last changed: the CapabilityStatement's `date`. */
const CAPABILITIES_CHANGED = '2026-12-06';

const DEFINITION = 'http://hl7.org/fhir/SearchParameter';

/**
 * `GET /fhir/R4/metadata`: what this server does (https://hl7.org/fhir/R4/capabilitystatement.html),
 * for clients that discover it. `base` is the server's FHIR base URL, as the request reached it.
 */
export function capabilityStatement(base: string) {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: CAPABILITIES_CHANGED,
    publisher: 'Homewatch',
    kind: 'instance',
    software: { name: 'Homewatch' },
    implementation: { description: 'Homewatch remote patient monitoring: vital signs from home devices', url: base },
    fhirVersion: FHIR_VERSION,
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        documentation:
          'Clinicians (session tokens, or the admin token) read and search; a patient outside the care team reads as not found. Devices and their gateways create Observations with their device token.',
        security: {
          description:
            'Authorization: Bearer <token>. A clinician session token or the admin token for reads and searches; a device token for creating Observations.',
        },
        resource: [
          {
            type: 'Patient',
            interaction: [{ code: 'read' }, { code: 'search-type' }],
            searchParam: [
              {
                name: 'identifier',
                definition: `${DEFINITION}/Patient-identifier`,
                type: 'token',
                documentation: "The patient's externalId",
              },
            ],
          },
          { type: 'Device', interaction: [{ code: 'read' }] },
          {
            type: 'Observation',
            supportedProfile: [VITAL_SIGNS_PROFILE, ...VITAL_KINDS.map((kind) => VITALS[kind].profile)],
            interaction: [{ code: 'read' }, { code: 'vread' }, { code: 'search-type' }, { code: 'create' }],
            versioning: 'versioned',
            readHistory: false,
            conditionalCreate: true,
            searchParam: [
              {
                name: 'patient',
                definition: `${DEFINITION}/clinical-patient`,
                type: 'reference',
                documentation: 'Required: one patient per search',
              },
              { name: 'category', definition: `${DEFINITION}/Observation-category`, type: 'token' },
              { name: 'code', definition: `${DEFINITION}/clinical-code`, type: 'token' },
              {
                name: 'date',
                definition: `${DEFINITION}/clinical-date`,
                type: 'date',
                documentation: 'Prefixes eq, ge, gt, le and lt; repeat it for a range',
              },
            ],
          },
        ],
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
      },
    ],
  };
}
