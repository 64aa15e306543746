import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Agent } from 'node:https';
import path from 'node:path';
import webpush, { WebPushError } from 'web-push';

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
  subject: string;
}

/**
 * VAPID keys from the environment, or from DATA_DIR/vapid.json, generated on first start (readable only
 * by the service's user). Keeping them is what keeps every browser subscription valid across restarts.
 */
export function loadVapidKeys(options: {
  publicKey?: string;
  privateKey?: string;
  subject: string;
  dataDir: string;
}): VapidKeys {
  if (options.publicKey && options.privateKey)
    return { publicKey: options.publicKey, privateKey: options.privateKey, subject: options.subject };
  const file = path.join(options.dataDir, 'vapid.json');
  if (!existsSync(file)) writeFileSync(file, JSON.stringify(webpush.generateVAPIDKeys()), { mode: 0o600 });
  const keys = JSON.parse(readFileSync(file, 'utf8')) as { publicKey: string; privateKey: string };
  return { ...keys, subject: options.subject };
}

export interface PushTarget {
  endpoint: string;
  p256dh: string;
  auth: string;
}

export interface PushOptions {
  /** Seconds the push service may hold the message for an offline device. */
  ttl: number;
  urgency: 'high' | 'normal';
  /** Replaces an undelivered earlier message with the same topic: one notification per alert, newest state. */
  topic: string;
}

/** One attempt's outcome; the caller decides about retries (it logs every attempt). */
export type PushResult =
  | { outcome: 'delivered'; httpStatus: number }
  | { outcome: 'gone'; httpStatus: number }
  | { outcome: 'retry'; httpStatus: number | null; retryAfterMs: number | undefined; error: string }
  | { outcome: 'failed'; httpStatus: number | null; error: string };

const TIMEOUT_MS = 10_000;
/** A VAPID JWT is made to last this long (web-push's default; RFC 8292 allows at most 24 hours)… */
const VAPID_VALID_S = 12 * 60 * 60;
/** …and is reused for this long, so that one sent near the end of its reuse is still valid on arrival. */
const VAPID_REUSE_MS = 11 * 60 * 60 * 1000;

export class WebPushSender {
  /** Per push service origin: the signed VAPID Authorization header, and until when it is reused. */
  readonly #vapid = new Map<string, { authorization: string; until: number }>();

  constructor(
    private readonly keys: VapidKeys,
    private readonly agent: Agent | undefined,
  ) {}

  get publicKey() {
    return this.keys.publicKey;
  }

  async send(target: PushTarget, payload: unknown, options: PushOptions): Promise<PushResult> {
    try {
      const response = await webpush.sendNotification(
        { endpoint: target.endpoint, keys: { p256dh: target.p256dh, auth: target.auth } },
        JSON.stringify(payload),
        {
          headers: { Authorization: this.#authorization(target.endpoint) },
          TTL: options.ttl,
          urgency: options.urgency,
          topic: options.topic,
          contentEncoding: 'aes128gcm',
          timeout: TIMEOUT_MS,
          ...(this.agent ? { agent: this.agent } : {}),
        },
      );
      return { outcome: 'delivered', httpStatus: response.statusCode };
    } catch (error) {
      if (!(error instanceof WebPushError))
        return { outcome: 'retry', httpStatus: null, retryAfterMs: undefined, error: (error as Error).message };
      const status = error.statusCode;
      // 404/410: the browser unsubscribed or the subscription expired (RFC 8030 §7.3).
      if (status === 404 || status === 410) return { outcome: 'gone', httpStatus: status };
      if (status === 429 || status >= 500) {
        return {
          outcome: 'retry',
          httpStatus: status,
          retryAfterMs: retryAfterMs(error.headers?.['retry-after']),
          error: `push service answered ${status}`,
        };
      }
      return {
        outcome: 'failed',
        httpStatus: status,
        error: `push service answered ${status}: ${String(error.body).slice(0, 200)}`,
      };
    }
  }

  /**
   * The VAPID header for the endpoint's push service. Signing a JWT for every push costs event-loop
   * time on the path of every alert; RFC 8292 §2 lets a sender reuse one until it expires. One entry per
   * push service origin, of which PUSH_ENDPOINT_HOSTS allows a handful.
   */
  #authorization(endpoint: string): string {
    const audience = new URL(endpoint).origin;
    const now = Date.now();
    let header = this.#vapid.get(audience);
    if (!header || header.until <= now) {
      const { subject, publicKey, privateKey } = this.keys;
      const { Authorization } = webpush.getVapidHeaders(
        audience,
        subject,
        publicKey,
        privateKey,
        'aes128gcm',
        Math.floor(now / 1000) + VAPID_VALID_S,
      );
      header = { authorization: Authorization, until: now + VAPID_REUSE_MS };
      this.#vapid.set(audience, header);
    }
    return header.authorization;
  }
}

/** Retry-After in seconds or as an HTTP date. */
export function retryAfterMs(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  const seconds = Number(text);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
