import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { AuditLog, AuditOutcome } from '../audit/audit-log.ts';
import { isAdmin, requireDevice, requireUser, type AppEnv } from '../auth/middleware.ts';
import { recordAccess, requireVisible, type PatientAccess } from '../care-team/access.ts';
import type { DeviceIdentity } from '../devices/directory.ts';
import type { DeviceStore } from '../devices/store.ts';
import { AppError } from '../domain/errors.ts';
import { MAX_BODY_BYTES } from '../ingest/http.ts';
import type { Ingest } from '../ingest/ingest.ts';
import type { RateLimiter } from '../ingest/rate-limit.ts';
import { readBody } from '../ops/body-limit.ts';
import { statusAt } from '../patients/status.ts';
import type { PatientStore } from '../patients/store.ts';
import { KEPT_HEAD_BYTES } from '../store/rejection-log.ts';
import { capabilityStatement } from './capability.ts';
import { ObservationIntake } from './intake.ts';
import {
  FHIR_JSON,
  observationKinds,
  PATIENT_IDENTIFIER_SYSTEM,
  toDevice,
  toObservation,
  toPatient,
  type VitalKind,
} from './mapping.ts';
import { errorOutcome, operationOutcome } from './outcome.ts';
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

/**
 * `/fhir/R4`: the FHIR R4 face of Homewatch (docs/fhir.md). Clinicians read and search patients, devices
 * and vital-sign Observations, scoped and audited as the JSON API is; devices and their gateways create
 * Observations, which become readings of the one ingest pipeline. Every answer is FHIR JSON, errors
 * included (OperationOutcome).
 */
export function fhirRoute(options: FhirRouteOptions) {
  const { fhir, patients, devices, limiter, access, audit } = options;
  const intake = new ObservationIntake({ ingest: options.ingest, fhir });

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
   * The body of a create, as `POST /v1/readings` reads one: at most 1 MiB, and past that only its head,
   * read no further, to keep among the device's rejections (so the global body limit leaves these two
   * routes to limit themselves: src/ops/body-limit.ts). Refused bodies are kept there as that route keeps them.
   */
  const readResource = async (c: Context<AppEnv>, device: DeviceIdentity, receivedAt: number) => {
    const body = await readBody(c, MAX_BODY_BYTES, KEPT_HEAD_BYTES);
    if ('tooLarge' in body) {
      const error = new AppError('payload_too_large', 'The body is over 1 MiB');
      const declared = Number(c.req.header('content-length'));
      const bytes = Number.isSafeInteger(declared) ? declared : null;
      await intake.refuse(device, { head: body.tooLarge, bytes }, error, receivedAt);
      throw error;
    }
    const raw = body.body.toString('utf8');
    const contentType = c.req.header('content-type') ?? '';
    if (!/^application\/(fhir\+)?json\s*(;|$)/i.test(contentType)) {
      const error = new AppError(
        'unsupported_media_type',
        'Send FHIR resources as Content-Type: application/fhir+json',
        [{ path: '', message: `content type ${JSON.stringify(contentType)} is not application/fhir+json` }],
      );
      await intake.refuse(device, raw, error, receivedAt);
      throw error;
    }
    try {
      return { raw, resource: JSON.parse(raw) as unknown };
    } catch (cause) {
      const error = new AppError('invalid_json', `The body is not valid JSON: ${(cause as Error).message}`);
      await intake.refuse(device, raw, error, receivedAt);
      throw error;
    }
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
      const body = await readResource(c, device, receivedAt);
      const created = await intake.create(device, body, c.req.header('if-none-exist'), receivedAt);
      c.header('Location', `${baseUrl(c)}/Observation/${created.id}/_history/1`);
      c.header('ETag', 'W/"1"');
      return representation(c, created.observation, created.status);
    })
    .post('/', deviceWithinLimit, async (c) => {
      const device = requireDevice(c);
      const receivedAt = Date.now();
      const body = await readResource(c, device, receivedAt);
      return fhirJson(c, await intake.bundle(device, body, receivedAt));
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
