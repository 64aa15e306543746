// The signed-in clinician's settings: their away periods (GET and PUT /v1/clinicians/{id}/away), during
// which routing skips them. Times are entered and shown in the browser's own time zone.
import { api, toApiError } from './api.ts';
import { byId, h } from './dom.ts';
import { dateTime, ownTimeZone } from './format.ts';
import { showBanner } from './frame.ts';
import { me } from './people.ts';
import { byStart, fromLocalInput, periodState, periodText } from './periods.ts';
import type { AwayPeriods } from './responses.ts';

type Period = AwayPeriods['periods'][number];

const url = `/v1/clinicians/${encodeURIComponent(me.id)}/away`;
const tbody = byId('away-body');
const form = byId('away-form', HTMLFormElement);
const fromInput = byId('away-from', HTMLInputElement);
const untilInput = byId('away-until', HTMLInputElement);
const noteInput = byId('away-note', HTMLInputElement);
const status = byId('away-status');
let periods: Period[] = [];

byId('settings-zone').textContent = `Times in your time zone, ${ownTimeZone()}.`;

const STATE_WORDS = { past: 'Ended', now: 'Away now', upcoming: '' } as const;

function setStatus(text: string, kind?: 'ok' | 'error'): void {
  status.textContent = text;
  status.className = `status-line${kind ? ` status-line--${kind}` : ''}`;
}

function render(): void {
  if (!periods.length) {
    tbody.replaceChildren(
      h('tr', {}, h('td', { colspan: '4', class: 'muted' }, 'No away periods: alerts reach you as usual.')),
    );
    return;
  }
  tbody.replaceChildren(
    ...periods.map((period, index) => {
      const state = periodState(period);
      return h(
        'tr',
        { 'data-state': state },
        h('td', { 'data-label': 'From' }, dateTime(period.from, undefined, 'plain')),
        h('td', { 'data-label': 'Until' }, dateTime(period.until, undefined, 'plain')),
        h(
          'td',
          { 'data-label': 'Note' },
          period.note || '',
          STATE_WORDS[state] ? h('span', { class: `tag tag--${state}` }, STATE_WORDS[state]) : null,
        ),
        h(
          'td',
          {},
          h(
            'button',
            {
              type: 'button',
              class: 'button button--quiet button--small',
              'aria-label': `Remove away period ${periodText(period)}`,
              onclick: async () => {
                if (
                  await save(
                    periods.filter((_, i) => i !== index),
                    'Away period removed.',
                  )
                )
                  focusAfterRemoving(index);
              },
            },
            'Remove',
          ),
        ),
      );
    }),
  );
}

/** Keeps the keyboard in the list: on the next Remove button, or on the form when the list is empty. */
function focusAfterRemoving(index: number): void {
  const buttons = tbody.querySelectorAll<HTMLButtonElement>('button');
  (buttons[Math.min(index, buttons.length - 1)] ?? fromInput).focus();
}

async function save(next: Period[], done: string): Promise<boolean> {
  for (const b of document.querySelectorAll<HTMLButtonElement>('#away-table button, #away-form button'))
    b.disabled = true;
  try {
    periods = (await api<AwayPeriods>(url, { method: 'PUT', body: { periods: next.sort(byStart) } })).periods;
    render();
    setStatus(done, 'ok');
    return true;
  } catch (e) {
    const error = toApiError(e);
    if (error.status !== 401) {
      const details = error.details.map((d) => `${d.path} ${d.message}`).join('; ');
      setStatus(`Not saved: ${error.message}${details ? ` (${details})` : ''}`, 'error');
    }
    return false;
  } finally {
    for (const b of document.querySelectorAll<HTMLButtonElement>('#away-table button, #away-form button'))
      b.disabled = false;
  }
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const from = fromLocalInput(fromInput.value);
  const until = fromLocalInput(untilInput.value);
  const invalid = !from ? fromInput : !until ? untilInput : undefined;
  for (const input of [fromInput, untilInput]) input.setAttribute('aria-invalid', String(input === invalid));
  if (invalid) {
    setStatus(`Enter when the away period ${invalid === fromInput ? 'starts' : 'ends'}.`, 'error');
    invalid.focus();
    return;
  }
  if (Date.parse(until!) <= Date.parse(from!)) {
    untilInput.setAttribute('aria-invalid', 'true');
    setStatus('The end must come after the start.', 'error');
    untilInput.focus();
    return;
  }
  const period: Period = {
    from: from!,
    until: until!,
    ...(noteInput.value.trim() ? { note: noteInput.value.trim() } : {}),
  };
  if (await save([...periods, period], `Away ${periodText(period)} saved.`)) form.reset();
});

api<AwayPeriods>(url).then(
  (answer) => {
    periods = answer.periods;
    render();
    document.body.dataset.loaded = 'true';
  },
  (e) => {
    const error = toApiError(e);
    if (error.status !== 401) showBanner(`Could not load your away periods: ${error.message}`, 'error');
  },
);
