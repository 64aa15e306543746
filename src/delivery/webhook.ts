import { createHmac } from 'node:crypto';
import { promises as dns, type LookupAddress } from 'node:dns';
import { Agent, type AgentOptions, request, type RequestOptions } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { Duplex } from 'node:stream';
import ipaddr from 'ipaddr.js';
import { hostListed } from './allowed-hosts.ts';

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

/** What the API shows of a failed attempt: the HTTP status, if any, and no more (it could map a network). */
export const DELIVERY_FAILED = 'delivery failed';

export type WebhookResult =
  | { ok: true; httpStatus: number }
  | {
      ok: false;
      httpStatus: number | null;
      retryable: boolean;
      /** For the API: generic. */
      error: string;
      /** For the log only: what went wrong (ECONNREFUSED, a TLS error, a refused address). */
      reason: string;
    };

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
            reason: `answered ${status}`,
          });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', (error: NodeJS.ErrnoException) =>
      resolve({
        ok: false,
        httpStatus: null,
        // A refused address stays refused: trying again would only knock at the same door.
        retryable: error.code !== ADDRESS_REFUSED,
        error: DELIVERY_FAILED,
        reason: error.message,
      }),
    );
    req.end(body);
  });
}

// ---------------------------------------------------------------------------------------------------
// Where webhooks may go. An admin registers a URL; without these checks it could name anything the
// service can reach (127.0.0.1:6379, the cloud metadata service at 169.254.169.254, a ward's router),
// and the delivery log would tell which ports answer: a port scanner. So a webhook may reach only
// public unicast addresses, checked when it is registered and again at every connection (the name
// could resolve elsewhere by then: DNS rebinding), unless its host is listed in WEBHOOK_ALLOWED_HOSTS.

/** The error code of a connection refused because of where it would go. */
export const ADDRESS_REFUSED = 'ERR_WEBHOOK_ADDRESS_REFUSED';

/** Every address a host name resolves to, as `dns.lookup` finds them (the hosts file included). */
export type Resolve = (hostname: string) => Promise<LookupAddress[]>;

export const resolveAll: Resolve = (hostname) => dns.lookup(hostname, { all: true });

/**
 * Whether an address is public unicast. Refused: loopback, private (10/8, 172.16/12, 192.168/16),
 * link-local (169.254/16, fe80::/10), unique-local (fc00::/7), shared/CGNAT (100.64/10), unspecified,
 * multicast, broadcast, reserved and documentation ranges, and IPv6 forms that carry an IPv4 address
 * inside (mapped ::ffff:0:0/96 is judged by that address; NAT64, 6to4 and Teredo are refused).
 * ipaddr.js holds the ranges.
 */
export function isPublicAddress(address: string): boolean {
  if (!isIP(address)) return false;
  return ipaddr.process(address).range() === 'unicast';
}

/** The host of a URL as an address or name, without IPv6 brackets. */
const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

/**
 * Why a webhook URL may not be registered, or undefined if it may: it must be https and, unless its host
 * is in `allowedHosts`, resolve only to public addresses.
 */
export async function webhookUrlProblem(
  url: string,
  allowedHosts: readonly string[],
  resolve: Resolve = resolveAll,
): Promise<string | undefined> {
  const parsed = new URL(url);
  if (parsed.protocol !== 'https:') return 'must be an https URL';
  if (hostListed(parsed, allowedHosts, 'any port')) return undefined;
  const host = hostOf(parsed);
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await resolve(host)).map((found) => found.address);
  } catch {
    return `${host} could not be resolved`;
  }
  const refused = addresses.find((address) => !isPublicAddress(address));
  if (addresses.length === 0) return `${host} could not be resolved`;
  if (refused === undefined) return undefined;
  return `${refused === host ? host : `${host} resolves to ${refused}, which`} is not a public address (loopback, private, link-local or shared); list the host in WEBHOOK_ALLOWED_HOSTS to allow it`;
}

const refusal = (host: string, address: string) =>
  Object.assign(new Error(`${host} (${address}) is not a public address`), { code: ADDRESS_REFUSED });

/**
 * A `lookup` for net.connect that fails unless every address the name resolves to is public: the name is
 * resolved once, here, and the connection made to what was checked, so a second answer cannot differ.
 * With `publicOnly` false it only resolves (for WEBHOOK_ALLOWED_HOSTS).
 */
export function publicOnlyLookup(resolve: Resolve = resolveAll, publicOnly = true): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (found) => {
        const refused = publicOnly ? found.find((entry) => !isPublicAddress(entry.address)) : undefined;
        const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
        const wanted = family ? found.filter((entry) => entry.family === family) : found;
        if (refused || wanted.length === 0) {
          const error =
            refused !== undefined
              ? refusal(hostname, refused.address)
              : Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' });
          callback(error, options.all ? [] : '', undefined);
        } else if (options.all) callback(null, wanted);
        else callback(null, wanted[0]!.address, wanted[0]!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, options.all ? [] : '', undefined),
    );
  };
}

export interface WebhookAgentOptions extends AgentOptions {
  /** WEBHOOK_ALLOWED_HOSTS: reached whatever they resolve to. */
  allowedHosts: readonly string[];
  /** How names are resolved (dns.lookup); a test passes its own to play a rebinding DNS server. */
  resolve?: Resolve;
}

/**
 * The HTTPS agent for webhooks: every new connection is checked where it goes. An IP address in the URL
 * is checked as it is (net.connect does no lookup for one); a name is resolved by publicOnlyLookup. A
 * host in WEBHOOK_ALLOWED_HOSTS is connected to as any other agent would. Kept-alive sockets are pooled
 * per host and port, and each was checked when it was opened.
 */
export class WebhookAgent extends Agent {
  readonly #allowedHosts: readonly string[];
  readonly #lookup: LookupFunction;
  readonly #allowedLookup: LookupFunction;

  constructor({ allowedHosts, resolve = resolveAll, ...options }: WebhookAgentOptions) {
    super(options);
    this.#allowedHosts = allowedHosts;
    this.#lookup = publicOnlyLookup(resolve);
    this.#allowedLookup = publicOnlyLookup(resolve, false);
  }

  override createConnection(
    options: RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const host = String(options.host ?? options.hostname ?? 'localhost').replace(/^\[(.*)\]$/, '$1');
    const url = new URL(`https://${isIP(host) === 6 ? `[${host}]` : host}:${options.port ?? 443}`);
    if (hostListed(url, this.#allowedHosts, 'any port'))
      return super.createConnection({ ...options, lookup: this.#allowedLookup }, callback);
    if (isIP(host)) {
      if (isPublicAddress(host)) return super.createConnection(options, callback);
      if (!callback) throw refusal(host, host);
      // The agent hands this error to the request, which reports it as its own.
      callback(refusal(host, host), undefined as unknown as Duplex);
      return undefined;
    }
    return super.createConnection({ ...options, lookup: this.#lookup }, callback);
  }
}
