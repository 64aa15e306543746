import type { Child } from 'hono/jsx';
import { CLINICIAN_ROLE_LABELS, type ClinicianRoleLabelled } from '../domain/clinician-role.ts';
import { ADHERENCE_MINIMUM_DAYS, ADHERENCE_WINDOW_DAYS } from '../patients/summary.ts';

/**
 * The web app's pages, rendered on the server as shells: the frame, the headings, the labelled controls
 * and empty regions that each page's script fills from the JSON API. Nothing inline: no script, no style
 * attribute (the Content-Security-Policy forbids both); data reaches the scripts through `data-*`.
 */

export interface PageUser {
  name: string;
  role: string;
}

export interface LayoutProps {
  title: string;
  /** `data-page` on <body>: which page this is (common.js signs out on the logout page). */
  page: string;
  /** Asset URL for a name (hashed). */
  asset: (name: string) => string;
  /** Scripts from packages (uPlot), classic and deferred: they run in order, before the page's own. */
  libraries?: string[];
  /** The page's own scripts: ES modules bundled from src/web/client, run after common.js. */
  scripts?: string[];
  styles?: string[];
  user?: PageUser;
  nav?: 'inbox' | 'patients' | 'on-call' | 'settings';
  /** Extra `data-*` attributes on <body>, without the prefix. */
  data?: Record<string, string>;
  children?: Child;
}

export const Logo = () => (
  <svg viewBox="0 0 32 32" aria-hidden="true" focusable="false">
    <rect width="32" height="32" rx="7" fill="#1f5f99" />
    <path
      d="M6 17h5l2.5-6 4 11 3-8 1.5 3H26"
      fill="none"
      stroke="#fff"
      stroke-width="2.4"
      stroke-linecap="round"
      stroke-linejoin="round"
    />
  </svg>
);

export function Layout(props: LayoutProps) {
  const { asset, user } = props;
  const data = Object.fromEntries(Object.entries(props.data ?? {}).map(([key, value]) => [`data-${key}`, value]));
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light" />
        <meta name="theme-color" content="#1f5f99" />
        <meta name="referrer" content="no-referrer" />
        <title>{`${props.title} · Homewatch`}</title>
        <link rel="icon" type="image/svg+xml" href={asset('icon.svg')} />
        <link rel="manifest" href={asset('manifest.webmanifest')} />
        {(props.styles ?? []).map((name) => (
          <link rel="stylesheet" href={asset(name)} />
        ))}
        <link rel="stylesheet" href={asset('app.css')} />
        <script type="module" src={asset('common.js')}></script>
        {(props.libraries ?? []).map((name) => (
          <script src={asset(name)} defer></script>
        ))}
        {(props.scripts ?? []).map((name) => (
          <script type="module" src={asset(name)}></script>
        ))}
      </head>
      <body data-page={props.page} {...data}>
        <a class="skip-link" href="#main">
          Skip to content
        </a>
        {user && (
          <header class="topbar">
            <div class="topbar__inner">
              <a class="brand" href="/">
                <Logo />
                <span class="brand__name">Homewatch</span>
              </a>
              <nav class="nav" aria-label="Main">
                <a href="/" aria-current={props.nav === 'inbox' ? 'page' : undefined}>
                  Inbox
                  <span class="nav-badge" id="nav-open-count" hidden></span>
                </a>
                <a href="/patients" aria-current={props.nav === 'patients' ? 'page' : undefined}>
                  Patients
                </a>
                {user.role === 'admin' && (
                  <a href="/on-call" aria-current={props.nav === 'on-call' ? 'page' : undefined}>
                    On call
                  </a>
                )}
              </nav>
              <div class="user">
                <span>
                  <span class="user__name">{user.name}</span>{' '}
                  <span class="user__role">
                    · {CLINICIAN_ROLE_LABELS[user.role as ClinicianRoleLabelled] ?? user.role}
                  </span>
                </span>
                <a
                  class="button button--quiet button--small"
                  href="/settings"
                  aria-current={props.nav === 'settings' ? 'page' : undefined}
                >
                  Settings
                </a>
                <button type="button" class="button button--quiet button--small" id="sign-out">
                  Sign out
                </button>
              </div>
            </div>
          </header>
        )}
        <div class="banner" id="banner" role="status" hidden></div>
        <main id="main" tabindex={-1}>
          {props.children}
        </main>
        <noscript>
          <p class="banner banner--error">
            Homewatch needs JavaScript: turn it on for this site to sign in and see alerts.
          </p>
        </noscript>
      </body>
    </html>
  );
}

export function LoginPage(props: { asset: LayoutProps['asset']; notice?: string; next: string }) {
  return (
    <Layout title="Sign in" page="login" asset={props.asset} scripts={['login.js']} data={{ next: props.next }}>
      <div class="auth">
        <div class="brand">
          <Logo />
          Homewatch
        </div>
        <section class="card auth-card" aria-labelledby="login-title">
          <h1 id="login-title">Sign in</h1>
          {props.notice ? (
            <p class="notice" id="login-notice" role="status">
              {props.notice}
            </p>
          ) : null}
          {/* method=post so that, without the script, a password never lands in a URL. */}
          <form id="login-form" method="post" action="/login" novalidate>
            <div class="form-field">
              <label for="email">Email</label>
              <input id="email" name="email" type="email" autocomplete="username" required autofocus />
            </div>
            <div class="form-field">
              <label for="password">Password</label>
              <input id="password" name="password" type="password" autocomplete="current-password" required />
            </div>
            <p class="form-error" id="login-error" role="alert" hidden></p>
            <button type="submit" class="button button--primary" id="login-submit">
              Sign in
            </button>
          </form>
          <p class="auth-help">
            Accounts are created by your agency's administrator. The first one comes from the command line:{' '}
            <code>npm run admin -- create-admin</code>.
          </p>
        </section>
      </div>
    </Layout>
  );
}

export function InboxPage(props: { asset: LayoutProps['asset']; user: PageUser; data: Record<string, string> }) {
  return (
    <Layout
      title="Alert inbox"
      page="inbox"
      asset={props.asset}
      scripts={['inbox.js']}
      user={props.user}
      nav="inbox"
      data={props.data}
    >
      <div class="page-head">
        <div>
          <h1>Alert inbox</h1>
          <p class="muted small" id="inbox-updated">
            Loading alerts…
          </p>
          <p class="small on-call-now" id="on-call-now" hidden></p>
        </div>
        <section class="notify" aria-label="Notifications on this device">
          <span class="notify__state" id="notify-state" data-state="unknown">
            Notifications: checking…
          </span>
          <button type="button" class="button button--small" id="notify-toggle" hidden>
            Enable notifications
          </button>
        </section>
      </div>
      <div class="sr-only" id="inbox-live" aria-live="polite" aria-atomic="true"></div>
      <section class="card" id="inbox-focus" aria-labelledby="inbox-focus-title" hidden>
        <h2 id="inbox-focus-title">The alert you opened</h2>
        <div id="inbox-focus-body"></div>
      </section>
      <section class="inbox-section" aria-labelledby="open-title">
        <h2 id="open-title">
          Open <span class="count" id="open-count"></span>
        </h2>
        <ol class="alert-list" id="open-list"></ol>
        <p class="empty" id="open-empty" hidden>
          No open alerts. New ones appear here by themselves.
        </p>
      </section>
      <section class="inbox-section" aria-labelledby="ack-title">
        <h2 id="ack-title">
          Acknowledged <span class="count" id="ack-count"></span>
        </h2>
        <ol class="alert-list" id="ack-list"></ol>
        <p class="empty" id="ack-empty" hidden>
          Nothing acknowledged and waiting to be resolved.
        </p>
      </section>
      <details class="inbox-section resolved-section">
        <summary>Recently resolved</summary>
        <ol class="alert-list" id="resolved-list"></ol>
        <p class="empty" id="resolved-empty" hidden>
          Nothing resolved yet.
        </p>
      </details>
    </Layout>
  );
}

export function PatientsPage(props: { asset: LayoutProps['asset']; user: PageUser; data: Record<string, string> }) {
  return (
    <Layout
      title="Patients"
      page="patients"
      asset={props.asset}
      scripts={['patients.js']}
      user={props.user}
      nav="patients"
      data={props.data}
    >
      <div class="page-head">
        <div>
          <h1>Patients</h1>
          <p class="muted small">
            Adherence counts the days with at least one reading in the last {ADHERENCE_WINDOW_DAYS} days, in each
            patient's time zone. Remote monitoring (CPT 99454) needs {ADHERENCE_MINIMUM_DAYS}.
          </p>
        </div>
      </div>
      <div class="toolbar">
        <label>
          Sort by
          <select id="patients-sort">
            <option value="attention">Needs attention</option>
            <option value="adherence">Fewest days with readings</option>
            <option value="last">Oldest last reading</option>
            <option value="name">Name</option>
          </select>
        </label>
        <label class="check">
          <input type="checkbox" id="patients-low" />
          Only patients below {ADHERENCE_MINIMUM_DAYS} days
        </label>
        <label class="check">
          <input type="checkbox" id="patients-discharged" />
          Show discharged patients
        </label>
        <span class="muted small" id="patients-count" aria-live="polite"></span>
      </div>
      <div class="card patients-card">
        <div class="table-wrap">
          <table class="table table--stack" id="patients-table">
            <caption class="sr-only">
              Your patients, with their last reading, open alerts and days with readings
            </caption>
            <thead>
              <tr>
                <th scope="col">Patient</th>
                <th scope="col">Last reading</th>
                <th scope="col">Open alerts</th>
                <th scope="col">Days with readings (last {ADHERENCE_WINDOW_DAYS})</th>
              </tr>
            </thead>
            <tbody id="patients-body">
              <tr>
                <td colspan={4} class="muted">
                  Loading patients…
                </td>
              </tr>
            </tbody>
          </table>
        </div>
      </div>
    </Layout>
  );
}

export function PatientPage(props: { asset: LayoutProps['asset']; user: PageUser; data: Record<string, string> }) {
  return (
    <Layout
      title="Patient"
      page="patient"
      asset={props.asset}
      styles={['uplot.css']}
      libraries={['uplot.js']}
      scripts={['patient.js']}
      user={props.user}
      nav="patients"
      data={props.data}
    >
      <div class="page-head">
        <div>
          <p class="crumbs">
            <a href="/patients">Patients</a>
          </p>
          <h1 id="patient-name">Patient</h1>
          <p class="muted small" id="patient-meta"></p>
          <p class="patient-status" id="patient-status" hidden></p>
        </div>
        <dl class="stats" id="patient-stats"></dl>
      </div>

      <section class="card card--warning" id="device-clock" aria-labelledby="device-clock-title" hidden>
        <h2 id="device-clock-title">A device's clock is wrong</h2>
        <div id="device-clock-body"></div>
      </section>

      <section class="card" aria-labelledby="trends-title">
        <div class="card__head">
          <h2 id="trends-title">Trends</h2>
          <div class="controls">
            {/* biome-ignore lint/a11y/useSemanticElements: a segmented control of toggle buttons, styled as one; a fieldset would bring a legend and form semantics */}
            <div class="segmented" role="group" aria-label="Time range" id="range-group">
              <button type="button" data-days="7" aria-pressed="false">
                7 days
              </button>
              <button type="button" data-days="30" aria-pressed="true">
                30 days
              </button>
              <button type="button" data-days="90" aria-pressed="false">
                90 days
              </button>
            </div>
            {/* biome-ignore lint/a11y/useSemanticElements: a segmented control of toggle buttons, styled as one; a fieldset would bring a legend and form semantics */}
            <div class="segmented" role="group" aria-label="Weight unit" id="unit-group">
              <button type="button" data-unit="kg" aria-pressed="true">
                kg
              </button>
              <button type="button" data-unit="lb" aria-pressed="false">
                lb
              </button>
            </div>
          </div>
        </div>
        <p class="muted small chart-note" id="chart-note">
          Line: mean per hour (7 days) or per day (30 and 90 days); shaded: lowest to highest. Dashed lines: care-plan
          thresholds (dotted: averages and readings in a row). Marks along the time axis: alerts, shaped and coloured by
          severity.
        </p>
        <div class="charts">
          <Chart kind="blood_pressure" title="Blood pressure" wide />
          <Chart kind="weight" title="Weight" />
          <Chart kind="spo2" title="SpO2" />
        </div>
      </section>

      <div class="layout-2">
        <section class="card" aria-labelledby="alerts-title">
          <div class="card__head">
            <h2 id="alerts-title">Alerts</h2>
            <a href="/" class="small">
              Open the inbox
            </a>
          </div>
          <div class="table-wrap">
            <table class="table table--stack" id="alerts-table">
              <caption class="sr-only">This patient's alerts, unresolved first</caption>
              <thead>
                <tr>
                  <th scope="col">Opened</th>
                  <th scope="col">Severity</th>
                  <th scope="col">Alert</th>
                  <th scope="col">Status</th>
                </tr>
              </thead>
              <tbody id="alerts-body"></tbody>
            </table>
          </div>
        </section>
        <div>
          <section class="card" aria-labelledby="team-title">
            <h2 id="team-title">Care team</h2>
            <ul class="team" id="team-list"></ul>
          </section>
          <MonitoringCard />
        </div>
      </div>

      <section class="card" aria-labelledby="plan-title">
        <div class="card__head">
          <h2 id="plan-title">Care plan</h2>
          <span class="muted small" id="plan-meta"></span>
        </div>
        <div class="table-wrap">
          <table class="table table--stack" id="plan-table">
            <caption class="sr-only">Care-plan rules in force</caption>
            <thead>
              <tr>
                <th scope="col">Alert when</th>
                <th scope="col">Severity</th>
                <th scope="col">What to do</th>
                <th scope="col">From</th>
              </tr>
            </thead>
            <tbody id="plan-body"></tbody>
          </table>
        </div>
        <p class="status-line" id="plan-status" role="status"></p>
      </section>

      <section class="card" aria-labelledby="readings-title">
        <div class="card__head">
          <h2 id="readings-title">Recent readings</h2>
          <span class="muted small" id="readings-meta"></span>
        </div>
        <div class="table-wrap">
          <table class="table table--stack" id="readings-table">
            <caption class="sr-only">Readings of the last 14 days, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Measured</th>
                <th scope="col">Measurement</th>
                <th scope="col">Value</th>
              </tr>
            </thead>
            <tbody id="readings-body"></tbody>
          </table>
        </div>
        <p class="table-more">
          <button
            type="button"
            class="button button--quiet button--small"
            id="readings-more"
            aria-controls="readings-table"
            hidden
          >
            Show all
          </button>
        </p>
      </section>
    </Layout>
  );
}

/** The patient's monitoring status: pause, resume, discharge (with a confirmation), and its history. */
function MonitoringCard() {
  return (
    <section class="card" aria-labelledby="status-title">
      <h2 id="status-title">Monitoring</h2>
      <p id="status-now" class="status-now">
        Loading…
      </p>
      <div class="status-actions" id="status-actions"></div>
      <form class="stack-form" id="pause-form" hidden>
        <div class="form-field">
          <label for="pause-until">Resume on (optional)</label>
          <input type="date" id="pause-until" aria-describedby="pause-until-help" />
          <span class="muted small" id="pause-until-help">
            Monitoring starts again at the beginning of that day, in the patient's time zone. Leave empty to resume by
            hand.
          </span>
        </div>
        <div class="form-field">
          <label for="pause-reason">Reason (optional)</label>
          <input type="text" id="pause-reason" maxlength={500} placeholder="e.g. In hospital" />
        </div>
        <p class="muted small">
          While paused, readings are stored but open no alerts, and missing-data rules stop. Open alerts stay open.
        </p>
        <div class="form-buttons">
          <button type="submit" class="button button--primary">
            Pause monitoring
          </button>
          <button type="button" class="button button--quiet" data-cancel>
            Cancel
          </button>
        </div>
      </form>
      <form class="stack-form confirm" id="discharge-form" hidden>
        <p id="discharge-warning">
          <strong>Discharge this patient?</strong> Monitoring ends: no alerts, missing-data rules stop, every open alert
          is resolved with the note “discharged”, and the patient leaves the patient list. Readings are still stored.
        </p>
        <div class="form-field">
          <label for="discharge-reason">Reason (optional)</label>
          <input type="text" id="discharge-reason" maxlength={500} placeholder="e.g. Program completed" />
        </div>
        <div class="form-buttons">
          <button type="submit" class="button button--danger" aria-describedby="discharge-warning">
            Discharge patient
          </button>
          <button type="button" class="button button--quiet" data-cancel>
            Cancel
          </button>
        </div>
      </form>
      <p class="status-line" id="status-message" role="status"></p>
      <h3 class="subhead">History</h3>
      <ol class="history" id="status-history"></ol>
    </section>
  );
}

export function SettingsPage(props: { asset: LayoutProps['asset']; user: PageUser; data: Record<string, string> }) {
  return (
    <Layout
      title="Settings"
      page="settings"
      asset={props.asset}
      scripts={['settings.js']}
      user={props.user}
      nav="settings"
      data={props.data}
    >
      <div class="page-head">
        <div>
          <h1>Settings</h1>
          <p class="muted small" id="settings-zone"></p>
        </div>
      </div>
      <section class="card" aria-labelledby="away-title">
        <h2 id="away-title">Away periods</h2>
        <p class="muted small away-help">
          While you are away, alerts skip you and go to the next person on the care team (and to the on-call clinician
          if nobody else can be reached). Set your holidays and days off here.
        </p>
        <div class="table-wrap">
          <table class="table table--stack" id="away-table">
            <caption class="sr-only">Your away periods, earliest first</caption>
            <thead>
              <tr>
                <th scope="col">From</th>
                <th scope="col">Until</th>
                <th scope="col">Note</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody id="away-body">
              <tr>
                <td colspan={4} class="muted">
                  Loading…
                </td>
              </tr>
            </tbody>
          </table>
        </div>
        <form class="period-form" id="away-form" novalidate>
          <h3 class="subhead">Add an away period</h3>
          <div class="form-row">
            <div class="form-field">
              <label for="away-from">From</label>
              <input type="datetime-local" id="away-from" required />
            </div>
            <div class="form-field">
              <label for="away-until">Until</label>
              <input type="datetime-local" id="away-until" required />
            </div>
            <div class="form-field form-field--wide">
              <label for="away-note">Note (optional)</label>
              <input type="text" id="away-note" maxlength={200} placeholder="e.g. Holiday" />
            </div>
          </div>
          <button type="submit" class="button button--primary">
            Add away period
          </button>
        </form>
        <p class="status-line" id="away-status" role="status"></p>
      </section>
    </Layout>
  );
}

export function OnCallPage(props: { asset: LayoutProps['asset']; user: PageUser; data: Record<string, string> }) {
  return (
    <Layout
      title="On-call rota"
      page="on-call"
      asset={props.asset}
      scripts={['on-call.js']}
      user={props.user}
      nav="on-call"
      data={props.data}
    >
      <div class="page-head">
        <div>
          <h1>On-call rota</h1>
          <p class="muted small" id="rota-zone"></p>
          <p class="on-call-now" id="rota-now"></p>
        </div>
      </div>
      <section class="card" aria-labelledby="shifts-title">
        <h2 id="shifts-title">Shifts</h2>
        <p class="muted small away-help">
          The clinician on shift gets at once any alert that reached nobody on its care team, and is the tier after the
          primary care physician.
        </p>
        <div class="table-wrap">
          <table class="table table--stack" id="shifts-table">
            <caption class="sr-only">On-call shifts, earliest first</caption>
            <thead>
              <tr>
                <th scope="col">Clinician</th>
                <th scope="col">From</th>
                <th scope="col">Until</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody id="shifts-body">
              <tr>
                <td colspan={4} class="muted">
                  Loading…
                </td>
              </tr>
            </tbody>
          </table>
        </div>
        <form class="period-form" id="shift-form" novalidate>
          <h3 class="subhead">Add a shift</h3>
          <div class="form-row">
            <div class="form-field form-field--wide">
              <label for="shift-clinician">Clinician</label>
              <select id="shift-clinician" required></select>
            </div>
            <div class="form-field">
              <label for="shift-from">From</label>
              <input type="datetime-local" id="shift-from" required />
            </div>
            <div class="form-field">
              <label for="shift-until">Until</label>
              <input type="datetime-local" id="shift-until" required />
            </div>
          </div>
          <button type="submit" class="button button--primary">
            Add shift
          </button>
        </form>
        <p class="status-line" id="rota-status" role="status"></p>
      </section>
    </Layout>
  );
}

function Chart(props: { kind: string; title: string; wide?: boolean }) {
  return (
    <figure
      class={props.wide ? 'chart chart--wide' : 'chart'}
      data-chart={props.kind}
      data-state="loading"
      aria-labelledby={`chart-${props.kind}-title`}
    >
      <figcaption>
        <h3 id={`chart-${props.kind}-title`}>{props.title}</h3>
        <ul class="legend" aria-hidden="true"></ul>
        <p class="chart__summary" id={`chart-${props.kind}-summary`}>
          Loading…
        </p>
      </figcaption>
      <div
        class="chart__canvas"
        role="img"
        aria-labelledby={`chart-${props.kind}-title chart-${props.kind}-summary`}
      ></div>
    </figure>
  );
}

export function MessagePage(props: {
  asset: LayoutProps['asset'];
  user?: PageUser;
  title: string;
  message: string;
  page?: string;
}) {
  return (
    <Layout title={props.title} page={props.page ?? 'message'} asset={props.asset} user={props.user}>
      <section class="card">
        <h1>{props.title}</h1>
        <p class="muted">{props.message}</p>
        <p>
          <a href="/">Go to the alert inbox</a>
        </p>
      </section>
    </Layout>
  );
}
