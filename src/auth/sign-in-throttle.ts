import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * How failed sign-ins slow further ones down: after `free` failures a key waits 1 s after its last
 * failure, twice as long for every `perDoubling` further failures, never more than a minute. A delay,
 * never a lock: whoever knows the password gets in once the (short) wait is over.
 */
export interface BackoffPolicy {
  free: number;
  perDoubling: number;
}

/** One account from one address: 3 tries, then 1, 2, 4, 8, 16, 32 s, then a minute per guess. */
export const ACCOUNT_AT_ADDRESS: BackoffPolicy = { free: 3, perDoubling: 1 };
/**
 * One address, whatever the account: gentler, since a ward's devices may share one address (a NAT, or a
 * proxy without TRUST_PROXY). 20 failures, then 1 s doubling every 4 failures (a minute after 44): it
 * slows one machine spraying guesses over many accounts.
 */
export const ADDRESS: BackoffPolicy = { free: 20, perDoubling: 4 };

const FIRST_WAIT_MS = 1_000;
const MAX_WAIT_MS = 60_000;
/** Failures are forgotten once a key has had none for this long. */
const FORGET_AFTER_MS = 15 * 60_000;
/** Keys kept per map before the oldest are dropped, so that a flood of addresses cannot grow memory without end. */
const MAX_KEYS = 100_000;

/** How long a key waits after its last failure, having failed `failures` times. */
export function backoffMs(failures: number, { free, perDoubling }: BackoffPolicy): number {
  if (failures < free) return 0;
  return Math.min(MAX_WAIT_MS, FIRST_WAIT_MS * 2 ** Math.floor((failures - free) / perDoubling));
}

interface Failures {
  count: number;
  last: number;
}

/**
 * Sign-in throttling by (account, address) and, more gently, by address. There is deliberately no limit
 * by account alone: it would let anyone lock a clinician out by guessing wrong from elsewhere, and the
 * pair already slows every guesser. A guesser with many addresses gets `free` tries from each, then waits.
 * In memory: each instance throttles the sign-ins that reach it.
 */
export class SignInThrottle {
  readonly #pairs = new Map<string, Failures>();
  readonly #addresses = new Map<string, Failures>();

  /**
   * Before checking a password: the seconds the caller must wait (answer 429), or 0 to go ahead. Going
   * ahead counts as a failure at once, so that guesses sent all together cannot all be checked while the
   * first are still being hashed; `failed` then restarts the wait, `succeeded` gives the try back.
   */
  attempt(account: string, address: string, now = Date.now()): number {
    const pairKey = `${account}\n${bucketOf(address)}`;
    const addressKey = bucketOf(address);
    const pair = this.#current(this.#pairs, pairKey, now);
    const byAddress = this.#current(this.#addresses, addressKey, now);
    const waitMs = Math.max(
      pair ? pair.last + backoffMs(pair.count, ACCOUNT_AT_ADDRESS) - now : 0,
      byAddress ? byAddress.last + backoffMs(byAddress.count, ADDRESS) - now : 0,
    );
    if (waitMs > 0) return Math.ceil(waitMs / 1000);
    this.#count(this.#pairs, pairKey, pair, now);
    this.#count(this.#addresses, addressKey, byAddress, now);
    return 0;
  }

  /** The password was wrong: the wait starts now, when the caller is told, not when the try began. */
  failed(account: string, address: string, now = Date.now()): void {
    const pair = this.#pairs.get(`${account}\n${bucketOf(address)}`);
    const byAddress = this.#addresses.get(bucketOf(address));
    if (pair) pair.last = Math.max(pair.last, now);
    if (byAddress) byAddress.last = Math.max(byAddress.last, now);
  }

  /** The password was right: that account's failures from that address are forgotten; the address gets its try back. */
  succeeded(account: string, address: string): void {
    this.#pairs.delete(`${account}\n${bucketOf(address)}`);
    const byAddress = this.#addresses.get(bucketOf(address));
    if (byAddress) byAddress.count = Math.max(0, byAddress.count - 1);
  }

  #current(map: Map<string, Failures>, key: string, now: number): Failures | undefined {
    const failures = map.get(key);
    if (failures && now - failures.last >= FORGET_AFTER_MS) {
      map.delete(key);
      return undefined;
    }
    return failures;
  }

  #count(map: Map<string, Failures>, key: string, failures: Failures | undefined, now: number): void {
    // Re-inserted, so that the map's order is the order of last failure and the oldest go first.
    map.delete(key);
    map.set(key, { count: (failures?.count ?? 0) + 1, last: now });
    if (map.size > MAX_KEYS) {
      for (const [old, entry] of map) {
        if (map.size <= MAX_KEYS && now - entry.last < FORGET_AFTER_MS) break;
        map.delete(old);
      }
    }
  }
}

/**
 * The bucket an address counts in: IPv4 as it is (IPv4-mapped IPv6 too), IPv6 by its /64, since one
 * subscriber is usually given a whole /64 and could otherwise take a fresh address for every guess.
 */
export function bucketOf(address: string): string {
  if (!isIP(address)) return address;
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${parsed.toString()}/64`).toString()}/64`;
}

/**
 * The client's address. Without a trusted proxy, the connection's. With one (TRUST_PROXY), the
 * right-most X-Forwarded-For entry: the one our proxy appended, naming whoever connected to it. Entries
 * to its left were sent by the client and prove nothing (anyone can send `X-Forwarded-For: 1.2.3.4`).
 * One proxy hop is trusted; behind a chain of proxies, the last one must replace the header, not append.
 * A missing or malformed entry falls back to the connection's address.
 */
export function clientAddress(
  connection: string | undefined,
  forwardedFor: string | undefined,
  trustProxy: boolean,
): string {
  if (trustProxy && forwardedFor) {
    const entry = forwardedFor.split(',').at(-1)?.trim() ?? '';
    // Some proxies add the port: 198.51.100.7:51234, or [2001:db8::1]:51234.
    const address = entry.match(/^\[([^\]]+)\](?::\d+)?$/)?.[1] ?? entry.match(/^([\d.]+):\d+$/)?.[1] ?? entry;
    if (isIP(address)) return ipaddr.process(address).toString();
  }
  return connection ?? 'unknown';
}
