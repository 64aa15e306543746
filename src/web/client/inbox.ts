// The nurse's alert inbox: GET /v1/inbox every 10 s (one request, ordered open → acknowledged, then by
// severity, then newest), acknowledge and resolve in place, and the device's Web Push subscription.
import {
  acknowledgementExpiryText,
  episodeText,
  lateText,
  observedText,
  reopenedText,
  resentText,
} from './alert-text.ts';
import { api, toApiError } from './api.ts';
import { byId, h, icon, severityBadge, WORST_FIRST, type IconName } from './dom.ts';
import { ago, capitalized, dateTime, plural, readingText, splitMessage, teamRole, time } from './format.ts';
import { every, hideBanner, showBanner } from './frame.ts';
import { listClinicians, namer } from './people.ts';
import { onCallText } from './periods.ts';
import type { Alert, Inbox, InboxAlert, OnCall, Patient } from './responses.ts';

const POLL_MS = 10_000;
/** Shifts change by the hour: the on-call line is read once a minute. */
const ON_CALL_POLL_MS = 60_000;

/**
 * What "quiet for" offers when resolving: no new alert from that rule for this patient until then. The
 * API takes any duration up to 30d; these are the choices a nurse needs.
 */
const QUIET_CHOICES: Array<[value: string, label: string]> = [
  ['', 'Don’t quiet'],
  ['1d', '1 day'],
  ['7d', '7 days'],
  ['30d', '30 days'],
];

type Status = InboxAlert['status'];
const lists: Record<Status, HTMLElement> = {
  open: byId('open-list'),
  acknowledged: byId('ack-list'),
  resolved: byId('resolved-list'),
};
const empties: Record<Status, HTMLElement> = {
  open: byId('open-empty'),
  acknowledged: byId('ack-empty'),
  resolved: byId('resolved-empty'),
};
const counts = { open: byId('open-count'), acknowledged: byId('ack-count') };
const updated = byId('inbox-updated');
const live = byId('inbox-live');
const navBadge = byId('nav-open-count');

/** Cards by alert id, kept between polls so an open resolve form or focus is never lost. */
const cards = new Map<string, HTMLLIElement>();
/** Alerts seen so far: anything else in a later poll is new. */
let seen: Set<string> | undefined;
let highlight = new URLSearchParams(location.search).get('alert');

// ------------------------------------------------------------------------------------------------
// Rendering

function notifiedText(alert: InboxAlert): string {
  const parts: string[] = [];
  if (alert.notified.length) {
    parts.push(
      alert.notified.map((n) => `${n.name || 'a clinician'} (push, ${dateTime(n.at, undefined, 'time')})`).join(', '),
    );
  }
  if (alert.webhooksDelivered) parts.push(plural(alert.webhooksDelivered, 'webhook'));
  const resent = resentText(alert.escalation);
  if (resent) parts.push(`${resent}: nobody acknowledged`);
  const esc = alert.escalation;
  if (alert.severity === 'info') parts.push('Not pushed: info alerts wait in the inbox');
  else if (esc?.unreachable) parts.push('Reached nobody: no one on the care team has notifications turned on');
  else if (esc && esc.state === 'pending' && alert.status === 'open' && esc.dueAt) {
    const who = esc.next.map((m) => `${m.name} (${teamRole(m.role, true)})`).join(', ');
    if (esc.nextTier === 0) parts.push('Notifying the care team…');
    else if (who) parts.push(`Escalates to ${who} at ${dateTime(esc.dueAt, undefined, 'time')} unless acknowledged`);
  } else if (!alert.notified.length && alert.status !== 'resolved' && !esc) parts.push('Nobody yet');
  return parts.join(' · ') || 'Nobody';
}

function statusText(alert: InboxAlert): string {
  if (alert.status === 'resolved') return `Resolved by ${alert.resolvedByName || 'someone'} ${ago(alert.resolvedAt)}`;
  const cleared = alert.active ? '' : ' · condition cleared on the newest reading';
  if (alert.status === 'acknowledged') {
    const expiry = alert.active ? acknowledgementExpiryText(alert) : '';
    return `Acknowledged by ${alert.acknowledgedByName || 'someone'} ${ago(alert.acknowledgedAt)}${cleared}${expiry ? ` · ${expiry}` : ''}`;
  }
  const reopened = reopenedText(alert);
  return `Open${reopened ? ` · ${reopened} ${ago(alert.reopenedAt)}` : ''}${cleared}`;
}

/** The reading that triggered the alert, and whether it arrived late. */
function readingLine(alert: InboxAlert): string {
  if (!alert.reading) return '';
  const late = lateText(alert);
  return `${readingText(alert.reading)} · ${late || `measured ${dateTime(alert.reading.measuredAt)}`}`;
}

/** What changes a card's content; the relative times are refreshed separately. */
const signature = (a: InboxAlert) =>
  JSON.stringify([
    a.status,
    a.count,
    a.active,
    a.lastTriggeredAt,
    a.notified.length,
    a.escalation,
    a.acknowledgedBy,
    a.note,
    a.episode,
    a.reopenedAt,
    a.late,
    a.observed,
  ]);

function buildCard(alert: InboxAlert, isNew: boolean): HTMLLIElement {
  const id = alert.id;
  const [headline, detail] = splitMessage(alert.message);
  // Alerts from before observed values were kept say at least which reading is missing.
  const observed = observedText(alert) || (!alert.reading && alert.metric ? `No ${alert.metric} reading received` : '');
  const reopened = reopenedText(alert);
  const error = h('p', { class: 'card-error', role: 'alert', hidden: true });
  const noteId = `note-${id}`;
  const formId = `resolve-${id}`;
  const headlineId = `headline-${id}`;

  const card = h('li', {
    class: `alert-card alert-card--${alert.severity} alert-card--${alert.status}${isNew ? ' alert-card--new' : ''}`,
    id: `alert-${id}`,
    'data-alert-id': id,
    'data-status': alert.status,
    'data-severity': alert.severity,
    tabindex: '-1',
  });
  const when = h('span', { class: 'alert-card__when' });
  const actions = h('div', { class: 'alert-card__actions' });
  const note = h('textarea', {
    id: noteId,
    name: 'note',
    rows: '2',
    maxlength: '2000',
    placeholder: 'e.g. Called patient; recheck normal, no symptoms',
  });
  const quietId = `quiet-${id}`;
  const quiet = h(
    'select',
    { id: quietId, name: 'quietFor', 'aria-describedby': `${quietId}-help` },
    QUIET_CHOICES.map(([value, label]) => h('option', { value }, label)),
  );
  const form = h(
    'form',
    { class: 'resolve-form', id: formId, hidden: true },
    h('label', { for: noteId }, 'Note (optional)'),
    note,
    h(
      'div',
      { class: 'resolve-form__quiet' },
      h('label', { for: quietId }, 'Quiet this rule for this patient'),
      quiet,
      h(
        'span',
        { class: 'muted small', id: `${quietId}-help` },
        'No new alert from this rule for this patient until then; other rules still alert.',
      ),
    ),
    h(
      'div',
      { class: 'resolve-form__buttons' },
      h('button', { type: 'submit', class: 'button button--primary' }, 'Resolve alert'),
      h('button', { type: 'button', class: 'button button--quiet', onclick: () => closeForm(card) }, 'Cancel'),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    act(card, 'resolve', { note: note.value.trim() || undefined, quietFor: quiet.value || undefined });
  });

  if (alert.status === 'open') {
    actions.append(
      h(
        'button',
        {
          type: 'button',
          class: 'button button--primary',
          'aria-describedby': headlineId,
          'data-action': 'acknowledge',
          onclick: () => act(card, 'acknowledge'),
        },
        'Acknowledge',
      ),
    );
  }
  if (alert.status !== 'resolved') {
    actions.append(
      h(
        'button',
        {
          type: 'button',
          class: 'button',
          'aria-describedby': headlineId,
          'aria-expanded': 'false',
          'aria-controls': formId,
          'data-action': 'resolve',
          onclick: () => openForm(card),
        },
        'Resolve…',
      ),
    );
  }
  actions.append(
    h(
      'a',
      { class: 'button button--quiet', href: `/patients/${encodeURIComponent(alert.patientId)}` },
      'Patient trends',
    ),
  );

  card.append(
    h(
      'article',
      { 'aria-labelledby': `patient-${id} ${headlineId}` },
      h(
        'header',
        { class: 'alert-card__head' },
        severityBadge(alert.severity),
        h(
          'h3',
          { id: `patient-${id}` },
          h('a', { href: `/patients/${encodeURIComponent(alert.patientId)}` }, alert.patient.name || 'Unknown patient'),
        ),
        isNew ? h('span', { class: 'new-tag' }, 'New') : null,
        reopened ? h('span', { class: 'tag tag--reopened' }, capitalized(reopened)) : null,
        when,
      ),
      h('p', { class: 'alert-card__headline', id: headlineId }, headline),
      detail ? h('p', { class: 'alert-card__detail' }, detail) : null,
      h(
        'dl',
        { class: 'facts' },
        observed
          ? h(
              'div',
              { class: 'fact--observed' },
              h('dt', {}, 'Observed'),
              h('dd', { 'data-field': 'observed' }, observed),
            )
          : null,
        alert.reading
          ? h(
              'div',
              { class: 'fact--reading' },
              h('dt', {}, 'Reading'),
              h('dd', { 'data-field': 'reading', class: alert.late ? 'late' : undefined }),
            )
          : null,
        h('div', { class: 'fact--times' }, h('dt', {}, 'Times'), h('dd', { 'data-field': 'count' })),
        h(
          'div',
          { class: 'fact--notified' },
          h('dt', {}, 'Notified'),
          h('dd', { 'data-field': 'notified' }, notifiedText(alert)),
        ),
        h(
          'div',
          { class: 'fact--status' },
          h('dt', {}, 'Status'),
          h('dd', { 'data-field': 'status' }, statusText(alert)),
        ),
        alert.note ? h('div', { class: 'fact--note' }, h('dt', {}, 'Note'), h('dd', {}, alert.note)) : null,
      ),
      actions,
      form,
      error,
    ),
  );
  card.dataset.signature = signature(alert);
  refreshTimes(card, alert);
  return card;
}

function refreshTimes(card: HTMLElement, alert: InboxAlert): void {
  card.querySelector('.alert-card__when')!.replaceChildren('Opened ', time(alert.openedAt, ago(alert.openedAt)));
  const episode = episodeText(alert);
  card
    .querySelector('[data-field="count"]')!
    .replaceChildren(
      alert.count === 1 ? 'Once' : `${alert.count} times, last `,
      alert.count === 1 ? '' : time(alert.lastTriggeredAt, ago(alert.lastTriggeredAt)),
      episode ? ` · ${episode}` : '',
    );
  const reading = card.querySelector('[data-field="reading"]');
  if (reading) {
    reading.replaceChildren(alert.late ? icon('warning') : '', readingLine(alert));
  }
  card.querySelector('[data-field="status"]')!.textContent = statusText(alert);
}

function openForm(card: HTMLElement): void {
  const form = card.querySelector<HTMLFormElement>('.resolve-form')!;
  form.hidden = false;
  card.querySelector('[data-action="resolve"]')!.setAttribute('aria-expanded', 'true');
  card.dataset.editing = 'true';
  form.querySelector('textarea')!.focus();
}

function closeForm(card: HTMLElement): void {
  card.querySelector<HTMLFormElement>('.resolve-form')!.hidden = true;
  const button = card.querySelector<HTMLButtonElement>('[data-action="resolve"]')!;
  button.setAttribute('aria-expanded', 'false');
  delete card.dataset.editing;
  button.focus();
}

async function act(
  card: HTMLElement,
  action: 'acknowledge' | 'resolve',
  payload?: { note?: string; quietFor?: string },
): Promise<void> {
  const id = card.dataset.alertId!;
  const error = card.querySelector<HTMLElement>('.card-error')!;
  const buttons = card.querySelectorAll('button');
  for (const b of buttons) b.disabled = true;
  error.hidden = true;
  try {
    await api(`/v1/alerts/${encodeURIComponent(id)}/${action}`, {
      method: 'POST',
      body: payload || (action === 'resolve' ? {} : undefined),
    });
    delete card.dataset.editing;
    const quieted = QUIET_CHOICES.find(([value]) => value && value === payload?.quietFor)?.[1];
    announce(
      action === 'acknowledge'
        ? 'Alert acknowledged.'
        : `Alert resolved.${quieted ? ` Its rule is quiet for this patient for ${quieted}.` : ''}`,
    );
    const next = nextCard(card);
    await refresh();
    // Keep the keyboard where the work is: on the same alert after acknowledging, on the next one after resolving.
    const target = action === 'acknowledge' ? cards.get(id) : next && cards.get(next);
    if (target) (target.querySelector<HTMLElement>('[data-action="resolve"]') || target).focus();
    else byId('main').focus();
    if (card.closest('#inbox-focus')) byId('inbox-focus').hidden = true;
  } catch (e) {
    const failure = toApiError(e);
    if (failure.status === 401) return;
    for (const b of buttons) b.disabled = false;
    error.textContent = failure.status === 409 ? `${failure.message}. The list has been refreshed.` : failure.message;
    error.hidden = false;
    if (failure.status === 409 || failure.status === 404) refresh();
  }
}

function nextCard(card: HTMLElement): string | undefined {
  const sibling = (card.nextElementSibling || card.previousElementSibling) as HTMLElement | null;
  return sibling?.dataset.alertId;
}

function announce(text: string): void {
  live.textContent = '';
  // A change the screen reader notices even when the same words come twice.
  setTimeout(() => (live.textContent = text), 50);
}

function render(data: Inbox): void {
  const groups: Record<Status, InboxAlert[]> = { open: [], acknowledged: [], resolved: [] };
  for (const alert of data.alerts) groups[alert.status].push(alert);
  const fresh = seen ? data.alerts.filter((a) => !seen!.has(a.id) && a.status === 'open') : [];
  seen = new Set([...(seen || []), ...data.alerts.map((a) => a.id)]);
  const freshIds = new Set(fresh.map((a) => a.id));

  const keep = new Set<string>();
  for (const [status, alerts] of Object.entries(groups) as Array<[Status, InboxAlert[]]>) {
    const list = lists[status];
    const wanted = alerts.map((alert) => {
      keep.add(alert.id);
      let card = cards.get(alert.id);
      if (card?.dataset.editing) {
        refreshTimes(card, alert);
      } else if (!card || card.dataset.signature !== signature(alert)) {
        const wasNew = card ? card.classList.contains('alert-card--new') : freshIds.has(alert.id);
        const replacement = buildCard(alert, wasNew);
        if (card) card.replaceWith(replacement);
        card = replacement;
        cards.set(alert.id, card);
      } else {
        refreshTimes(card, alert);
      }
      return card;
    });
    // Reorder only where needed: moving the focused element would lose the keyboard's place.
    wanted.forEach((card, i) => {
      if (list.children[i] !== card) list.insertBefore(card, list.children[i] || null);
    });
    while (list.children.length > wanted.length) list.lastElementChild!.remove();
    empties[status].hidden = alerts.length > 0;
  }
  for (const id of [...cards.keys()]) if (!keep.has(id)) cards.delete(id);

  const openCount = groups.open.length;
  const bySeverity = WORST_FIRST.map((s) => [s, groups.open.filter((a) => a.severity === s).length] as const).filter(
    ([, n]) => n,
  );
  counts.open.textContent = openCount ? `${openCount} · ${bySeverity.map(([s, n]) => `${n} ${s}`).join(', ')}` : '0';
  counts.acknowledged.textContent = String(groups.acknowledged.length);
  navBadge.textContent = String(openCount);
  navBadge.hidden = openCount === 0;
  navBadge.setAttribute('aria-label', `${plural(openCount, 'open alert')}`);
  document.title = `${openCount ? `(${openCount}) ` : ''}Alert inbox · Homewatch`;
  updated.textContent = `Updated ${dateTime(data.generatedAt, undefined, 'time')} · new alerts appear by themselves`;

  const first = fresh[0];
  if (first) {
    announce(
      fresh.length === 1
        ? `New ${first.severity} alert for ${first.patient.name}: ${splitMessage(first.message)[0]}`
        : `${fresh.length} new alerts, the first ${first.severity} for ${first.patient.name}.`,
    );
  }
  if (highlight) showHighlight(highlight);
}

/** Opened from a notification (/alerts/:id): point at that alert, or show it if it is no longer in the list. */
async function showHighlight(id: string): Promise<void> {
  highlight = null;
  const card = cards.get(id);
  if (card) {
    card.classList.add('alert-card--highlighted');
    card.scrollIntoView({ block: 'center' });
    card.focus({ preventScroll: true });
    return;
  }
  const panel = byId('inbox-focus');
  const body = byId('inbox-focus-body');
  try {
    const alert = await api<Alert>(`/v1/alerts/${encodeURIComponent(id)}`);
    const [patient, deliveries] = await Promise.all([
      api<Patient>(`/v1/patients/${encodeURIComponent(alert.patientId)}`),
      api<{ escalation: Omit<NonNullable<InboxAlert['escalation']>, 'next'> | null }>(
        `/v1/alerts/${encodeURIComponent(id)}/deliveries`,
      ),
    ]);
    body.replaceChildren(
      buildCard(
        {
          ...alert,
          patient: { id: patient.id, name: patient.name },
          notified: [],
          webhooksDelivered: 0,
          // Repeats and the acknowledgement's expiry; who is next is named only in the inbox's own list.
          escalation: deliveries.escalation && { ...deliveries.escalation, next: [] },
          acknowledgedByName: null,
          resolvedByName: null,
        },
        false,
      ),
    );
  } catch (e) {
    if (toApiError(e).status === 401) return;
    body.replaceChildren(
      h(
        'p',
        { class: 'muted' },
        'That alert is not available to you: it may belong to a patient outside your care team.',
      ),
    );
  }
  panel.hidden = false;
}

async function refresh(): Promise<void> {
  try {
    render(await api<Inbox>('/v1/inbox?resolved=10'));
    hideBanner();
  } catch (e) {
    const error = toApiError(e);
    if (error.status === 401) return;
    showBanner(`Could not refresh the inbox: ${error.message}`, 'error');
  }
}

every(POLL_MS, refresh);

// ------------------------------------------------------------------------------------------------
// Who is on call now (GET /v1/on-call); names only where this user may know them (people.ts).

const onCallLine = byId('on-call-now');
let clinicianNames: Promise<(id: string) => string> | undefined;
every(ON_CALL_POLL_MS, async () => {
  try {
    clinicianNames ??= listClinicians().then(namer);
    const [onCall, nameOf] = await Promise.all([api<OnCall>('/v1/on-call'), clinicianNames]);
    onCallLine.textContent = onCallText(onCall, nameOf);
    onCallLine.hidden = false;
  } catch (e) {
    clinicianNames = undefined;
    if (toApiError(e).status !== 401) onCallLine.hidden = true;
  }
});

// ------------------------------------------------------------------------------------------------
// Notifications on this device (Web Push through the service worker at /sw.js)

const stateEl = byId('notify-state');
const toggle = byId('notify-toggle', HTMLButtonElement);
type NotifyState = 'on' | 'off' | 'blocked' | 'unsupported' | 'pending' | 'error';
/** Each state's icon, words, and the button's words (none: no button). */
const STATES: Record<NotifyState, [IconName, string, string | null]> = {
  on: ['on', 'Notifications on for this device', 'Turn off'],
  off: ['off', 'Notifications off', 'Enable notifications'],
  blocked: ['blocked', 'Notifications blocked by the browser: allow them in the site settings', null],
  unsupported: [
    'off',
    'This browser cannot receive notifications (on iPhone, add Homewatch to the home screen first)',
    null,
  ],
  pending: ['off', 'Turning notifications on…', null],
  error: ['blocked', '', 'Try again'],
};

function supported(): boolean {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window && window.isSecureContext;
}

async function currentSubscription(): Promise<PushSubscription | null> {
  const registration = await navigator.serviceWorker.getRegistration('/');
  return registration ? registration.pushManager.getSubscription() : null;
}

async function currentState(): Promise<NotifyState> {
  if (!supported()) return 'unsupported';
  if (Notification.permission === 'denied') return 'blocked';
  const subscription = await currentSubscription();
  return subscription && Notification.permission === 'granted' ? 'on' : 'off';
}

function showState(state: NotifyState, message?: string): void {
  const [iconName, text, action] = STATES[state];
  stateEl.dataset.state = state;
  stateEl.replaceChildren(icon(iconName), message || text);
  toggle.hidden = !action;
  toggle.textContent = action || '';
  toggle.disabled = false;
}

/** The VAPID public key (base64url) as the bytes PushManager.subscribe wants. */
function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64url.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((base64url.length + 3) % 4));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

async function enable(): Promise<void> {
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') return showState(permission === 'denied' ? 'blocked' : 'off');
  showState('pending');
  const registration = await navigator.serviceWorker.register('/sw.js', { scope: '/' });
  await navigator.serviceWorker.ready;
  const { publicKey } = await api<{ publicKey: string }>('/v1/push/public-key');
  let subscription = await registration.pushManager.getSubscription();
  if (!subscription)
    subscription = await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: keyBytes(publicKey),
    });
  try {
    await api('/v1/push/subscriptions', { method: 'POST', body: subscription.toJSON() });
  } catch (e) {
    await subscription.unsubscribe();
    throw e;
  }
  showState('on');
}

async function disable(): Promise<void> {
  const subscription = await currentSubscription();
  if (subscription) {
    await api('/v1/push/subscriptions', { method: 'DELETE', body: { endpoint: subscription.endpoint } });
    await subscription.unsubscribe();
  }
  showState('off');
}

toggle.addEventListener('click', async () => {
  toggle.disabled = true;
  try {
    if (stateEl.dataset.state === 'on') await disable();
    else await enable();
  } catch (e) {
    const error = toApiError(e);
    if (error.status === 401) return;
    showState('error', `Notifications could not be turned on: ${error.message}`);
  }
});
currentState().then(showState, () => showState('unsupported'));
