import type { IncomingMessage } from 'node:http';
import { Hono, type Context } from 'hono';
import { requireDevice, type AppEnv } from '../auth/middleware.ts';
import { AppError } from '../domain/errors.ts';
import type { Ingest } from './ingest.ts';
import type { RateLimiter } from './rate-limit.ts';

export const MAX_BODY_BYTES = 1024 * 1024;
/** How much of a body or payload over MAX_BODY_BYTES is kept among the rejections, to show what was sent. */
const OVERSIZED_KEPT_BYTES = 4096;

/** The part of a body or payload over MAX_BODY_BYTES that is kept among the rejections. */
export function oversizedHead(bytes: Buffer): string {
  return bytes.subarray(0, OVERSIZED_KEPT_BYTES).toString('utf8');
}

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
      const body = await readBody(c);
      if ('tooLarge' in body) {
        const error = new AppError('payload_too_large', 'The body is over 1 MiB');
        await ingest.refuse(device.id, body.tooLarge, 'http', error);
        throw error;
      }
      const raw = body.text;
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

/**
 * The body as text; past MAX_BODY_BYTES only its head (`tooLarge`, the first OVERSIZED_KEPT_BYTES), read
 * no further than that when Content-Length already says so. Read from Node's own request when served by
 * @hono/node-server: the web-streams Request that c.req.text() builds cost about a twentieth of HTTP ingest.
 */
export async function readBody(c: Context<AppEnv>): Promise<{ text: string } | { tooLarge: string }> {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (!incoming) {
    const text = await c.req.text();
    return Buffer.byteLength(text) > MAX_BODY_BYTES ? { tooLarge: oversizedHead(Buffer.from(text)) } : { text };
  }
  if (incoming.readableEnded) return { text: '' }; // read by someone else already: nothing left to read
  const declaredTooLarge = Number(c.req.header('content-length')) > MAX_BODY_BYTES;
  const chunks: Buffer[] = [];
  let size = 0;
  // Left early, the rest is drained and dropped (as Node does with a body nobody reads), not destroyed:
  // the 413 still reaches the device, and its connection stays usable.
  return new Promise((resolve, reject) => {
    const settle = (result: { text: string } | { tooLarge: string }) => {
      incoming.off('data', onData).off('end', onEnd).off('error', reject).off('close', onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > MAX_BODY_BYTES || (declaredTooLarge && size >= OVERSIZED_KEPT_BYTES)) {
        settle({ tooLarge: oversizedHead(Buffer.concat(chunks)) });
        incoming.resume();
      }
    };
    const onEnd = () =>
      settle(
        declaredTooLarge
          ? { tooLarge: oversizedHead(Buffer.concat(chunks)) }
          : { text: Buffer.concat(chunks, size).toString('utf8') },
      );
    // Closed before its end: the client went away mid-body.
    const onClose = () => reject(new Error('the request was closed before its body ended'));
    incoming.on('data', onData).once('end', onEnd).once('error', reject).once('close', onClose);
  });
}
