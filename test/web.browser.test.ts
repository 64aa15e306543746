import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRandom } from '../scripts/simulate-data.ts';
import { startOfLocal } from '../src/domain/calendar.ts';
import { findBinary, requireBinary } from './helpers/mosquitto.ts';
import { startPushReceiver, type PushReceiver } from './helpers/push-receiver.ts';
import { startTestService, type DeviceKind, type TestClinician, type TestService } from './helpers/service.ts';

/**
 * The clinician web app in a real browser: Debian's Chromium driven by playwright-core (no browser
 * download), against the real service in this process with a month of readings. Covers sign-in, the
 * inbox (a fresh alert arriving while it is open, who was notified, acknowledge and resolve in place),
 * the patient list's adherence, the patient page's charts, a physician changing a threshold, phone
 * width, session expiry and sign-out, and fails on any console error or CSP violation on any page.
 * Version 2 runs against a second service whose critical alerts escalate every 2 s: repeated, reopened
 * and late alerts in the inbox, resolving with quiet-for, away periods, the on-call rota, pausing and
 * discharging a patient, and a device whose clock is wrong.
 *
 * Screenshots go to test-artifacts/web/. With UPDATE_SCREENSHOTS=1 the docs' three screenshots
 * (docs/screenshots/inbox.png, patient.png, inbox-episodes.png) are written too.
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

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The browser contexts' time zone: what `datetime-local` inputs mean. */
const BROWSER_ZONE = 'America/Chicago';
/** What a `datetime-local` input shows for an instant in a time zone ("2026-03-04T15:00"). */
function wallClock(ms: number, timeZone = BROWSER_ZONE): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    })
      .formatToParts(ms)
      .map((part) => [part.type, part.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}
const toMinute = (ms: number) => Math.floor(ms / MINUTE) * MINUTE;

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
      const context = await browser.newContext({ viewport, locale: 'en-US', timezoneId: BROWSER_ZONE });
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
    async function signIn(
      context: BrowserContext,
      who: TestClinician,
      target = '/',
      service: TestService = svc,
    ): Promise<Page> {
      const page = await context.newPage();
      await page.goto(service.url + target);
      expect(new URL(page.url()).pathname).toBe('/login');
      await page.getByLabel('Email').fill(who.email);
      await page.getByLabel('Password').fill(who.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(service.url + target);
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

    describe('version 2: alerts that never go silent, availability and patient status', () => {
      /** Critical alerts escalate, then repeat, every 2 s here, so a repeat shows within a poll or two. */
      let svc2: TestService;
      let rosa: TestClinician;
      let ines: TestClinician;
      let osei: TestClinician;
      let lee: TestClinician;
      let rosaToken: string;
      let rosaContext: BrowserContext;
      let rosaInbox: Page;
      const people = { ada: '', ben: '' };
      const tokens: Record<string, Partial<Record<DeviceKind, string>>> = { ada: {}, ben: {} };
      const benDevices: Record<string, string> = {};

      const api2 = async <T>(pathname: string, token?: string, init: { method?: string; body?: unknown } = {}) => {
        const response = token ? await svc2.request(pathname, token, init) : await svc2.admin(pathname, init);
        if (!response.ok)
          throw new Error(`${init.method ?? 'GET'} ${pathname}: ${response.status} ${await response.text()}`);
        return (await response.json()) as T;
      };
      const send = async (who: keyof typeof people, kind: DeviceKind, readings: Array<Record<string, unknown>>) => {
        const response = await svc2.postReadings(tokens[who]![kind]!, { readings });
        expect(response.status, await response.clone().text()).toBe(200);
      };
      type Alert2 = AlertBody & { reopenReason: string | null; episode: number; late: boolean };
      const alerts2 = async (patientId: string) =>
        (await api2<{ alerts: Alert2[] }>(`/v1/alerts?patientId=${patientId}`)).alerts;
      const rule = (id: string, metric: string, when: Record<string, unknown>, severity: string, message: string) => ({
        id,
        metric,
        when,
        severity,
        message,
      });

      beforeAll(async () => {
        svc2 = await startTestService({
          ESCALATION_CRITICAL: '2s',
          PUSH_ENDPOINT_HOSTS: receiver.host,
          OUTBOUND_CA_FILE: receiver.caFile,
        });
        [rosa, ines, osei, lee] = await Promise.all([
          svc2.createClinician('nurse', { name: 'Rosa Delgado' }),
          svc2.createClinician('nurse', { name: 'Ines Park' }),
          svc2.createClinician('physician', { name: 'Dr. Amara Osei' }),
          svc2.createClinician('admin', { name: 'Lee Adeyemi' }),
        ]);
        rosaToken = await svc2.login(rosa.email, rosa.password);
        // Rosa's phone: her pushes are delivered, so a critical alert nobody acknowledges is re-sent to her.
        const key = (await api2<{ publicKey: string }>('/v1/push/public-key', rosaToken)).publicKey;
        await api2('/v1/push/subscriptions', rosaToken, {
          method: 'POST',
          body: receiver.subscribe('rosa-phone', { applicationServerKey: key }),
        });
        const patients2 = [
          { key: 'ada', name: 'Ada Moreno', timezone: 'America/Chicago' },
          { key: 'ben', name: 'Ben Okoro', timezone: 'America/New_York' },
        ] as const;
        for (const { key: who, ...body } of patients2) {
          const { id } = await api2<{ id: string }>('/v1/patients', undefined, { method: 'POST', body });
          people[who] = id;
          for (const kind of ['bp_monitor', 'scale', 'pulse_oximeter'] as const) {
            const device = await api2<{ id: string; token: string }>('/v1/devices', undefined, {
              method: 'POST',
              body: { kind, patientId: id, serial: `${who.toUpperCase()}-${kind}` },
            });
            tokens[who]![kind] = device.token;
            if (who === 'ben') benDevices[kind] = device.id;
          }
          await api2(`/v1/patients/${id}/care-team`, undefined, {
            method: 'PUT',
            body: {
              members: [
                { clinicianId: rosa.id, role: 'primary_nurse' },
                { clinicianId: osei.id, role: 'pcp' },
              ],
            },
          });
          await api2(`/v1/patients/${id}/care-plan`, undefined, {
            method: 'PUT',
            body: {
              rules: [
                rule('spo2-critical', 'spo2', { kind: 'threshold', op: '<', value: 88 }, 'critical', 'SpO2 below 88%.'),
                rule('spo2-low', 'spo2', { kind: 'threshold', op: '<', value: 92 }, 'warning', 'SpO2 below 92%.'),
                rule(
                  'weight-gain',
                  'weight',
                  { kind: 'change', op: '>=', value: 2, unit: 'lb', within: '24h' },
                  'warning',
                  'Weight up 2 lb or more in 24 h.',
                ),
                rule(
                  'systolic-high',
                  'systolic',
                  { kind: 'threshold', op: '>=', value: 180 },
                  'critical',
                  'Systolic 180 or higher.',
                ),
                rule(
                  'spo2-low-run',
                  'spo2',
                  { kind: 'consecutive', op: '<', value: 90, count: 3, within: '48h' },
                  'warning',
                  'SpO2 below 90% three times in a row.',
                ),
              ],
            },
          });
        }

        const now = Date.now();
        // A new episode: the low SpO2 is acknowledged, clears, and comes back.
        await send('ada', 'pulse_oximeter', [{ type: 'spo2', measuredAt: now - 40 * MINUTE, value: 91 }]);
        const low = (await alerts2(people.ada)).find((a) => a.ruleId === 'spo2-low')!;
        await api2(`/v1/alerts/${low.id}/acknowledge`, rosaToken, { method: 'POST' });
        await send('ada', 'pulse_oximeter', [{ type: 'spo2', measuredAt: now - 30 * MINUTE, value: 96 }]);
        await send('ada', 'pulse_oximeter', [{ type: 'spo2', measuredAt: now - 20 * MINUTE, value: 90 }]);
        // A late critical: measured 3 h ago, received after a newer reading.
        await send('ada', 'pulse_oximeter', [{ type: 'spo2', measuredAt: now - 5 * MINUTE, value: 95 }]);
        await send('ada', 'pulse_oximeter', [{ type: 'spo2', measuredAt: now - 3 * HOUR - 5 * MINUTE, value: 85 }]);
        // A weight gain over a day, acknowledged: its acknowledgement expires.
        await send('ada', 'scale', [
          { type: 'weight', measuredAt: now - 20 * HOUR, value: 180, unit: 'lb' },
          { type: 'weight', measuredAt: now - HOUR, value: 182.4, unit: 'lb' },
        ]);
        const gain = (await alerts2(people.ada)).find((a) => a.ruleId === 'weight-gain')!;
        await api2(`/v1/alerts/${gain.id}/acknowledge`, rosaToken, { method: 'POST' });
        // A critical nobody acknowledges: re-sent to Rosa every 2 s once the care team is exhausted.
        await send('ada', 'bp_monitor', [
          { type: 'blood_pressure', measuredAt: now - 2 * MINUTE, systolic: 186, diastolic: 96 },
        ]);
        // Ben's blood pressure monitor lost its clock: current, then three messages stamped hours ago.
        await send('ben', 'bp_monitor', [
          { type: 'blood_pressure', measuredAt: now - MINUTE, systolic: 128, diastolic: 80 },
        ]);
        for (const back of [5 * HOUR, 5 * HOUR - 10 * MINUTE, 5 * HOUR - 20 * MINUTE]) {
          await send('ben', 'bp_monitor', [
            { type: 'blood_pressure', measuredAt: now - back, systolic: 130, diastolic: 82 },
          ]);
        }
        expect((await alerts2(people.ben)).map((a) => a.ruleId)).toContain('device-clock');

        rosaContext = await newContext('rosa', DESKTOP, [EXPECTED_401]);
        rosaInbox = await signIn(rosaContext, rosa, '/', svc2);
      }, 60_000);

      afterAll(async () => {
        await rosaContext?.close();
        await svc2?.stop();
      });

      it('shows a reopened, a repeated and a late alert in plain words, with what was observed', async () => {
        const alerts = await alerts2(people.ada);
        const byRule = (id: string) => alerts.find((a) => a.ruleId === id && a.status !== 'resolved')!;
        const reopened = rosaInbox.locator(`#alert-${byRule('spo2-low').id}`);
        await reopened.waitFor();
        expect(await reopened.locator('.tag--reopened').textContent()).toBe('Reopened: new episode');
        expect(await reopened.locator('[data-field="count"]').textContent()).toContain('episode 2');
        expect(await reopened.locator('[data-field="status"]').textContent()).toMatch(/reopened: new episode/);

        const late = rosaInbox.locator(`#alert-${byRule('spo2-critical').id}`);
        expect(await late.getAttribute('data-severity')).toBe('critical');
        expect(await late.locator('[data-field="reading"]').textContent()).toContain('measured 3 h ago, arrived late');
        expect(await late.locator('[data-field="observed"]').textContent()).toBe('SpO2 85%');

        const gain = rosaInbox.locator(`#ack-list #alert-${byRule('weight-gain').id}`);
        expect(await gain.locator('[data-field="observed"]').textContent()).toMatch(/^Weight \+2\.4 lb since /);
        expect(await gain.locator('[data-field="status"]').textContent()).toMatch(
          /Acknowledged by Rosa Delgado .* · acknowledgement expires /,
        );

        // Nobody acknowledges the systolic 186: after the care team, it is re-sent every 2 s.
        const repeated = rosaInbox.locator(`#alert-${byRule('systolic-high').id}`);
        await rosaInbox.waitForFunction(
          (id) =>
            /re-sent \d+ times/.test(document.querySelector(`#alert-${id} [data-field="notified"]`)?.textContent ?? ''),
          byRule('systolic-high').id,
          { timeout: POLL_WAIT_MS },
        );
        expect(await repeated.locator('[data-field="notified"]').textContent()).toContain('Rosa Delgado (push');
        expect(await repeated.locator('[data-field="observed"]').textContent()).toBe('Systolic 186 mmHg');
        await screenshot(rosaInbox, 'inbox-v2', 'inbox-episodes');
      });

      it('opens a reopened alert from its push link with the same words', async () => {
        const low = (await alerts2(people.ada)).find((a) => a.ruleId === 'spo2-low')!;
        const page = await rosaContext.newPage();
        await page.goto(`${svc2.url}/alerts/${low.id}`);
        const card = page.locator(`#alert-${low.id}.alert-card--highlighted`);
        await card.waitFor();
        expect(await card.locator('.tag--reopened').textContent()).toBe('Reopened: new episode');
        await page.close();
      });

      it('resolves with quiet-for, and the care plan says until when and who quieted the rule', async () => {
        const repeated = (await alerts2(people.ada)).find((a) => a.ruleId === 'systolic-high')!;
        const card = rosaInbox.locator(`#alert-${repeated.id}`);
        await card.getByRole('button', { name: 'Resolve…' }).click();
        await card.getByLabel('Note (optional)').fill('Called: took her evening pill late; recheck 142/88.');
        await card.getByLabel('Quiet this rule for this patient').selectOption({ label: '7 days' });
        await card.getByRole('button', { name: 'Resolve alert' }).click();
        await rosaInbox.locator(`#resolved-list #alert-${repeated.id}`).waitFor({ state: 'attached' });
        await rosaInbox.waitForFunction(() =>
          /quiet for this patient for 7 days/.test(document.getElementById('inbox-live')?.textContent ?? ''),
        );

        const plan = await api2<{ rules: Array<{ id: string; quietUntil?: string; quietSetBy?: string }> }>(
          `/v1/patients/${people.ada}/care-plan`,
        );
        const quiet = plan.rules.find((r) => r.id === 'systolic-high')!;
        expect(quiet.quietSetBy).toBe(rosa.id);
        expect(Date.parse(quiet.quietUntil!) - Date.now()).toBeGreaterThan(7 * DAY - 5 * MINUTE);
        expect(plan.rules.find((r) => r.id === 'spo2-low')!.quietUntil).toBeUndefined();
        // The quieted rule opens nothing new for this patient.
        await send('ada', 'bp_monitor', [
          { type: 'blood_pressure', measuredAt: Date.now() - MINUTE, systolic: 190, diastolic: 98 },
        ]);
        const after = (await alerts2(people.ada)).filter((a) => a.ruleId === 'systolic-high');
        expect(after.map((a) => a.status)).toEqual(['resolved']);

        const page = await rosaContext.newPage();
        await page.goto(`${svc2.url}/patients/${people.ada}`);
        await page.locator('body[data-loaded="true"]').waitFor();
        const row = page.locator('#plan-body tr[data-rule-id="systolic-high"]');
        expect(await row.getAttribute('data-quiet')).toBe('true');
        expect(await row.locator('[data-field="quiet"]').textContent()).toMatch(/Quiet until .+, set by you:/);
        expect(await page.locator('#plan-body tr[data-rule-id="spo2-low-run"]').textContent()).toContain(
          'SpO2 < 90% on 3 readings in a row, all within 48h',
        );
        await screenshot(page, 'patient-quiet');
        await page.close();
        // The late critical repeats too: resolve it, so the rest runs without a push every 2 s.
        const late = (await alerts2(people.ada)).find((a) => a.ruleId === 'spo2-critical' && a.status !== 'resolved')!;
        await api2(`/v1/alerts/${late.id}/resolve`, rosaToken, { method: 'POST', body: { note: 'Old reading.' } });
      });

      it('lets a nurse set and remove her own away periods, in her time zone', async () => {
        await rosaInbox.getByRole('link', { name: 'Settings' }).click();
        await rosaInbox.waitForURL(`${svc2.url}/settings`);
        await rosaInbox.locator('body[data-loaded="true"]').waitFor();
        expect(await rosaInbox.locator('#away-body').textContent()).toContain('No away periods');
        const from = toMinute(Date.now() + 2 * DAY);
        const until = from + 7 * DAY;
        const addPeriod = async (start: number, end: number, note: string) => {
          await rosaInbox.getByLabel('From').fill(wallClock(start));
          await rosaInbox.getByLabel('Until').fill(wallClock(end));
          await rosaInbox.getByLabel('Note (optional)').fill(note);
          await rosaInbox.getByRole('button', { name: 'Add away period' }).click();
          await rosaInbox.locator('#away-status.status-line--ok').waitFor();
        };
        await addPeriod(from, until, 'Holiday');
        await addPeriod(from + 20 * DAY, from + 21 * DAY, 'Training day');
        expect(await rosaInbox.locator('#away-body tr').count()).toBe(2);
        // Wrong way round: refused in the page, nothing sent.
        await rosaInbox.getByLabel('From').fill(wallClock(until));
        await rosaInbox.getByLabel('Until').fill(wallClock(from));
        await rosaInbox.getByRole('button', { name: 'Add away period' }).click();
        expect(await rosaInbox.locator('#away-status').textContent()).toBe('The end must come after the start.');
        await screenshot(rosaInbox, 'settings');

        await rosaInbox
          .getByRole('button', { name: /^Remove away period .* – / })
          .nth(1)
          .click();
        await rosaInbox.getByText('Away period removed.').waitFor();
        const { periods } = await api2<{ periods: Array<{ from: string; until: string; note?: string }> }>(
          `/v1/clinicians/${rosa.id}/away`,
          rosaToken,
        );
        expect(periods).toEqual([
          { from: new Date(from).toISOString(), until: new Date(until).toISOString(), note: 'Holiday' },
        ]);
      });

      it('lets an admin edit the on-call rota, and the inbox says who is on call now', async () => {
        const context = await newContext('admin', DESKTOP);
        const page = await signIn(context, lee, '/', svc2);
        await page.getByRole('link', { name: 'On call' }).click();
        await page.waitForURL(`${svc2.url}/on-call`);
        await page.locator('body[data-loaded="true"]').waitFor();
        expect(await page.locator('#rota-now').textContent()).toBe('Nobody is on call now');
        // Admins cannot be on call: only nurses and physicians are offered.
        const offered = await page.locator('#shift-clinician option').allTextContents();
        expect(offered).toEqual(['Choose…', 'Dr. Amara Osei (Physician)', 'Ines Park (Nurse)', 'Rosa Delgado (Nurse)']);

        const start = toMinute(Date.now() - HOUR);
        const end = start + 12 * HOUR;
        const addShift = async (name: string, from: number, until: number) => {
          await page.getByLabel('Clinician').selectOption({ label: name });
          await page.getByLabel('From').fill(wallClock(from));
          await page.getByLabel('Until').fill(wallClock(until));
          await page.getByRole('button', { name: 'Add shift' }).click();
          await page.locator('#rota-status.status-line--ok').waitFor();
        };
        await addShift('Ines Park (Nurse)', start, end);
        await addShift('Dr. Amara Osei (Physician)', end, end + 12 * HOUR);
        await addShift('Rosa Delgado (Nurse)', end + 12 * HOUR, end + 24 * HOUR);
        expect(await page.locator('#rota-now').textContent()).toMatch(/^On call now: Ines Park, until /);
        expect(await page.locator('#shifts-body tr[data-state="now"]').textContent()).toContain('Ines Park');
        await screenshot(page, 'on-call');
        await page.getByRole('button', { name: /^Remove Rosa Delgado's shift/ }).click();
        await page.getByText('Shift removed.').waitFor();

        const rota = await api2<{ shifts: Array<{ clinicianId: string; from: string; until: string }>; now: string }>(
          '/v1/on-call',
          rosaToken,
        );
        expect(rota.now).toBe(ines.id);
        expect(rota.shifts).toEqual([
          {
            clinicianId: ines.id,
            name: 'Ines Park',
            from: new Date(start).toISOString(),
            until: new Date(end).toISOString(),
          },
          {
            clinicianId: osei.id,
            name: 'Dr. Amara Osei',
            from: new Date(end).toISOString(),
            until: new Date(end + 12 * HOUR).toISOString(),
          },
        ]);
        // The inbox names her, for the admin and for a nurse (who may not list clinicians: the rota names her).
        await page.getByRole('link', { name: 'Inbox' }).click();
        await page.locator('#on-call-now:not([hidden])').waitFor();
        expect(await page.locator('#on-call-now').textContent()).toMatch(/^On call now: Ines Park, until /);
        await rosaInbox.goto(`${svc2.url}/`);
        await rosaInbox.locator('#on-call-now:not([hidden])').waitFor();
        expect(await rosaInbox.locator('#on-call-now').textContent()).toMatch(/^On call now: Ines Park, until /);
        await context.close();
      });

      it("shows a device's wrong clock on the patient page", async () => {
        await rosaInbox.goto(`${svc2.url}/patients/${people.ben}`);
        await rosaInbox.locator('body[data-loaded="true"]').waitFor();
        const clock = rosaInbox.locator('#device-clock');
        expect(await clock.isVisible()).toBe(true);
        expect(await clock.locator(`[data-device-id="${benDevices.bp_monitor}"]`).textContent()).toContain(
          'Blood pressure monitor (serial BEN-bp_monitor)',
        );
        expect(await clock.textContent()).toContain('its readings count as measured when they arrive');
        expect(await rosaInbox.locator('#alerts-body').textContent()).toContain('Device clock wrong');
      });

      it('pauses, resumes and discharges a patient; the list marks and hides them', async () => {
        const page = rosaInbox;
        const resumeOn = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/New_York' }).format(
          Date.now() + 5 * DAY,
        );
        await page.getByRole('button', { name: 'Pause…' }).click();
        await page.getByLabel('Resume on (optional)').fill(resumeOn);
        await page.getByLabel('Reason (optional)').first().fill('In hospital');
        await page.getByRole('button', { name: 'Pause monitoring' }).click();
        await page.locator('#status-now[data-status="paused"]').waitFor();
        expect(await page.locator('#patient-status').textContent()).toMatch(/^Paused until .+, 12:00 AM$/);
        await page.locator('#status-history li[data-status="paused"]').waitFor();
        expect(await page.locator('#status-history li').first().textContent()).toContain('by you: In hospital');
        const paused = await api2<{ status: string; statusUntil: string }>(`/v1/patients/${people.ben}`, rosaToken);
        expect(paused.status).toBe('paused');
        expect(paused.statusUntil).toBe(
          new Date(startOfLocal(Date.parse(`${resumeOn}T12:00:00Z`), 'day', 'America/New_York')).toISOString(),
        );
        await screenshot(page, 'patient-paused');

        await page.goto(`${svc2.url}/patients`);
        const ben = page.locator(`tr[data-patient-id="${people.ben}"]`);
        await ben.waitFor();
        expect(await ben.locator('.tag--paused').textContent()).toMatch(/^Paused until /);

        await page.goto(`${svc2.url}/patients/${people.ben}`);
        await page.locator('body[data-loaded="true"]').waitFor();
        await page.getByRole('button', { name: 'Resume monitoring' }).click();
        await page.locator('#status-now[data-status="active"]').waitFor();
        // Discharging asks first; Cancel changes nothing.
        await page.getByRole('button', { name: 'Discharge…' }).click();
        expect(await page.locator('#discharge-form').textContent()).toContain('every open alert is resolved');
        await page.locator('#discharge-form').getByRole('button', { name: 'Cancel' }).click();
        expect(await page.locator('#discharge-form').isHidden()).toBe(true);
        await page.getByRole('button', { name: 'Discharge…' }).click();
        await page.locator('#discharge-form').getByLabel('Reason (optional)').fill('Program completed');
        await page.getByRole('button', { name: 'Discharge patient' }).click();
        await page.locator('#status-now[data-status="discharged"]').waitFor();
        await page.locator('#status-history li[data-status="discharged"]').waitFor();
        expect(await page.locator('#status-history li').count()).toBe(3);
        // Its open alerts (the device clock) are resolved with the note "discharged".
        await page.locator('#device-clock').waitFor({ state: 'hidden' });
        expect((await alerts2(people.ben)).map((a) => [a.status, a.note])).toEqual([['resolved', 'discharged']]);

        await page.goto(`${svc2.url}/patients`);
        await page.locator(`tr[data-patient-id="${people.ada}"]`).waitFor();
        expect(await page.locator(`tr[data-patient-id="${people.ben}"]`).count()).toBe(0);
        await page.getByLabel('Show discharged patients').check();
        expect(new URL(page.url()).searchParams.get('status')).toBe('all');
        expect(await ben.locator('.tag--discharged').textContent()).toBe('Discharged');
        await screenshot(page, 'patients-discharged');
      });

      it('fits the new pages on a 390-px phone', async () => {
        const context = await newContext('phone-v2', PHONE);
        const page = await signIn(context, rosa, '/settings', svc2);
        for (const [name, target] of [
          ['phone-settings', '/settings'],
          ['phone-inbox-v2', '/'],
          ['phone-patient-status', `/patients/${people.ada}`],
        ] as const) {
          await page.goto(svc2.url + target);
          await page.locator('body[data-loaded="true"], #open-list .alert-card').first().waitFor();
          expect(await page.evaluate(() => document.documentElement.scrollWidth), name).toBeLessThanOrEqual(
            PHONE.width,
          );
          await screenshot(page, name);
        }
        await context.close();
        const admin = await newContext('phone-admin', PHONE);
        const rota = await signIn(admin, lee, '/on-call', svc2);
        await rota.locator('body[data-loaded="true"]').waitFor();
        expect(await rota.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
        await screenshot(rota, 'phone-on-call');
        await admin.close();
      });
    });

    it('logged no console error, page error or CSP violation on any page', () => {
      expect(problems).toEqual([]);
    });
  },
);
