import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { AuditLog, AuditOutcome } from '../audit/audit-log.ts';
import { isAdmin, requireDevice, requireUser, type AppEnv } from '../auth/middleware.ts';
import { recordAccess, requireVisible, type PatientAccess } from '../care-team/access.ts';
import type { DeviceIdentity } from '../devices/directory.ts';
import type { DeviceStore } from '../devices/store.ts';
import { AppError, type ErrorDetail } from '../domain/errors.ts';
import { MAX_READINGS_PER_BATCH } from '../domain/reading.ts';
import { readBody } from '../ingest/http.ts';
import type { Ingest } from '../ingest/ingest.ts';
import type { RateLimiter } from '../ingest/rate-limit.ts';
import { normalizeReading } from '../normalize/reading.ts';
import { statusAt } from '../patients/status.ts';
import type { PatientStore } from '../patients/store.ts';
import { capabilityStatement } from './capability.ts';
import {
  parseIfNoneExist,
  readObservations,
  type InboundReading,
  type Issue,
  type ObservationInput,
} from './inbound.ts';
import {
  FHIR_JSON,
  heartRateId,
  observationKinds,
  PATIENT_IDENTIFIER_SYSTEM,
  toDevice,
  toObservation,
  toPatient,
  type VitalKind,
} from './mapping.ts';
import { errorOutcome, operationOutcome, type OperationOutcome } from './outcome.ts';
import { pageObservations, parseObservationSearch, readingsPerPage, readingTypesFor } from './search.ts';
import type { FhirStore } from './store.ts';

export const FHIR_BASE = '/fhir/R4';

export interface FhirRouteOptions {
  fhir: FhirStore;
  patients: PatientStore;
  devices: DeviceStore;
  ingest: Ingest;
  limiter: RateLimiter;
  access: PatientAccess;
  audit: AuditLog;
}

/** How each created or found entry is answered, as a FHIR status line. */
const CREATED = '201 Created';
const FOUND = '200 OK';

/**
 * `/fhir/R4`: the FHIR R4 face of Homewatch (docs/fhir.md). Clinicians read and search patients, devices
 * and vital-sign Observations, scoped and audited as the JSON API is; devices and their gateways create
 * Observations, which become readings of the one ingest pipeline. Every answer is FHIR JSON, errors
 * included (OperationOutcome).
 */
export function fhirRoute(options: FhirRouteOptions) {
  const { fhir, patients, devices, ingest, limiter, access, audit } = options;

  /** Refuses (404) and audits as denied anyone who may not see the patient; audits the answer otherwise. */
  const scoped = async (
    c: Context<AppEnv>,
    action: string,
    patientId: string | null | undefined,
    notFound: string,
    answer: () => Response | Promise<Response>,
  ) => {
    const visible = await requireVisible({ access, audit }, c, action, patientId, notFound);
    let outcome: AuditOutcome = 'failure';
    try {
      const response = await answer();
      if (response.status < 400) outcome = 'success';
      return response;
    } finally {
      await recordAccess(audit, c, action, visible, outcome);
    }
  };

  /** As for `POST /v1/readings`: a device token, and one request counted against the device's rate limit. */
  const deviceWithinLimit: MiddlewareHandler<AppEnv> = async (c, next) => {
    const retryAfter = limiter.take(requireDevice(c).id);
    if (retryAfter > 0)
      throw new AppError('rate_limited', 'Too many requests from this device; retry later', [], retryAfter);
    await next();
  };

  /**
   * The body of a create, as the device protocol reads one (readBody: at most 1 MiB, read no further
   * than that), as JSON. A refused body is kept among the device's rejections, as `POST /v1/readings` does.
   */
  const readResource = async (c: Context<AppEnv>, device: DeviceIdentity, receivedAt: number) => {
    const body = await readBody(c);
    if ('tooLarge' in body) {
      const error = new AppError('payload_too_large', 'The body is over 1 MiB');
      await ingest.refuse(device.id, body.tooLarge, 'http', error, undefined, receivedAt);
      throw error;
    }
    const contentType = c.req.header('content-type') ?? '';
    if (!/^application\/(fhir\+)?json\s*(;|$)/i.test(contentType)) {
      const error = new AppError(
        'unsupported_media_type',
        'Send FHIR resources as Content-Type: application/fhir+json',
        [{ path: '', message: `content type ${JSON.stringify(contentType)} is not application/fhir+json` }],
      );
      await ingest.refuse(device.id, body.text, 'http', error, undefined, receivedAt);
      throw error;
    }
    try {
      return { raw: body.text, resource: JSON.parse(body.text) as unknown };
    } catch (cause) {
      const error = new AppError('invalid_json', `The body is not valid JSON: ${(cause as Error).message}`);
      await ingest.refuse(device.id, body.text, 'http', error, undefined, receivedAt);
      throw error;
    }
  };

  /** Keeps what was refused before reaching the pipeline among the device's rejections, with its reasons. */
  const refuseInput = (device: DeviceIdentity, payload: string, issues: Issue[], receivedAt: number) =>
    ingest.refuse(
      device.id,
      payload,
      'http',
      refusal('The Observation cannot be stored', issues),
      'invalid',
      receivedAt,
    );

  /**
   * Sends the readings through the ingest pipeline as one message: its validation, de-duplication,
   * rules, alerts and rejections. The outcome of each reading, with the pipeline's reasons named by the
   * FHIR elements they came from.
   */
  const store = async (device: DeviceIdentity, inbound: InboundReading[], receivedAt: number) => {
    if (!inbound.length) return [];
    const raw = JSON.stringify({ readings: inbound.map((item) => item.reading) });
    const { body } = await ingest.handleMessage(device, raw, 'http', receivedAt);
    if (!('results' in body)) throw new AppError('internal', body.error.message);
    return body.results.map((result, index) =>
      result.status === 'rejected'
        ? { status: 'rejected' as const, issues: namedIssues(result.errors, inbound[index]!) }
        : { status: result.status, readingId: result.readingId },
    );
  };

  const app = new Hono<AppEnv>();
  app.onError((error, c) => {
    if (error instanceof AppError) {
      if (error.retryAfter) c.header('Retry-After', String(error.retryAfter));
      if (error.code === 'unauthorized') c.header('WWW-Authenticate', 'Bearer');
      return fhirJson(c, errorOutcome(error), error.status);
    }
    // Anything else is the root's to log and answer (app.ts).
    throw error;
  });
  app.use(async (c, next) => {
    await next();
    c.header('Cache-Control', 'no-store');
  });

  return app
    .get('/metadata', (c) => fhirJson(c, capabilityStatement(baseUrl(c))))
    .get('/Patient/:id', async (c) => {
      requireUser(c);
      const id = c.req.param('id');
      return scoped(c, 'fhir.patient.read', id, 'No such patient', () => {
        const patient = patients.get(id)!;
        return fhirJson(c, toPatient({ ...patient, status: statusAt(patient, Date.now()) }));
      });
    })
    .get('/Patient', async (c) => {
      const principal = requireUser(c);
      const value = c.req.queries('identifier');
      if (value?.length !== 1) {
        throw new AppError('bad_request', 'Search patients by identifier (their externalId), given once', [
          { path: 'identifier', message: 'is required' },
        ]);
      }
      const token = value[0]!;
      const bar = token.indexOf('|');
      const externalId =
        bar < 0 ? token : token.slice(0, bar) === PATIENT_IDENTIFIER_SYSTEM ? token.slice(bar + 1) : '';
      const patient = externalId ? fhir.patientByExternalId(externalId) : undefined;
      const visible = patient !== undefined && access.canSee(principal, patient.id);
      // Someone else's patient is left out as if there were none, and the attempt is audited as denied.
      await recordAccess(
        audit,
        c,
        'fhir.patient.search',
        patient?.id ?? null,
        patient && !visible ? 'denied' : 'success',
      );
      const found = visible && patient ? [toPatient({ ...patient, status: statusAt(patient, Date.now()) })] : [];
      const params = new URLSearchParams({ identifier: token });
      return fhirJson(c, searchset(baseUrl(c), 'Patient', params, found));
    })
    .get('/Device/:id', async (c) => {
      const principal = requireUser(c);
      const device = devices.get(c.req.param('id'));
      if (device && device.patientId === null && isAdmin(principal)) {
        await recordAccess(audit, c, 'fhir.device.read', null, 'success');
        return fhirJson(c, toDevice(device));
      }
      // An unassigned device is for admins; an assigned one, for whoever may see its patient.
      return scoped(c, 'fhir.device.read', device?.patientId, 'No such device', () => fhirJson(c, toDevice(device!)));
    })
    .get('/Observation/:id', (c) => readObservation(c, c.req.param('id')))
    .get('/Observation/:id/_history/:version', (c) => {
      // Readings never change: version 1 is the only one.
      if (c.req.param('version') !== '1') {
        requireUser(c);
        throw new AppError('not_found', 'No such version: Observations have version 1 only');
      }
      return readObservation(c, c.req.param('id'));
    })
    .get('/Observation', async (c) => {
      requireUser(c);
      const search = parseObservationSearch(c.req.queries());
      return scoped(c, 'fhir.observation.search', search.patientId, 'No such patient', () => {
        const pages = readingTypesFor(search.kinds).map(({ type, withPulse }) =>
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
        const page = pageObservations(pages, search);
        const base = baseUrl(c);
        const observations = page.items.map(({ reading, kind }) => toObservation(reading, kind));
        const bundle = searchset(base, 'Observation', search.params, observations, page.next);
        return fhirJson(c, bundle);
      });
    })
    .post('/Observation', deviceWithinLimit, async (c) => {
      const device = requireDevice(c);
      const receivedAt = Date.now();
      const { raw, resource } = await readResource(c, device, receivedAt);
      const header = c.req.header('if-none-exist');
      const identifier = header === undefined ? undefined : parseIfNoneExist(header);
      if (header !== undefined && identifier === undefined) {
        const error = new AppError('bad_request', 'If-None-Exist must be identifier=system|value', [
          { path: 'If-None-Exist', message: `${JSON.stringify(header)} is not identifier=system|value` },
        ]);
        await ingest.refuse(device.id, raw, 'http', error, 'invalid', receivedAt);
        throw error;
      }
      const input: ObservationInput = { resource, base: 'Observation', identifier, identifierPath: 'If-None-Exist' };
      const { readings, refused } = readObservations([input], device.patientId);
      const issues = refused.get(0);
      if (issues) {
        await refuseInput(device, raw, issues, receivedAt);
        throw refusal('The Observation cannot be stored as a reading', issues);
      }
      const [result] = await store(device, readings, receivedAt);
      if (result!.status === 'rejected') throw refusal('The reading was refused', result!.issues);
      const kind = readings[0]!.kinds[0]!;
      const id = observationId(result!.readingId, kind);
      const reading = fhir.readingById(result!.readingId);
      c.header('Location', `${baseUrl(c)}/Observation/${id}/_history/1`);
      c.header('ETag', 'W/"1"');
      const status = result!.status === 'accepted' ? 201 : 200;
      return representation(c, reading && toObservation(reading, kind), status);
    })
    .post('/', deviceWithinLimit, async (c) => {
      const device = requireDevice(c);
      const receivedAt = Date.now();
      const { raw, resource } = await readResource(c, device, receivedAt);
      const bundle = readBundle(resource);
      if ('issues' in bundle) {
        await refuseInput(device, raw, bundle.issues, receivedAt);
        throw refusal('The body is not a transaction or batch Bundle', bundle.issues);
      }
      const { type, entries } = bundle;
      const requestIssues = new Map<number, Issue[]>();
      const inputs: ObservationInput[] = [];
      const inputEntry: number[] = [];
      entries.forEach((entry, index) => {
        const read = readEntry(entry, index);
        if ('issues' in read) requestIssues.set(index, read.issues);
        else {
          inputs.push(read.input);
          inputEntry.push(index);
        }
      });
      const { readings, refused: refusedInputs } = readObservations(inputs, device.patientId);
      const refused = new Map(requestIssues);
      for (const [input, issues] of refusedInputs) refused.set(inputEntry[input]!, issues);
      for (const reading of readings) reading.inputs = reading.inputs.map((input) => inputEntry[input]!);

      if (type === 'transaction') {
        // All or nothing: every entry is checked, as the pipeline will check it, before anything is stored.
        const issues = [...refused.values()].flat();
        for (const reading of readings) {
          const outcome = normalizeReading(reading.reading, receivedAt);
          if (!outcome.ok) issues.push(...namedIssues(outcome.errors, reading));
        }
        if (device.patientId === null) {
          issues.push({ expression: 'Bundle', message: 'the device is not assigned to a patient' });
        }
        if (issues.length) {
          await refuseInput(device, raw, issues, receivedAt);
          throw refusal('The transaction was refused: nothing of it was stored', issues);
        }
      } else {
        await Promise.all(
          [...refused].map(([index, issues]) =>
            refuseInput(device, JSON.stringify(entries[index]), issues, receivedAt),
          ),
        );
      }

      const responses: Array<{ response: Record<string, unknown> }> = entries.map(() => ({ response: {} }));
      const results = await store(device, readings, receivedAt);
      results.forEach((result, index) => {
        const reading = readings[index]!;
        reading.inputs.forEach((entry, part) => {
          responses[entry] =
            result.status === 'rejected'
              ? failed(result.issues)
              : {
                  response: {
                    status: result.status === 'accepted' ? CREATED : FOUND,
                    location: `Observation/${observationId(result.readingId, reading.kinds[part]!)}/_history/1`,
                    etag: 'W/"1"',
                  },
                };
        });
      });
      for (const [index, issues] of refused) responses[index] = failed(issues);
      return fhirJson(c, { resourceType: 'Bundle', type: `${type}-response`, entry: responses });
    })
    .all('*', (c) => {
      throw new AppError('not_found', `${c.req.method} ${c.req.path} is not an interaction this FHIR server supports`);
    });

  /** `GET Observation/{id}`: an Observation of a reading, `{readingId}` or `{readingId}-hr`. */
  async function readObservation(c: Context<AppEnv>, id: string) {
    requireUser(c);
    const hr = id.endsWith('-hr');
    const found = fhir.readingById(hr ? id.slice(0, -3) : id);
    const kind: VitalKind | undefined = found && observationKinds(found).find((k) => (k === 'heart-rate') === hr);
    const reading = kind ? found : undefined;
    return scoped(c, 'fhir.observation.read', reading?.patientId, 'No such Observation', () =>
      fhirJson(c, toObservation(reading!, kind!)),
    );
  }
}

/** The Observation id of a reading's own Observation or of its pulse. */
const observationId = (readingId: string, kind: VitalKind) =>
  kind === 'heart-rate' ? heartRateId(readingId) : readingId;

function fhirJson(c: Context<AppEnv>, resource: unknown, status = 200) {
  return c.body(JSON.stringify(resource), status as 200, { 'Content-Type': `${FHIR_JSON}; charset=utf-8` });
}

/** The FHIR base URL as the request reached it, for absolute links. */
function baseUrl(c: Context<AppEnv>) {
  return `${new URL(c.req.url).origin}${FHIR_BASE}`;
}

/** The answer to a create, as the Prefer header asks for (https://hl7.org/fhir/R4/http.html#ops): the resource by default. */
function representation(c: Context<AppEnv>, observation: unknown, status: 200 | 201) {
  const prefer = c.req.header('prefer') ?? '';
  if (/return=minimal/.test(prefer) || observation === undefined) return c.body(null, status);
  if (/return=OperationOutcome/.test(prefer)) {
    const text = status === 201 ? 'Created' : 'Already stored: nothing was created';
    return fhirJson(
      c,
      operationOutcome([{ severity: 'information', code: 'informational', diagnostics: text }]),
      status,
    );
  }
  return fhirJson(c, observation, status);
}

function searchset(
  base: string,
  type: string,
  params: URLSearchParams,
  resources: Array<{ id: string }>,
  next?: string,
) {
  const link = [{ relation: 'self', url: `${base}/${type}?${params}` }];
  if (next) {
    const following = new URLSearchParams(params);
    following.set('_cursor', next);
    link.push({ relation: 'next', url: `${base}/${type}?${following}` });
  }
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    link,
    entry: resources.map((resource) => ({
      fullUrl: `${base}/${type}/${resource.id}`,
      resource,
      search: { mode: 'match' },
    })),
  };
}

/** A 422 naming each element: the OperationOutcome's issues. */
function refusal(message: string, issues: Issue[]) {
  return new AppError(
    'validation_failed',
    message,
    issues.map(({ expression, message }) => ({ path: expression, message })),
  );
}

/** A batch entry that was not stored. */
function failed(issues: Issue[]): { response: { status: string; outcome: OperationOutcome } } {
  const { issue } = errorOutcome(refusal('This entry was not stored', issues));
  return { response: { status: '422 Unprocessable Entity', outcome: operationOutcome(issue) } };
}

/** The device protocol's reasons (`systolic: must be at most 300`) as the FHIR elements they came from. */
function namedIssues(errors: ErrorDetail[], reading: InboundReading): Issue[] {
  return errors.map(({ path, message }) => ({
    expression: reading.paths[path.split('.')[0]!] ?? reading.paths['']!,
    message,
  }));
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A transaction or batch Bundle's type and entries, or why it is not one. */
function readBundle(resource: unknown): { type: 'transaction' | 'batch'; entries: unknown[] } | { issues: Issue[] } {
  if (!isObject(resource) || resource.resourceType !== 'Bundle') {
    return { issues: [{ expression: 'Bundle.resourceType', message: 'must be "Bundle"' }] };
  }
  if (resource.type !== 'transaction' && resource.type !== 'batch') {
    return { issues: [{ expression: 'Bundle.type', message: 'must be "transaction" or "batch"' }] };
  }
  const entries = resource.entry ?? [];
  if (!Array.isArray(entries)) return { issues: [{ expression: 'Bundle.entry', message: 'must be an array' }] };
  if (entries.length > MAX_READINGS_PER_BATCH) {
    throw new AppError('payload_too_large', `A Bundle holds at most ${MAX_READINGS_PER_BATCH} entries`, [
      { path: 'Bundle.entry', message: `must have at most ${MAX_READINGS_PER_BATCH} entries, got ${entries.length}` },
    ]);
  }
  return { type: resource.type, entries };
}

/** An entry: a `POST Observation` (with its conditional-create identifier, if any), or why it cannot be. */
function readEntry(entry: unknown, index: number): { input: ObservationInput } | { issues: Issue[] } {
  const at = `Bundle.entry[${index}]`;
  if (!isObject(entry)) return { issues: [{ expression: at, message: 'must be an object' }] };
  const request = entry.request;
  if (
    !isObject(request) ||
    request.method !== 'POST' ||
    typeof request.url !== 'string' ||
    !/^Observation\/?$/.test(request.url)
  ) {
    return {
      issues: [
        {
          expression: `${at}.request`,
          message: 'must be {"method": "POST", "url": "Observation"}: entries create Observations',
        },
      ],
    };
  }
  let identifier: string | undefined;
  if (request.ifNoneExist !== undefined) {
    identifier = typeof request.ifNoneExist === 'string' ? parseIfNoneExist(request.ifNoneExist) : undefined;
    if (identifier === undefined) {
      return { issues: [{ expression: `${at}.request.ifNoneExist`, message: 'must be identifier=system|value' }] };
    }
  }
  return {
    input: {
      resource: entry.resource,
      base: `${at}.resource`,
      identifier,
      identifierPath: `${at}.request.ifNoneExist`,
    },
  };
}
