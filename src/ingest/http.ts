import { Hono } from 'hono';
import { requireDevice, type AppEnv } from '../auth/middleware.ts';
import { AppError } from '../domain/errors.ts';
import { readBody } from '../ops/body-limit.ts';
import { KEPT_HEAD_BYTES } from '../store/rejection-log.ts';
import type { Ingest } from './ingest.ts';
import type { RateLimiter } from './rate-limit.ts';

export const MAX_BODY_BYTES = 1024 * 1024;

export interface ReadingsRouteOptions {
  ingest: Ingest;
  limiter: RateLimiter;
}

/** `POST /v1/readings`: the device protocol over HTTP. */
export function readingsRoute({ ingest, limiter }: ReadingsRouteOptions) {
  return new Hono<AppEnv>().post(
    '/',
    async (c, next) => {
      const device = requireDevice(c);
      const retryAfter = limiter.take(device.id);
      if (retryAfter > 0) {
        throw new AppError('rate_limited', 'Too many requests from this device; retry later', [], retryAfter);
      }
      await next();
    },
    async (c) => {
      const device = requireDevice(c);
      // Past 1 MiB only the head is read, to be kept among the rejections.
      const body = await readBody(c, MAX_BODY_BYTES, KEPT_HEAD_BYTES);
      if ('tooLarge' in body) {
        const error = new AppError('payload_too_large', 'The body is over 1 MiB');
        const declared = Number(c.req.header('content-length'));
        const bytes = Number.isSafeInteger(declared) ? declared : null;
        await ingest.refuse(device.id, { head: body.tooLarge, bytes }, 'http', error);
        throw error;
      }
      const raw = body.body.toString('utf8');
      if (!/^application\/json\s*(;|$)/i.test(c.req.header('content-type') ?? '')) {
        const error = new AppError(
          'unsupported_media_type',
          'Readings must be sent as Content-Type: application/json',
          [
            {
              path: '',
              message: `content type ${JSON.stringify(c.req.header('content-type') ?? '')} is not application/json`,
            },
          ],
        );
        await ingest.refuse(device.id, raw, 'http', error);
        throw error;
      }
      const answer = await ingest.handleMessage(device, raw, 'http');
      return c.json(answer.body, answer.status as 200);
    },
  );
}
