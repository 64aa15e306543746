import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRandom } from '../scripts/simulate-data.ts';
import { findBinary, requireBinary } from './helpers/mosquitto.ts';
import { startPushReceiver, type PushReceiver } from './helpers/push-receiver.ts';
import { startTestService, type TestClinician, type TestService } from './helpers/service.ts';

/**
 * The clinician web app in a real browser: Debian's Chromium driven by playwright-core (no browser
 * download), against the real service in this process with a month of readings. Covers sign-in, the
 * inbox (a fresh alert arriving while it is open, who was notified, acknowledge and resolve in place),
 * the patient list's adherence, the patient page's charts, a physician changing a threshold, phone
 * width, session expiry and sign-out, and fails on any console error or CSP violation on any page.
 *
 * Screenshots go to test-artifacts/web/. With UPDATE_SCREENSHOTS=1 the README's two screenshots
 * (docs/screenshots/inbox.png, patient.png) are written too.
 */

/** Set CHROMIUM_BIN to use another binary; CI installs Debian's chromium (.ci/run). */
function chromiumPath(): string | undefined {
  return findBinary('chromium', 'CHROMIUM_BIN');
}
function chromiumAvailable(): boolean {
  return chromiumPath() !== undefined;
}

const ROOT = path.resolve(import.meta.dirname, '..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'web');
const README_SHOTS = path.join(ROOT, 'docs', 'screenshots');
const UPDATE_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const DESKTOP = { width: 1200, height: 800 };
const PHONE = { width: 390, height: 844 };
/** The inbox polls every 10 s; give it one interval and slack for a busy CI machine. */
const POLL_WAIT_MS = 25_000;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A console error a test expects: the browser logs every 401 answer, e.g. for a wrong password or a revoked session. */
const EXPECTED_401 = /status of 401/;

describe.skipIf(!requireBinary('chromium', chromiumAvailable()))(
  'the clinician web app in Chromium',
  { timeout: 60_000 },
  () => {
    let svc: TestService;
    let receiver: PushReceiver;
    let browser: Browser;
    let nurse: TestClinician;
    let physician: TestClinician;
    let nurseToken: string;
    let vapidPublicKey: string;
    const patients = { ellison: '', brandt: '', lindqvist: '' };
    const devices: Record<string, Record<string, string>> = {};
    /** Console errors, page errors and CSP violations from every page, with where they happened. */
    const problems: string[] = [];
    let nurseContext: BrowserContext;
    let inbox: Page;

    async function newContext(name: string, viewport = DESKTOP, allowed: RegExp[] = []): Promise<BrowserContext> {
      const context = await browser.newContext({ viewport, locale: 'en-US', timezoneId: 'America/Chicago' });
      // A CSP violation also logs a console error; this names the directive, whatever the browser's wording.
      await context.addInitScript(() =>
        document.addEventListener('securitypolicyviolation', (e) =>
          console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`),
        ),
      );
      context.on('page', (page) => {
        page.on('console', (message) => {
          if (message.type() === 'error' && !allowed.some((pattern) => pattern.test(message.text())))
            problems.push(`[${name}] ${page.url()}: ${message.text()}`);
        });
        page.on('pageerror', (error) => problems.push(`[${name}] ${page.url()}: uncaught ${error.message}`));
      });
      return context;
    }

    /** Opens `target`, is sent to the sign-in page, signs in with the labelled fields and comes back to `target`. */
    async function signIn(context: BrowserContext, who: TestClinician, target = '/'): Promise<Page> {
      const page = await context.newPage();
      await page.goto(svc.url + target);
      expect(new URL(page.url()).pathname).toBe('/login');
      await page.getByLabel('Email').fill(who.email);
      await page.getByLabel('Password').fill(who.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(svc.url + target);
      return page;
    }

    async function screenshot(page: Page, name: string, readmeName?: string) {
      await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
      if (UPDATE_SCREENSHOTS && readmeName)
        await page.screenshot({ path: path.join(README_SHOTS, `${readmeName}.png`) });
    }

    async function api<T>(
      pathname: string,
      token?: string,
      init: { method?: string; body?: unknown } = {},
    ): Promise<T> {
      const response = token ? await svc.request(pathname, token, init) : await svc.admin(pathname, init);
      if (!response.ok)
        throw new Error(`${init.method ?? 'GET'} ${pathname}: ${response.status} ${await response.text()}`);
      return (await response.json()) as T;
    }

    async function post(patient: keyof typeof patients, kind: string, readings: Array<Record<string, unknown>>) {
      const token = devices[patient]![kind]!;
      for (let i = 0; i < readings.length; i += 1000) {
        const response = await svc.postReadings(token, { readings: readings.slice(i, i + 1000) });
        expect(response.status, await response.clone().text()).toBe(200);
      }
    }

    type AlertBody = {
      id: string;
      ruleId: string;
      status: string;
      severity: string;
      acknowledgedBy: string | null;
      note: string | null;
      patientId: string;
    };
    const alertsOf = async (patientId: string) =>
      (await api<{ alerts: AlertBody[] }>(`/v1/alerts?patientId=${patientId}`)).alerts;

    beforeAll(async () => {
      await mkdir(ARTIFACTS, { recursive: true });
      if (UPDATE_SCREENSHOTS) await mkdir(README_SHOTS, { recursive: true });
      receiver = await startPushReceiver();
      svc = await startTestService({ PUSH_ENDPOINT_HOSTS: receiver.host, OUTBOUND_CA_FILE: receiver.caFile });
      [nurse, physician] = await Promise.all([
        svc.createClinician('nurse', { name: 'Grace Holloway' }),
        svc.createClinician('physician', { name: 'Dr. Samuel Okafor' }),
      ]);
      nurseToken = await svc.login(nurse.email, nurse.password);
      // The nurse's phone: every alert pushed to her shows up as "notified" in the inbox.
      vapidPublicKey = (await api<{ publicKey: string }>('/v1/push/public-key', nurseToken)).publicKey;
      await api('/v1/push/subscriptions', nurseToken, {
        method: 'POST',
        body: receiver.subscribe('nurse-phone', { applicationServerKey: vapidPublicKey }),
      });

      const people = [
        {
          key: 'ellison',
          name: 'Margaret Ellison',
          timezone: 'America/Chicago',
          birthDate: '1946-04-12',
          externalId: 'MRN-20417',
          templates: ['heart-failure', 'hypertension'],
        },
        {
          key: 'brandt',
          name: 'Walter Brandt',
          timezone: 'America/New_York',
          birthDate: '1951-09-30',
          externalId: 'MRN-31152',
          templates: ['copd'],
        },
        {
          key: 'lindqvist',
          name: 'Henry Lindqvist',
          timezone: 'America/Denver',
          birthDate: '1958-01-21',
          externalId: 'MRN-18840',
          templates: ['hypertension'],
        },
      ] as const;
      for (const person of people) {
        const { key, templates, ...body } = person;
        const created = await api<{ id: string }>('/v1/patients', undefined, { method: 'POST', body });
        patients[key] = created.id;
        devices[key] = {};
        for (const kind of ['bp_monitor', 'scale', 'pulse_oximeter']) {
          devices[key]![kind] = (
            await api<{ token: string }>('/v1/devices', undefined, {
              method: 'POST',
              body: { kind, patientId: created.id },
            })
          ).token;
        }
        await api(`/v1/patients/${created.id}/care-team`, undefined, {
          method: 'PUT',
          body: {
            members: [
              { clinicianId: nurse.id, role: 'primary_nurse' },
              { clinicianId: physician.id, role: 'pcp' },
            ],
          },
        });
        await api(`/v1/patients/${created.id}/care-plan`, undefined, { method: 'PUT', body: { templates, rules: [] } });
      }

      // A month of readings, oldest first. Times are UTC instants of a patient's mornings and evenings.
      const now = Date.now();
      const today = Math.floor(now / DAY) * DAY;
      const random = createRandom(20_417);
      const noise = (spread: number) => (random() - 0.5) * 2 * spread;
      const past = (readings: Array<Record<string, unknown>>) =>
        readings.filter((r) => (r.measuredAt as number) < now - 10 * 60_000);
      const month = (
        fn: (day: number, dayStart: number) => Array<Record<string, unknown>>,
        days = 30,
        skip: (day: number) => boolean = () => false,
      ) =>
        past(
          Array.from({ length: days + 1 }, (_, i) => days - i).flatMap((day) =>
            skip(day) ? [] : fn(day, today - day * DAY),
          ),
        );

      // Margaret Ellison (heart failure, hypertension): one severe reading 8 days ago, a low one 20 days
      // ago (resolved with a note), and a weight gain over the last 5 days.
      const bp = (at: number, systolic: number, diastolic: number) => ({
        type: 'blood_pressure',
        measuredAt: at,
        systolic,
        diastolic,
        pulse: Math.round(70 + noise(6)),
      });
      await post(
        'ellison',
        'bp_monitor',
        month((day, start) => [
          day === 8
            ? bp(start + 13.5 * HOUR, 184, 98)
            : day === 20
              ? bp(start + 13.5 * HOUR, 88, 56)
              : bp(start + 13.5 * HOUR, Math.round(138 + noise(8)), Math.round(84 + noise(5))),
          bp(start + 25 * HOUR, Math.round(132 + noise(8)), Math.round(80 + noise(5))),
        ]),
      );
      await post(
        'ellison',
        'scale',
        month((day, start) => [
          {
            type: 'weight',
            measuredAt: start + 13 * HOUR,
            unit: 'lb',
            value: Math.round((181 + (day < 5 ? (5 - day) * 1.3 : 0) + noise(0.6)) * 10) / 10,
          },
        ]),
      );
      await post(
        'ellison',
        'pulse_oximeter',
        month((_, start) => [
          {
            type: 'spo2',
            measuredAt: start + 14 * HOUR,
            value: Math.round(96 + noise(1.5)),
            pulse: Math.round(74 + noise(6)),
          },
          {
            type: 'spo2',
            measuredAt: start + 26 * HOUR,
            value: Math.round(95 + noise(1.5)),
            pulse: Math.round(72 + noise(6)),
          },
        ]),
      );
      // Walter Brandt (COPD) stopped measuring three weeks ago: readings on 9 days only, the last one low.
      const stopped = (day: number) => day < 21;
      await post(
        'brandt',
        'pulse_oximeter',
        month(
          (day, start) => [
            {
              type: 'spo2',
              measuredAt: start + 15 * HOUR,
              value: day === 21 ? 86 : Math.round(91 + noise(1.5)),
              pulse: Math.round(82 + noise(6)),
            },
          ],
          29,
          stopped,
        ),
      );
      await post(
        'brandt',
        'bp_monitor',
        month(
          (_, start) => [bp(start + 15.2 * HOUR, Math.round(128 + noise(8)), Math.round(78 + noise(5)))],
          29,
          stopped,
        ),
      );
      // Henry Lindqvist (hypertension) measures every day and is well controlled.
      await post(
        'lindqvist',
        'bp_monitor',
        month((_, start) => [
          bp(start + 14 * HOUR, Math.round(124 + noise(6)), Math.round(78 + noise(4))),
          bp(start + 26 * HOUR, Math.round(121 + noise(6)), Math.round(76 + noise(4))),
        ]),
      );
      await post(
        'lindqvist',
        'scale',
        month((_, start) => [
          {
            type: 'weight',
            measuredAt: start + 13.7 * HOUR,
            unit: 'kg',
            value: Math.round((88.4 + noise(0.4)) * 10) / 10,
          },
        ]),
      );

      // History: the nurse acknowledged the severe reading, and resolved the low one with a note.
      const ellisonAlerts = await alertsOf(patients.ellison);
      const crisis = ellisonAlerts.find((a) => a.ruleId === 'htn-crisis-systolic');
      const low = ellisonAlerts.find((a) => a.ruleId === 'hf-systolic-low' || a.ruleId === 'htn-systolic-low');
      expect(crisis, JSON.stringify(ellisonAlerts)).toBeDefined();
      expect(low).toBeDefined();
      await api(`/v1/alerts/${crisis!.id}/acknowledge`, nurseToken, { method: 'POST' });
      await api(`/v1/alerts/${low!.id}/resolve`, nurseToken, {
        method: 'POST',
        body: { note: 'Called: stomach bug, fluids advised; recheck 118/72.' },
      });

      browser = await chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_ARGS });
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      await svc?.stop();
      await receiver?.stop();
    });

    it('answers pages with a strict Content-Security-Policy and sends visitors to sign in', async () => {
      const page = await fetch(`${svc.url}/`, { redirect: 'manual' });
      expect(page.status).toBe(302);
      expect(page.headers.get('location')).toBe('/login?next=%2F');
      const login = await fetch(`${svc.url}/login`);
      const csp = login.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      const html = await login.text();
      expect(html).toMatch(/^<!doctype html><html lang="en">/);
      expect(html).not.toMatch(/<script>|<style|style=/);
      // Assets carry their content hash, so they may be cached for good.
      const css = /href="(\/assets\/app\.css\?v=[0-9a-f]+)"/.exec(html)![1]!;
      expect((await fetch(svc.url + css)).headers.get('cache-control')).toContain('immutable');
      const uplot = await fetch(`${svc.url}/assets/uplot.js`);
      expect(uplot.status).toBe(200);
      expect(uplot.headers.get('content-type')).toContain('javascript');
    });

    it('tells a wrong password apart and signs a nurse in with the labelled fields', async () => {
      const context = await newContext('wrong-password', DESKTOP, [EXPECTED_401]);
      const page = await context.newPage();
      await page.goto(`${svc.url}/login`);
      await page.getByLabel('Email').fill(nurse.email);
      await page.getByLabel('Password').fill('not the password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('The email or the password is wrong.').waitFor();
      expect(await page.getByLabel('Password').getAttribute('aria-invalid')).toBe('true');
      await screenshot(page, 'login-error');
      await context.close();

      nurseContext = await newContext('nurse', DESKTOP, [EXPECTED_401]);
      inbox = await signIn(nurseContext, nurse, '/');
      await inbox.locator('#open-list .alert-card').first().waitFor();
      expect(await inbox.locator('.user__name').textContent()).toBe('Grace Holloway');
      expect(await inbox.evaluate(() => document.documentElement.lang)).toBe('en');
    });

    it('lists open alerts first, most severe first, with patient, reading, count and who was notified', async () => {
      const cards = inbox.locator('#open-list .alert-card');
      const severities = await cards.evaluateAll((els) => els.map((el) => (el as HTMLElement).dataset.severity));
      const rank = { critical: 0, warning: 1, info: 2 } as Record<string, number>;
      expect(severities.length).toBeGreaterThan(0);
      expect([...severities].sort((a, b) => rank[a!]! - rank[b!]!)).toEqual(severities);
      // Walter Brandt's low SpO2 from three weeks ago is still open, and critical.
      const brandt = cards.filter({ hasText: 'Walter Brandt' }).filter({ hasText: 'SpO2 below 88%' });
      await brandt.waitFor();
      expect(await brandt.getAttribute('data-severity')).toBe('critical');
      expect(await brandt.locator('.sev').textContent()).toContain('Critical');
      expect(await brandt.locator('[data-field="notified"]').textContent()).toContain('Grace Holloway (push');
      expect(await brandt.textContent()).toContain('SpO2 86%');
      // The severe reading the nurse acknowledged sits under Acknowledged.
      const acknowledged = inbox
        .locator('#ack-list .alert-card')
        .filter({ hasText: 'Margaret Ellison' })
        .filter({ hasText: '184/98 mmHg' });
      expect(await acknowledged.locator('[data-field="status"]').textContent()).toContain(
        'Acknowledged by Grace Holloway',
      );
      const notify = await inbox.locator('#notify-state').getAttribute('data-state');
      expect(['off', 'blocked', 'unsupported']).toContain(notify);
    });

    it('shows a fresh alert without reloading, and says who was notified', async () => {
      const before = await inbox.locator('#open-list .alert-card').count();
      await post('ellison', 'pulse_oximeter', [
        { type: 'spo2', measuredAt: Date.now() - 60_000, value: 86, pulse: 104 },
      ]);
      const fresh = inbox
        .locator('#open-list .alert-card--new')
        .filter({ hasText: 'Margaret Ellison' })
        .filter({ hasText: 'SpO2 below 88%' });
      await fresh.waitFor({ timeout: POLL_WAIT_MS });
      expect(await inbox.locator('#open-list .alert-card').count()).toBeGreaterThan(before);
      expect(await fresh.getAttribute('data-severity')).toBe('critical');
      expect(await fresh.textContent()).toContain('SpO2 86%, pulse 104');
      // Announced to screen readers through the aria-live region.
      await inbox.waitForFunction(() =>
        /critical alert for Margaret Ellison|first critical for Margaret Ellison/.test(
          document.getElementById('inbox-live')?.textContent ?? '',
        ),
      );
      // The push to the nurse's phone is delivered, and the next poll names her.
      await inbox.waitForFunction(
        () =>
          [...document.querySelectorAll('#open-list .alert-card--new')].some((card) =>
            card.querySelector('[data-field="notified"]')?.textContent?.includes('Grace Holloway (push'),
          ),
        undefined,
        { timeout: POLL_WAIT_MS },
      );
      await screenshot(inbox, 'inbox', 'inbox');
    });

    it('acknowledges and resolves in place, with a note', async () => {
      const alerts = await alertsOf(patients.ellison);
      const critical = alerts.find((a) => a.ruleId === 'hf-spo2-critical' && a.status === 'open')!;
      const card = inbox.locator(`#alert-${critical.id}`);
      await card.getByRole('button', { name: 'Acknowledge' }).click();
      await inbox.locator(`#ack-list #alert-${critical.id}`).waitFor();
      const acknowledged = (await alertsOf(patients.ellison)).find((a) => a.id === critical.id)!;
      expect(acknowledged.status).toBe('acknowledged');
      expect(acknowledged.acknowledgedBy).toBe(nurse.id);
      // The keyboard stays on the same alert, now on its Resolve button.
      expect(await inbox.evaluate(() => document.activeElement?.getAttribute('data-action'))).toBe('resolve');

      await card.getByRole('button', { name: 'Resolve…' }).click();
      await card.getByLabel('Note (optional)').fill('Called: oximeter on cold fingers, recheck 95%.');
      await card.getByRole('button', { name: 'Resolve alert' }).click();
      await inbox.locator(`#resolved-list #alert-${critical.id}`).waitFor({ state: 'attached' });
      const resolved = (await alertsOf(patients.ellison)).find((a) => a.id === critical.id)!;
      expect(resolved.status).toBe('resolved');
      expect(resolved.note).toBe('Called: oximeter on cold fingers, recheck 95%.');
    });

    it('turns notifications on for this device: service worker, the VAPID key, the subscription saved and pushed to', async () => {
      const context = await newContext('push');
      await context.grantPermissions(['notifications'], { origin: svc.url });
      // Headless Chromium has no push service (and none in incognito contexts): stand the test's push
      // receiver in for it, so the page's subscription is one the service can really push to.
      const subscription = receiver.subscribe('nurse-laptop', { applicationServerKey: vapidPublicKey });
      await context.addInitScript((sub) => {
        let current: PushSubscription | null = null;
        PushManager.prototype.subscribe = async (options?: PushSubscriptionOptionsInit) => {
          const key = new Uint8Array(options!.applicationServerKey as ArrayBuffer);
          Object.assign(window, {
            subscribedWith: { userVisibleOnly: options!.userVisibleOnly, key: btoa(String.fromCharCode(...key)) },
          });
          current = {
            endpoint: sub.endpoint,
            toJSON: () => sub,
            unsubscribe: async () => {
              current = null;
              return true;
            },
          } as unknown as PushSubscription;
          return current;
        };
        PushManager.prototype.getSubscription = async () => current;
      }, subscription);
      const page = await signIn(context, nurse, '/');
      await page.getByRole('button', { name: 'Enable notifications' }).click();
      await page.locator('#notify-state[data-state="on"]').waitFor();
      expect(await page.locator('#notify-state').textContent()).toBe('Notifications on for this device');
      expect(
        await page.evaluate(async () => (await navigator.serviceWorker.getRegistration('/'))?.active?.scriptURL),
      ).toBe(`${svc.url}/sw.js`);
      const used = (await page.evaluate(
        () => (window as unknown as { subscribedWith: { userVisibleOnly: boolean; key: string } }).subscribedWith,
      ))!;
      expect(used.userVisibleOnly).toBe(true);
      expect(Buffer.from(used.key, 'base64').toString('base64url')).toBe(vapidPublicKey);

      // The next alert for one of her patients reaches this device, and leads to /alerts/:id.
      await post('lindqvist', 'bp_monitor', [
        { type: 'blood_pressure', measuredAt: Date.now() - 60_000, systolic: 192, diastolic: 104, pulse: 88 },
      ]);
      const message = await receiver.waitFor((m) => m.endpoint === subscription.endpoint, POLL_WAIT_MS);
      const crisis = (await alertsOf(patients.lindqvist)).find((a) => a.ruleId === 'htn-crisis-systolic')!;
      expect(message.payload).toMatchObject({ alertId: crisis.id, severity: 'critical', url: `/alerts/${crisis.id}` });

      await page.getByRole('button', { name: 'Turn off' }).click();
      await page.locator('#notify-state[data-state="off"]').waitFor();
      await context.close();
    });

    it('opens an alert from a notification link (/alerts/:id) highlighted in the inbox', async () => {
      const warning = (await alertsOf(patients.ellison)).find((a) => a.status === 'open')!;
      const page = await nurseContext.newPage();
      await page.goto(`${svc.url}/alerts/${warning.id}`);
      expect(new URL(page.url()).searchParams.get('alert')).toBe(warning.id);
      await page.locator(`#alert-${warning.id}.alert-card--highlighted`).waitFor();
      await page.close();
    });

    it('lists the patients with last reading, open alerts and adherence, flagging below 16 days', async () => {
      const page = await nurseContext.newPage();
      await page.goto(`${svc.url}/patients`);
      const row = (id: string) => page.locator(`tr[data-patient-id="${id}"]`);
      await row(patients.brandt).waitFor();
      expect(await row(patients.brandt).getAttribute('data-adherence-low')).toBe('true');
      expect(Number(await row(patients.brandt).getAttribute('data-adherence-days'))).toBe(9);
      expect(await row(patients.brandt).textContent()).toContain('Below 16');
      expect(await row(patients.brandt).textContent()).toMatch(/1 critical/);
      expect(await row(patients.lindqvist).getAttribute('data-adherence-low')).toBe('false');
      expect(Number(await row(patients.lindqvist).getAttribute('data-adherence-days'))).toBeGreaterThanOrEqual(29);
      await page.getByLabel('Only patients below 16 days').check();
      expect(await page.locator('tr[data-patient-id]').count()).toBe(1);
      await page.getByLabel('Only patients below 16 days').uncheck();
      await screenshot(page, 'patients');
      await page.close();
    });

    it("draws the patient's trends with thresholds and alerts, readings, alert history, care plan and team", async () => {
      const page = await nurseContext.newPage();
      await page.goto(`${svc.url}/patients/${patients.ellison}`);
      await page.locator('body[data-loaded="true"]').waitFor();
      expect(await page.locator('#patient-name').textContent()).toBe('Margaret Ellison');
      for (const kind of ['blood_pressure', 'weight', 'spo2']) {
        const chart = page.locator(`[data-chart="${kind}"]`);
        expect(await chart.getAttribute('data-state')).toBe('ready');
        expect(Number(await chart.getAttribute('data-points'))).toBeGreaterThanOrEqual(25);
        const painted = await chart.locator('canvas').evaluate((canvas: HTMLCanvasElement) => {
          const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
          let n = 0;
          for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) n++;
          return n;
        });
        expect(painted).toBeGreaterThan(2000);
      }
      const bp = page.locator('[data-chart="blood_pressure"]');
      expect(await bp.getAttribute('data-thresholds')).toContain('htn-crisis-systolic:180');
      expect(Number(await bp.getAttribute('data-alerts'))).toBeGreaterThanOrEqual(1);
      expect(await page.locator('[data-chart="spo2"]').getAttribute('data-thresholds')).toContain(
        'hf-spo2-critical:88',
      );

      // Weight in lb, and back.
      await page.getByRole('button', { name: 'lb', exact: true }).click();
      expect(await page.locator('#chart-weight-summary').textContent()).toMatch(/average 18\d(\.\d)? lb/);
      await page.getByRole('button', { name: 'kg', exact: true }).click();
      expect(await page.locator('#chart-weight-summary').textContent()).toMatch(/average 8\d(\.\d)? kg/);

      expect(await page.locator('#readings-body tr').count()).toBeGreaterThan(5);
      expect(await page.locator('#alerts-body').textContent()).toContain('stomach bug');
      expect(await page.locator('#team-list').textContent()).toContain('Primary nurse');
      expect(await page.locator('#team-list').textContent()).toContain('Dr. Samuel Okafor');
      // A nurse reads the care plan but does not change it.
      expect(await page.locator('#plan-body tr[data-rule-id="htn-crisis-systolic"]').textContent()).toContain(
        'Systolic ≥ 180 mmHg',
      );
      expect(
        await page
          .locator('#plan-body')
          .getByRole('button', { name: /^Change/ })
          .count(),
      ).toBe(0);
      await screenshot(page, 'patient', 'patient');

      // 7 days: hourly buckets.
      await page.getByRole('button', { name: '7 days' }).click();
      await page.waitForFunction(
        () =>
          document.querySelector('[data-chart="blood_pressure"]')?.getAttribute('data-state') === 'ready' &&
          Number(document.querySelector('[data-chart="blood_pressure"]')?.getAttribute('data-points')) <= 16,
      );
      expect(await page.getByRole('button', { name: '7 days' }).getAttribute('aria-pressed')).toBe('true');
      await page.close();
    });

    it('lets a physician on the team change a threshold, making a new care-plan version', async () => {
      const before = await api<{ version: number }>(`/v1/patients/${patients.ellison}/care-plan`);
      const context = await newContext('physician');
      const page = await signIn(context, physician, `/patients/${patients.ellison}`);
      await page.locator('body[data-loaded="true"]').waitFor();
      const row = page.locator('#plan-body tr[data-rule-id="htn-crisis-systolic"]');
      await row.getByRole('button', { name: /^Change/ }).click();
      await row.getByLabel('New value (mmHg)').fill('175');
      await row.getByRole('button', { name: 'Save' }).click();
      await page.getByText(`Care plan version ${before.version + 1}.`).waitFor();

      const after = await api<{
        version: number;
        templates: string[];
        rules: Array<{ id: string; when: { value?: number }; template?: string }>;
      }>(`/v1/patients/${patients.ellison}/care-plan`);
      expect(after.version).toBe(before.version + 1);
      expect(after.templates).toEqual(['heart-failure', 'hypertension']);
      const changed = after.rules.find((r) => r.id === 'htn-crisis-systolic')!;
      expect(changed.when.value).toBe(175);
      expect(changed.template).toBeUndefined();
      expect(after.rules.length).toBeGreaterThan(5);
      expect(await page.locator('[data-chart="blood_pressure"]').getAttribute('data-thresholds')).toContain(
        'htn-crisis-systolic:175',
      );
      await screenshot(page, 'patient-physician');
      await context.close();
    });

    it('fits a 390-px phone without sideways scrolling', async () => {
      const context = await newContext('phone', PHONE);
      const login = await context.newPage();
      await login.goto(`${svc.url}/login`);
      expect(await login.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
      await screenshot(login, 'phone-login');
      await login.close();
      const page = await signIn(context, nurse, '/');
      for (const [name, target, ready] of [
        ['phone-inbox', '/', '#open-list .alert-card'],
        ['phone-patients', '/patients', 'tr[data-patient-id]'],
        ['phone-patient', `/patients/${patients.ellison}`, 'body[data-loaded="true"]'],
      ] as const) {
        await page.goto(svc.url + target);
        await page.locator(ready).first().waitFor();
        expect(await page.evaluate(() => document.documentElement.scrollWidth), name).toBeLessThanOrEqual(PHONE.width);
        await screenshot(page, name);
      }
      await context.close();
    });

    it('sends the user to sign in with a message when the session ends, and signs out', async () => {
      const context = await newContext('expiry', DESKTOP, [EXPECTED_401]);
      const page = await signIn(context, nurse, '/');
      const session = (await context.cookies()).find((c) => c.name === 'homewatch_session')!;
      // Revoked elsewhere (as at an idle timeout): the next poll gets 401.
      expect((await svc.request('/v1/auth/logout', session.value, { method: 'POST' })).status).toBe(204);
      await page.waitForURL(/\/login\?/, { timeout: POLL_WAIT_MS });
      expect(new URL(page.url()).searchParams.get('expired')).toBe('1');
      await page.getByText('Your session ended. Sign in again to continue.').waitFor();
      await screenshot(page, 'session-ended');
      // Signing in again comes back to the inbox.
      await page.getByLabel('Email').fill(nurse.email);
      await page.getByLabel('Password').fill(nurse.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(`${svc.url}/`);

      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(/\/login\?signedOut=1/);
      await page.getByText('You have signed out.').waitFor();
      await page.goto(`${svc.url}/patients`);
      expect(new URL(page.url()).pathname).toBe('/login');
      await context.close();
    });

    it('logged no console error, page error or CSP violation on any page', () => {
      expect(problems).toEqual([]);
    });
  },
);
