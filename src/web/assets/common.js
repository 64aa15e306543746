// Homewatch web app: what every page shares. Plain script (no build step), loaded before the page's own.
// Talks to the JSON API with the session cookie; a 401 sends the user to sign in again.

(() => {
  const body = document.body;

  /** Element builder: h('p', { class: 'x', 'data-id': 1, onclick: fn }, 'text', child). Text is never parsed as HTML. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
      else if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = value;
      else el.setAttribute(key, value === true ? '' : String(value));
    }
    append(el, children);
    return el;
  }
  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  // Severity shapes, so severity never rests on colour alone: an octagon, a triangle, a circle.
  const ICONS = {
    critical:
      '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><path fill="currentColor" d="M5.2 1h5.6L15 5.2v5.6L10.8 15H5.2L1 10.8V5.2z"/><path fill="#fff" d="M7.1 4h1.8l-.3 5.2H7.4zM8 10.4a1.1 1.1 0 1 1 0 2.2 1.1 1.1 0 0 1 0-2.2z"/></svg>',
    warning:
      '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><path fill="currentColor" d="M8 1.2 15.3 14H.7z"/><path fill="#fff" d="M7.2 5.6h1.6l-.3 4.3h-1zM8 10.8a1 1 0 1 1 0 2 1 1 0 0 1 0-2z"/></svg>',
    info: '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><circle fill="currentColor" cx="8" cy="8" r="7"/><path fill="#fff" d="M7.2 7h1.6v5H7.2zM8 3.6a1 1 0 1 1 0 2 1 1 0 0 1 0-2z"/></svg>',
    on: '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><circle fill="currentColor" cx="8" cy="8" r="7"/><path fill="none" stroke="#fff" stroke-width="1.8" d="m4.6 8.2 2.2 2.2 4.6-4.6"/></svg>',
    off: '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><circle fill="none" stroke="currentColor" stroke-width="1.6" cx="8" cy="8" r="6.2"/></svg>',
    blocked:
      '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><circle fill="none" stroke="currentColor" stroke-width="1.8" cx="8" cy="8" r="6.1"/><path stroke="currentColor" stroke-width="1.8" d="m3.7 12.3 8.6-8.6"/></svg>',
  };
  function icon(name) {
    const span = document.createElement('span');
    span.className = 'icon';
    span.innerHTML = ICONS[name] || '';
    return span.firstChild;
  }
  const SEVERITY_LABEL = { critical: 'Critical', warning: 'Warning', info: 'Info' };
  function severityBadge(severity, text) {
    return h('span', { class: `sev sev--${severity}` }, icon(severity), text || SEVERITY_LABEL[severity] || severity);
  }

  // ------------------------------------------------------------------------------------------------
  // The API

  class ApiError extends Error {
    constructor(status, message, details) {
      super(message);
      this.status = status;
      this.details = details || [];
    }
  }
  let leaving = false;
  /** Sends the user to sign in again, coming back here afterwards. */
  function sessionEnded() {
    if (leaving) return;
    leaving = true;
    const query = new URLSearchParams({ expired: '1', next: location.pathname + location.search });
    location.assign(`/login?${query}`);
  }
  async function api(path, options) {
    const { method = 'GET', body: payload } = options || {};
    let response;
    try {
      response = await fetch(path, {
        method,
        credentials: 'same-origin',
        headers:
          payload === undefined
            ? { accept: 'application/json' }
            : { accept: 'application/json', 'content-type': 'application/json' },
        body: payload === undefined ? undefined : JSON.stringify(payload),
      });
    } catch {
      throw new ApiError(0, 'Homewatch cannot be reached. Check the connection; the page retries by itself.');
    }
    if (response.status === 401) {
      sessionEnded();
      throw new ApiError(401, 'Your session ended.');
    }
    if (response.status === 204) return null;
    const json = await response.json().catch(() => null);
    if (!response.ok) {
      const error = json?.error;
      throw new ApiError(response.status, error?.message || `The server answered ${response.status}`, error?.details);
    }
    return json;
  }

  // ------------------------------------------------------------------------------------------------
  // Formatting

  const MINUTE = 60_000;
  const HOUR = 60 * MINUTE;
  const DAY = 24 * HOUR;
  function ago(iso, now) {
    if (!iso) return 'never';
    const ms = (now || Date.now()) - Date.parse(iso);
    if (ms < MINUTE) return 'just now';
    if (ms < HOUR) return `${Math.floor(ms / MINUTE)} min ago`;
    if (ms < DAY) return `${Math.floor(ms / HOUR)} h ago`;
    const days = Math.floor(ms / DAY);
    return days === 1 ? 'yesterday' : `${days} days ago`;
  }
  const formats = new Map();
  function dateTime(iso, timeZone, style) {
    const key = `${timeZone || ''}|${style || 'short'}`;
    let format = formats.get(key);
    if (!format) {
      const options =
        style === 'time'
          ? { hour: 'numeric', minute: '2-digit' }
          : style === 'date'
            ? { month: 'short', day: 'numeric', year: 'numeric' }
            : { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' };
      if (timeZone) options.timeZone = timeZone;
      // 'plain': where the page already says which time zone its times are in.
      if (timeZone && style !== 'date' && style !== 'plain') options.timeZoneName = 'short';
      format = new Intl.DateTimeFormat('en-US', options);
      formats.set(key, format);
    }
    return format.format(new Date(iso));
  }
  function time(iso, text, timeZone) {
    return h('time', { datetime: iso, title: dateTime(iso, timeZone) }, text);
  }

  const KG_PER_LB = 0.45359237;
  const round1 = (x) => Math.round(x * 10) / 10;
  function weight(kg, unit) {
    return unit === 'lb' ? `${round1(kg / KG_PER_LB)} lb` : `${round1(kg)} kg`;
  }
  /** A reading as a nurse reads it aloud: "142/91 mmHg, pulse 72". */
  function reading(r, weightUnit) {
    if (!r) return '';
    if (r.type === 'blood_pressure')
      return `${r.systolic}/${r.diastolic} mmHg${r.pulse != null ? `, pulse ${r.pulse}` : ''}`;
    if (r.type === 'weight') return weight(r.value, weightUnit || (r.sentUnit === 'lb' ? 'lb' : 'kg'));
    if (r.type === 'spo2') return `SpO2 ${r.value}%${r.pulse != null ? `, pulse ${r.pulse}` : ''}`;
    return '';
  }
  const TYPE_LABEL = { blood_pressure: 'Blood pressure', weight: 'Weight', spo2: 'SpO2' };
  const TEAM_ROLE = {
    primary_nurse: 'Primary nurse',
    backup_nurse: 'Backup nurse',
    pcp: 'Primary care physician',
    specialist: 'Specialist',
  };
  /** "Weight up 2 lb … (details): possible …. Call …" → the first sentence, and the rest. */
  function splitMessage(message) {
    const match = /^(.+?[.!?])\s+(.+)$/s.exec(message || '');
    return match ? [match[1], match[2]] : [message || '', ''];
  }
  function plural(n, word) {
    return `${n} ${word}${n === 1 ? '' : 's'}`;
  }

  // ------------------------------------------------------------------------------------------------
  // Page frame: banner, sign-out, automatic logoff

  const banner = document.getElementById('banner');
  function showBanner(message, kind) {
    if (!banner) return;
    banner.textContent = message;
    banner.className = kind === 'error' ? 'banner banner--error' : 'banner';
    banner.hidden = false;
  }
  function hideBanner() {
    if (banner) banner.hidden = true;
  }

  async function signOut(reason) {
    try {
      await fetch('/v1/auth/logout', { method: 'POST', credentials: 'same-origin' });
    } catch {
      // Signed out or not, the cookie's session ends at its idle timeout; go to the sign-in page anyway.
    }
    leaving = true;
    location.assign(reason === 'idle' ? '/login?expired=1' : '/login?signedOut=1');
  }
  const signOutButton = document.getElementById('sign-out');
  if (signOutButton) signOutButton.addEventListener('click', () => signOut());
  if (body.dataset.page === 'logout') signOut();

  // Polling counts as activity for the server, so the page itself ends an idle session.
  const idleMs = Number(body.dataset.idleMs) || 0;
  let lastActivity = Date.now();
  for (const type of ['pointerdown', 'keydown', 'wheel', 'touchstart']) {
    addEventListener(type, () => (lastActivity = Date.now()), { passive: true, capture: true });
  }
  function checkIdle() {
    if (idleMs > 0 && Date.now() - lastActivity >= idleMs) {
      signOut('idle');
      return true;
    }
    return false;
  }
  if (idleMs > 0) setInterval(checkIdle, Math.min(30_000, idleMs / 4));

  /** Runs `task` now and every `ms` after the previous run ended, at once when the tab comes back, until the session goes idle. */
  function every(ms, task) {
    let timer;
    let running = false;
    const run = async () => {
      clearTimeout(timer);
      if (running || leaving || checkIdle()) return;
      running = true;
      try {
        await task();
      } finally {
        running = false;
        if (!leaving) timer = setTimeout(run, ms);
      }
    };
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') run();
    });
    run();
    return run;
  }

  window.HW = {
    h,
    append,
    icon,
    severityBadge,
    SEVERITY_LABEL,
    api,
    ApiError,
    ago,
    dateTime,
    time,
    weight,
    reading,
    splitMessage,
    plural,
    KG_PER_LB,
    TYPE_LABEL,
    TEAM_ROLE,
    showBanner,
    hideBanner,
    every,
  };
})();
