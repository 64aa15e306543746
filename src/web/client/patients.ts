// The patient list: last reading, open alerts by severity, and RPM adherence (days with a reading in
// the last 30, flagged below the 16 that CPT 99454 needs), from GET /v1/patients-summary. Paused patients
// are marked; discharged ones are left out unless "Show discharged patients" (?status=all) asks for them.
import { api, toApiError } from './api.ts';
import { byId, h, icon, severityBadge, WORST_FIRST } from './dom.ts';
import { ago, DAY, plural, time } from './format.ts';
import { statusTag } from './patient-status.ts';
import { every, hideBanner, showBanner } from './frame.ts';
import type { PatientSummary, PatientsSummary } from './responses.ts';

const tbody = byId('patients-body');
const sortSelect = byId('patients-sort', HTMLSelectElement);
const lowOnly = byId('patients-low', HTMLInputElement);
const showDischarged = byId('patients-discharged', HTMLInputElement);
const countEl = byId('patients-count');
/** A last reading older than this is shown as a warning: the devices may have stopped. */
const STALE_MS = 3 * DAY;
let data: PatientsSummary | undefined;

const params = new URLSearchParams(location.search);
if (params.get('sort')) sortSelect.value = params.get('sort')!;
if (params.get('low') === '1') lowOnly.checked = true;
// The same word as GET /v1/patients?status=all.
if (params.get('status') === 'all') showDischarged.checked = true;

const severityScore = (p: PatientSummary) =>
  p.openAlerts.critical * 10_000 + p.openAlerts.warning * 100 + p.openAlerts.info;
const lastMs = (p: PatientSummary) => (p.lastReadingAt ? Date.parse(p.lastReadingAt) : 0);
type Order = (a: PatientSummary, b: PatientSummary) => number;
const SORTS = {
  attention: (a, b) =>
    severityScore(b) - severityScore(a) ||
    Number(b.adherenceLow) - Number(a.adherenceLow) ||
    a.adherenceDays - b.adherenceDays ||
    a.name.localeCompare(b.name),
  adherence: (a, b) => a.adherenceDays - b.adherenceDays || lastMs(a) - lastMs(b) || a.name.localeCompare(b.name),
  last: (a, b) => lastMs(a) - lastMs(b) || a.name.localeCompare(b.name),
  name: (a, b) => a.name.localeCompare(b.name),
} satisfies Record<string, Order>;

function row(p: PatientSummary, minimum: number): HTMLTableRowElement {
  const alerts = WORST_FIRST.filter((s) => p.openAlerts[s] > 0).map((s) => severityBadge(s, `${p.openAlerts[s]} ${s}`));
  const acknowledged = Object.values(p.acknowledgedAlerts).reduce((a, b) => a + b, 0);
  const stale = p.lastReadingAt && Date.now() - Date.parse(p.lastReadingAt) > STALE_MS;
  return h(
    'tr',
    {
      'data-patient-id': p.id,
      'data-status': p.status,
      'data-adherence-days': p.adherenceDays,
      'data-adherence-low': String(p.adherenceLow),
    },
    h(
      'td',
      { 'data-label': 'Patient' },
      h('a', { class: 'patient-link', href: `/patients/${encodeURIComponent(p.id)}` }, p.name),
      statusTag(p),
      h(
        'span',
        { class: 'patient-sub' },
        [p.externalId ? `MRN ${p.externalId}` : null, p.timezone].filter(Boolean).join(' · '),
      ),
    ),
    h(
      'td',
      { 'data-label': 'Last reading' },
      p.lastReadingAt
        ? h(
            'span',
            { class: stale ? 'stale' : '' },
            stale ? icon('warning') : null,
            stale ? ' ' : '',
            time(p.lastReadingAt, ago(p.lastReadingAt)),
          )
        : h('span', { class: 'stale' }, 'No readings yet'),
    ),
    h(
      'td',
      { 'data-label': 'Open alerts' },
      h('div', { class: 'chips' }, alerts.length ? alerts : h('span', { class: 'sev sev--none' }, 'None')),
      acknowledged ? h('span', { class: 'note' }, `and ${acknowledged} acknowledged`) : null,
    ),
    h(
      'td',
      { 'data-label': `Days with readings (last ${p.adherence.windowDays})` },
      h(
        'div',
        { class: 'adherence' },
        h('meter', {
          min: '0',
          max: String(p.adherence.windowDays),
          low: String(minimum - 0.5),
          high: String(minimum),
          optimum: String(p.adherence.windowDays),
          value: String(p.adherenceDays),
          'aria-hidden': 'true',
        }),
        h('span', { class: 'num' }, `${p.adherenceDays} of ${p.adherence.windowDays} days`),
        p.adherenceLow
          ? h('span', { class: 'flag' }, icon('warning'), `Below ${minimum}`)
          : h('span', { class: 'flag ok' }, icon('on'), `${minimum}+ met`),
      ),
    ),
  );
}

function render(): void {
  if (!data) return;
  const { adherenceMinimumDays } = data;
  const patients = data.patients.filter((p) => showDischarged.checked || p.status !== 'discharged');
  const discharged = data.patients.length - patients.length;
  const shown = patients
    .filter((p) => !lowOnly.checked || p.adherenceLow)
    .sort(SORTS[sortSelect.value as keyof typeof SORTS] ?? SORTS.attention);
  const low = patients.filter((p) => p.adherenceLow).length;
  countEl.textContent = `${plural(patients.length, 'patient')}, ${low} below ${adherenceMinimumDays} days${discharged ? ` (${discharged} discharged not shown)` : ''}`;
  if (!shown.length) {
    const text = patients.length
      ? 'Every patient has readings on enough days.'
      : 'No patients yet. An administrator adds patients and puts you on their care team.';
    tbody.replaceChildren(h('tr', {}, h('td', { colspan: '4', class: 'muted' }, text)));
    return;
  }
  tbody.replaceChildren(...shown.map((p) => row(p, adherenceMinimumDays)));
}

function remember(): void {
  const query = new URLSearchParams();
  if (sortSelect.value !== 'attention') query.set('sort', sortSelect.value);
  if (lowOnly.checked) query.set('low', '1');
  if (showDischarged.checked) query.set('status', 'all');
  history.replaceState(null, '', query.size ? `?${query}` : location.pathname);
  render();
}
sortSelect.addEventListener('change', remember);
lowOnly.addEventListener('change', remember);
showDischarged.addEventListener('change', remember);

every(60_000, async () => {
  try {
    // Discharged patients too: the page hides them unless "show discharged" is ticked, without a reload.
    data = await api<PatientsSummary>('/v1/patients-summary?status=all');
    render();
    hideBanner();
  } catch (e) {
    const error = toApiError(e);
    if (error.status !== 401) showBanner(`Could not load the patients: ${error.message}`, 'error');
  }
});
