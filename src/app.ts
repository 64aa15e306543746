import { randomUUID } from 'node:crypto';
import { Hono, type MiddlewareHandler } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import { cors } from 'hono/cors';
import type { AlertActions, AlertStore } from './alerts/store.ts';
import { alertsRoute } from './alerts/routes.ts';
import { inboxRoute } from './alerts/inbox.ts';
import type { AuditLog } from './audit/audit-log.ts';
import { auditRefusals } from './audit/refusals.ts';
import { auditRoute } from './audit/routes.ts';
import { authenticate, csrfGuard, type AppEnv } from './auth/middleware.ts';
import { authRoute } from './auth/routes.ts';
import type { SessionStore } from './auth/sessions.ts';
import type { PatientAccess } from './care-team/access.ts';
import { careTeamRoute } from './care-team/routes.ts';
import type { CareTeamStore } from './care-team/store.ts';
import { carePlanRoute, templatesRoute } from './care-plans/routes.ts';
import type { CarePlanStore } from './care-plans/store.ts';
import { awayRoute, onCallRoute } from './availability/routes.ts';
import type { AvailabilityStore } from './availability/store.ts';
import { cliniciansRoute } from './clinicians/routes.ts';
import type { ClinicianStore } from './clinicians/store.ts';
import { pushRoute } from './delivery/push-routes.ts';
import type { DeliveryTargetStore } from './delivery/store.ts';
import { webhooksRoute } from './delivery/webhook-routes.ts';
import type { DeviceDirectory } from './devices/directory.ts';
import { devicesRoute } from './devices/routes.ts';
import type { DeviceStore } from './devices/store.ts';
import { AppError } from './domain/errors.ts';
import { FHIR_BASE, fhirRoute } from './fhir/routes.ts';
import type { FhirStore } from './fhir/store.ts';
import type { Template } from './domain/rule.ts';
import { readingsRoute } from './ingest/http.ts';
import type { Ingest } from './ingest/ingest.ts';
import type { RateLimiter } from './ingest/rate-limit.ts';
import { bodyLimits } from './ops/body-limit.ts';
import type { Logger } from './ops/log.ts';
import type { Metrics } from './ops/metrics.ts';
import { opsRoute, type ReadinessCheck } from './ops/routes.ts';
import { patientsRoute } from './patients/routes.ts';
import type { PatientStatus } from './patients/status.ts';
import type { PatientStore } from './patients/store.ts';
import { patientsSummaryRoute } from './patients/summary.ts';
import type { AlertChange } from './rules/engine.ts';
import type { ReadingStore } from './store/reading-store.ts';
import type { RejectionLog } from './store/rejection-log.ts';
import { integrationsRoute } from './vendors/routes.ts';
import type { IntegrationStore } from './vendors/store.ts';
import type { VendorIngest } from './vendors/vendor-ingest.ts';
import { vendorRoutes } from './vendors/vendor-routes.ts';
import type { WithingsSync } from './vendors/withings-sync.ts';
import { webRoute } from './web/routes.tsx';

/** The feature stores: each feature's SQL, shared by the routes, the CLI and the pipeline. */
export interface Stores {
  patients: PatientStore;
  clinicians: ClinicianStore;
  careTeams: CareTeamStore;
  carePlans: CarePlanStore;
  devices: DeviceStore;
  alerts: AlertStore;
  deliveryTargets: DeliveryTargetStore;
  readings: ReadingStore;
  rejections: RejectionLog;
  availability: AvailabilityStore;
  fhir: FhirStore;
  integrations: IntegrationStore;
}

export interface AppOptions {
  stores: Stores;
  log: Logger;
  metrics: Metrics;
  checks: ReadinessCheck[];
  audit: AuditLog;
  access: PatientAccess;
  sessions: SessionStore;
  directory: DeviceDirectory;
  ingest: Ingest;
  limiter: RateLimiter;
  /** Vendor clouds' front door: their readings into the pipeline, and Withings' fetch-on-notification. */
  vendors: { receiver: VendorIngest; withings: WithingsSync };
  alertActions: AlertActions;
  templates: ReadonlyMap<string, Template>;
  adminToken: string | undefined;
  corsOrigins: string[] | undefined;
  sessionIdleMs: number;
  vapidPublicKey: string;
  pushEndpointHosts: string[];
  /** WEBHOOK_ALLOWED_HOSTS: hosts a webhook may reach although they are not public. */
  webhookAllowedHosts: string[];
  /** TRUST_PROXY: sign-in throttling counts by the X-Forwarded-For client, not the proxy. */
  trustProxy: boolean;
  onAlertChanges: (changes: AlertChange[]) => void;
  /** Called after a care plan changed, so the next reading is evaluated against it. */
  onCarePlanChanged: (patientId: string) => void;
  /** Called after a patient's status changed: rules stop or start; a discharge resolves open alerts. */
  onPatientStatusChanged: (patientId: string, status: PatientStatus, by: string) => Promise<void>;
}

/** The HTTP face of the service: one sub-app per resource, errors mapped in one place. */
export function createApp(options: AppOptions) {
  const { log } = options;
  const app = new Hono<AppEnv>();

  app.use(serverRequestId());
  app.use(secureHeaders());
  app.use('/v1/*', noStore());
  app.use('/fhir/*', noStore());
  if (options.corsOrigins?.length) app.use('/v1/*', cors({ origin: options.corsOrigins, credentials: true }));
  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    const principal = c.get('principal');
    log.info(
      {
        event: 'http_request',
        reqId: c.get('requestId'),
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        actor: principal ? `${principal.kind}:${principal.id}` : undefined,
      },
      'request',
    );
  });
  const { stores, audit, access } = options;
  app.use(authenticate({ adminToken: options.adminToken, devices: options.directory, sessions: options.sessions }));
  // Before the checks that refuse, so that it sees their refusals.
  app.use(auditRefusals(audit));
  app.use(csrfGuard({ trustedOrigins: options.corsOrigins }));
  app.use(bodyLimits());

  app.route('/', opsRoute({ metrics: options.metrics, checks: options.checks }));
  app.route('/v1/readings', readingsRoute({ ingest: options.ingest, limiter: options.limiter }));
  app.route(
    '/v1/auth',
    authRoute({ clinicians: stores.clinicians, sessions: options.sessions, audit, trustProxy: options.trustProxy }),
  );
  const availability = { availability: stores.availability, clinicians: stores.clinicians, audit };
  // Before the admin-only /v1/clinicians routes: a clinician sets their own away periods.
  app.route('/v1/clinicians', awayRoute(availability));
  app.route('/v1/clinicians', cliniciansRoute({ clinicians: stores.clinicians, audit }));
  app.route('/v1/on-call', onCallRoute(availability));
  app.route(
    '/v1/patients',
    patientsRoute({
      patients: stores.patients,
      devices: stores.devices,
      readingStore: stores.readings,
      access,
      audit,
      onStatusChanged: options.onPatientStatusChanged,
    }),
  );
  app.route(
    '/v1/patients',
    careTeamRoute({ careTeams: stores.careTeams, clinicians: stores.clinicians, access, audit }),
  );
  app.route(
    '/v1/patients',
    carePlanRoute({
      carePlans: stores.carePlans,
      templates: options.templates,
      onCarePlanChanged: options.onCarePlanChanged,
      quietRules: (patientId) => stores.alerts.quietRules(patientId, Date.now()),
      access,
      audit,
    }),
  );
  app.route('/v1/care-plan-templates', templatesRoute({ templates: options.templates }));
  app.route(
    '/v1/alerts',
    alertsRoute({
      alerts: stores.alerts,
      actions: options.alertActions,
      onRuleQuieted: options.onCarePlanChanged,
      onAlertChanges: options.onAlertChanges,
      access,
      audit,
    }),
  );
  app.route('/v1/audit', auditRoute({ audit }));
  app.route(
    '/v1/push',
    pushRoute({
      targets: stores.deliveryTargets,
      vapidPublicKey: options.vapidPublicKey,
      pushEndpointHosts: options.pushEndpointHosts,
    }),
  );
  app.route(
    '/v1/webhooks',
    webhooksRoute({ targets: stores.deliveryTargets, audit, allowedHosts: options.webhookAllowedHosts }),
  );
  app.route(
    '/v1/inbox',
    inboxRoute({
      alerts: stores.alerts,
      patients: stores.patients,
      clinicians: stores.clinicians,
      careTeams: stores.careTeams,
      access,
      audit,
    }),
  );
  app.route('/v1/patients-summary', patientsSummaryRoute({ patients: stores.patients, access, audit }));
  app.route(
    '/v1/devices',
    devicesRoute({
      devices: stores.devices,
      patients: stores.patients,
      directory: options.directory,
      rejections: stores.rejections,
      audit,
    }),
  );
  app.route(
    FHIR_BASE,
    fhirRoute({
      fhir: stores.fhir,
      patients: stores.patients,
      devices: stores.devices,
      ingest: options.ingest,
      limiter: options.limiter,
      access,
      audit,
    }),
  );
  app.route(
    '/v1/integrations',
    integrationsRoute({
      integrations: stores.integrations,
      devices: stores.devices,
      patients: stores.patients,
      directory: options.directory,
      audit,
    }),
  );
  app.route('/v1/vendors', vendorRoutes({ integrations: stores.integrations, ...options.vendors }));
  app.route(
    '/',
    webRoute({
      access,
      sessionIdleMs: options.sessionIdleMs,
      needsFirstAdmin: () => stores.clinicians.count() === 0,
    }),
  );

  app.notFound((c) => c.json(new AppError('not_found', `No route for ${c.req.method} ${c.req.path}`).toBody(), 404));
  app.onError((error, c) => {
    if (error instanceof AppError) {
      if (error.retryAfter) c.header('Retry-After', String(error.retryAfter));
      if (error.code === 'unauthorized') c.header('WWW-Authenticate', 'Bearer');
      return c.json(error.toBody(), error.status as 400);
    }
    // Whatever the content type said: a route read the body as JSON (c.req.json()) and it was not.
    if (error instanceof SyntaxError && c.req.raw.bodyUsed) {
      return c.json(new AppError('invalid_json', 'The body is not valid JSON').toBody(), 400);
    }
    log.error({ event: 'http_error', reqId: c.get('requestId'), err: withoutInput(error) }, 'Unexpected error');
    return c.json(
      new AppError('internal', 'Something went wrong on our side; the request id is in the logs').toBody(),
      500,
    );
  });
  return app;
}

/**
 * The request id is ours alone: one the client sends in X-Request-Id is ignored, so that it cannot
 * choose the id the audit trail and the logs record for its request. Answered in X-Request-Id.
 */
function serverRequestId(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const id = randomUUID();
    c.set('requestId', id);
    c.header('X-Request-Id', id);
    await next();
  };
}

/** API answers carry patient data: no browser, proxy or shared cache may keep them (errors included). */
function noStore(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    c.header('Cache-Control', 'no-store');
  };
}

/**
 * An error as it may be logged. A JSON.parse SyntaxError quotes the text it could not parse, which may
 * be a request body with a password in it: its message (and the stack's first line, which repeats it)
 * is left out.
 */
function withoutInput(error: Error): Error | { type: string; message: string; stack: string | undefined } {
  if (!(error instanceof SyntaxError)) return error;
  return {
    type: error.name,
    message: 'a JSON parse failed (its message quotes the input, so it is not logged)',
    stack: error.stack?.split('\n').slice(1).join('\n'),
  };
}
