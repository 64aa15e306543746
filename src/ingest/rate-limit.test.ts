import { describe, expect, it } from 'vitest';
import { RateLimiter } from './rate-limit.ts';

describe('RateLimiter', () => {
  it('allows a burst of the capacity, then refills evenly', () => {
    const limiter = new RateLimiter(3, 3_000);
    expect([0, 0, 0].map(() => limiter.take('a', 0))).toEqual([0, 0, 0]);
    expect(limiter.take('a', 0)).toBe(1); // one second until the next token
    expect(limiter.take('a', 1_000)).toBe(0);
    expect(limiter.take('b', 1_000)).toBe(0); // keys are independent
  });

  it('reserve queues callers in order and refuses a key a whole window in debt', () => {
    const limiter = new RateLimiter(2, 2_000); // one a second
    expect(limiter.reserve('a', 0)).toBe(0);
    expect(limiter.reserve('a', 0)).toBe(0);
    expect(limiter.reserve('a', 0)).toBe(1_000);
    expect(limiter.reserve('a', 0)).toBe(2_000);
    expect(limiter.reserve('a', 0)).toBe(-1);
    // Three seconds later three tokens came back: two owed, one to spend.
    expect(limiter.reserve('a', 3_000)).toBe(0);
    expect(limiter.reserve('a', 3_000)).toBe(1_000);
  });

  it('give returns what an attempt took', () => {
    const limiter = new RateLimiter(1, 60_000);
    limiter.take('a', 0);
    limiter.give('a');
    expect(limiter.take('a', 0)).toBe(0);
  });
});
