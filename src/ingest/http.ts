import type { IncomingMessage } from 'node:http';
import { Hono, type Context } from 'hono';
import { requireDevice, type AppEnv } from '../auth/middleware.ts';
import { AppError } from '../domain/errors.ts';
import type { Ingest } from './handle-readings.ts';
import type { RateLimiter } from '../rate-limit.ts';

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
      const raw = await readBody(c);
      if (!/^application\/json\s*(;|$)/i.test(c.req.header('content-type') ?? '')) {
        const error = new AppError('unsupported_media_type', 'Readings must be sent as Content-Type: application/json', [
          { path: '', message: `content type ${JSON.stringify(c.req.header('content-type') ?? '')} is not application/json` },
        ]);
        await ingest.refuse(device.id, raw, 'http', error);
        throw error;
      }
      const answer = await ingest.handleMessage(device, raw, 'http');
      return c.json(answer.body, answer.status as 200);
    },
  );
}

/**
 * The body as text, refused with 413 past MAX_BODY_BYTES (at once if Content-Length says so). Read from
 * Node's own request when served by @hono/node-server: the web-streams Request that c.req.text() builds
 * cost about a twentieth of HTTP ingest.
 */
async function readBody(c: Context<AppEnv>): Promise<string> {
  const tooLarge = () => new AppError('payload_too_large', 'The body is over 1 MiB');
  if (Number(c.req.header('content-length')) > MAX_BODY_BYTES) throw tooLarge();
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (!incoming) {
    const text = await c.req.text();
    if (Buffer.byteLength(text) > MAX_BODY_BYTES) throw tooLarge();
    return text;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of incoming as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}
