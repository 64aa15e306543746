import { createHmac } from 'node:crypto';
import { request, type Agent } from 'node:https';

/**
 * Signed webhook deliveries, in the manner of Stripe's and Standard Webhooks' schemes: the receiver
 * recomputes HMAC-SHA256(secret, `${timestamp}.${body}`) and compares, and refuses old timestamps to
 * stop replays.
 *   Homewatch-Timestamp: 1795436400
 *   Homewatch-Signature: v1=5f0c…
 */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

const TIMEOUT_MS = 10_000;

export type WebhookResult =
  | { ok: true; httpStatus: number }
  | { ok: false; httpStatus: number | null; retryable: boolean; error: string };

export function postWebhook(
  url: string,
  secret: string,
  body: string,
  agent: Agent | undefined,
  now = Date.now(),
): Promise<WebhookResult> {
  const timestamp = Math.floor(now / 1000);
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        timeout: TIMEOUT_MS,
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'content-length': Buffer.byteLength(body),
          'user-agent': 'Homewatch-Webhook/1',
          'homewatch-timestamp': String(timestamp),
          'homewatch-signature': signWebhook(secret, timestamp, body),
        },
      },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve({ ok: true, httpStatus: status });
        else
          resolve({
            ok: false,
            httpStatus: status,
            retryable: status === 429 || status >= 500,
            error: `answered ${status}`,
          });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', (error) => resolve({ ok: false, httpStatus: null, retryable: true, error: error.message }));
    req.end(body);
  });
}
