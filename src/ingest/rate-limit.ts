/**
 * Token buckets keyed by device, account or address: `capacity` events, refilled evenly over `windowMs`.
 * In memory: each instance limits what reaches it.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #perMs: number;

  constructor(
    private readonly capacity: number,
    windowMs = 60_000,
  ) {
    this.#perMs = capacity / windowMs;
  }

  /** Takes one event's worth; returns 0 when allowed, else the seconds to wait before retrying. */
  take(key: string, now = Date.now()): number {
    const retryAfter = this.check(key, now);
    if (retryAfter === 0) this.#buckets.get(key)!.tokens -= 1;
    return retryAfter;
  }

  /** Like take, without using anything up: 0 when an event would be allowed now. */
  check(key: string, now = Date.now()): number {
    const bucket = this.#buckets.get(key) ?? { tokens: this.capacity, at: now };
    bucket.tokens = Math.min(this.capacity, bucket.tokens + (now - bucket.at) * this.#perMs);
    bucket.at = now;
    if (this.#buckets.size > 100_000) this.#sweep();
    this.#buckets.set(key, bucket);
    return bucket.tokens >= 1 ? 0 : Math.max(1, Math.ceil((1 - bucket.tokens) / this.#perMs / 1000));
  }

  /**
   * Books one event even when the bucket is empty, so callers queue in order: returns the milliseconds
   * to wait before acting (0 when allowed now), or -1 when the key is already a full window in debt.
   */
  reserve(key: string, now = Date.now()): number {
    this.check(key, now);
    const bucket = this.#buckets.get(key)!;
    if (bucket.tokens <= -this.capacity) return -1;
    bucket.tokens -= 1;
    return bucket.tokens >= 0 ? 0 : Math.ceil(-bucket.tokens / this.#perMs);
  }

  /** Gives one event's worth back, e.g. an attempt counted up front that turned out fine. */
  give(key: string): void {
    const bucket = this.#buckets.get(key);
    if (bucket) bucket.tokens = Math.min(this.capacity, bucket.tokens + 1);
  }

  /** Forgets a key, e.g. an account's failed sign-ins after a successful one. */
  reset(key: string): void {
    this.#buckets.delete(key);
  }

  /** Full buckets carry no information; drop them so that many one-off keys cannot grow the map. */
  #sweep() {
    for (const [key, bucket] of this.#buckets) if (bucket.tokens >= this.capacity - 1) this.#buckets.delete(key);
  }
}
