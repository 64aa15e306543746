import type { IncomingMessage } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { AppError } from '../domain/errors.ts';

const KiB = 1024;

/** The contract's request body limits ("Security rules"), in bytes. */
export const BODY_LIMITS = {
  /** Every route not named below: clinician requests are small JSON documents. */
  default: 64 * KiB,
  /** Device payloads: batches of up to 1000 readings, FHIR Bundles, vendor webhooks. */
  ingest: 1024 * KiB,
  /** A care plan: its own rules and the templates it names. */
  carePlan: 256 * KiB,
} as const;

const CARE_PLAN = /^\/v1\/patients\/[^/]+\/care-plan$/;

/** Routes that read their bodies themselves, at most BODY_LIMITS.ingest (see `bodyLimitFor`). */
const SELF_LIMITED = new Set(['/v1/readings', '/fhir/R4', '/fhir/R4/Observation']);

/**
 * The largest body a request may carry, or undefined where the route limits its body itself:
 * `POST /v1/readings` (src/ingest/http.ts), the FHIR creates (src/fhir/routes.ts) and the vendor webhooks
 * (`POST /v1/vendors/...`) read their bodies as they arrive, with the same 1 MiB, to keep the head of an
 * oversized one among the rejections (and, for FHIR, to refuse it with an OperationOutcome).
 */
export function bodyLimitFor(method: string, path: string): number | undefined {
  if (method === 'POST' && (SELF_LIMITED.has(path) || path.startsWith('/v1/vendors/'))) return undefined;
  if (path.startsWith('/fhir/') || path.startsWith('/v1/vendors/')) return BODY_LIMITS.ingest;
  if (method === 'PUT' && CARE_PLAN.test(path)) return BODY_LIMITS.carePlan;
  return BODY_LIMITS.default;
}

/**
 * Refuses a body over its route's limit with 413 before it is read whole: at once when Content-Length
 * says so, otherwise (chunked) as soon as the bytes received pass the limit, holding no more than that.
 * The rest of a refused body is drained and dropped, so the connection stays usable.
 */
export function bodyLimits(): MiddlewareHandler {
  const tooLarge = (limit: number) => new AppError('payload_too_large', `The body is over ${limit / KiB} KiB`);
  // For app.request() in unit tests, which has no Node request to read from.
  const fallbacks = new Map<number, MiddlewareHandler>();
  const fallback = (limit: number) => {
    let found = fallbacks.get(limit);
    if (!found) {
      found = bodyLimit({
        maxSize: limit,
        onError: () => {
          throw tooLarge(limit);
        },
      });
      fallbacks.set(limit, found);
    }
    return found;
  };
  return async (c, next) => {
    const limit = bodyLimitFor(c.req.method, c.req.path);
    if (limit === undefined) return next();
    if (!incomingOf(c)) return fallback(limit)(c, next);
    if (c.req.header('transfer-encoding') === undefined) {
      // No body, or one of the declared length, which Node's parser holds the client to.
      if (Number(c.req.header('content-length') ?? 0) > limit) throw tooLarge(limit);
      return next();
    }
    const read = await readBody(c, limit);
    if ('tooLarge' in read) throw tooLarge(limit);
    const { buffer, byteOffset, length } = read.body;
    c.req.raw = new Request(c.req.raw, { body: new Uint8Array(buffer as ArrayBuffer, byteOffset, length) });
    return next();
  };
}

function incomingOf(c: Context): IncomingMessage | undefined {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
}

/**
 * Reads a body of at most `limit` bytes. Past the limit, resolves with `tooLarge`, the first `keep`
 * bytes, having read no further than that when Content-Length already says so; the rest is drained and
 * dropped (as Node does with a body nobody reads), not destroyed, so the answer still reaches the client
 * and its connection stays usable. Read from Node's own request when served by @hono/node-server: the
 * web-streams Request that c.req.arrayBuffer() builds cost about a twentieth of HTTP ingest.
 */
export async function readBody(c: Context, limit: number, keep = 0): Promise<{ body: Buffer } | { tooLarge: Buffer }> {
  const incoming = incomingOf(c);
  if (!incoming) {
    const body = Buffer.from(await c.req.arrayBuffer());
    return body.length > limit ? { tooLarge: body.subarray(0, keep) } : { body };
  }
  if (incoming.readableEnded) return { body: Buffer.alloc(0) }; // read by someone else already: nothing left
  const declaredTooLarge = Number(c.req.header('content-length')) > limit;
  const chunks: Buffer[] = [];
  let size = 0;
  const head = () => Buffer.concat(chunks).subarray(0, keep);
  return new Promise((resolve, reject) => {
    const settle = (result: { body: Buffer } | { tooLarge: Buffer }) => {
      incoming.off('data', onData).off('end', onEnd).off('error', reject).off('close', onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit || (declaredTooLarge && size >= keep)) {
        settle({ tooLarge: head() });
        incoming.resume();
      }
    };
    const onEnd = () => settle(declaredTooLarge ? { tooLarge: head() } : { body: Buffer.concat(chunks, size) });
    // Closed before its end: the client went away mid-body.
    const onClose = () => reject(new Error('the request was closed before its body ended'));
    incoming.on('data', onData).once('end', onEnd).once('error', reject).once('close', onClose);
  });
}
