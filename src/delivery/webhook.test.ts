import type { LookupAddress } from 'node:dns';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADDRESS_REFUSED,
  DELIVERY_FAILED,
  isPublicAddress,
  postWebhook,
  publicOnlyLookup,
  type Resolve,
  WebhookAgent,
  webhookUrlProblem,
} from './webhook.ts';

/** A DNS stand-in: each name answers the addresses given, in turn (the last one again after that). */
function fakeDns(answers: Record<string, string[][]>): Resolve & { asked: string[] } {
  const asked: string[] = [];
  const resolve = async (hostname: string): Promise<LookupAddress[]> => {
    asked.push(hostname);
    const queue = answers[hostname];
    if (!queue) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    const addresses = queue.length > 1 ? queue.shift()! : queue[0]!;
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return Object.assign(resolve, { asked });
}

describe('isPublicAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.0.1', 'private'],
    ['169.254.169.254', 'link-local (cloud metadata)'],
    ['100.64.0.1', 'shared (CGNAT)'],
    ['100.127.255.255', 'shared (CGNAT)'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.251', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['192.0.2.10', 'documentation'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local with a zone'],
    ['fc00::1', 'unique-local'],
    ['fd00:ec2::254', 'unique-local (cloud metadata)'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:10.0.0.1', 'IPv4-mapped private'],
    ['::ffff:a9fe:a9fe', 'IPv4-mapped link-local, in hex'],
    ['64:ff9b::a00:1', 'NAT64 of 10.0.0.1'],
    ['2002:a00:1::1', '6to4 of 10.0.0.1'],
    ['not-an-address', 'not an address'],
  ])('refuses %s (%s)', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(['93.184.216.34', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:93.184.216.34'])(
    'accepts %s',
    (address) => {
      expect(isPublicAddress(address)).toBe(true);
    },
  );
});

describe('webhookUrlProblem: when a webhook is registered', () => {
  const dns = fakeDns({
    'hooks.example.org': [['93.184.216.34', '2606:2800:220:1::1']],
    'intranet.example.org': [['10.20.30.40']],
    'split.example.org': [['93.184.216.34', '192.168.1.10']],
    'empty.example.org': [[]],
  });

  it('accepts a name that resolves to public addresses only', async () => {
    expect(await webhookUrlProblem('https://hooks.example.org/homewatch', [], dns)).toBeUndefined();
  });

  it.each([
    ['https://intranet.example.org/hook', /intranet\.example\.org resolves to 10\.20\.30\.40.*not a public address/],
    ['https://split.example.org/hook', /resolves to 192\.168\.1\.10/],
    ['https://empty.example.org/hook', /could not be resolved/],
    ['https://nowhere.example.org/hook', /could not be resolved/],
    ['https://127.0.0.1:8443/hook', /127\.0\.0\.1 is not a public address/],
    ['https://[::1]/hook', /::1 is not a public address/],
    ['http://hooks.example.org/hook', /https/],
  ])('refuses %s', async (url, problem) => {
    expect(await webhookUrlProblem(url, [], dns)).toMatch(problem);
  });

  it('lets WEBHOOK_ALLOWED_HOSTS in without looking them up: a name at any port, host:port at that port only', async () => {
    const allowed = ['intranet.example.org', '127.0.0.1:8443', '[::1]:9443', '*.ward.internal'];
    const asked = dns.asked.length;
    expect(await webhookUrlProblem('https://intranet.example.org:9000/hook', allowed, dns)).toBeUndefined();
    expect(await webhookUrlProblem('https://127.0.0.1:8443/hook', allowed, dns)).toBeUndefined();
    expect(await webhookUrlProblem('https://[::1]:9443/hook', allowed, dns)).toBeUndefined();
    expect(await webhookUrlProblem('https://relay.ward.internal/hook', allowed, dns)).toBeUndefined();
    expect(dns.asked.length).toBe(asked);
    expect(await webhookUrlProblem('https://127.0.0.1:8444/hook', allowed, dns)).toMatch(/not a public address/);
    expect(await webhookUrlProblem('https://127.0.0.1/hook', allowed, dns)).toMatch(/not a public address/);
  });
});

describe('publicOnlyLookup: when a webhook connects', () => {
  const lookupOnce = (
    resolve: Resolve,
    hostname: string,
    options: { all?: boolean; family?: number } = {},
  ): Promise<{ error: NodeJS.ErrnoException | null; address: unknown; family?: number }> =>
    new Promise((done) =>
      publicOnlyLookup(resolve)(hostname, options, (error, address, family) => done({ error, address, family })),
    );

  it('refuses a name that resolved to a public address when registered and to loopback now (DNS rebinding)', async () => {
    const dns = fakeDns({ 'rebind.example.org': [['93.184.216.34'], ['127.0.0.1']] });
    expect(await webhookUrlProblem('https://rebind.example.org/hook', [], dns)).toBeUndefined();
    const { error } = await lookupOnce(dns, 'rebind.example.org');
    expect(error?.code).toBe(ADDRESS_REFUSED);
    expect(error?.message).toMatch(/127\.0\.0\.1/);
  });

  it('refuses when any of the addresses is not public, whichever family is asked for', async () => {
    const dns = fakeDns({ 'mixed.example.org': [['93.184.216.34', '::1']] });
    expect((await lookupOnce(dns, 'mixed.example.org', { family: 4 })).error?.code).toBe(ADDRESS_REFUSED);
  });

  it('answers as dns.lookup does: one address, or all of them', async () => {
    const dns = fakeDns({ 'hooks.example.org': [['93.184.216.34', '2606:2800:220:1::1']] });
    expect(await lookupOnce(dns, 'hooks.example.org')).toEqual({ error: null, address: '93.184.216.34', family: 4 });
    expect(await lookupOnce(dns, 'hooks.example.org', { family: 6 })).toMatchObject({
      address: '2606:2800:220:1::1',
      family: 6,
    });
    expect((await lookupOnce(dns, 'hooks.example.org', { all: true })).address).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1::1', family: 6 },
    ]);
  });

  it('passes a resolver error on', async () => {
    expect((await lookupOnce(fakeDns({}), 'nowhere.example.org')).error?.code).toBe('ENOTFOUND');
  });
});

describe('WebhookAgent: the connection itself', () => {
  // A plain TCP listener on loopback: it counts connections; it never gets as far as TLS.
  let server: Server;
  let port: number;
  let connections = 0;
  beforeAll(async () => {
    server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const dns = fakeDns({ 'rebind.example.org': [['127.0.0.1']] });

  it('does not connect to a name that now resolves to loopback: a generic error, not retried', async () => {
    const agent = new WebhookAgent({ allowedHosts: [], resolve: dns });
    const before = connections;
    const result = await postWebhook(`https://rebind.example.org:${port}/hook`, 'secret', '{}', agent);
    expect(result).toMatchObject({ ok: false, httpStatus: null, retryable: false, error: DELIVERY_FAILED });
    expect(result.ok === false && result.reason).toMatch(/127\.0\.0\.1.*not a public address/);
    expect(connections).toBe(before);
    agent.destroy();
  });

  it('does not connect to a loopback address in the URL (no lookup happens for one)', async () => {
    const agent = new WebhookAgent({ allowedHosts: [] });
    const before = connections;
    for (const host of ['127.0.0.1', '[::ffff:127.0.0.1]']) {
      const result = await postWebhook(`https://${host}:${port}/hook`, 'secret', '{}', agent);
      expect(result).toMatchObject({ ok: false, retryable: false, error: DELIVERY_FAILED });
    }
    expect(connections).toBe(before);
    agent.destroy();
  });

  it('connects to a host listed in WEBHOOK_ALLOWED_HOSTS, by name or address, at the listed port', async () => {
    const agent = new WebhookAgent({ allowedHosts: [`rebind.example.org:${port}`, `127.0.0.1:${port}`], resolve: dns });
    const before = connections;
    // The listener is not HTTPS: the attempt fails after connecting, which is what is counted.
    const byName = await postWebhook(`https://rebind.example.org:${port}/hook`, 'secret', '{}', agent);
    const byAddress = await postWebhook(`https://127.0.0.1:${port}/hook`, 'secret', '{}', agent);
    expect([byName.ok, byAddress.ok]).toEqual([false, false]);
    expect(connections).toBe(before + 2);
    agent.destroy();
  });
});
