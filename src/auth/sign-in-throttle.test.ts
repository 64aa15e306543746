import { describe, expect, it } from 'vitest';
import { ACCOUNT_AT_ADDRESS, ADDRESS, backoffMs, bucketOf, clientAddress, SignInThrottle } from './sign-in-throttle.ts';

const T0 = Date.parse('2026-11-22T08:00:00Z');

/** Fails `n` times in a row, each as soon as allowed; returns the time of the last failure. */
function fail(throttle: SignInThrottle, account: string, address: string, n: number, from = T0): number {
  let now = from;
  for (let i = 0; i < n; i++) {
    for (let wait = throttle.attempt(account, address, now); wait > 0; wait = throttle.attempt(account, address, now))
      now += wait * 1000;
  }
  return now;
}

describe('backoffMs', () => {
  it('lets one account from one address try 3 times, then waits 1, 2, 4 … s, at most a minute', () => {
    const waits = Array.from({ length: 12 }, (_, failures) => backoffMs(failures, ACCOUNT_AT_ADDRESS) / 1000);
    expect(waits).toEqual([0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
  });

  it('is gentler by address alone: 20 failures, then doubling every 4', () => {
    expect(backoffMs(19, ADDRESS)).toBe(0);
    expect([20, 23, 24, 28, 40, 44, 100].map((n) => backoffMs(n, ADDRESS) / 1000)).toEqual([1, 1, 2, 4, 32, 60, 60]);
  });
});

describe('SignInThrottle', () => {
  it('slows the guessing address, never the right password from another address', () => {
    const throttle = new SignInThrottle();
    const last = fail(throttle, 'ann@clinic.test', '198.51.100.7', 9);
    expect(throttle.attempt('ann@clinic.test', '198.51.100.7', last)).toBe(60);
    expect(throttle.attempt('ann@clinic.test', '203.0.113.5', last)).toBe(0);
    // Another account from the guessing address is not held up by that account's failures.
    expect(throttle.attempt('bob@clinic.test', '198.51.100.7', last)).toBe(0);
  });

  it('counts a try before its password is checked, so concurrent guesses cannot all be tried', () => {
    const throttle = new SignInThrottle();
    const answers = Array.from({ length: 12 }, () => throttle.attempt('ann@clinic.test', '198.51.100.7', T0));
    expect(answers.filter((wait) => wait === 0)).toHaveLength(3);
    expect(answers.filter((wait) => wait > 0)).toHaveLength(9);
  });

  it('forgets the failures of that account and address after a success', () => {
    const throttle = new SignInThrottle();
    const last = fail(throttle, 'ann@clinic.test', '198.51.100.7', 5);
    throttle.succeeded('ann@clinic.test', '198.51.100.7');
    expect(throttle.attempt('ann@clinic.test', '198.51.100.7', last)).toBe(0);
  });

  it('forgets failures after 15 minutes without one', () => {
    const throttle = new SignInThrottle();
    const last = fail(throttle, 'ann@clinic.test', '198.51.100.7', 9);
    expect(throttle.attempt('ann@clinic.test', '198.51.100.7', last + 60_000)).toBe(0);
    expect(throttle.attempt('ann@clinic.test', '198.51.100.7', last + 60_001)).toBeGreaterThan(0);
    const later = last + 60_000 + 15 * 60_000;
    for (let i = 0; i < 3; i++) expect(throttle.attempt('ann@clinic.test', '198.51.100.7', later)).toBe(0);
  });

  it('slows an address spraying one guess over many accounts, after 20', () => {
    const throttle = new SignInThrottle();
    for (let i = 0; i < 20; i++) expect(throttle.attempt(`nurse-${i}@clinic.test`, '198.51.100.7', T0)).toBe(0);
    expect(throttle.attempt('nurse-20@clinic.test', '198.51.100.7', T0)).toBe(1);
    expect(throttle.attempt('nurse-20@clinic.test', '198.51.100.8', T0)).toBe(0);
  });

  it('counts an IPv6 client by its /64, so that it cannot take a fresh address per guess', () => {
    const throttle = new SignInThrottle();
    for (let i = 1; i <= 3; i++) throttle.attempt('ann@clinic.test', `2001:db8:1:2::${i}`, T0);
    expect(throttle.attempt('ann@clinic.test', '2001:db8:1:2:ffff::9', T0)).toBe(1);
    expect(throttle.attempt('ann@clinic.test', '2001:db8:1:3::1', T0)).toBe(0);
  });
});

describe('bucketOf', () => {
  it.each([
    ['198.51.100.7', '198.51.100.7'],
    ['::ffff:198.51.100.7', '198.51.100.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['unknown', 'unknown'],
  ])('%s counts as %s', (address, bucket) => {
    expect(bucketOf(address)).toBe(bucket);
  });
});

describe('clientAddress', () => {
  it('is the connection without TRUST_PROXY, whatever X-Forwarded-For says', () => {
    expect(clientAddress('10.0.0.2', '198.51.100.7', false)).toBe('10.0.0.2');
  });

  it.each([
    ['198.51.100.7', '198.51.100.7'],
    ['203.0.113.1, 198.51.100.7', '198.51.100.7'],
    ['203.0.113.1,198.51.100.7 ', '198.51.100.7'],
    ['198.51.100.7:51234', '198.51.100.7'],
    ['[2001:db8::1]:51234', '2001:db8::1'],
    ['2001:db8::1', '2001:db8::1'],
    ['::ffff:198.51.100.7', '198.51.100.7'],
  ])('with TRUST_PROXY, X-Forwarded-For %j gives %s (the right-most entry)', (header, client) => {
    expect(clientAddress('10.0.0.2', header, true)).toBe(client);
  });

  it.each([[undefined], [''], ['198.51.100.7, not-an-address'], ['198.51.100.7,']])(
    'with TRUST_PROXY, falls back to the connection for X-Forwarded-For %j',
    (header) => {
      expect(clientAddress('10.0.0.2', header, true)).toBe('10.0.0.2');
    },
  );
});

describe('SignInThrottle.failed', () => {
  it('starts the wait when the wrong password is answered, however long checking it took', () => {
    const throttle = new SignInThrottle();
    for (let i = 0; i < 3; i++) expect(throttle.attempt('ann@clinic.test', '198.51.100.7', T0)).toBe(0);
    // The third password took 5 s to check (a busy server): the 1 s wait runs from its answer.
    throttle.failed('ann@clinic.test', '198.51.100.7', T0 + 5_000);
    expect(throttle.attempt('ann@clinic.test', '198.51.100.7', T0 + 5_500)).toBe(1);
    expect(throttle.attempt('ann@clinic.test', '198.51.100.7', T0 + 6_000)).toBe(0);
  });
});
