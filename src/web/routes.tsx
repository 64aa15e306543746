import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import type { JSX } from 'hono/jsx/jsx-runtime';
import type { PatientAccess } from '../care-team/access.ts';
import { SESSION_COOKIE, type AppEnv, type Principal } from '../auth/middleware.ts';
import { assetUrl, loadAssets, loadServiceWorker } from './assets.ts';
import {
  InboxPage,
  LoginPage,
  MessagePage,
  OnCallPage,
  PatientPage,
  PatientsPage,
  SettingsPage,
  type PageUser,
} from './pages.tsx';

/**
 * Pages: no inline script or style, everything from this origin. uPlot sets styles through the CSSOM
 * (element.style), which `style-src` does not govern, so 'unsafe-inline' is not needed.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "worker-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

/** The session idle timeout's default (SESSION_IDLE_TIMEOUT), used when the caller does not pass its value. */
const DEFAULT_SESSION_IDLE_MS = 30 * 60_000;

export interface WebRouteOptions {
  access: PatientAccess;
  /**
   * SESSION_IDLE_TIMEOUT. The inbox polls the API, and every request counts as activity for the server;
   * so the pages themselves sign out after this long without a key press, click or touch, and automatic
   * logoff still happens on a screen left open.
   */
  sessionIdleMs?: number;
  /** True while no clinician account exists: the sign-in page says how to create the first admin. */
  needsFirstAdmin?: () => boolean;
}

type User = Exclude<Principal, { kind: 'device' }>;

/**
 * The clinician web app: server-rendered page shells (hono/jsx) whose small scripts fetch the JSON API
 * with the session cookie, and the static assets they need, served by the service itself.
 *
 *   /login            sign in (email, password)
 *   /                 the alert inbox
 *   /patients         the patient list with adherence
 *   /patients/:id     trends, readings, care plan, alerts, care team
 *   /alerts/:id       where a push notification leads: the inbox, with that alert highlighted
 *   /settings         the signed-in clinician's away periods
 *   /on-call          the on-call rota (administrators)
 *   /logout           signs out (the script calls POST /v1/auth/logout)
 */
export function webRoute(options: WebRouteOptions) {
  const { access, sessionIdleMs = DEFAULT_SESSION_IDLE_MS } = options;
  const assets = loadAssets();
  const serviceWorker = loadServiceWorker();
  const asset = (name: string) => assetUrl(assets, name);
  /** What every signed-in page's script may read: the idle timeout, and who is signed in (people.ts). */
  const bodyData = (c: Context<AppEnv>, extra: Record<string, string> = {}) => {
    const principal = c.get('principal') as User;
    return { 'idle-ms': String(sessionIdleMs), 'user-id': principal.id, 'user-role': principal.role, ...extra };
  };

  const render = async (c: Context<AppEnv>, page: JSX.Element, status: 200 | 403 | 404 = 200) => {
    c.header('content-security-policy', CONTENT_SECURITY_POLICY);
    // Pages name patients: never keep them in a shared cache or the back-forward cache of a public machine.
    c.header('cache-control', 'no-store');
    return c.html(`<!doctype html>${String(await page)}`, status);
  };

  /** Pages need a signed-in clinician: anyone else goes to the sign-in page and comes back after. */
  const signedIn: MiddlewareHandler<AppEnv> = async (c, next) => {
    const principal = c.get('principal');
    if (!principal) {
      const url = new URL(c.req.url);
      const query = new URLSearchParams({ next: url.pathname + url.search });
      // A cookie that no longer opens a session: it expired (idle or maximum age) or was revoked.
      if (getCookie(c, SESSION_COOKIE)) query.set('expired', '1');
      return c.redirect(`/login?${query}`, 302);
    }
    if (principal.kind === 'device') {
      return render(
        c,
        <MessagePage asset={asset} title="Not for devices" message="Device tokens open only the device protocol." />,
        403,
      );
    }
    await next();
  };
  const userOf = (c: Context<AppEnv>): PageUser => {
    const principal = c.get('principal') as User;
    return principal.kind === 'clinician'
      ? { name: principal.clinician.name, role: principal.role }
      : { name: 'Administrator (token)', role: 'admin' };
  };

  return (
    new Hono<AppEnv>()
      .get('/sw.js', (c) =>
        c.body(new Uint8Array(serviceWorker), 200, {
          'content-type': 'text/javascript; charset=utf-8',
          'service-worker-allowed': '/',
          'cache-control': 'no-cache',
        }),
      )
      .get('/assets/:name', (c) => {
        const found = assets.get(c.req.param('name'));
        if (!found) return c.json({ error: { code: 'not_found', message: 'No such asset', details: [] } }, 404);
        // The URL names the content's hash (in ?v=, or in the name of the client's chunks): cache it for a year.
        // Without the right hash, revalidate.
        const cache =
          found.immutable || c.req.query('v') === found.hash ? 'public, max-age=31536000, immutable' : 'no-cache';
        const etag = `"${found.hash}"`;
        if (c.req.header('if-none-match') === etag) return c.body(null, 304, { etag, 'cache-control': cache });
        return c.body(new Uint8Array(found.body), 200, {
          'content-type': found.contentType,
          'cache-control': cache,
          etag,
        });
      })
      .get('/login', (c) => {
        const next = safeNext(c.req.query('next'));
        const principal = c.get('principal');
        if (principal && principal.kind !== 'device') return c.redirect(next, 302);
        const notice =
          c.req.query('expired') !== undefined
            ? 'Your session ended. Sign in again to continue.'
            : c.req.query('signedOut') !== undefined
              ? 'You have signed out.'
              : c.req.query('error') === 'script'
                ? 'Signing in needs JavaScript: turn it on for this site and try again.'
                : undefined;
        const firstRun = options.needsFirstAdmin?.()
          ? 'No account exists yet. Whoever runs the service creates the first admin where it runs: npm run admin -- create-admin --email you@agency.example --name "Your Name" (it prints the password).'
          : undefined;
        return render(c, <LoginPage asset={asset} notice={notice ?? firstRun} next={next} />);
      })
      // The sign-in form is sent by its script; this answers only a browser that submitted it without one.
      .post('/login', (c) => c.redirect('/login?error=script', 303))
      .get('/logout', (c) => {
        const principal = c.get('principal');
        if (!principal || principal.kind === 'device') return c.redirect('/login?signedOut=1', 302);
        return render(c, <MessagePage asset={asset} page="logout" title="Signing out" message="Signing you out…" />);
      })
      .get('/', signedIn, (c) => render(c, <InboxPage asset={asset} user={userOf(c)} data={bodyData(c)} />))
      .get('/alerts/:id', signedIn, (c) => c.redirect(`/?${new URLSearchParams({ alert: c.req.param('id') })}`, 302))
      .get('/patients', signedIn, (c) => render(c, <PatientsPage asset={asset} user={userOf(c)} data={bodyData(c)} />))
      .get('/settings', signedIn, (c) => {
        const principal = c.get('principal') as User;
        // Away periods belong to a clinician account; the admin token is not one.
        const page =
          principal.kind === 'clinician' ? (
            <SettingsPage asset={asset} user={userOf(c)} data={bodyData(c)} />
          ) : (
            <MessagePage
              asset={asset}
              user={userOf(c)}
              title="No settings for the admin token"
              message="Away periods belong to clinician accounts. Sign in with your own account to set yours."
            />
          );
        return render(c, page);
      })
      .get('/on-call', signedIn, (c) => {
        if ((c.get('principal') as User).role !== 'admin') {
          return render(
            c,
            <MessagePage
              asset={asset}
              user={userOf(c)}
              title="For administrators"
              message="The on-call rota is set by an administrator. The inbox says who is on call now."
            />,
            403,
          );
        }
        return render(c, <OnCallPage asset={asset} user={userOf(c)} data={bodyData(c)} />);
      })
      .get('/patients/:id', signedIn, (c) => {
        const principal = c.get('principal') as User;
        const patientId = c.req.param('id');
        if (!access.canSee(principal, patientId)) {
          return render(
            c,
            <MessagePage
              asset={asset}
              user={userOf(c)}
              title="No such patient"
              message="This patient does not exist, or is not on your care team."
            />,
            404,
          );
        }
        // The same rules as PUT /v1/patients/:id/care-plan (an administrator, or a physician on the care team)
        // and PATCH /v1/patients/:id (an administrator, or anyone on the care team).
        const teamRole = access.teamRole(principal, patientId);
        const canEditPlan = principal.role === 'admin' || (principal.role === 'physician' && teamRole !== undefined);
        const canChangeStatus = principal.role === 'admin' || teamRole !== undefined;
        return render(
          c,
          <PatientPage
            asset={asset}
            user={userOf(c)}
            data={bodyData(c, {
              'patient-id': patientId,
              'can-edit-plan': String(canEditPlan),
              'can-change-status': String(canChangeStatus),
            })}
          />,
        );
      })
  );
}

/** Resolves relative targets; any origin would do, since only a path on it is ever accepted. */
const OWN_ORIGIN = 'http://homewatch.invalid';

/**
 * Where to go after signing in: a path on this site, or `/`. Browsers drop tabs and newlines from URLs
 * and read `\` as `/`, so `/\t/evil.example` is `//evil.example`, another site; such characters are
 * refused outright (a newline would also break the Location header). What is left is resolved as the
 * browser would resolve it, and kept only if it stays on this origin with a path that starts with a
 * single `/` (`/.//evil.example` normalises to `//evil.example`). The normalised form is returned.
 */
export function safeNext(next: string | undefined): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (!next?.startsWith('/') || /[\u0000-\u001f\u007f-\u009f\\]/.test(next)) return '/';
  let url: URL;
  try {
    url = new URL(next, OWN_ORIGIN);
  } catch {
    return '/';
  }
  if (url.origin !== OWN_ORIGIN || !url.pathname.startsWith('/') || url.pathname.startsWith('//')) return '/';
  return url.pathname + url.search + url.hash;
}
