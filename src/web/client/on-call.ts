// The on-call rota (administrators): GET /v1/on-call, and PUT /v1/on-call with the whole list after each
// change. The clinicians to choose from are GET /v1/clinicians' nurses and physicians. Times are entered
// and shown in the browser's own time zone.
import { CLINICIAN_ROLE_LABELS } from '../../domain/clinician-role.ts';
import { api, toApiError } from './api.ts';
import { byId, h } from './dom.ts';
import { dateTime, ownTimeZone } from './format.ts';
import { showBanner } from './frame.ts';
import { listClinicians, namer } from './people.ts';
import { byStart, fromLocalInput, onCallText, periodState, periodText } from './periods.ts';
import type { Clinicians, OnCall } from './responses.ts';

type Shift = OnCall['shifts'][number];

const tbody = byId('shifts-body');
const form = byId('shift-form', HTMLFormElement);
const clinicianSelect = byId('shift-clinician', HTMLSelectElement);
const fromInput = byId('shift-from', HTMLInputElement);
const untilInput = byId('shift-until', HTMLInputElement);
const status = byId('rota-status');
const nowLine = byId('rota-now');
let rota: OnCall = { shifts: [], now: null };
let clinicians: Clinicians['clinicians'] = [];
let nameOf = namer([]);

byId('rota-zone').textContent = `Times in your time zone, ${ownTimeZone()}.`;

const STATE_WORDS = { past: 'Ended', now: 'On call now', upcoming: '' } as const;

function setStatus(text: string, kind?: 'ok' | 'error'): void {
  status.textContent = text;
  status.className = `status-line${kind ? ` status-line--${kind}` : ''}`;
}

function render(): void {
  nowLine.textContent = onCallText(rota, nameOf);
  if (!rota.shifts.length) {
    tbody.replaceChildren(
      h(
        'tr',
        {},
        h('td', { colspan: '4', class: 'muted' }, 'No shifts: an alert that reaches nobody on its care team waits.'),
      ),
    );
    return;
  }
  tbody.replaceChildren(
    ...rota.shifts.map((shift, index) => {
      const state = periodState(shift);
      const who = nameOf(shift.clinicianId);
      return h(
        'tr',
        { 'data-state': state, 'data-clinician-id': shift.clinicianId },
        h(
          'td',
          { 'data-label': 'Clinician' },
          who,
          STATE_WORDS[state] ? h('span', { class: `tag tag--${state}` }, STATE_WORDS[state]) : null,
        ),
        h('td', { 'data-label': 'From' }, dateTime(shift.from, undefined, 'plain')),
        h('td', { 'data-label': 'Until' }, dateTime(shift.until, undefined, 'plain')),
        h(
          'td',
          {},
          h(
            'button',
            {
              type: 'button',
              class: 'button button--quiet button--small',
              'aria-label': `Remove ${who}'s shift ${periodText(shift)}`,
              onclick: async () => {
                if (
                  await save(
                    rota.shifts.filter((_, i) => i !== index),
                    'Shift removed.',
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
  (buttons[Math.min(index, buttons.length - 1)] ?? clinicianSelect).focus();
}

async function save(shifts: Shift[], done: string): Promise<boolean> {
  const buttons = document.querySelectorAll<HTMLButtonElement>('#shifts-table button, #shift-form button');
  for (const b of buttons) b.disabled = true;
  try {
    rota = await api<OnCall>('/v1/on-call', { method: 'PUT', body: { shifts: shifts.sort(byStart) } });
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
    for (const b of document.querySelectorAll<HTMLButtonElement>('#shifts-table button, #shift-form button'))
      b.disabled = false;
  }
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const from = fromLocalInput(fromInput.value);
  const until = fromLocalInput(untilInput.value);
  const invalid = !clinicianSelect.value ? clinicianSelect : !from ? fromInput : !until ? untilInput : undefined;
  for (const input of [clinicianSelect, fromInput, untilInput])
    input.setAttribute('aria-invalid', String(input === invalid));
  if (invalid) {
    setStatus(
      invalid === clinicianSelect
        ? 'Choose a clinician.'
        : `Enter when the shift ${invalid === fromInput ? 'starts' : 'ends'}.`,
      'error',
    );
    invalid.focus();
    return;
  }
  if (Date.parse(until!) <= Date.parse(from!)) {
    untilInput.setAttribute('aria-invalid', 'true');
    setStatus('The end must come after the start.', 'error');
    untilInput.focus();
    return;
  }
  const shift: Shift = { clinicianId: clinicianSelect.value, from: from!, until: until! };
  if (await save([...rota.shifts, shift], `${nameOf(shift.clinicianId)}: shift ${periodText(shift)} saved.`)) {
    fromInput.value = '';
    untilInput.value = '';
  }
});

Promise.all([api<OnCall>('/v1/on-call'), listClinicians()]).then(
  ([answer, all]) => {
    rota = answer;
    // Only nurses and physicians may be on call (the API refuses anyone else).
    clinicians = all.filter((c) => c.role !== 'admin').sort((a, b) => a.name.localeCompare(b.name));
    nameOf = namer(all);
    clinicianSelect.replaceChildren(
      h('option', { value: '' }, 'Choose…'),
      ...clinicians.map((c) => h('option', { value: c.id }, `${c.name} (${CLINICIAN_ROLE_LABELS[c.role]})`)),
    );
    render();
    document.body.dataset.loaded = 'true';
  },
  (e) => {
    const error = toApiError(e);
    if (error.status !== 401) showBanner(`Could not load the rota: ${error.message}`, 'error');
  },
);
