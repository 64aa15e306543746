import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AppError } from '../domain/errors.ts';
import { BODY_LIMITS, bodyLimitFor, bodyLimits } from './body-limit.ts';

describe('bodyLimitFor', () => {
  it.each([
    ['POST', '/v1/auth/login', BODY_LIMITS.default],
    ['POST', '/v1/clinicians', BODY_LIMITS.default],
    ['PUT', '/v1/patients/p1/care-team', BODY_LIMITS.default],
    ['GET', '/v1/patients/p1/care-plan', BODY_LIMITS.default],
    ['PUT', '/v1/patients/p1/care-plan', BODY_LIMITS.carePlan],
    ['PUT', '/v1/patients/p1/care-plan/x', BODY_LIMITS.default],
    ['POST', '/fhir/R4', undefined],
    ['POST', '/fhir/R4/Observation', undefined],
    ['PUT', '/fhir/R4/Observation/o1', BODY_LIMITS.ingest],
    ['POST', '/v1/vendors/tenovi', undefined],
    ['GET', '/v1/vendors/withings', BODY_LIMITS.ingest],
    ['PUT', '/v1/readings', BODY_LIMITS.default],
    ['POST', '/v1/readings', undefined],
  ])('%s %s → %s', (method, path, limit) => {
    expect(bodyLimitFor(method, path)).toBe(limit);
  });
});

describe('bodyLimits', () => {
  const app = new Hono()
    .use(bodyLimits())
    .post('*', async (c) => c.json({ bytes: (await c.req.arrayBuffer()).byteLength }))
    .onError((error, c) => c.json((error as AppError).toBody(), (error as AppError).status as 413));

  it('reads a body at the limit and refuses one byte more, declared or not', async () => {
    const at = 'a'.repeat(BODY_LIMITS.default);
    expect(await (await app.request('/x', { method: 'POST', body: at })).json()).toEqual({ bytes: at.length });
    const over = await app.request('/x', { method: 'POST', body: `${at}a` });
    expect(over.status).toBe(413);
    expect(((await over.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
    const streamed = await app.request('/x', {
      method: 'POST',
      body: new Blob([`${at}a`]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
  });
});
