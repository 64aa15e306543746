import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { cors } from 'hono/cors';
import { alertsRoute, type AlertsRouteOptions } from './alerts/routes.ts';
import { auditRoute } from './audit/routes.ts';
import { pushRoute, type PushRouteOptions } from './delivery/push-routes.ts';
import { webhooksRoute } from './delivery/webhook-routes.ts';
import { carePlanRoute, templatesRoute, type CarePlanRouteOptions } from './care-plans/routes.ts';
import { authRoute, type AuthRouteOptions } from './auth/routes.ts';
import { cliniciansRoute } from './clinicians/routes.ts';
import { devicesRoute, type DevicesRouteOptions } from './devices/routes.ts';
import { patientsRoute, type PatientsRouteOptions } from './patients/routes.ts';
import { authenticate, type AppEnv, type AuthenticateOptions } from './auth/middleware.ts';
import { AppError } from './domain/errors.ts';
import { readingsRoute, type ReadingsRouteOptions } from './ingest/http.ts';
import type { Logger } from './ops/log.ts';
import { opsRoute, type OpsRouteOptions } from './ops/routes.ts';
import { inboxRoute } from './alerts/inbox.ts';
import { patientsSummaryRoute } from './patients/summary.ts';
import { webRoute, type WebRouteOptions } from './web/routes.tsx';

export type AppOptions = AuthenticateOptions &
  ReadingsRouteOptions &
  PatientsRouteOptions &
  Omit<DevicesRouteOptions, 'directory'> &
  AuthRouteOptions &
  CarePlanRouteOptions &
  AlertsRouteOptions &
  PushRouteOptions &
  OpsRouteOptions &
  WebRouteOptions & { log: Logger; corsOrigins: string[] | undefined };

const SERVICE_WORKER = readFileSync(new URL('./web/sw.js', import.meta.url), 'utf8');

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
  app.use(authenticate(options));

  app.route('/', opsRoute(options));
  app.route('/v1/readings', readingsRoute(options));
  app.route('/v1/auth', authRoute(options));
  app.route('/v1/clinicians', cliniciansRoute(options));
  app.route('/v1/patients', patientsRoute(options));
  app.route('/v1/patients', carePlanRoute(options));
  app.route('/v1/care-plan-templates', templatesRoute(options));
  app.route('/v1/alerts', alertsRoute(options));
  app.route('/v1/audit', auditRoute(options));
  app.route('/v1/push', pushRoute(options));
  app.route('/v1/webhooks', webhooksRoute(options));
  app.route('/v1/inbox', inboxRoute(options));
  app.route('/v1/patients-summary', patientsSummaryRoute(options));
  app.get('/sw.js', (c) =>
    c.body(SERVICE_WORKER, 200, {
      'content-type': 'text/javascript; charset=utf-8',
      'service-worker-allowed': '/',
      'cache-control': 'no-cache',
    }),
  );
  app.route('/v1/devices', devicesRoute({ ...options, directory: options.devices }));
  app.route('/', webRoute(options));

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
