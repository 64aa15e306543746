import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBinary, requireBinary } from './helpers/mosquitto.ts';
import { ADMIN_TOKEN, spawnService, type ServiceProcess } from './helpers/service.ts';

/**
 * The HTTP rows of the security issue, against the compiled service in its own process (its memory and
 * its log are what is checked): request bodies are limited before they are read, a body that is not
 * JSON is a 400 that logs nothing of it, answers are not cached, and a browser session cannot be used
 * by another origin of the same site (CSRF).
 */

const KiB = 1024;
const MiB = 1024 * KiB;

let dataDir: string;
let svc: ServiceProcess;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'homewatch-sec-http-'));
  svc = await spawnService({ DATA_DIR: dataDir });
});

afterAll(async () => {
  if (svc) {
    svc.child.kill('SIGTERM');
    await svc.exited;
  }
  await rm(dataDir, { recursive: true, force: true });
});

/** Resident memory of the service process, in bytes; `peak` since the last `resetPeak`. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * KiB;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/** Resets the kernel's peak-RSS mark (VmHWM), so a peak measured afterwards belongs to what follows. */
function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

interface Answer {
  status: number;
  body: string;
}

/**
 * Sends `bytes` of body (a JSON string that never ends: `{"x":"aaaa…`) to `pathname`, declared by
 * Content-Length or chunked, and resolves with the answer as soon as it comes, even if the server did
 * not read the rest. The body is generated as it is sent, so this process does not hold it.
 */
function sendHuge(
  url: string,
  pathname: string,
  {
    bytes,
    method = 'POST',
    headers = {},
    chunked = false,
  }: {
    bytes: number;
    method?: string;
    headers?: Record<string, string>;
    chunked?: boolean;
  },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${url}${pathname}`, {
      method,
      headers: {
        'content-type': 'application/json',
        ...(chunked ? {} : { 'content-length': String(bytes) }),
        // As a browser or curl would: with "close", the server closes as soon as it has answered, and a
        // close that finds the answer still unread in this side's buffer throws it away.
        connection: 'keep-alive',
        ...headers,
      },
      agent: false,
    });
    let answered = false;
    request.on('response', (response) => {
      answered = true;
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        request.destroy();
        resolve({ status: response.statusCode!, body });
      });
      response.on('error', reject);
    });
    // The server may cut the connection after answering: that is not a failure of the test.
    request.on('error', (error) => {
      if (!answered) reject(error);
    });
    const chunk = Buffer.alloc(64 * KiB, 'a');
    const head = Buffer.from('{"x":"');
    let sent = 0;
    // One chunk per turn of the event loop, so that an early answer is read as soon as it arrives.
    const pump = () => {
      if (answered || request.destroyed) return;
      if (sent >= bytes) {
        request.end();
        return;
      }
      const next = sent === 0 ? head : chunk.subarray(0, Math.min(chunk.length, bytes - sent));
      sent += next.length;
      if (request.write(next)) setImmediate(pump);
      else request.once('drain', () => setImmediate(pump));
    };
    pump();
  });
}

/** A body of exactly `bytes` bytes: `json` padded with spaces before its closing brace (still valid JSON). */
function padded(json: Record<string, unknown>, bytes: number): string {
  const text = JSON.stringify(json);
  return `${text.slice(0, -1)}${' '.repeat(bytes - Buffer.byteLength(text))}}`;
}

const post = (pathname: string, body: string, headers: Record<string, string> = {}, method = 'POST') =>
  fetch(svc.url + pathname, { method, headers: { 'content-type': 'application/json', ...headers }, body });

describe('request bodies are limited before they are read (security issue row 1)', () => {
  const HUNDRED_MB = 100 * MiB;

  async function refusedCheaply(send: () => Promise<Answer>) {
    const pid = svc.child.pid!;
    const before = memory(pid).rss;
    resetPeak(pid);
    const answer = await send();
    const grown = memory(pid).peak - before;
    expect(grown, `the service grew by ${Math.round(grown / MiB)} MB`).toBeLessThan(50 * MiB);
    expect(answer.status, answer.body).toBe(413);
    expect(JSON.parse(answer.body)).toEqual({
      error: { code: 'payload_too_large', message: expect.any(String), details: [] },
    });
  }

  it('100 MB to POST /v1/auth/login without credentials: 413, and the service does not grow by it', async () => {
    await refusedCheaply(() => sendHuge(svc.url, '/v1/auth/login', { bytes: HUNDRED_MB }));
  });

  it('the same sent chunked, with no Content-Length to refuse it by', async () => {
    await refusedCheaply(() => sendHuge(svc.url, '/v1/auth/login', { bytes: HUNDRED_MB, chunked: true }));
  });

  it('100 MB to other routes (POST /v1/patients, PUT care-plan) as an admin: 413 without growing', async () => {
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    await refusedCheaply(() => sendHuge(svc.url, '/v1/patients', { bytes: HUNDRED_MB, headers: auth }));
    const patientId = await svc.createPatient();
    await refusedCheaply(() =>
      sendHuge(svc.url, `/v1/patients/${patientId}/care-plan`, {
        bytes: HUNDRED_MB,
        method: 'PUT',
        headers: auth,
        chunked: true,
      }),
    );
  });

  it('64 KiB on ordinary routes: a body of exactly 64 KiB is read, one byte more is refused', async () => {
    const login = { email: 'nobody@clinic.test', password: 'not-the-password-at-all' };
    expect((await post('/v1/auth/login', padded(login, 64 * KiB))).status).toBe(401);
    // Chunked, with no length to go by: read as it arrives, and handed to the route.
    const chunked = await fetch(`${svc.url}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new Blob([padded(login, 64 * KiB)]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(401);
    const over = await post('/v1/auth/login', padded(login, 64 * KiB + 1));
    expect(over.status).toBe(413);
    expect((await over.json()).error.code).toBe('payload_too_large');

    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    expect((await post('/v1/patients', padded({ name: 'Padded Patient' }, 64 * KiB), auth)).status).toBe(201);
    expect((await post('/v1/patients', padded({ name: 'Padded Patient' }, 64 * KiB + 1), auth)).status).toBe(413);
  });

  it('256 KiB on PUT /v1/patients/{id}/care-plan', async () => {
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const patientId = await svc.createPatient();
    const plan = { templates: [], rules: [] };
    const put = (bytes: number) => post(`/v1/patients/${patientId}/care-plan`, padded(plan, bytes), auth, 'PUT');
    expect((await put(256 * KiB)).status).toBe(200);
    expect((await put(256 * KiB + 1)).status).toBe(413);
    // The care team's other routes keep the ordinary limit.
    expect((await post('/v1/patients', padded({ name: 'Padded Patient' }, 65 * KiB), auth)).status).toBe(413);
  });

  it('POST /v1/readings keeps its 1 MiB limit', async () => {
    const device = await svc.provision('bp_monitor');
    const reading = { type: 'blood_pressure', measuredAt: new Date().toISOString(), systolic: 120, diastolic: 80 };
    const auth = { authorization: `Bearer ${device.token}` };
    expect((await post('/v1/readings', padded(reading, MiB), auth)).status).toBe(200);
    // Answered before the body is all sent: read the answer as it comes rather than after the upload.
    expect((await sendHuge(svc.url, '/v1/readings', { bytes: MiB + 1, headers: auth })).status).toBe(413);
  });
});

describe('a body that is not JSON (security issue row 12)', () => {
  it('a form-encoded sign-in is a 400, and the password is nowhere in the log', async () => {
    const password = `Secret-${randomUUID()}`;
    for (const contentType of ['application/x-www-form-urlencoded', 'text/plain', undefined]) {
      const response = await fetch(`${svc.url}/v1/auth/login`, {
        method: 'POST',
        headers: contentType ? { 'content-type': contentType } : {},
        body: new TextEncoder().encode(`email=ann%40clinic.test&password=${password}`),
      });
      expect(response.status, String(contentType)).toBe(400);
      expect(await response.json()).toEqual({
        error: { code: 'invalid_json', message: expect.any(String), details: [] },
      });
    }
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const patients = await post('/v1/patients', `name=${password}`, { ...auth, 'content-type': 'text/plain' });
    expect(patients.status).toBe(400);
    // The request log lines come after the answers: wait for the last one.
    await expect.poll(() => svc.logs.filter((l) => l.path === '/v1/patients' && l.status === 400).length).toBe(1);
    const log = JSON.stringify(svc.logs);
    expect(log).not.toContain(password);
    expect(svc.logs.filter((l) => l.level === 50 || l.event === 'http_error')).toEqual([]);
  });
});

describe('answers are not cached (security issue row 13)', () => {
  it('Cache-Control: no-store on /v1 answers, errors included', async () => {
    const patientId = await svc.createPatient();
    for (const response of [
      await svc.admin('/v1/patients'),
      await svc.admin(`/v1/patients/${patientId}`),
      await svc.admin(`/v1/patients/${randomUUID()}`),
      await svc.admin(`/v1/alerts?patientId=${patientId}`),
      await svc.admin('/v1/audit'),
      await svc.request('/v1/patients', undefined),
    ]) {
      expect(response.headers.get('cache-control'), response.url).toBe('no-store');
      await response.arrayBuffer();
    }
  });
});

describe('cross-site request forgery (security issue row 4)', () => {
  let admin: { id: string; email: string; password: string; cookie: string; token: string };
  const own = () => svc.url;
  const foreign = () => `http://127.0.0.1:${svc.httpPort === 65535 ? 1 : svc.httpPort + 1}`;

  beforeAll(async () => {
    const created = await svc.createClinician('admin');
    const token = await svc.login(created.email, created.password);
    admin = { ...created, token, cookie: `homewatch_session=${token}` };
  });

  const newClinician = () =>
    JSON.stringify({
      name: 'Mallory',
      email: `mallory-${randomUUID().slice(0, 8)}@evil.test`,
      role: 'admin',
      password: `Pw-${randomUUID()}`,
    });

  async function expectCsrf(response: Response) {
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({
      error: { code: 'csrf', message: expect.any(String), details: [] },
    });
  }

  it('the session cookie with a foreign Origin (another port of the same host) is refused with 403 csrf', async () => {
    const body = newClinician();
    await expectCsrf(
      await post('/v1/clinicians', body, { cookie: admin.cookie, origin: foreign(), 'sec-fetch-site': 'same-site' }),
    );
    await expectCsrf(await post('/v1/auth/logout', '', { cookie: admin.cookie, origin: foreign() }));
    const { clinicians } = (await (await svc.admin('/v1/clinicians')).json()) as { clinicians: { email: string }[] };
    expect(clinicians.map((c) => c.email)).not.toContain(JSON.parse(body).email);
  });

  it('the session cookie with neither Origin nor Sec-Fetch-Site is refused', async () => {
    await expectCsrf(await post('/v1/clinicians', newClinician(), { cookie: admin.cookie }));
  });

  it('the session cookie with a text/plain body is refused, even from our own origin', async () => {
    await expectCsrf(
      await post('/v1/clinicians', newClinician(), {
        cookie: admin.cookie,
        origin: own(),
        'content-type': 'text/plain',
      }),
    );
    await expectCsrf(
      await post('/v1/clinicians', newClinician(), {
        cookie: admin.cookie,
        'sec-fetch-site': 'same-origin',
        'content-type': 'application/x-www-form-urlencoded',
      }),
    );
  });

  it('the session cookie from our own origin (Origin, or Sec-Fetch-Site: same-origin) with JSON is fine', async () => {
    expect((await post('/v1/clinicians', newClinician(), { cookie: admin.cookie, origin: own() })).status).toBe(201);
    expect(
      (await post('/v1/clinicians', newClinician(), { cookie: admin.cookie, 'sec-fetch-site': 'same-origin' })).status,
    ).toBe(201);
    // Behind a TLS proxy the browser's origin is https://, as the proxy says.
    expect(
      (
        await post('/v1/clinicians', newClinician(), {
          cookie: admin.cookie,
          origin: own().replace('http:', 'https:'),
          'x-forwarded-proto': 'https',
        })
      ).status,
    ).toBe(201);
    // Reads are not state-changing: no Origin needed.
    expect((await fetch(`${svc.url}/v1/auth/me`, { headers: { cookie: admin.cookie } })).status).toBe(200);
  });

  it('a bearer token needs no Origin, and its body is not held to the cookie rule', async () => {
    const headers = { authorization: `Bearer ${admin.token}` };
    expect((await post('/v1/clinicians', newClinician(), headers)).status).toBe(201);
    // A bearer token alongside a cookie: the bearer decides, as in authenticate.
    expect((await post('/v1/clinicians', newClinician(), { ...headers, cookie: admin.cookie })).status).toBe(201);
  });

  it('the refusal is audited as denied, with the clinician as the actor', async () => {
    await post('/v1/clinicians', newClinician(), { cookie: admin.cookie, origin: foreign() });
    const { events } = (await (await svc.admin(`/v1/audit?actorId=${admin.id}&limit=1`)).json()) as {
      events: Array<{ action: string; outcome: string }>;
    };
    expect(events[0]).toMatchObject({ action: 'csrf POST /v1/clinicians', outcome: 'denied' });
  });
});

describe.skipIf(!requireBinary('chromium', findBinary('chromium', 'CHROMIUM_BIN') !== undefined))(
  'cross-site request forgery in Chromium',
  () => {
    it('a page on another port of the same host auto-submits a text/plain form: refused, no account made', async () => {
      const admin = await svc.createClinician('admin');
      const email = `forged-${randomUUID().slice(0, 8)}@evil.test`;
      const forged = JSON.stringify({ name: 'Forged', email, role: 'admin', password: 'pw-padding-for-length' });
      // text/plain sends `name=value`: the form field's name is the JSON up to its last quote, its value the rest.
      const cut = forged.lastIndexOf('padding');
      const page = `<!doctype html><form method="post" enctype="text/plain" action="${svc.url}/v1/clinicians">
        <input type="hidden" name='${forged.slice(0, cut)}' value='${forged.slice(cut)}'></form>
        <script>document.forms[0].submit()</script>`;
      const attacker = http.createServer((_req, res) => res.end(page));
      await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
      const browser = await chromium.launch({
        executablePath: findBinary('chromium', 'CHROMIUM_BIN'),
        args: ['--no-sandbox', '--disable-gpu'],
      });
      try {
        const context = await browser.newContext();
        const tab = await context.newPage();
        await tab.goto(`${svc.url}/login`);
        await tab.getByLabel('Email').fill(admin.email);
        await tab.getByLabel('Password').fill(admin.password);
        await tab.getByRole('button', { name: 'Sign in' }).click();
        await tab.waitForURL(`${svc.url}/`);
        const { port } = attacker.address() as { port: number };
        // The POST the forged form makes (the inbox itself GETs /v1/clinicians for names, answered 200).
        const answer = tab.waitForResponse(
          (r) => r.url() === `${svc.url}/v1/clinicians` && r.request().method() === 'POST',
        );
        await tab.goto(`http://127.0.0.1:${port}/`);
        const response = await answer;
        // Same site (only the port differs): the SameSite=Strict cookie goes with the forged request.
        expect((await response.request().allHeaders()).cookie).toMatch(/homewatch_session=/);
        expect(response.status()).toBe(403);
        expect(await response.json()).toMatchObject({ error: { code: 'csrf' } });
        const { clinicians } = (await (await svc.admin('/v1/clinicians')).json()) as {
          clinicians: { email: string }[];
        };
        expect(clinicians.map((c) => c.email)).not.toContain(email);
      } finally {
        await browser.close();
        attacker.close();
      }
    });
  },
);
