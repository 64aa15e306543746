import { Hono } from 'hono';
import type { AppEnv } from '../auth/middleware.ts';
import type { Metrics } from './metrics.ts';
import { buildOpenApi } from './openapi.ts';

/**
 * A dependency's state for /readyz: the body names each one, so an admin sees what is down. One with
 * `required: false` is reported but does not make the service unready (InfluxDB: ingest goes on without it).
 */
export type ReadinessCheck = () => { name: string; ok: boolean; detail?: string; required?: boolean };

export interface OpsRouteOptions {
  metrics: Metrics;
  checks: ReadinessCheck[];
}

/** Liveness, readiness, Prometheus metrics and the OpenAPI document; none needs a token. */
export function opsRoute({ metrics, checks }: OpsRouteOptions) {
  const openApi = JSON.stringify(buildOpenApi());
  return new Hono<AppEnv>()
    .get('/healthz', (c) => c.json({ status: 'ok' }))
    .get('/readyz', (c) => {
      const results = checks.map((check) => {
        try {
          return check();
        } catch (error) {
          return { name: 'unknown', ok: false, detail: (error as Error).message };
        }
      });
      const ready = results.every((r) => r.ok || r.required === false);
      return c.json({ status: ready ? 'ready' : 'not_ready', checks: results }, ready ? 200 : 503);
    })
    .get('/metrics', async (c) =>
      c.text(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType }),
    )
    .get('/openapi.json', (c) => c.body(openApi, 200, { 'content-type': 'application/json; charset=utf-8' }));
}
