import crypto from 'node:crypto';
import https from 'node:https';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import webpush from 'web-push';
import {
  decryptPushPayload,
  startPushReceiver,
  verifyVapidAuthorization,
  type PushReceiver,
  type PushSubscriptionJSON,
} from './push-receiver.ts';

const SUBJECT = 'mailto:ops@example.org';

describe('push receiver', () => {
  let receiver: PushReceiver;
  let agent: https.Agent;
  const vapid = webpush.generateVAPIDKeys();
  const vapidDetails = { subject: SUBJECT, publicKey: vapid.publicKey, privateKey: vapid.privateKey };

  beforeAll(async () => {
    receiver = await startPushReceiver();
    agent = new https.Agent({ ca: receiver.caPem });
  });
  afterAll(async () => {
    agent?.destroy();
    await receiver?.stop();
  });
  beforeEach(() => receiver.clear());

  const send = (subscription: PushSubscriptionJSON, payload: unknown, options: webpush.RequestOptions = {}) =>
    webpush.sendNotification(subscription, payload === null ? null : JSON.stringify(payload), {
      vapidDetails,
      contentEncoding: 'aes128gcm',
      agent,
      ...options,
    });

  /** POST a hand-built request to the receiver; resolves with the status and body. */
  const post = (endpoint: string, headers: Record<string, string | number>, body: Buffer | null) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.request(endpoint, { method: 'POST', headers, agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.end(body ?? undefined);
    });

  /** web-push's own request for `subscription`, to be tampered with before posting. */
  const requestFor = (subscription: PushSubscriptionJSON, payload: unknown, options: webpush.RequestOptions = {}) => {
    const details = webpush.generateRequestDetails(subscription, JSON.stringify(payload), {
      vapidDetails,
      contentEncoding: 'aes128gcm',
      TTL: 60,
      ...options,
    });
    return { headers: { ...(details.headers as Record<string, string | number>) }, body: details.body };
  };

  it('serves a certificate for 127.0.0.1 and returns browser-shaped subscriptions', () => {
    expect(receiver.origin).toBe(`https://127.0.0.1:${receiver.port}`);
    expect(receiver.host).toBe(`127.0.0.1:${receiver.port}`);
    expect(receiver.caPem).toContain('BEGIN CERTIFICATE');
    const subscription = receiver.subscribe('phone');
    expect(Object.keys(subscription)).toEqual(['endpoint', 'expirationTime', 'keys']);
    expect(subscription.endpoint).toMatch(new RegExp(`^https://127\\.0\\.0\\.1:${receiver.port}/push/[A-Za-z0-9_-]+$`));
    expect(subscription.expirationTime).toBeNull();
    expect(Buffer.from(subscription.keys.p256dh, 'base64url')).toHaveLength(65);
    expect(Buffer.from(subscription.keys.p256dh, 'base64url')[0]).toBe(0x04);
    expect(Buffer.from(subscription.keys.auth, 'base64url')).toHaveLength(16);
    expect(subscription.keys.p256dh).not.toMatch(/[+/=]/);
  });

  it('verifies, decrypts and records a push sent by web-push', async () => {
    const subscription = receiver.subscribe('nurse-phone');
    const before = Date.now();
    const result = await send(subscription, { hello: 'world' }, { TTL: 600, urgency: 'high', topic: 'abc123' });
    expect(result.statusCode).toBe(201);
    expect(result.headers.location).toMatch(new RegExp(`^${receiver.origin}/message/`));

    const message = await receiver.waitFor((m) => m.endpoint === subscription.endpoint);
    expect(message.payload).toEqual({ hello: 'world' });
    expect(message.text).toBe('{"hello":"world"}');
    expect(message.ttl).toBe(600);
    expect(message.urgency).toBe('high');
    expect(message.topic).toBe('abc123');
    expect(message.subscriptionName).toBe('nurse-phone');
    expect(message.subscriptionId).toBe(subscription.endpoint.split('/').pop());
    expect(message.receivedAt).toBeGreaterThanOrEqual(before);
    expect(message.vapid.subject).toBe(SUBJECT);
    expect(message.vapid.audience).toBe(receiver.origin);
    expect(message.vapid.publicKey).toBe(vapid.publicKey);
    // web-push signs for 12 h by default.
    expect(message.vapid.expiresAt).toBeGreaterThan(Date.now() + 11 * 3600_000);
    expect(message.vapid.expiresAt).toBeLessThanOrEqual(Date.now() + 24 * 3600_000);
    expect(message.headers.authorization).toMatch(/^vapid t=[\w-]+\.[\w-]+\.[\w-]+, k=[\w-]+$/);
    expect(message.headers['content-encoding']).toBe('aes128gcm');
    expect(message.headers['content-type']).toBe('application/octet-stream');
    expect(receiver.rejected).toEqual([]);
    expect(receiver.attempts).toMatchObject([{ endpoint: subscription.endpoint, status: 201, outcome: 'message' }]);
  });

  it('decrypts payloads of every size up to the limit (padding and the single record)', async () => {
    const subscription = receiver.subscribe();
    for (const size of [0, 1, 100, 3900]) {
      const payload = { s: 'x'.repeat(size), n: '\u00e9\u{1F600}' };
      await send(subscription, payload);
      const message = await receiver.waitFor((m) => (m.payload as { s?: string }).s?.length === size);
      expect(message.payload).toEqual(payload);
    }
    // web-push's defaults: 4 weeks TTL, Urgency normal, no Topic.
    expect(receiver.messages[0]).toMatchObject({ ttl: 2419200, urgency: 'normal', topic: undefined });
  });

  it('decryptPushPayload agrees with web-push.encrypt', () => {
    const ua = crypto.createECDH('prime256v1');
    ua.generateKeys();
    const auth = crypto.randomBytes(16);
    const plain = Buffer.from('{"a":1}');
    const { cipherText } = webpush.encrypt(
      ua.getPublicKey('base64url'),
      auth.toString('base64url'),
      plain,
      'aes128gcm',
    );
    expect(decryptPushPayload(cipherText, ua, auth)).toEqual(plain);
    expect(() => decryptPushPayload(cipherText, ua, crypto.randomBytes(16))).toThrow(/authentication failed/);
  });

  it('records a push without a body', async () => {
    const subscription = receiver.subscribe();
    await send(subscription, null, { TTL: 5 });
    const message = await receiver.waitFor((m) => m.endpoint === subscription.endpoint);
    expect(message.payload).toBeNull();
    expect(message.text).toBeNull();
  });

  it('rejects a JWT signed by another key than k= with 401', async () => {
    const subscription = receiver.subscribe();
    const other = webpush.generateVAPIDKeys();
    const { headers, body } = requestFor(subscription, { x: 1 });
    headers.Authorization = String(headers.Authorization).replace(/k=[\w-]+$/, `k=${other.publicKey}`);
    const response = await post(subscription.endpoint, headers, body);
    expect(response.status).toBe(401);
    expect(receiver.rejected).toMatchObject([{ endpoint: subscription.endpoint, status: 401, code: 'bad-signature' }]);
    expect(JSON.parse(response.body)).toMatchObject({ code: 401, message: expect.stringContaining('signature') });
    expect(receiver.messages).toEqual([]);
  });

  it('rejects a JWT made for another audience with 401', async () => {
    const subscription = receiver.subscribe();
    const { headers, body } = requestFor(subscription, { x: 1 });
    headers.Authorization = webpush.getVapidHeaders(
      'https://fcm.googleapis.com',
      SUBJECT,
      vapid.publicKey,
      vapid.privateKey,
      'aes128gcm',
    ).Authorization;
    const response = await post(subscription.endpoint, headers, body);
    expect(response.status).toBe(401);
    expect(receiver.rejected[0]).toMatchObject({
      code: 'wrong-audience',
      reason: expect.stringContaining('https://fcm.googleapis.com'),
    });
  });

  it('rejects an expired JWT, a bad subject and a missing Authorization', async () => {
    const subscription = receiver.subscribe();
    const { headers, body } = requestFor(subscription, { x: 1 });
    const past = Math.floor(Date.now() / 1000) - 3600;
    const expired = webpush.getVapidHeaders(
      receiver.origin,
      SUBJECT,
      vapid.publicKey,
      vapid.privateKey,
      'aes128gcm',
      past,
    ).Authorization;
    expect((await post(subscription.endpoint, { ...headers, Authorization: expired }, body)).status).toBe(401);
    const noAuth: Record<string, string | number> = { ...headers };
    delete noAuth.Authorization;
    expect((await post(subscription.endpoint, noAuth, body)).status).toBe(401);
    const legacy = webpush.getVapidHeaders(
      receiver.origin,
      SUBJECT,
      vapid.publicKey,
      vapid.privateKey,
      'aesgcm',
    ).Authorization;
    expect((await post(subscription.endpoint, { ...headers, Authorization: legacy }, body)).status).toBe(401);
    expect(receiver.rejected.map((r) => r.code)).toEqual(['expired', 'missing-authorization', 'bad-authorization']);
    expect(receiver.rejected[2]?.reason).toMatch(/legacy aesgcm/);
  });

  it('checks the JWT claims it cannot get from web-push (future exp > 24 h, sub) with verifyVapidAuthorization', () => {
    const origin = receiver.origin;
    const make = (claims: object) => {
      const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const data = `${b64({ typ: 'JWT', alg: 'ES256' })}.${b64(claims)}`;
      const sig = crypto
        .sign('sha256', Buffer.from(data), { key: privateKey, dsaEncoding: 'ieee-p1363' })
        .toString('base64url');
      const jwk = publicKey.export({ format: 'jwk' });
      const k = Buffer.concat([
        Buffer.from([4]),
        Buffer.from(jwk.x as string, 'base64url'),
        Buffer.from(jwk.y as string, 'base64url'),
      ]).toString('base64url');
      return `vapid t=${data}.${sig}, k=${k}`;
    };
    const exp = Math.floor(Date.now() / 1000) + 3600;
    expect(
      verifyVapidAuthorization(make({ aud: origin, exp, sub: 'https://example.org/contact' }), origin).subject,
    ).toBe('https://example.org/contact');
    expect(() => verifyVapidAuthorization(make({ aud: origin, exp: exp + 48 * 3600, sub: SUBJECT }), origin)).toThrow(
      /more than 24 h/,
    );
    expect(() => verifyVapidAuthorization(make({ aud: origin, exp, sub: 'ops@example.org' }), origin)).toThrow(
      /mailto: or https:/,
    );
    expect(() => verifyVapidAuthorization(make({ aud: origin, sub: SUBJECT }), origin)).toThrow(/exp must be a number/);
  });

  it('rejects bodies it cannot decrypt (400), unknown subscriptions (404) and missing TTL (400)', async () => {
    const subscription = receiver.subscribe();
    const someoneElse = receiver.subscribe();
    const forOther = requestFor(someoneElse, { x: 1 });
    expect((await post(subscription.endpoint, forOther.headers, forOther.body)).status).toBe(400);

    const { headers, body } = requestFor(subscription, { x: 1 });
    expect((await post(`${receiver.origin}/push/nope`, headers, body)).status).toBe(404);
    const noTtl: Record<string, string | number> = { ...headers };
    delete noTtl.TTL;
    expect((await post(subscription.endpoint, noTtl, body)).status).toBe(400);
    const text = requestFor(subscription, 'x');
    text.body = webpush.encrypt(subscription.keys.p256dh, subscription.keys.auth, 'not json', 'aes128gcm').cipherText;
    text.headers['Content-Length'] = text.body.length;
    expect((await post(subscription.endpoint, text.headers, text.body)).status).toBe(400);

    expect(receiver.rejected.map((r) => [r.status, r.code])).toEqual([
      [400, 'undecryptable'],
      [404, 'unknown-subscription'],
      [400, 'missing-ttl'],
      [400, 'not-json'],
    ]);
    expect(receiver.attempts.map((a) => a.outcome)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
    expect(receiver.messages).toEqual([]);
  });

  it('answers 403 when a restricted subscription gets a push signed with another VAPID key', async () => {
    const other = webpush.generateVAPIDKeys();
    const subscription = receiver.subscribe('restricted', { applicationServerKey: other.publicKey });
    const error = await send(subscription, { x: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(webpush.WebPushError);
    expect(error).toMatchObject({ statusCode: 403 });
    expect(receiver.rejected[0]?.code).toBe('vapid-key-mismatch');
    await send(subscription, { x: 2 }, { vapidDetails: { subject: SUBJECT, ...other } });
    await receiver.waitFor((m) => m.endpoint === subscription.endpoint);
  });

  it('respondWith 410 makes web-push reject with WebPushError statusCode 410', async () => {
    const subscription = receiver.subscribe();
    receiver.respondWith(subscription.endpoint, [{ status: 410 }]);
    const error = await send(subscription, { x: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(webpush.WebPushError);
    const pushError = error as webpush.WebPushError;
    expect(pushError.statusCode).toBe(410);
    expect(pushError.endpoint).toBe(subscription.endpoint);
    expect(pushError.message).toBe('Received unexpected response code');
    expect(JSON.parse(pushError.body)).toMatchObject({ code: 410, error: 'Gone' });
    expect(receiver.messages).toEqual([]);
    expect(receiver.attempts).toMatchObject([{ endpoint: subscription.endpoint, status: 410, outcome: 'canned' }]);
    // The queue is used up: the next push is delivered.
    await send(subscription, { x: 2 });
    expect(receiver.messages.map((m) => m.payload)).toEqual([{ x: 2 }]);
  });

  it('respondWith 429 + Retry-After reaches the caller, then 500, then delivery', async () => {
    const subscription = receiver.subscribe();
    const id = subscription.endpoint.split('/').pop() as string;
    receiver.respondWith(id, [{ status: 429, headers: { 'retry-after': '1' } }, { status: 500 }]);
    const first = (await send(subscription, { n: 1 }).catch((e: unknown) => e)) as webpush.WebPushError;
    expect(first).toBeInstanceOf(webpush.WebPushError);
    expect(first.statusCode).toBe(429);
    expect(first.headers['retry-after']).toBe('1');
    const second = (await send(subscription, { n: 2 }).catch((e: unknown) => e)) as webpush.WebPushError;
    expect(second.statusCode).toBe(500);
    await send(subscription, { n: 3 });
    expect(receiver.attempts.map((a) => a.status)).toEqual([429, 500, 201]);
    expect(receiver.messages.map((m) => m.payload)).toEqual([{ n: 3 }]);
    await expect(receiver.waitForAttempt((a) => a.status === 500)).resolves.toMatchObject({ outcome: 'canned' });
  });

  it('unsubscribe makes the endpoint answer 410 for good', async () => {
    const subscription = receiver.subscribe();
    receiver.unsubscribe(subscription);
    for (let i = 0; i < 2; i += 1) await expect(send(subscription, { i })).rejects.toMatchObject({ statusCode: 410 });
    expect(receiver.rejected.map((r) => r.code)).toEqual(['gone', 'gone']);
  });

  it('waitFor waits for a later push, and times out listing what arrived', async () => {
    const subscription = receiver.subscribe('tablet');
    const waiting = receiver.waitFor((m) => (m.payload as { n?: number }).n === 2, 2000);
    await send(subscription, { n: 1 });
    setTimeout(() => void send(subscription, { n: 2 }), 50);
    await expect(waiting).resolves.toMatchObject({ payload: { n: 2 } });

    const other = receiver.subscribe();
    const bad = requestFor(other, { y: 1 });
    bad.headers.TTL = 'soon';
    await post(other.endpoint, bad.headers, bad.body);
    const error = await receiver
      .waitFor((m) => (m.payload as { n?: number }).n === 99, 100)
      .catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/no matching push message within 100 ms/);
    expect((error as Error).message).toMatch(/Received 2 message\(s\)/);
    expect((error as Error).message).toContain('tablet');
    expect((error as Error).message).toContain('{"n":1}');
    expect((error as Error).message).toMatch(/Rejected 1 request\(s\):[\s\S]*400 bad-header: TTL "soon"/);
  });

  it('respondWith throws for an unknown subscription', () => {
    expect(() => receiver.respondWith('nope', [{ status: 410 }])).toThrow(/no subscription "nope"/);
  });
});
