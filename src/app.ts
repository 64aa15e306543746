import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { cors } from 'hono/cors';
import type { AlertActions, AlertStore } from './alerts/store.ts';
import { alertsRoute } from './alerts/routes.ts';
import { inboxRoute } from './alerts/inbox.ts';
import type { AuditLog } from './audit/audit-log.ts';
import { auditRoute } from './audit/routes.ts';
import { authenticate, type AppEnv } from './auth/middleware.ts';
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
  alertActions: AlertActions;
  templates: ReadonlyMap<string, Template>;
  adminToken: string | undefined;
  corsOrigins: string[] | undefined;
  sessionIdleMs: number;
  vapidPublicKey: string;
  pushEndpointHosts: string[];
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

  app.use(requestId());
  app.use(secureHeaders());
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

  app.route('/', opsRoute({ metrics: options.metrics, checks: options.checks }));
  app.route('/v1/readings', readingsRoute({ ingest: options.ingest, limiter: options.limiter }));
  app.route('/v1/auth', authRoute({ clinicians: stores.clinicians, sessions: options.sessions, audit }));
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
  app.route('/v1/webhooks', webhooksRoute({ targets: stores.deliveryTargets, audit }));
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
  app.route('/', webRoute({ access, sessionIdleMs: options.sessionIdleMs }));

  app.notFound((c) => c.json(new AppError('not_found', `No route for ${c.req.method} ${c.req.path}`).toBody(), 404));
  app.onError((error, c) => {
    if (error instanceof AppError) {
      if (error.retryAfter) c.header('Retry-After', String(error.retryAfter));
      if (error.code === 'unauthorized') c.header('WWW-Authenticate', 'Bearer');
      return c.json(error.toBody(), error.status as 400);
    }
    if (error instanceof SyntaxError && c.req.header('content-type')?.includes('json')) {
      return c.json(new AppError('invalid_json', 'The body is not valid JSON').toBody(), 400);
    }
    log.error({ event: 'http_error', reqId: c.get('requestId'), err: error }, 'Unexpected error');
    return c.json(
      new AppError('internal', 'Something went wrong on our side; the request id is in the logs').toBody(),
      500,
    );
  });
  return app;
}
