import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from './helpers/service.ts';

/**
 * The attacks of the security issue's sign-in, webhook, push and account rows, each against the real
 * service: an open redirect after sign-in, webhooks as a port scanner, sign-in lockouts of the real
 * user, stolen and unbounded push subscriptions, weak passwords and accounts that cannot be disabled.
 */

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.stop();
});

// ---------------------------------------------------------------------------------------------------

describe('after sign-in, only a page of this site (row 5)', () => {
  let token: string;
  beforeAll(async () => {
    const nurse = await svc.createClinician('nurse');
    token = await svc.login(nurse.email, nurse.password);
  });

  it.each([
    ['/%09/example.org/phish', 'a tab, which browsers drop: //example.org'],
    ['/%0a/example.org/phish', 'a newline'],
    ['/%0d%0a/example.org', 'CR LF'],
    ['//example.org', 'a protocol-relative URL'],
    ['/%5Cexample.org', 'a backslash, which browsers read as a slash'],
    ['https://example.org/', 'another origin'],
    ['/.//example.org', 'a path that normalises to //example.org'],
  ])('next=%s (%s) leads a signed-in clinician home, without a 500', async (next) => {
    const response = await fetch(`${svc.url}/login?next=${next}`, {
      headers: { authorization: `Bearer ${token}` },
      redirect: 'manual',
    });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/');
  });

  it('puts the same safe target in the sign-in page for its script', async () => {
    const html = await (await fetch(`${svc.url}/login?next=/%09/example.org/phish`)).text();
    expect(html).toContain('data-next="/"');
    const kept = await (await fetch(`${svc.url}/login?next=${encodeURIComponent('/patients/p1?tab=plan')}`)).text();
    expect(kept).toContain('data-next="/patients/p1?tab=plan"');
  });
});
