/**
 * A local HTTPS Web Push service for tests: it stands in for a browser vendor's push endpoint (FCM,
 * Mozilla autopush, …) *and* for the browser behind it. Every request is checked the way a push service
 * checks it (RFC 8292 VAPID, RFC 8030 headers) and its body is decrypted the way the browser decrypts it
 * (RFC 8291 / RFC 8188 aes128gcm), with node:crypto only. A message in `messages` therefore proves real
 * delivery: the service under test signed, encrypted and sent something a browser would have shown.
 *
 *   let receiver: PushReceiver;
 *   beforeAll(async () => { receiver = await startPushReceiver(); });
 *   afterAll(async () => { await receiver.stop(); });
 *
 *   const subscription = receiver.subscribe('nurse-phone');   // store it like a browser's POST would
 *   // … make the service send to it, trusting receiver.caPem (https.Agent({ ca }) or NODE_EXTRA_CA_CERTS=receiver.caFile)
 *   const message = await receiver.waitFor((m) => m.endpoint === subscription.endpoint);
 *   expect(message.payload).toMatchObject({ … });
 *
 * Canned answers (`respondWith`) simulate throttling (429 + Retry-After), server errors and expired
 * subscriptions (404/410); `unsubscribe` makes an endpoint answer 410 Gone for good.
 *
 * Differences from a real push service, on purpose: a body that cannot be decrypted, or that does not
 * decrypt to JSON, is answered 400 (a real service cannot read the body and would accept it; the browser
 * would then drop it silently), so that a broken sender fails loudly in tests.
 */
import { execFile } from 'node:child_process';
import crypto, { type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** What a browser's `PushSubscription.toJSON()` gives. */
export interface PushSubscriptionJSON {
  endpoint: string;
  expirationTime: number | null;
  keys: { p256dh: string; auth: string };
}

/** The verified contents of a VAPID `Authorization` header. */
export interface VapidClaims {
  /** `sub`: `mailto:` or `https:` contact of the sender. */
  subject: string;
  /** `aud`: the push service origin the JWT was made for. */
  audience: string;
  /** `exp`, converted to milliseconds since the epoch. */
  expiresAt: number;
  /** `k`: the sender's VAPID public key, base64url (65-byte uncompressed P-256 point). */
  publicKey: string;
}

/** A push that passed every check and was decrypted. */
export interface ReceivedPush {
  endpoint: string;
  subscriptionId: string;
  /** The `name` given to `subscribe()`, if any. */
  subscriptionName: string | undefined;
  /** Date.now() when the request was complete. */
  receivedAt: number;
  /** The `TTL` header, seconds. */
  ttl: number;
  /** The `Urgency` header (web-push always sends one; `normal` unless told otherwise). */
  urgency: string | undefined;
  /** The `Topic` header. */
  topic: string | undefined;
  /** JSON.parse of the decrypted text; null for a push without a body. */
  payload: unknown;
  /** The decrypted text; null for a push without a body. */
  text: string | null;
  vapid: VapidClaims;
  /** The status the receiver answered with (201, or a canned 2xx). */
  status: number;
  /** Request headers as Node received them (lower-case names). */
  headers: Record<string, string | string[] | undefined>;
}

export type RejectionCode =
  | 'unknown-subscription'
  | 'gone'
  | 'method-not-allowed'
  | 'missing-authorization'
  | 'bad-authorization'
  | 'bad-jwt'
  | 'bad-signature'
  | 'wrong-audience'
  | 'expired'
  | 'expiry-too-far'
  | 'bad-subject'
  | 'vapid-key-mismatch'
  | 'missing-ttl'
  | 'bad-header'
  | 'bad-encoding'
  | 'too-large'
  | 'undecryptable'
  | 'not-json';

/** A request that failed verification, and what the receiver answered. */
export interface RejectedPush {
  endpoint: string;
  /** undefined when the path names no subscription this receiver made. */
  subscriptionId: string | undefined;
  at: number;
  status: number;
  code: RejectionCode;
  /** Human-readable explanation, e.g. `JWT aud "https://x" is not this push service's origin "https://127.0.0.1:4431"`. */
  reason: string;
  headers: Record<string, string | string[] | undefined>;
}

/** Every request, whatever became of it. */
export interface PushAttempt {
  endpoint: string;
  subscriptionId: string | undefined;
  status: number;
  at: number;
  /** `message` (recorded in messages), `canned` (a respondWith answer), `rejected` (recorded in rejected). */
  outcome: 'message' | 'canned' | 'rejected';
}

export interface CannedResponse {
  status: number;
  headers?: Record<string, string>;
  /** Response body; defaults to a small JSON error like autopush's for non-2xx, empty for 2xx. */
  body?: string;
}

export interface SubscribeOptions {
  /**
   * The VAPID public key (base64url) the browser subscribed with (`applicationServerKey`). When set, the
   * subscription is restricted: a push signed with any other key is answered 403, as real services do.
   */
  applicationServerKey?: string;
}

export interface PushReceiver {
  port: number;
  /** `127.0.0.1:<port>` */
  host: string;
  /** `https://127.0.0.1:<port>`: the VAPID audience senders must use. */
  origin: string;
  /** The self-signed certificate (PEM) the service under test must trust. */
  caPem: string;
  /** Path of that PEM file (for NODE_EXTRA_CA_CERTS); removed by stop(). */
  caFile: string;
  /** A new browser-like subscription: fresh P-256 key pair and 16-byte auth secret. */
  subscribe(name?: string, options?: SubscribeOptions): PushSubscriptionJSON;
  /** From now on every push to it is answered 410 Gone (the user revoked permission / the browser dropped it). */
  unsubscribe(subscriptionIdOrEndpoint: string | { endpoint: string }): void;
  /** Verified, decrypted pushes in arrival order. */
  readonly messages: ReceivedPush[];
  /** Requests that failed verification. */
  readonly rejected: RejectedPush[];
  /** Every request. */
  readonly attempts: PushAttempt[];
  /**
   * Answers for the next verified requests to that subscription, used in order; afterwards 201 again. A
   * non-2xx canned answer is recorded in `attempts` only; a 2xx one also in `messages`. Requests that fail
   * verification are answered with their error and do not use up the queue.
   */
  respondWith(subscriptionIdOrEndpoint: string | { endpoint: string }, responses: CannedResponse[]): void;
  /** Drops the canned answers not used yet, so a test that failed early leaves none for the next one. */
  dropResponses(subscriptionIdOrEndpoint: string | { endpoint: string }): void;
  /** Resolves with the first message (already received or future) matching `predicate`. */
  waitFor(predicate: (message: ReceivedPush) => boolean, timeoutMs?: number): Promise<ReceivedPush>;
  /** Resolves with the first attempt (already made or future) matching `predicate`, e.g. a retry after a 429. */
  waitForAttempt(predicate: (attempt: PushAttempt) => boolean, timeoutMs?: number): Promise<PushAttempt>;
  /** Empties messages, rejected and attempts (subscriptions and queued answers stay). */
  clear(): void;
  /** Closes the server and every open connection, removes the certificate folder. Safe to call twice. */
  stop(): Promise<void>;
}

/** Maximum push message body, as FCM and autopush enforce (RFC 8030 §7.2: at least 4096 must be accepted). */
const MAX_BODY = 4096;
/** Allowed clock skew when checking the JWT `exp`. */
const CLOCK_SKEW_S = 60;
const URGENCIES = new Set(['very-low', 'low', 'normal', 'high']);

interface Subscription {
  id: string;
  name: string | undefined;
  endpoint: string;
  ecdh: crypto.ECDH;
  publicKey: Buffer;
  authSecret: Buffer;
  applicationServerKey: string | undefined;
  queue: CannedResponse[];
  gone: boolean;
}

/** A verification failure: the status to answer, a machine-readable code and a readable reason. */
export class PushVerificationError extends Error {
  constructor(
    readonly status: number,
    readonly code: RejectionCode,
    message: string,
  ) {
    super(message);
    this.name = 'PushVerificationError';
  }
}

function fail(status: number, code: RejectionCode, reason: string): never {
  throw new PushVerificationError(status, code, reason);
}

export async function startPushReceiver(): Promise<PushReceiver> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'push-receiver-'));
  const keyFile = path.join(dir, 'key.pem');
  const caFile = path.join(dir, 'cert.pem');
  let caPem: string;
  let keyPem: string;
  try {
    await execFileAsync(process.env.OPENSSL_BIN ?? 'openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      keyFile,
      '-out',
      caFile,
    ]);
    [caPem, keyPem] = await Promise.all([readFile(caFile, 'utf8'), readFile(keyFile, 'utf8')]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`push-receiver: could not create a certificate with openssl: ${(error as Error).message}`);
  }

  const subscriptions = new Map<string, Subscription>();
  const messages: ReceivedPush[] = [];
  const rejected: RejectedPush[] = [];
  const attempts: PushAttempt[] = [];
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of [...listeners]) listener();
  };

  let origin = '';

  const server = https.createServer({ key: keyPem, cert: caPem }, (req, res) => {
    collectBody(req)
      .then((body) => handle(req, res, body))
      .catch((error: unknown) => {
        if (!res.headersSent) sendError(res, 500, `push-receiver internal error: ${(error as Error).message}`);
      });
  });

  function handle(req: IncomingMessage, res: ServerResponse, body: Buffer | null) {
    const at = Date.now();
    const url = new URL(req.url ?? '/', origin);
    const endpoint = origin + url.pathname;
    const match = /^\/push\/([A-Za-z0-9_-]+)$/.exec(url.pathname);
    const subscription = match?.[1] ? subscriptions.get(match[1]) : undefined;
    const headers = { ...req.headers };

    const reject = (error: PushVerificationError) => {
      rejected.push({
        endpoint,
        subscriptionId: subscription?.id,
        at,
        status: error.status,
        code: error.code,
        reason: error.message,
        headers,
      });
      attempts.push({ endpoint, subscriptionId: subscription?.id, status: error.status, at, outcome: 'rejected' });
      sendError(res, error.status, error.message);
      notify();
    };

    let verified: {
      ttl: number;
      urgency: string | undefined;
      topic: string | undefined;
      vapid: VapidClaims;
      text: string | null;
      payload: unknown;
    };
    try {
      if (!subscription) fail(404, 'unknown-subscription', `no subscription at ${url.pathname}`);
      if (subscription.gone) fail(410, 'gone', `subscription ${subscription.id} was unsubscribed`);
      if (req.method !== 'POST') fail(405, 'method-not-allowed', `${req.method} is not allowed, push with POST`);
      if (body === null) fail(413, 'too-large', `body is larger than ${MAX_BODY} bytes`);
      const vapid = verifyVapidAuthorization(req.headers.authorization, origin);
      if (subscription.applicationServerKey !== undefined && vapid.publicKey !== subscription.applicationServerKey) {
        fail(
          403,
          'vapid-key-mismatch',
          `VAPID key ${vapid.publicKey} is not the applicationServerKey ${subscription.applicationServerKey} the subscription was made with`,
        );
      }
      const ttl = parseTtl(req.headers.ttl);
      const urgency = single(req.headers.urgency);
      if (urgency !== undefined && !URGENCIES.has(urgency))
        fail(400, 'bad-header', `Urgency "${urgency}" is not one of ${[...URGENCIES].join(', ')}`);
      const topic = single(req.headers.topic);
      if (topic !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(topic))
        fail(400, 'bad-header', `Topic "${topic}" must be 1-32 base64url characters`);
      let text: string | null = null;
      let payload: unknown = null;
      if (body.length > 0) {
        const encoding = single(req.headers['content-encoding']);
        if (encoding !== 'aes128gcm')
          fail(
            400,
            'bad-encoding',
            `Content-Encoding must be aes128gcm, got ${encoding === undefined ? 'none' : `"${encoding}"`}`,
          );
        text = decryptPushPayload(body, subscription.ecdh, subscription.authSecret).toString('utf8');
        try {
          payload = JSON.parse(text);
        } catch {
          fail(400, 'not-json', `decrypted payload is not JSON: ${JSON.stringify(text.slice(0, 200))}`);
        }
      }
      verified = { ttl, urgency, topic, vapid, text, payload };
    } catch (error) {
      if (error instanceof PushVerificationError) {
        reject(error);
        return;
      }
      throw error;
    }

    const canned = subscription.queue.shift();
    const status = canned?.status ?? 201;
    const ok = status >= 200 && status <= 299;
    if (ok) {
      messages.push({
        endpoint,
        subscriptionId: subscription.id,
        subscriptionName: subscription.name,
        receivedAt: at,
        status,
        headers,
        ...verified,
      });
    }
    attempts.push({ endpoint, subscriptionId: subscription.id, status, at, outcome: ok ? 'message' : 'canned' });
    if (canned === undefined) {
      res.writeHead(201, {
        location: `${origin}/message/${crypto.randomBytes(12).toString('base64url')}`,
        'content-length': '0',
      });
      res.end();
    } else {
      const responseBody = canned.body ?? (ok ? '' : errorBody(status, `canned ${status} answer`));
      res.writeHead(status, {
        'content-type': ok ? 'text/plain' : 'application/json',
        ...canned.headers,
        'content-length': String(Buffer.byteLength(responseBody)),
      });
      res.end(responseBody);
    }
    notify();
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = `127.0.0.1:${port}`;
  origin = `https://${host}`;

  const lookup = (ref: string | { endpoint: string }): Subscription => {
    const key = typeof ref === 'string' ? ref : ref.endpoint;
    for (const sub of subscriptions.values()) if (sub.id === key || sub.endpoint === key) return sub;
    throw new Error(
      `push-receiver: no subscription ${JSON.stringify(key)} (pass a subscription id, its endpoint or the subscription)`,
    );
  };

  function waitForIn<T>(
    list: T[],
    describe: () => string,
    predicate: (item: T) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // The lists are short: scanning all of it on every change keeps this correct across clear().
      const check = () => {
        const found = list.find(predicate);
        if (found !== undefined) {
          done();
          resolve(found);
        }
      };
      const listener = () => {
        try {
          check();
        } catch (error) {
          done();
          reject(error);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`push-receiver: no matching ${what} within ${timeoutMs} ms. ${describe()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        listeners.delete(listener);
      };
      listeners.add(listener);
      listener();
    });
  }

  const describeState = (): string => {
    const lines = [`Received ${messages.length} message(s)${messages.length ? ':' : '.'}`];
    for (const m of messages) {
      lines.push(
        `  - ${m.subscriptionName ?? m.subscriptionId} ttl=${m.ttl} urgency=${m.urgency ?? '-'} topic=${m.topic ?? '-'} payload=${truncate(JSON.stringify(m.payload))}`,
      );
    }
    if (rejected.length) {
      lines.push(`Rejected ${rejected.length} request(s):`);
      for (const r of rejected) lines.push(`  - ${r.endpoint} → ${r.status} ${r.code}: ${r.reason}`);
    }
    const canned = attempts.filter((a) => a.outcome === 'canned');
    if (canned.length)
      lines.push(
        `Answered ${canned.length} request(s) with canned statuses: ${canned.map((a) => a.status).join(', ')}`,
      );
    return lines.join('\n');
  };

  let stopped = false;

  return {
    port,
    host,
    origin,
    caPem,
    caFile,
    messages,
    rejected,
    attempts,
    subscribe(name?: string, options: SubscribeOptions = {}): PushSubscriptionJSON {
      const id = crypto.randomBytes(18).toString('base64url');
      const ecdh = crypto.createECDH('prime256v1');
      const publicKey = ecdh.generateKeys();
      const authSecret = crypto.randomBytes(16);
      const endpoint = `${origin}/push/${id}`;
      subscriptions.set(id, {
        id,
        name,
        endpoint,
        ecdh,
        publicKey,
        authSecret,
        applicationServerKey: options.applicationServerKey,
        queue: [],
        gone: false,
      });
      return {
        endpoint,
        expirationTime: null,
        keys: { p256dh: publicKey.toString('base64url'), auth: authSecret.toString('base64url') },
      };
    },
    unsubscribe(ref) {
      lookup(ref).gone = true;
    },
    respondWith(ref, responses) {
      lookup(ref).queue.push(...responses);
    },
    dropResponses(ref) {
      lookup(ref).queue.length = 0;
    },
    waitFor(predicate, timeoutMs = 5000) {
      return waitForIn(messages, describeState, predicate, timeoutMs, 'push message');
    },
    waitForAttempt(predicate, timeoutMs = 5000) {
      return waitForIn(attempts, describeState, predicate, timeoutMs, 'push attempt');
    },
    clear() {
      messages.length = 0;
      rejected.length = 0;
      attempts.length = 0;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Checks an RFC 8292 `Authorization: vapid t=<JWT>, k=<key>` header for the push service at `origin`
 * (ES256 signature by `k`, `aud` = origin, `exp` in the future and at most 24 h ahead, `sub` mailto:/https:).
 * Throws PushVerificationError (401) otherwise.
 */
export function verifyVapidAuthorization(header: string | undefined, origin: string, now = Date.now()): VapidClaims {
  if (!header) fail(401, 'missing-authorization', 'no Authorization header');
  const schemeMatch = /^(\S+)\s+(.*)$/s.exec(header.trim());
  if (schemeMatch?.[1]?.toLowerCase() !== 'vapid') {
    const scheme = schemeMatch?.[1] ?? header;
    fail(
      401,
      'bad-authorization',
      `Authorization scheme must be "vapid t=<JWT>, k=<key>", got "${truncate(scheme, 40)}"${/^webpush$/i.test(scheme) ? ' (the legacy aesgcm form)' : ''}`,
    );
  }
  const params = new Map<string, string>();
  for (const part of (schemeMatch[2] ?? '').split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const jwt = params.get('t');
  const k = params.get('k');
  if (!jwt || !k)
    fail(401, 'bad-authorization', `Authorization needs both t= and k= parameters: "${truncate(header, 80)}"`);

  const rawKey = decodeBase64url(k);
  if (rawKey?.length !== 65 || rawKey[0] !== 0x04)
    fail(401, 'bad-authorization', `k= is not a base64url uncompressed P-256 public key (65 bytes)`);
  let key: KeyObject;
  try {
    key = p256PublicKey(rawKey);
  } catch (error) {
    fail(401, 'bad-authorization', `k= is not a valid P-256 point: ${(error as Error).message}`);
  }

  const parts = jwt.split('.');
  if (parts.length !== 3) fail(401, 'bad-jwt', `JWT must have 3 parts, has ${parts.length}`);
  const [headerB64, claimsB64, sigB64] = parts as [string, string, string];
  const jwtHeader = parseJsonB64(headerB64);
  const claims = parseJsonB64(claimsB64);
  if (!jwtHeader || !claims) fail(401, 'bad-jwt', 'JWT header or claims are not base64url JSON objects');
  if (jwtHeader.alg !== 'ES256') fail(401, 'bad-jwt', `JWT alg must be ES256, got ${JSON.stringify(jwtHeader.alg)}`);
  if (jwtHeader.typ !== undefined && jwtHeader.typ !== 'JWT')
    fail(401, 'bad-jwt', `JWT typ must be JWT, got ${JSON.stringify(jwtHeader.typ)}`);
  const signature = decodeBase64url(sigB64);
  if (signature?.length !== 64)
    fail(401, 'bad-jwt', `JWT signature must be 64 bytes (r||s), got ${signature?.length ?? 'invalid base64url'}`);
  const valid = crypto.verify(
    'sha256',
    Buffer.from(`${headerB64}.${claimsB64}`),
    { key, dsaEncoding: 'ieee-p1363' },
    signature,
  );
  if (!valid) fail(401, 'bad-signature', 'JWT signature does not verify with the k= public key');

  if (claims.aud !== origin)
    fail(401, 'wrong-audience', `JWT aud ${JSON.stringify(claims.aud)} is not this push service's origin "${origin}"`);
  if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp))
    fail(401, 'bad-jwt', `JWT exp must be a number, got ${JSON.stringify(claims.exp)}`);
  const nowS = now / 1000;
  if (claims.exp <= nowS - CLOCK_SKEW_S)
    fail(401, 'expired', `JWT expired at ${new Date(claims.exp * 1000).toISOString()}`);
  if (claims.exp > nowS + 24 * 3600 + CLOCK_SKEW_S)
    fail(401, 'expiry-too-far', `JWT exp ${new Date(claims.exp * 1000).toISOString()} is more than 24 h ahead`);
  if (typeof claims.sub !== 'string' || !/^(mailto:|https:)/.test(claims.sub))
    fail(401, 'bad-subject', `JWT sub must start with mailto: or https:, got ${JSON.stringify(claims.sub)}`);

  return { subject: claims.sub, audience: claims.aud, expiresAt: claims.exp * 1000, publicKey: k };
}

/**
 * Decrypts an RFC 8291 aes128gcm Web Push body (one RFC 8188 record) with the subscriber's ECDH key pair
 * and auth secret, as a browser does; returns the plaintext without padding. Throws PushVerificationError
 * (400, 'undecryptable') otherwise.
 */
export function decryptPushPayload(body: Buffer, ua: crypto.ECDH, authSecret: Buffer): Buffer {
  const bad = (why: string): never => fail(400, 'undecryptable', `aes128gcm body: ${why}`);
  if (body.length < 21) bad(`${body.length} bytes is shorter than the 21-byte header`);
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20] as number;
  if (idlen !== 65) bad(`keyid must be the sender's 65-byte public key, idlen is ${idlen}`);
  const asPublic = body.subarray(21, 21 + idlen);
  const record = body.subarray(21 + idlen);
  if (rs < 18) bad(`record size ${rs} is below the minimum of 18`);
  if (record.length < 17) bad(`record of ${record.length} bytes is too short (tag 16 + delimiter 1)`);
  if (record.length > rs) bad(`more than one record (${record.length} bytes > rs ${rs}); Web Push allows one`);

  const uaPublic = ua.getPublicKey();
  let ecdhSecret: Buffer;
  try {
    ecdhSecret = ua.computeSecret(asPublic);
  } catch (error) {
    return bad(`keyid is not a valid P-256 public key: ${(error as Error).message}`);
  }
  // RFC 8291 §3.4: IKM = HKDF(salt=auth_secret, IKM=ecdh_secret, info="WebPush: info\0"||ua_public||as_public, 32)
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic]);
  const ikm = Buffer.from(crypto.hkdfSync('sha256', ecdhSecret, authSecret, keyInfo, 32));
  // RFC 8188 §2.2/2.3: CEK and NONCE from PRK = HMAC(salt, IKM); the record sequence number is 0.
  const cek = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));

  let plain: Buffer;
  try {
    const decipher = crypto.createDecipheriv('aes-128-gcm', cek, nonce);
    decipher.setAuthTag(record.subarray(record.length - 16));
    plain = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  } catch {
    return bad('authentication failed (wrong keys or auth secret, or a corrupted body)');
  }
  let end = plain.length - 1;
  while (end >= 0 && plain[end] === 0) end -= 1;
  if (end < 0) bad('record has no padding delimiter');
  if (plain[end] !== 0x02)
    bad(`padding delimiter is 0x${(plain[end] as number).toString(16).padStart(2, '0')}, the last record needs 0x02`);
  return plain.subarray(0, end);
}

/** A raw 65-byte uncompressed P-256 point as a KeyObject. */
function p256PublicKey(raw: Buffer): KeyObject {
  return crypto.createPublicKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      x: raw.subarray(1, 33).toString('base64url'),
      y: raw.subarray(33, 65).toString('base64url'),
    },
    format: 'jwk',
  });
}

function parseTtl(value: string | string[] | undefined): number {
  const text = single(value);
  if (text === undefined) fail(400, 'missing-ttl', 'no TTL header');
  if (!/^\d+$/.test(text.trim())) fail(400, 'bad-header', `TTL "${text}" is not a non-negative integer`);
  return Number(text.trim());
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function decodeBase64url(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text)) return undefined;
  return Buffer.from(text, 'base64url');
}

function parseJsonB64(text: string): Record<string, unknown> | undefined {
  const raw = decodeBase64url(text);
  if (!raw) return undefined;
  try {
    const value: unknown = JSON.parse(raw.toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The body, or null once it passes MAX_BODY (the rest is drained so the answer can be sent). */
function collectBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > MAX_BODY ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  410: 'Gone',
  413: 'Payload Too Large',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

function errorBody(status: number, message: string): string {
  return JSON.stringify({ code: status, error: REASONS[status] ?? 'Error', message });
}

function sendError(res: ServerResponse, status: number, message: string) {
  const body = errorBody(status, message);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

function truncate(text: string | undefined, max = 200): string {
  if (text === undefined) return 'undefined';
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
