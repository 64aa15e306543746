import { z } from 'zod';
import { assignDeviceSchema, createDeviceSchema, rejectionsQuerySchema } from '../devices/routes.ts';
import { loginSchema } from '../auth/routes.ts';
import { SESSION_COOKIE } from '../auth/middleware.ts';
import { pushSubscriptionSchema, pushUnsubscribeSchema } from '../delivery/push-routes.ts';
import { createWebhookSchema } from '../delivery/webhook-routes.ts';
import { awayPeriodsSchema, onCallShiftsSchema } from '../availability/routes.ts';
import { createClinicianSchema, updateClinicianSchema } from '../clinicians/store.ts';
import { alertsQuerySchema, resolveSchema } from '../alerts/routes.ts';
import { inboxQuerySchema } from '../alerts/inbox.ts';
import { auditQuerySchema } from '../audit/routes.ts';
import { summaryQuerySchema } from '../patients/summary.ts';
import { careTeamSchema } from '../care-team/routes.ts';
import {
  createPatientSchema,
  patientStatusSchema,
  patientsQuerySchema,
  readingsQuerySchema,
} from '../patients/routes.ts';
import { carePlanInputSchema, ruleSchema } from '../domain/rule.ts';
import { readingInputSchema, MAX_READINGS_PER_BATCH } from '../domain/reading.ts';
import { ERROR_STATUS } from '../domain/errors.ts';
import { FHIR_JSON } from '../fhir/mapping.ts';
import { observationSearchParams, patientSearchParams } from '../fhir/search.ts';
import { PUSH_VENDORS, WITHINGS } from '../vendors/registry.ts';
import { createIntegrationSchema, linkWithingsUserSchema } from '../vendors/routes.ts';

/** JSON Schema as OpenAPI 3.0 reads it, from the zod schema that validates the same input. */
const jsonSchema = (schema: z.ZodType) =>
  z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'any' }) as JsonSchema;

type JsonSchema = { properties?: Record<string, JsonSchema>; required?: string[]; [key: string]: unknown };

const errorDetail = {
  type: 'object',
  required: ['path', 'message'],
  properties: {
    path: { type: 'string', description: 'The field, as a dotted path (`readings.3.systolic`); empty for the body' },
    message: { type: 'string' },
  },
};

const schemas = {
  Error: {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string', enum: Object.keys(ERROR_STATUS) },
          message: { type: 'string', description: 'A sentence for people; match on `code`' },
          details: { type: 'array', items: { $ref: '#/components/schemas/ErrorDetail' } },
        },
      },
    },
  },
  ErrorDetail: errorDetail,
  Reading: jsonSchema(readingInputSchema),
  ReadingBatch: {
    type: 'object',
    additionalProperties: false,
    required: ['readings'],
    properties: {
      readings: { type: 'array', maxItems: MAX_READINGS_PER_BATCH, items: { $ref: '#/components/schemas/Reading' } },
    },
  },
  ReadingOrBatch: {
    oneOf: [{ $ref: '#/components/schemas/Reading' }, { $ref: '#/components/schemas/ReadingBatch' }],
  },
  IngestResponse: {
    type: 'object',
    properties: {
      accepted: { type: 'integer' },
      duplicates: { type: 'integer' },
      rejected: { type: 'integer' },
      results: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            index: { type: 'integer' },
            status: { type: 'string', enum: ['accepted', 'duplicate', 'rejected'] },
            readingId: { type: 'string' },
            errors: { type: 'array', items: { $ref: '#/components/schemas/ErrorDetail' } },
          },
        },
      },
    },
  },
  CreatePatient: jsonSchema(createPatientSchema),
  CreateDevice: jsonSchema(createDeviceSchema),
  AssignDevice: jsonSchema(assignDeviceSchema),
  Login: jsonSchema(loginSchema),
  CreateClinician: jsonSchema(createClinicianSchema),
  CareTeam: jsonSchema(careTeamSchema),
  Rule: jsonSchema(ruleSchema),
  CarePlanInput: jsonSchema(carePlanInputSchema),
  CarePlan: {
    type: 'object',
    properties: {
      version: { type: 'integer', description: '0 before the first plan' },
      templates: { type: 'array', items: { type: 'string' } },
      rules: { type: 'array', items: { $ref: '#/components/schemas/Rule' } },
      updatedAt: { type: 'string', format: 'date-time', nullable: true },
      updatedBy: { type: 'string', nullable: true },
    },
  },
  ResolveAlert: jsonSchema(resolveSchema),
  PushSubscription: jsonSchema(pushSubscriptionSchema),
  PushUnsubscribe: jsonSchema(pushUnsubscribeSchema),
  CreateWebhook: jsonSchema(createWebhookSchema),
  AwayPeriods: jsonSchema(awayPeriodsSchema),
  UpdateClinician: jsonSchema(updateClinicianSchema),
  PatientStatus: jsonSchema(patientStatusSchema),
  OnCallShifts: jsonSchema(onCallShiftsSchema),
  OperationOutcome: {
    type: 'object',
    description:
      'A FHIR R4 OperationOutcome: each issue names the element in `expression` (FHIRPath) when there is one',
    required: ['resourceType', 'issue'],
    properties: {
      resourceType: { type: 'string', enum: ['OperationOutcome'] },
      issue: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            severity: { type: 'string' },
            code: { type: 'string' },
            diagnostics: { type: 'string' },
            expression: { type: 'array', items: { type: 'string' } },
          },
        },
      },
    },
  },
  FhirResource: {
    type: 'object',
    description: 'A FHIR R4 resource (https://hl7.org/fhir/R4/), as docs/fhir.md describes',
    required: ['resourceType'],
    properties: { resourceType: { type: 'string' } },
  },
  CreateIntegration: jsonSchema(createIntegrationSchema),
  LinkWithingsUser: jsonSchema(linkWithingsUserSchema),
  VendorPayload: {
    description:
      "The vendor's own JSON, as its documentation gives it (devices/<vendor>/README.md in the repository): one item or an array",
  },
  WithingsNotification: {
    type: 'object',
    description: "Withings' notification, form-encoded",
    properties: {
      userid: { type: 'string', description: 'The Withings user' },
      appli: { type: 'string', description: 'The category: 1 weight, 4 blood pressure, SpO2, heart rate' },
      startdate: { type: 'string', description: 'Unix seconds' },
      enddate: { type: 'string', description: 'Unix seconds' },
    },
  },
  VendorReceipt: {
    type: 'object',
    properties: {
      accepted: { type: 'integer' },
      duplicates: { type: 'integer' },
      rejected: { type: 'integer', description: 'Kept among the rejections' },
      ignored: { type: 'integer', description: 'Not measurements (battery levels, heartbeats): not kept' },
      unknownDevices: {
        type: 'array',
        items: { type: 'string' },
        description: "The vendor's ids that name no provisioned device",
      },
    },
  },
} satisfies Record<string, JsonSchema>;

type SchemaName = keyof typeof schemas;

/**
 * Who may call: nobody in particular; a device (its token); any signed-in clinician or the admin token
 * (a bearer token or the web app's session cookie); an admin only.
 */
type Access = 'public' | 'device' | 'signedIn' | 'admin' | 'vendor';

const TAGS = {
  readings: 'The device protocol over HTTP (over MQTT: publish the same JSON to rpm/devices/{deviceId}/readings)',
  auth: 'Sign-in and sessions',
  clinicians: 'Clinician accounts, and when each one is away',
  'on-call': "The agency's on-call rota: who gets what reached nobody on a care team",
  patients: 'Patients, their care teams and readings',
  'care-plans': 'Care plans and the rule templates they draw on',
  alerts: 'Alerts: the inbox, acknowledge and resolve, and who was notified',
  devices: 'Device provisioning',
  integrations: "Vendor integrations: a vendor's cloud, its secret, its rejections, the Withings users linked to it",
  vendors: "Where vendors' clouds post readings, each authenticated by its integration's secret",
  push: 'Web push subscriptions of the signed-in clinician',
  webhooks: 'Webhooks that receive every alert event',
  audit: 'The audit trail',
  fhir: 'FHIR R4 (application/fhir+json; errors are OperationOutcomes): vital signs for EHRs, Observations from gateways',
  ops: 'Liveness, readiness, metrics and this document',
} as const;

/** An answer: its description, and its body's schema (a component's name, or written out; `null` for none). */
type Answer = string | { description: string; schema?: SchemaName | JsonSchema | null; contentType?: string };

/**
 * One operation, declared in a few lines. `operation()` adds what its access, body and query imply: the
 * security requirement, the path and query parameters, and the 4xx answers every such route gives
 * (401/403 from the sign-in checks, 400 for a body that is not JSON, 422 for one that does not validate).
 * `answers` holds the rest the handler gives (404, 409, ...), and may reword an implied one.
 *
 * @example
 *   { method: 'post', path: '/v1/alerts/{id}/acknowledge', operationId: 'acknowledgeAlert', tag: 'alerts',
 *     access: 'signedIn', summary: 'Acknowledge: stops escalation', ok: { description: 'The alert' },
 *     answers: { 404: 'No such alert, or not your patient', 409: 'Already resolved' } }
 */
interface OperationSpec {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** OpenAPI form: `/v1/patients/{id}`; each `{name}` becomes a path parameter. */
  path: string;
  /** camelCase verbNoun, unique: what client generators name the method. Never rename one: clients break. */
  operationId: string;
  tag: keyof typeof TAGS;
  summary: string;
  access: Access;
  /** The zod schema the route parses `c.req.query()` with: each property becomes a query parameter. */
  query?: z.ZodObject;
  body?: SchemaName;
  /** The body may be left out (an empty body reads as `{}`). */
  bodyOptional?: boolean;
  /** A FHIR interaction: bodies are application/fhir+json, and every error is an OperationOutcome. */
  fhir?: boolean;
  /** The body's media type, when not JSON. */
  bodyContentType?: string;
  /** Replaces the security requirement its access implies (vendors authenticate in their own ways). */
  security?: Record<string, string[]>[];
  ok: { status?: 200 | 201 | 204; description: string; schema?: SchemaName | JsonSchema; contentType?: string };
  answers?: Partial<Record<200 | 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 503, Answer>>;
}

const SECURITY: Record<Access, Record<string, string[]>[]> = {
  public: [],
  device: [{ deviceToken: [] }],
  signedIn: [{ clinicianToken: [] }, { sessionCookie: [] }],
  admin: [{ clinicianToken: [] }, { sessionCookie: [] }],
  vendor: [{ integrationSecret: [] }],
};

const IMPLIED_BY_ACCESS: Record<Access, Record<number, string>> = {
  public: {},
  device: {
    401: 'Missing or unknown device token',
    403: 'Not a device token: only devices post readings',
  },
  signedIn: {
    401: 'Not signed in: no valid bearer token or session cookie',
    403: 'A device token: device tokens open only the device protocol',
  },
  admin: {
    401: 'Not signed in: no valid bearer token or session cookie',
    403: 'Not an administrator (a clinician or a device token)',
  },
  vendor: {
    401: "Not the secret of one of this vendor's integrations",
  },
};

/**
 * What every endpoint may answer before the service sees the request: Node's HTTP server (via
 * @hono/node-server) refuses a request with no or a bad `Host` header or URL with an empty 400. The only
 * 4xx of the endpoints that take no input and need no token.
 */
const MALFORMED_REQUEST: Answer = {
  description:
    'A malformed HTTP request (no or a bad Host header, an invalid URL), refused before it reaches the service',
  schema: null,
};

const ref = (name: SchemaName) => ({ $ref: `#/components/schemas/${name}` });

function content(schema: SchemaName | JsonSchema, contentType = 'application/json') {
  return { [contentType]: { schema: typeof schema === 'string' ? ref(schema) : schema } };
}

function response(status: number, answer: Answer) {
  const { description, schema, contentType } =
    typeof answer === 'string' ? { description: answer, schema: undefined, contentType: undefined } : answer;
  // Error answers carry the one error body unless told otherwise; success answers only when given one.
  const body = schema === undefined ? (status >= 400 ? 'Error' : undefined) : schema;
  // AppError sets Retry-After with 429 and 503, and WWW-Authenticate with 401 (app.ts, onError).
  const headers =
    (status === 429 || status === 503) && (body === 'Error' || body === 'OperationOutcome')
      ? { 'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' } } }
      : status === 401
        ? { 'WWW-Authenticate': { description: '`Bearer`', schema: { type: 'string' } } }
        : undefined;
  return {
    description,
    ...(headers ? { headers } : {}),
    ...(body ? { content: content(body, contentType) } : {}),
  };
}

/** The OpenAPI operation object for a spec. */
function operation(spec: OperationSpec) {
  const implied: Record<number, Answer> = { ...IMPLIED_BY_ACCESS[spec.access] };
  // A vendor's payload that cannot be read is kept among the integration's rejections and answered 200.
  if (spec.body && spec.access !== 'vendor') {
    implied[400] = 'The body is not JSON';
    implied[422] = 'The body is not valid: `details` names each problem';
  }
  if (spec.query) implied[422] = 'The query is not valid: `details` names each problem';
  const pathParams = [...spec.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }));
  const query = spec.query ? jsonSchema(spec.query) : undefined;
  const queryParams = Object.entries(query?.properties ?? {}).map(([name, schema]) => ({
    name,
    in: 'query',
    required: query?.required?.includes(name) ?? false,
    schema,
  }));
  const parameters = [...pathParams, ...queryParams];
  const ok = spec.ok.status ?? 200;
  const answers = { ...implied, ...spec.answers } as Record<number, Answer>;
  if (spec.fhir) {
    for (const [status, answer] of Object.entries(answers)) {
      // An answer without a body (null) stays without one: Node's own 400 for a malformed request.
      if (Number(status) < 400 || (typeof answer !== 'string' && answer.schema === null)) continue;
      const description = typeof answer === 'string' ? answer : answer.description;
      answers[Number(status)] = { description, schema: 'OperationOutcome', contentType: FHIR_JSON };
    }
  }
  return {
    operationId: spec.operationId,
    tags: [spec.tag],
    summary: spec.summary,
    security: spec.security ?? SECURITY[spec.access],
    ...(parameters.length ? { parameters } : {}),
    ...(spec.body
      ? {
          requestBody: {
            required: !spec.bodyOptional,
            content: content(spec.body, spec.bodyContentType ?? (spec.fhir ? FHIR_JSON : undefined)),
          },
        }
      : {}),
    responses: Object.fromEntries([
      [ok, response(ok, spec.ok)],
      ...Object.entries(answers).map(([status, answer]) => [status, response(Number(status), answer)]),
    ]),
  };
}

/** The /readyz body (ops/routes.ts): a check with `required: false` is reported but does not make the service unready. */
const readiness = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ready', 'not_ready'] },
    checks: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          ok: { type: 'boolean' },
          detail: { type: 'string' },
          required: { type: 'boolean' },
        },
      },
    },
  },
};

const NOT_YOUR_PATIENT = 'No such patient, or not on its care team';
const NOT_YOUR_ALERT = "No such alert, or not on its patient's care team";

/** Every operation the service answers (the web app's pages and assets aside). */
const OPERATIONS: OperationSpec[] = [
  {
    method: 'post',
    path: '/v1/readings',
    operationId: 'postReadings',
    tag: 'readings',
    summary: 'A device sends one reading or a batch',
    access: 'device',
    body: 'ReadingOrBatch',
    ok: { description: 'At least one reading accepted or a duplicate', schema: 'IngestResponse' },
    answers: {
      400: 'Not JSON, or not a reading nor a readings array',
      413: 'Body over 1 MiB, or more than 1000 readings',
      415: 'Not application/json',
      422: { description: 'Every reading was rejected', schema: 'IngestResponse' },
      429: "Over the device's rate limit",
      503: 'The time-series database is too far behind (InfluxDB backend)',
    },
  },
  {
    method: 'post',
    path: '/v1/auth/login',
    operationId: 'login',
    tag: 'auth',
    summary: 'Sign in: a bearer token (also set as an HttpOnly session cookie) with its expiry',
    access: 'public',
    body: 'Login',
    ok: { description: '{token, expiresAt, clinician}' },
    answers: { 401: 'Wrong email or password', 429: 'Too many failed sign-ins' },
  },
  {
    method: 'post',
    path: '/v1/auth/logout',
    operationId: 'logout',
    tag: 'auth',
    summary: 'Sign out (ends this session)',
    access: 'signedIn',
    ok: { status: 204, description: 'Signed out' },
  },
  {
    method: 'get',
    path: '/v1/auth/me',
    operationId: 'getCurrentUser',
    tag: 'auth',
    summary: 'The signed-in clinician',
    access: 'signedIn',
    ok: { description: '{clinician, role, actorId}' },
  },
  {
    method: 'get',
    path: '/v1/clinicians',
    operationId: 'listClinicians',
    tag: 'clinicians',
    summary: 'Clinician accounts (admin)',
    access: 'admin',
    ok: { description: '{clinicians: [...]}' },
  },
  {
    method: 'post',
    path: '/v1/clinicians',
    operationId: 'createClinician',
    tag: 'clinicians',
    summary: 'Create a clinician account (admin)',
    access: 'admin',
    body: 'CreateClinician',
    ok: { status: 201, description: '{id, name, email, role}' },
    answers: { 409: 'Email in use' },
  },
  {
    method: 'patch',
    path: '/v1/clinicians/{id}',
    operationId: 'updateClinician',
    tag: 'clinicians',
    summary:
      'Disable or re-enable a clinician account (admin): ends their sessions, refuses sign-in, removes them from routing',
    access: 'admin',
    body: 'UpdateClinician',
    ok: { description: '{id, name, email, role, disabled}' },
    answers: { 404: 'No such clinician', 409: 'An admin cannot disable their own account' },
  },
  {
    method: 'get',
    path: '/v1/clinicians/{id}/away',
    operationId: 'getAwayPeriods',
    tag: 'clinicians',
    summary: "A clinician's away periods (admin, or that clinician)",
    access: 'signedIn',
    ok: { description: '{periods: [{from, until, note?}]}' },
    answers: { 403: 'Another clinician’s periods', 404: 'No such clinician' },
  },
  {
    method: 'put',
    path: '/v1/clinicians/{id}/away',
    operationId: 'replaceAwayPeriods',
    tag: 'clinicians',
    summary: 'Replace a clinician’s away periods: routing skips them while away (admin, or that clinician)',
    access: 'signedIn',
    body: 'AwayPeriods',
    ok: { description: '{periods}' },
    answers: { 403: 'Another clinician’s periods', 404: 'No such clinician' },
  },
  {
    method: 'get',
    path: '/v1/on-call',
    operationId: 'getOnCallRota',
    tag: 'on-call',
    summary: 'The on-call rota and who is on call now',
    access: 'signedIn',
    ok: { description: '{shifts: [{clinicianId, from, until}], now: clinicianId or null}' },
  },
  {
    method: 'put',
    path: '/v1/on-call',
    operationId: 'replaceOnCallRota',
    tag: 'on-call',
    summary: 'Replace the on-call rota (admin)',
    access: 'admin',
    body: 'OnCallShifts',
    ok: { description: '{shifts, now}' },
  },
  {
    method: 'get',
    path: '/v1/patients',
    operationId: 'listPatients',
    tag: 'patients',
    summary: 'Patients the caller may see (discharged ones only with status=all or status=discharged)',
    access: 'signedIn',
    query: patientsQuerySchema,
    ok: { description: '{patients: [...]}' },
  },
  {
    method: 'post',
    path: '/v1/patients',
    operationId: 'createPatient',
    tag: 'patients',
    summary: 'Create a patient (admin)',
    access: 'admin',
    body: 'CreatePatient',
    ok: { status: 201, description: 'The patient' },
    answers: { 409: 'externalId in use' },
  },
  {
    method: 'get',
    path: '/v1/patients/{id}',
    operationId: 'getPatient',
    tag: 'patients',
    summary: 'A patient',
    access: 'signedIn',
    ok: { description: 'The patient' },
    answers: { 404: NOT_YOUR_PATIENT },
  },
  {
    method: 'patch',
    path: '/v1/patients/{id}',
    operationId: 'setPatientStatus',
    tag: 'patients',
    summary: 'Pause, resume or discharge monitoring (admin, or the care team); a discharge resolves open alerts',
    access: 'signedIn',
    body: 'PatientStatus',
    ok: { description: 'The patient' },
    answers: { 403: 'Not on the care team', 404: NOT_YOUR_PATIENT },
  },
  {
    method: 'get',
    path: '/v1/patients/{id}/status-history',
    operationId: 'listPatientStatusHistory',
    tag: 'patients',
    summary: 'Every change of the patient’s status, with who made it and why',
    access: 'signedIn',
    ok: { description: '{history: [{version, status, until, reason, changedBy, changedAt}]}' },
    answers: { 404: NOT_YOUR_PATIENT },
  },
  {
    method: 'get',
    path: '/v1/patients/{id}/readings',
    operationId: 'listPatientReadings',
    tag: 'patients',
    summary: 'Raw readings (oldest first, paged with cursor=next) or bucketed trends (bucket=1h|1d|1w)',
    access: 'signedIn',
    query: readingsQuerySchema,
    ok: { description: '{type, readings, next?} or {type, bucket, buckets}' },
    answers: { 404: NOT_YOUR_PATIENT, 503: 'The time-series database is out of reach (InfluxDB backend)' },
  },
  {
    method: 'get',
    path: '/v1/patients/{id}/devices',
    operationId: 'listPatientDevices',
    tag: 'patients',
    summary: "The patient's devices",
    access: 'signedIn',
    ok: { description: '{devices: [...]}' },
    answers: { 404: NOT_YOUR_PATIENT },
  },
  {
    method: 'get',
    path: '/v1/patients/{id}/care-team',
    operationId: 'getCareTeam',
    tag: 'patients',
    summary: "The patient's care team",
    access: 'signedIn',
    ok: { description: '{patientId, members}' },
    answers: { 404: NOT_YOUR_PATIENT },
  },
  {
    method: 'put',
    path: '/v1/patients/{id}/care-team',
    operationId: 'replaceCareTeam',
    tag: 'patients',
    summary: 'Replace the care team (admin)',
    access: 'admin',
    body: 'CareTeam',
    ok: { description: 'The care team' },
    answers: { 404: 'No such patient', 422: 'Invalid team: `details` names each problem' },
  },
  {
    method: 'get',
    path: '/v1/patients/{id}/care-plan',
    operationId: 'getCarePlan',
    tag: 'care-plans',
    summary: 'The care plan in force',
    access: 'signedIn',
    ok: { description: 'The care plan', schema: 'CarePlan' },
    answers: { 404: NOT_YOUR_PATIENT },
  },
  {
    method: 'put',
    path: '/v1/patients/{id}/care-plan',
    operationId: 'updateCarePlan',
    tag: 'care-plans',
    summary:
      'A new version of the care plan (admin, or a physician on the care team); templates expanded, per-patient rules override',
    access: 'signedIn',
    body: 'CarePlanInput',
    ok: { description: 'The care plan', schema: 'CarePlan' },
    answers: {
      403: 'Neither an administrator nor a physician on the care team (or a device token)',
      404: NOT_YOUR_PATIENT,
      422: 'Invalid plan: `details` names every problem',
    },
  },
  {
    method: 'get',
    path: '/v1/patients/{id}/care-plan/versions',
    operationId: 'listCarePlanVersions',
    tag: 'care-plans',
    summary: 'Every version of the care plan, with who changed it and when',
    access: 'signedIn',
    ok: { description: '{versions}' },
    answers: { 404: NOT_YOUR_PATIENT },
  },
  {
    method: 'get',
    path: '/v1/care-plan-templates',
    operationId: 'listCarePlanTemplates',
    tag: 'care-plans',
    summary: 'The templates in rules/, each rule with its clinical source',
    access: 'signedIn',
    ok: { description: '{templates}' },
  },
  {
    method: 'get',
    path: '/v1/alerts',
    operationId: 'listAlerts',
    tag: 'alerts',
    summary: 'Alerts of the patients the caller may see, newest first, paged with cursor=next',
    access: 'signedIn',
    query: alertsQuerySchema,
    ok: { description: '{alerts, next?}' },
  },
  {
    method: 'get',
    path: '/v1/alerts/{id}',
    operationId: 'getAlert',
    tag: 'alerts',
    summary: 'An alert',
    access: 'signedIn',
    ok: { description: 'The alert' },
    answers: { 404: NOT_YOUR_ALERT },
  },
  {
    method: 'get',
    path: '/v1/alerts/{id}/deliveries',
    operationId: 'listAlertDeliveries',
    tag: 'alerts',
    summary: 'Every delivery attempt for the alert (push, webhook) and where its escalation stands',
    access: 'signedIn',
    ok: { description: '{escalation, deliveries}' },
    answers: { 404: NOT_YOUR_ALERT },
  },
  {
    method: 'post',
    path: '/v1/alerts/{id}/acknowledge',
    operationId: 'acknowledgeAlert',
    tag: 'alerts',
    summary: 'Acknowledge: stops escalation',
    access: 'signedIn',
    ok: { description: 'The alert' },
    answers: { 404: NOT_YOUR_ALERT, 409: 'Already resolved' },
  },
  {
    method: 'post',
    path: '/v1/alerts/{id}/resolve',
    operationId: 'resolveAlert',
    tag: 'alerts',
    summary: 'Resolve, with an optional note; the next breach opens a new alert',
    access: 'signedIn',
    body: 'ResolveAlert',
    bodyOptional: true,
    ok: { description: 'The alert' },
    answers: { 404: NOT_YOUR_ALERT, 409: 'Already resolved' },
  },
  {
    method: 'get',
    path: '/v1/inbox',
    operationId: 'getInbox',
    tag: 'alerts',
    summary:
      "The web app's inbox in one request: the caller's patients' alerts with patient and clinician names, push deliveries and the next escalation step",
    access: 'signedIn',
    query: inboxQuerySchema,
    ok: { description: '{alerts, ...}' },
    answers: { 404: NOT_YOUR_PATIENT },
  },
  {
    method: 'get',
    path: '/v1/patients-summary',
    operationId: 'listPatientSummaries',
    tag: 'patients',
    summary:
      'Per visible patient: last reading, open alerts by severity, and RPM adherence (days with a reading in the last 30, in the patient time zone; flagged below 16)',
    access: 'signedIn',
    query: summaryQuerySchema,
    ok: { description: '{generatedAt, adherenceWindowDays, adherenceMinimumDays, patients: [...]}' },
    answers: { 404: NOT_YOUR_PATIENT },
  },
  {
    method: 'get',
    path: '/v1/devices',
    operationId: 'listDevices',
    tag: 'devices',
    summary: 'Devices (admin)',
    access: 'admin',
    ok: { description: '{devices: [...]}' },
  },
  {
    method: 'post',
    path: '/v1/devices',
    operationId: 'createDevice',
    tag: 'devices',
    summary: 'Provision a device (admin); the token is returned once',
    access: 'admin',
    body: 'CreateDevice',
    ok: {
      status: 201,
      description: '{id, token, kind, serial, patientId, createdAt, assignedAt, vendor, vendorDeviceId}',
    },
    answers: { 409: 'vendorDeviceId in use for that vendor' },
  },
  {
    method: 'get',
    path: '/v1/devices/{id}',
    operationId: 'getDevice',
    tag: 'devices',
    summary: 'A device (admin)',
    access: 'admin',
    ok: { description: 'The device' },
    answers: { 404: 'No such device' },
  },
  {
    method: 'put',
    path: '/v1/devices/{id}/patient',
    operationId: 'assignDevice',
    tag: 'devices',
    summary: 'Assign the device to a patient, or null to unassign (admin)',
    access: 'admin',
    body: 'AssignDevice',
    ok: { description: 'The device' },
    answers: { 404: 'No such device' },
  },
  {
    method: 'post',
    path: '/v1/devices/{id}/token',
    operationId: 'rotateDeviceToken',
    tag: 'devices',
    summary: 'Rotate the device token (admin); the old one stops working',
    access: 'admin',
    ok: { description: 'The device with its new token' },
    answers: { 404: 'No such device' },
  },
  {
    method: 'get',
    path: '/v1/devices/{id}/rejections',
    operationId: 'listDeviceRejections',
    tag: 'devices',
    summary:
      'Refused payloads with their reasons, newest first (admin); any device id, as an external broker may carry unknown ones',
    access: 'admin',
    query: rejectionsQuerySchema,
    ok: { description: '{rejections: [{receivedAt, transport, reason, payload, rawPayload, errors}]}' },
  },
  {
    method: 'get',
    path: '/v1/integrations',
    operationId: 'listIntegrations',
    tag: 'integrations',
    summary: 'Vendor integrations (admin), each with the URL its vendor posts to',
    access: 'admin',
    ok: { description: '{integrations: [{id, vendor, url, createdAt}]}' },
  },
  {
    method: 'post',
    path: '/v1/integrations',
    operationId: 'createIntegration',
    tag: 'integrations',
    summary: 'Create a vendor integration (admin); its secret is returned once, with the URL to give the vendor',
    access: 'admin',
    body: 'CreateIntegration',
    ok: { status: 201, description: '{id, vendor, secret, url, createdAt}' },
  },
  {
    method: 'get',
    path: '/v1/integrations/{id}/rejections',
    operationId: 'listIntegrationRejections',
    tag: 'integrations',
    summary:
      "What arrived and could not be used, newest first (admin): unknown devices and unreadable payloads (deviceId null), and what the vendor's devices had refused",
    access: 'admin',
    query: rejectionsQuerySchema,
    ok: { description: '{rejections: [{receivedAt, deviceId, transport, reason, payload, rawPayload, errors}]}' },
    answers: { 404: 'No such integration' },
  },
  {
    method: 'post',
    path: '/v1/integrations/{id}/withings-users',
    operationId: 'linkWithingsUser',
    tag: 'integrations',
    summary:
      "Link a Withings user to a patient with the user's OAuth tokens (admin): creates or assigns the user's device; the tokens are kept sealed and never shown",
    access: 'admin',
    body: 'LinkWithingsUser',
    ok: {
      status: 201,
      description:
        '{integrationId, withingsUserId, deviceId, patientId, expiresAt}; 200 when the user was linked already',
    },
    answers: { 404: 'No such integration', 409: 'Not a Withings integration' },
  },
  ...Object.values(PUSH_VENDORS).map(
    (vendor): OperationSpec => ({
      method: 'post',
      path: `/v1/vendors/${vendor.name}`,
      operationId: `receive${vendor.title.replace(/\W/g, '')}Measurements`,
      tag: 'vendors',
      summary: `${vendor.title}'s cloud posts measurements (${vendor.auth === 'bearer' ? 'Authorization: Bearer <integration secret>' : 'HTTP Basic: integration id and secret'})`,
      access: 'vendor',
      security: [{ [vendor.auth === 'bearer' ? 'integrationSecret' : 'integrationBasic']: [] }],
      body: 'VendorPayload',
      ok: {
        description: 'Stored or kept: unknown devices and unreadable items are kept among the integration rejections',
        schema: 'VendorReceipt',
      },
      answers: {
        413: 'Body over 1 MiB',
        503: 'The time-series database is too far behind (InfluxDB backend): send again later',
      },
    }),
  ),
  {
    method: 'get',
    path: `/v1/vendors/${WITHINGS}`,
    operationId: 'checkWithingsCallback',
    tag: 'vendors',
    summary: 'Answers 200 to the URL check (HEAD) Withings makes before subscribing it',
    access: 'vendor',
    security: [{ integrationSecretQuery: [] }],
    ok: { description: '{vendor, ready}' },
  },
  {
    method: 'post',
    path: `/v1/vendors/${WITHINGS}`,
    operationId: 'receiveWithingsNotification',
    tag: 'vendors',
    summary:
      "Withings notifies new data; Homewatch fetches the user's measures (getmeas) and answers once they are stored",
    access: 'vendor',
    security: [{ integrationSecretQuery: [] }],
    body: 'WithingsNotification',
    bodyContentType: 'application/x-www-form-urlencoded',
    ok: { description: 'Stored or kept among the integration rejections', schema: 'VendorReceipt' },
    answers: {
      413: 'Body over 1 MiB',
      503: 'Withings could not be reached or refused (the notification is kept): Withings sends it again',
    },
  },
  {
    method: 'get',
    path: '/v1/push/public-key',
    operationId: 'getPushPublicKey',
    tag: 'push',
    summary: "The server's VAPID public key (base64url) for PushManager.subscribe",
    access: 'public',
    ok: { description: '{publicKey}' },
    answers: { 400: MALFORMED_REQUEST },
  },
  {
    method: 'post',
    path: '/v1/push/subscriptions',
    operationId: 'createPushSubscription',
    tag: 'push',
    summary: "Register the signed-in clinician's browser; the endpoint must be on PUSH_ENDPOINT_HOSTS",
    access: 'signedIn',
    body: 'PushSubscription',
    ok: { status: 201, description: '{id, endpoint}' },
    answers: {
      403: 'The admin token or a device token: subscriptions belong to a signed-in clinician',
      422: 'Not a valid subscription, or a push service that is not allowed',
    },
  },
  {
    method: 'delete',
    path: '/v1/push/subscriptions',
    operationId: 'deletePushSubscription',
    tag: 'push',
    summary: 'Remove a subscription of the signed-in clinician',
    access: 'signedIn',
    body: 'PushUnsubscribe',
    ok: { status: 204, description: 'Removed (or there was none)' },
    answers: { 403: 'The admin token or a device token: subscriptions belong to a signed-in clinician' },
  },
  {
    method: 'get',
    path: '/v1/webhooks',
    operationId: 'listWebhooks',
    tag: 'webhooks',
    summary: 'Registered webhooks (admin)',
    access: 'admin',
    ok: { description: '{webhooks}' },
  },
  {
    method: 'post',
    path: '/v1/webhooks',
    operationId: 'createWebhook',
    tag: 'webhooks',
    summary: 'Register an HTTPS endpoint for every alert event, signed HMAC-SHA256 (admin); the secret is shown once',
    access: 'admin',
    body: 'CreateWebhook',
    ok: { status: 201, description: '{id, url, createdAt, secret}' },
  },
  {
    method: 'delete',
    path: '/v1/webhooks/{id}',
    operationId: 'deleteWebhook',
    tag: 'webhooks',
    summary: 'Remove a webhook (admin)',
    access: 'admin',
    ok: { status: 204, description: 'Removed' },
    answers: { 404: 'No such webhook' },
  },
  {
    method: 'get',
    path: '/v1/audit',
    operationId: 'listAuditEvents',
    tag: 'audit',
    summary: 'The audit trail, newest first (admin)',
    access: 'admin',
    query: auditQuerySchema,
    ok: { description: '{events}' },
  },
  {
    method: 'get',
    path: '/v1/audit/verify',
    operationId: 'verifyAuditTrail',
    tag: 'audit',
    summary: "Checks the audit trail's hash chain (admin)",
    access: 'admin',
    ok: { description: '{ok, checked, brokenAt?}' },
  },
  {
    method: 'get',
    path: '/fhir/R4/metadata',
    operationId: 'getFhirCapabilities',
    tag: 'fhir',
    summary: 'The CapabilityStatement: FHIR 4.0.1, the resources, interactions and search parameters served',
    access: 'public',
    fhir: true,
    ok: { description: 'CapabilityStatement', schema: 'FhirResource', contentType: FHIR_JSON },
    answers: { 400: MALFORMED_REQUEST },
  },
  {
    method: 'get',
    path: '/fhir/R4/Patient/{id}',
    operationId: 'readFhirPatient',
    tag: 'fhir',
    summary: 'A patient as a FHIR Patient (identifier: the externalId)',
    access: 'signedIn',
    fhir: true,
    ok: { description: 'Patient', schema: 'FhirResource', contentType: FHIR_JSON },
    answers: { 404: NOT_YOUR_PATIENT },
  },
  {
    method: 'get',
    path: '/fhir/R4/Patient',
    operationId: 'searchFhirPatients',
    tag: 'fhir',
    summary: 'Find a patient by identifier (the externalId); patients outside your care teams are not listed',
    access: 'signedIn',
    fhir: true,
    query: patientSearchParams,
    ok: { description: 'Bundle (searchset)', schema: 'FhirResource', contentType: FHIR_JSON },
    answers: { 400: 'No identifier' },
  },
  {
    method: 'get',
    path: '/fhir/R4/Device/{id}',
    operationId: 'readFhirDevice',
    tag: 'fhir',
    summary: 'A device as a FHIR Device (its type an IEEE 11073 device specialization)',
    access: 'signedIn',
    fhir: true,
    ok: { description: 'Device', schema: 'FhirResource', contentType: FHIR_JSON },
    answers: { 404: 'No such device, or its patient is not on your care team (unassigned devices: admins only)' },
  },
  {
    method: 'get',
    path: '/fhir/R4/Observation/{id}',
    operationId: 'readFhirObservation',
    tag: 'fhir',
    summary: 'A vital-signs Observation: a reading id, or {readingId}-hr for the pulse sent with it',
    access: 'signedIn',
    fhir: true,
    ok: { description: 'Observation', schema: 'FhirResource', contentType: FHIR_JSON },
    answers: { 404: "No such Observation, or not on its patient's care team" },
  },
  {
    method: 'get',
    path: '/fhir/R4/Observation/{id}/_history/{version}',
    operationId: 'readFhirObservationVersion',
    tag: 'fhir',
    summary: 'An Observation at a version: readings never change, so version 1 is the only one',
    access: 'signedIn',
    fhir: true,
    ok: { description: 'Observation', schema: 'FhirResource', contentType: FHIR_JSON },
    answers: { 404: "No such Observation or version, or not on its patient's care team" },
  },
  {
    method: 'get',
    path: '/fhir/R4/Observation',
    operationId: 'searchFhirObservations',
    tag: 'fhir',
    summary: "A patient's vital-signs Observations, a page at a time with absolute self and next links",
    access: 'signedIn',
    fhir: true,
    query: observationSearchParams,
    ok: { description: 'Bundle (searchset)', schema: 'FhirResource', contentType: FHIR_JSON },
    answers: { 400: 'A search parameter is not valid, or no patient', 404: NOT_YOUR_PATIENT },
  },
  {
    method: 'post',
    path: '/fhir/R4/Observation',
    operationId: 'createFhirObservation',
    tag: 'fhir',
    summary:
      'A device or its gateway creates an Observation, stored as a reading; If-None-Exist: identifier=system|value makes it conditional',
    access: 'device',
    fhir: true,
    body: 'FhirResource',
    ok: { status: 201, description: 'Created: Location names it', schema: 'FhirResource', contentType: FHIR_JSON },
    answers: {
      200: {
        description: 'Already stored (the same identifier, or a duplicate reading): nothing was created',
        schema: 'FhirResource',
        contentType: FHIR_JSON,
      },
      400: 'Not JSON, or If-None-Exist is not identifier=system|value',
      413: 'Body over 1 MiB',
      415: 'Not application/fhir+json (or application/json)',
      422: 'Not an Observation Homewatch stores, or the reading is refused: each issue names the element',
      429: "Over the device's rate limit",
      503: 'The time-series database is too far behind (InfluxDB backend)',
    },
  },
  {
    method: 'post',
    path: '/fhir/R4',
    operationId: 'postFhirBundle',
    tag: 'fhir',
    summary: 'A transaction (all or nothing) or batch Bundle of Observation creates, from a device or its gateway',
    access: 'device',
    fhir: true,
    body: 'FhirResource',
    ok: {
      description: 'transaction-response or batch-response: response.status for each entry',
      schema: 'FhirResource',
      contentType: FHIR_JSON,
    },
    answers: {
      400: 'Not JSON',
      413: 'Body over 1 MiB, or more than 1000 entries',
      415: 'Not application/fhir+json (or application/json)',
      422: 'Not a transaction or batch Bundle, or a transaction with an entry refused: nothing was stored',
      429: "Over the device's rate limit",
      503: 'The time-series database is too far behind (InfluxDB backend)',
    },
  },
  {
    method: 'get',
    path: '/healthz',
    operationId: 'getHealth',
    tag: 'ops',
    summary: 'Liveness',
    access: 'public',
    ok: { description: 'Alive', schema: { type: 'object', properties: { status: { type: 'string', enum: ['ok'] } } } },
    answers: { 400: MALFORMED_REQUEST },
  },
  {
    method: 'get',
    path: '/readyz',
    operationId: 'getReadiness',
    tag: 'ops',
    summary: 'Readiness, naming each dependency',
    access: 'public',
    ok: { description: 'Ready', schema: readiness },
    answers: {
      400: MALFORMED_REQUEST,
      503: { description: 'Not ready: `checks` names what is down', schema: readiness },
    },
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    tag: 'ops',
    summary: 'Prometheus metrics',
    access: 'public',
    ok: { description: 'Prometheus text exposition format', schema: { type: 'string' }, contentType: 'text/plain' },
    answers: { 400: MALFORMED_REQUEST },
  },
  {
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApi',
    tag: 'ops',
    summary: 'This OpenAPI document',
    access: 'public',
    ok: { description: 'OpenAPI 3.0', schema: { type: 'object' } },
    answers: { 400: MALFORMED_REQUEST },
  },
];

/**
 * The OpenAPI 3 document, generated from the same zod schemas that validate requests, so it cannot
 * drift from what the service accepts. To document a new route, add its OperationSpec to OPERATIONS;
 * openapi.integration.test.ts lints the document with Redocly's recommended rules and checks every route is in it.
 */
export function buildOpenApi() {
  const paths: Record<string, Record<string, ReturnType<typeof operation>>> = {};
  for (const spec of OPERATIONS) {
    paths[spec.path] ??= {};
    paths[spec.path]![spec.method] = operation(spec);
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'Homewatch',
      version: '1',
      description:
        'Remote patient monitoring: the device protocol (also over MQTT, rpm/devices/{deviceId}/readings) and the clinician API.',
      license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
    },
    servers: [{ url: '/', description: 'The service that serves this document' }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    components: {
      securitySchemes: {
        deviceToken: {
          type: 'http',
          scheme: 'bearer',
          description: "A device's token (hwd_...), returned once by createDevice or rotateDeviceToken",
        },
        clinicianToken: {
          type: 'http',
          scheme: 'bearer',
          description: 'A session token from login (hws_...), or RPM_ADMIN_TOKEN',
        },
        integrationSecret: {
          type: 'http',
          scheme: 'bearer',
          description: "A vendor integration's secret (hwi_...), returned once by createIntegration",
        },
        integrationBasic: {
          type: 'http',
          scheme: 'basic',
          description: "HTTP Basic: the integration's id as the user name, its secret as the password",
        },
        integrationSecretQuery: {
          type: 'apiKey',
          in: 'query',
          name: 'secret',
          description: "The integration's secret in the notification URL (Withings can send nothing else)",
        },
        sessionCookie: {
          type: 'apiKey',
          in: 'cookie',
          name: SESSION_COOKIE,
          description: "The web app's session cookie, set by login",
        },
      },
      schemas,
    },
    paths,
  };
}
