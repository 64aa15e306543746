// The patient page: trend charts (uPlot) from the bucketed readings API with the care plan's thresholds
// and the alerts drawn on them, recent readings, alert history, care team, the care plan, which a
// physician on the team (or an administrator) may change in place, the monitoring status (pause, resume,
// discharge) with its history, and a device whose clock is wrong.
import type uPlotType from 'uplot';
import { DEVICE_KIND_LABELS } from '../../domain/device.ts';
import { parseDuration } from '../../domain/duration.ts';
import { METRIC_LABELS, METRIC_UNITS, READING_TYPE_LABELS } from '../../domain/measurements.ts';
import type { Rule } from '../../domain/rule.ts';
import type { Severity } from '../../domain/severity.ts';
import { lateText, observedText, reopenedText } from './alert-text.ts';
import { api, toApiError } from './api.ts';
import { append, byId, h, icon, severityBadge, WORST_FIRST } from './dom.ts';
import {
  ago,
  capitalized,
  DAY,
  dateTime,
  inSentence,
  plural,
  readingText,
  round1,
  splitMessage,
  teamRole,
  time,
  toShownWeight,
  withUnit,
  type ShownWeightUnit,
} from './format.ts';
import { showBanner } from './frame.ts';
import { changeText, statusTag, statusText } from './patient-status.ts';
import { listClinicians, namer } from './people.ts';
import { startOfLocalDay } from './periods.ts';
import type {
  Alert,
  BloodPressureStats,
  Bucket,
  Buckets,
  CarePlan,
  CareTeam,
  Devices,
  Inbox,
  InboxAlert,
  Patient,
  PatientSummary,
  PatientsSummary,
  PlanRule,
  Reading,
  ReadingsPage,
  StatusHistory,
} from './responses.ts';
import { conditionText, OP_SYMBOLS, ruleLevel, ruleUnit } from './rule-text.ts';

/** uPlot is its own script (/assets/uplot.js, loaded before this one), cached apart from ours, which changes more often. */
declare const uPlot: typeof uPlotType;

const body = document.body;
const patientId = body.dataset.patientId!;
const canEditPlan = body.dataset.canEditPlan === 'true';
const canChangeStatus = body.dataset.canChangeStatus === 'true';
const base = `/v1/patients/${encodeURIComponent(patientId)}`;

type ChartKind = 'blood_pressure' | 'weight' | 'spo2';
interface Trend {
  buckets: Array<Omit<Bucket, 'start'> & { start: number }>;
  bucketMs: number;
  fromMs: number;
  toMs: number;
}

const state: {
  days: number;
  unit: ShownWeightUnit;
  patient: Patient | null;
  plan: CarePlan | null;
  alerts: InboxAlert[];
  devices: Devices['devices'];
  /** Words for a clinician id: "you", a name from the care team (or any, for an administrator), "a colleague". */
  nameOf: (clinicianId: string) => string;
  trends: Partial<Record<ChartKind, Trend>>;
  charts: Partial<Record<ChartKind, uPlotType>>;
} = {
  days: 30,
  unit: localStorage.getItem('homewatch.weightUnit') === 'lb' ? 'lb' : 'kg',
  patient: null,
  plan: null,
  alerts: [],
  devices: [],
  nameOf: namer([]),
  trends: {},
  charts: {},
};

// ------------------------------------------------------------------------------------------------
// Charts

const COLORS = {
  systolic: '#1f5f99',
  diastolic: '#0f8a83',
  weight: '#6b4fa3',
  spo2: '#2f7d4f',
  band: 'rgba(31, 95, 153, 0.10)',
  band2: 'rgba(15, 138, 131, 0.10)',
  grid: '#e7eaef',
  axis: '#566273',
  critical: '#a3161a',
  warning: '#b25e00',
  info: '#1d4f91',
};

type Stats = Bucket['mean'];
interface ChartConfig {
  metrics: string[];
  /** Metrics whose rule levels are drawn as lines. */
  levels: string[];
  unit: () => string;
  lines: Array<{ key: string; label: string; color: string; band: string }>;
  /** One series' value from a bucket's min, max or mean. */
  pick: (stats: Stats, key?: string) => number | null;
  /** From the API's unit to the one shown. */
  convert: (x: number | null) => number | null;
  /** The highest value the scale may show. */
  cap: number | undefined;
}

const bpStat = (stats: Stats, key?: string) => (stats as BloodPressureStats)[key as keyof BloodPressureStats] ?? null;
const plain = (stats: Stats) => stats as number;

/** What each chart shows: its series from a bucket, its unit, and which rules and alerts belong on it. */
const CHARTS: Record<ChartKind, ChartConfig> = {
  blood_pressure: {
    metrics: ['systolic', 'diastolic', 'pulse'],
    levels: ['systolic', 'diastolic'],
    unit: () => METRIC_UNITS.systolic[0],
    lines: [
      { key: 'systolic', label: METRIC_LABELS.systolic, color: COLORS.systolic, band: COLORS.band },
      { key: 'diastolic', label: METRIC_LABELS.diastolic, color: COLORS.diastolic, band: COLORS.band2 },
    ],
    pick: (stats, key) => (stats ? bpStat(stats, key) : null),
    convert: (x) => x,
    cap: undefined,
  },
  weight: {
    metrics: ['weight'],
    levels: ['weight'],
    unit: () => state.unit,
    lines: [{ key: 'weight', label: METRIC_LABELS.weight, color: COLORS.weight, band: 'rgba(107, 79, 163, 0.12)' }],
    pick: plain,
    convert: (kg) => (kg == null ? null : toShownWeight(kg, state.unit)),
    cap: undefined,
  },
  spo2: {
    metrics: ['spo2'],
    levels: ['spo2'],
    unit: () => METRIC_UNITS.spo2[0],
    lines: [{ key: 'spo2', label: METRIC_LABELS.spo2, color: COLORS.spo2, band: 'rgba(47, 125, 79, 0.12)' }],
    pick: plain,
    convert: (x) => x,
    cap: 100,
  },
};
const CHART_KINDS = Object.keys(CHARTS) as ChartKind[];

interface Threshold {
  rule: Rule;
  /** In the chart's unit. */
  value: number;
}

function figure(kind: ChartKind): HTMLElement {
  return document.querySelector<HTMLElement>(`[data-chart="${kind}"]`)!;
}

function thresholdsFor(config: ChartConfig): Threshold[] {
  const rules = state.plan?.rules || [];
  return rules
    .filter((rule) => config.levels.includes(rule.metric))
    .map((rule) => ({ rule, level: ruleLevel(rule) }))
    .filter((t): t is { rule: Rule; level: number } => t.level !== undefined)
    .map((t) => ({ rule: t.rule, value: config.convert(t.level)! }));
}

/** Where an alert goes on the time axis: the reading that (last) triggered it, or its opening for missing data. */
const alertTime = (alert: Alert) => Date.parse(alert.reading?.measuredAt || alert.openedAt);
function alertsFor(config: ChartConfig, fromMs: number, toMs: number): Alert[] {
  return state.alerts.filter(
    (a) => config.metrics.includes(a.metric) && alertTime(a) >= fromMs && alertTime(a) <= toMs,
  );
}

/** Severity shapes on the canvas, as in the badges: octagon, triangle, circle. */
function drawShape(ctx: CanvasRenderingContext2D, severity: Severity, x: number, y: number, r: number): void {
  ctx.beginPath();
  if (severity === 'critical') {
    for (let i = 0; i < 8; i++) {
      const a = Math.PI / 8 + (i * Math.PI) / 4;
      ctx.lineTo(x + r * Math.cos(a), y + r * Math.sin(a));
    }
  } else if (severity === 'warning') {
    ctx.moveTo(x, y - r);
    ctx.lineTo(x + r, y + r * 0.8);
    ctx.lineTo(x - r, y + r * 0.8);
  } else {
    ctx.arc(x, y, r * 0.85, 0, Math.PI * 2);
  }
  ctx.closePath();
  ctx.fillStyle = COLORS[severity] || COLORS.info;
  ctx.fill();
  ctx.lineWidth = Math.max(1, r / 5);
  ctx.strokeStyle = '#fff';
  ctx.stroke();
}

function overlay(thresholds: Threshold[], alerts: Alert[]): (u: uPlotType) => void {
  return (u) => {
    const { ctx } = u;
    const { left, top, width, height } = u.bbox;
    const px = window.devicePixelRatio || 1;
    ctx.save();
    ctx.font = `${11 * px}px system-ui, sans-serif`;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'bottom';
    // Lines first; then one label per height (rules at the same value share it), above the line, or below
    // it when that spot is taken, or none, so labels never overprint each other.
    const rows = new Map<number, Threshold[]>();
    for (const t of thresholds) {
      const y = Math.round(u.valToPos(t.value, 'y', true));
      if (y < top || y > top + height) continue;
      ctx.strokeStyle = COLORS[t.rule.severity] || COLORS.info;
      ctx.lineWidth = 1.5 * px;
      ctx.setLineDash(t.rule.when.kind === 'threshold' ? [6 * px, 4 * px] : [2 * px, 3 * px]);
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + width, y);
      ctx.stroke();
      rows.set(y, [...(rows.get(y) || []), t]);
    }
    const taken: number[] = [];
    const lineHeight = 13 * px;
    for (const [y, row] of [...rows].sort((a, b) => a[0] - b[0])) {
      const parts = row.map(({ rule, value }) => {
        const w = rule.when;
        const kind = w.kind === 'consecutive' ? ` ×${w.count}` : w.kind === 'average' ? ' avg' : '';
        const op = w.kind === 'missing' ? '' : OP_SYMBOLS[w.op];
        return `${METRIC_LABELS[rule.metric]} ${op} ${round1(value)}${kind} · ${rule.severity}`;
      });
      // Two templates may hold the same rule (systolic < 90 in heart failure and hypertension): say it once.
      const label = [...new Set(parts)].join('  /  ');
      const worst = WORST_FIRST.find((s) => row.some((t) => t.rule.severity === s));
      const spot = [y - lineHeight - px, y + 2 * px].find(
        (top) => !taken.some((other) => Math.abs(other - top) < lineHeight),
      );
      if (spot === undefined) continue;
      taken.push(spot);
      const textWidth = ctx.measureText(label).width;
      ctx.fillStyle = 'rgba(255, 255, 255, 0.88)';
      ctx.fillRect(left + width - textWidth - 6 * px, spot, textWidth + 4 * px, lineHeight);
      ctx.fillStyle = (worst && COLORS[worst]) || COLORS.info;
      ctx.fillText(label, left + width - 4 * px, spot + lineHeight - px);
    }
    ctx.setLineDash([]);
    const r = 5 * px;
    for (const alert of alerts) {
      const x = u.valToPos(alertTime(alert) / 1000, 'x', true);
      if (x < left || x > left + width) continue;
      drawShape(ctx, alert.severity, x, top + height - r - 2 * px, r);
    }
    ctx.restore();
  };
}

function legendFor(config: ChartConfig, thresholds: Threshold[], alerts: Alert[]): HTMLLIElement[] {
  const items = config.lines.map((line) => h('li', {}, h('span', { class: `swatch swatch--${line.key}` }), line.label));
  if (thresholds.length) items.push(h('li', {}, h('span', { class: 'swatch swatch--threshold' }), 'Thresholds'));
  const worst = WORST_FIRST.find((s) => alerts.some((a) => a.severity === s));
  if (worst) {
    items.push(
      h('li', {}, h('span', { class: `marker marker--${worst}` }, icon(worst)), plural(alerts.length, 'alert')),
    );
  }
  return items;
}

function summaryFor(kind: ChartKind, config: ChartConfig, buckets: Trend['buckets']): string {
  const count = buckets.reduce((n, b) => n + b.count, 0);
  if (!count) return `No readings in the last ${state.days} days.`;
  const unit = config.unit();
  const weighted = (key?: string) => {
    let sum = 0;
    let n = 0;
    for (const b of buckets) {
      const v = config.pick(b.mean, key);
      if (v != null) {
        sum += v * b.count;
        n += b.count;
      }
    }
    return n ? sum / n : null;
  };
  const values = (stats: 'min' | 'max', key?: string) =>
    buckets.map((b) => config.pick(b[stats], key)).filter((v): v is number => v != null);
  const lowest = (key?: string) => Math.min(...values('min', key));
  const highest = (key?: string) => Math.max(...values('max', key));
  const head = `${plural(count, 'reading')} in ${state.days} days`;
  if (kind === 'blood_pressure') {
    return `${head} · average ${Math.round(weighted('systolic')!)}/${Math.round(weighted('diastolic')!)} mmHg · systolic ${lowest('systolic')}–${highest('systolic')}, diastolic ${lowest('diastolic')}–${highest('diastolic')}`;
  }
  const c = (x: number | null) => config.convert(x)!;
  const first = c(config.pick(buckets[0]!.mean));
  const last = c(config.pick(buckets[buckets.length - 1]!.mean));
  const change = round1(last - first);
  const tail = kind === 'weight' ? ` · change ${change > 0 ? '+' : ''}${withUnit(change, unit)}` : '';
  return `${head} · average ${withUnit(round1(c(weighted())), unit)} · range ${withUnit(round1(c(lowest())), unit)} to ${withUnit(round1(c(highest())), unit)}${tail}`;
}

function drawChart(kind: ChartKind): void {
  const config = CHARTS[kind];
  const trend = state.trends[kind];
  const fig = figure(kind);
  const holder = fig.querySelector<HTMLElement>('.chart__canvas')!;
  const summary = fig.querySelector('.chart__summary')!;
  state.charts[kind]?.destroy();
  delete state.charts[kind];
  if (!trend) return;
  const { buckets, bucketMs, fromMs, toMs } = trend;
  const thresholds = thresholdsFor(config);
  const alerts = alertsFor(config, fromMs, toMs);
  fig.querySelector('.legend')!.replaceChildren(...legendFor(config, thresholds, alerts));
  summary.textContent = summaryFor(kind, config, buckets);
  fig.dataset.points = String(buckets.length);
  fig.dataset.thresholds = thresholds.map((t) => `${t.rule.id}:${round1(t.value)}`).join(' ');
  fig.dataset.alerts = String(alerts.length);
  if (!buckets.length) {
    holder.replaceChildren(
      h(
        'div',
        { class: 'chart__empty' },
        `No ${config.lines.map((l) => inSentence(l.label)).join(' or ')} readings in this period.`,
      ),
    );
    fig.dataset.state = 'empty';
    return;
  }
  holder.replaceChildren();

  // x: middle of each bucket, in seconds (uPlot's time unit).
  const data: Array<Array<number | null>> = [buckets.map((b) => (b.start + bucketMs / 2) / 1000)];
  const series: uPlotType.Series[] = [{}];
  const bands: uPlotType.Band[] = [];
  for (const line of config.lines) {
    const idx = data.length;
    data.push(
      buckets.map((b) => config.convert(config.pick(b.max, line.key))),
      buckets.map((b) => config.convert(config.pick(b.mean, line.key))),
      buckets.map((b) => config.convert(config.pick(b.min, line.key))),
    );
    const edge = { stroke: 'rgba(0,0,0,0)', width: 0, points: { show: false } };
    series.push(
      { label: `${line.label} highest`, ...edge },
      {
        label: line.label,
        stroke: line.color,
        width: 2,
        points: { show: buckets.length <= 120, size: 5, fill: line.color, stroke: line.color },
      },
      { label: `${line.label} lowest`, ...edge },
    );
    bands.push({ series: [idx, idx + 2], fill: line.band });
  }
  const levels = thresholds.map((t) => t.value);
  const tz = state.patient!.timezone;
  const unit = config.unit();
  const width = Math.max(260, holder.clientWidth);
  const height = window.matchMedia('(max-width: 640px)').matches ? 200 : 240;
  const opts: uPlotType.Options = {
    width,
    height,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), tz),
    padding: [12, 12, 0, 4],
    legend: { show: false },
    cursor: { drag: { x: false, y: false }, points: { size: 7 } },
    scales: {
      x: { time: true, auto: false, range: () => [fromMs / 1000, toMs / 1000] },
      y: {
        range: (_u, min, max) => {
          let lo = Math.min(min ?? Infinity, ...levels);
          let hi = Math.max(max ?? -Infinity, ...levels);
          if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
          const pad = Math.max((hi - lo) * 0.1, unit === '%' ? 1 : 2);
          lo -= pad;
          hi += pad;
          if (config.cap !== undefined) hi = Math.min(hi, config.cap + 0.5);
          return [Math.floor(lo), Math.ceil(hi)];
        },
      },
    },
    axes: [
      { stroke: COLORS.axis, grid: { stroke: COLORS.grid, width: 1 }, ticks: { stroke: COLORS.grid, width: 1 } },
      {
        stroke: COLORS.axis,
        grid: { stroke: COLORS.grid, width: 1 },
        ticks: { stroke: COLORS.grid, width: 1 },
        size: 52,
        values: (_u, splits) => splits.map((v) => (unit === '%' ? `${v}%` : String(round1(v)))),
      },
    ],
    series,
    bands,
    hooks: { draw: [overlay(thresholds, alerts)] },
  };
  state.charts[kind] = new uPlot(opts, data as uPlotType.AlignedData, holder);
  fig.dataset.state = 'ready';
}

const resize = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const kind = entry.target.closest<HTMLElement>('[data-chart]')!.dataset.chart as ChartKind;
    const chart = state.charts[kind];
    const width = Math.floor(entry.contentRect.width);
    if (chart && width > 0 && Math.abs(chart.width - width) > 1)
      chart.setSize({ width: Math.max(260, width), height: chart.height });
  }
});
for (const el of document.querySelectorAll('.chart__canvas')) resize.observe(el);

async function loadTrends(): Promise<void> {
  const toMs = Date.now();
  const fromMs = toMs - state.days * DAY;
  const bucket = state.days <= 7 ? '1h' : '1d';
  const bucketMs = parseDuration(bucket)!;
  const query = (type: ChartKind) =>
    `${base}/readings?${new URLSearchParams({ type, bucket, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() })}`;
  for (const kind of CHART_KINDS) figure(kind).dataset.state = 'loading';
  await Promise.all(
    CHART_KINDS.map(async (kind) => {
      try {
        const answer = await api<Buckets>(query(kind));
        state.trends[kind] = {
          buckets: answer.buckets.map((b) => ({ ...b, start: Date.parse(b.start) })),
          bucketMs,
          fromMs,
          toMs,
        };
        drawChart(kind);
      } catch (e) {
        const error = toApiError(e);
        if (error.status === 401) return;
        figure(kind).dataset.state = 'error';
        figure(kind).querySelector('.chart__summary')!.textContent = `Could not load: ${error.message}`;
      }
    }),
  );
}

function setPressed(group: HTMLElement, attr: string, value: string | number): void {
  for (const button of group.querySelectorAll('button'))
    button.setAttribute('aria-pressed', String(button.dataset[attr] === String(value)));
}
const rangeGroup = byId('range-group');
rangeGroup.addEventListener('click', (event) => {
  const button = (event.target as Element).closest<HTMLButtonElement>('button[data-days]');
  if (!button) return;
  state.days = Number(button.dataset.days);
  setPressed(rangeGroup, 'days', state.days);
  loadTrends();
});
const unitGroup = byId('unit-group');
setPressed(unitGroup, 'unit', state.unit);
unitGroup.addEventListener('click', (event) => {
  const button = (event.target as Element).closest<HTMLButtonElement>('button[data-unit]');
  if (!button) return;
  state.unit = button.dataset.unit === 'lb' ? 'lb' : 'kg';
  localStorage.setItem('homewatch.weightUnit', state.unit);
  setPressed(unitGroup, 'unit', state.unit);
  drawChart('weight');
  renderReadings();
});

// ------------------------------------------------------------------------------------------------
// Header, alerts, care team

function age(birthDate: string): number {
  const born = new Date(`${birthDate}T00:00:00Z`);
  const now = new Date();
  let years = now.getUTCFullYear() - born.getUTCFullYear();
  if (
    now.getUTCMonth() < born.getUTCMonth() ||
    (now.getUTCMonth() === born.getUTCMonth() && now.getUTCDate() < born.getUTCDate())
  )
    years--;
  return years;
}

function renderHeader(patient: Patient, summary: PatientSummary | undefined, adherenceMinimumDays: number): void {
  byId('patient-name').textContent = patient.name;
  document.title = `${patient.name} · Homewatch`;
  const meta: string[] = [];
  if (patient.birthDate)
    meta.push(`Born ${dateTime(`${patient.birthDate}T12:00:00Z`, 'UTC', 'date')} (${age(patient.birthDate)})`);
  if (patient.externalId) meta.push(`MRN ${patient.externalId}`);
  meta.push(`Times in the patient's time zone, ${patient.timezone}`);
  byId('patient-meta').textContent = meta.join(' · ');
  const status = byId('patient-status');
  const tag = statusTag(patient);
  status.replaceChildren(tag ?? '');
  status.hidden = !tag;
  if (!summary) return;
  const stat = (label: string, ...value: Array<Node | string>) =>
    h('div', {}, h('dt', {}, label), h('dd', {}, ...value));
  const open = WORST_FIRST.filter((s) => summary.openAlerts[s]).map((s) =>
    severityBadge(s, `${summary.openAlerts[s]} ${s}`),
  );
  byId('patient-stats').replaceChildren(
    stat(
      'Last reading',
      summary.lastReadingAt ? time(summary.lastReadingAt, ago(summary.lastReadingAt), patient.timezone) : 'None yet',
    ),
    stat(
      `Days with readings (${summary.adherence.windowDays})`,
      `${summary.adherenceDays} of ${summary.adherence.windowDays} `,
      summary.adherenceLow
        ? h('span', { class: 'flag' }, icon('warning'), `below ${adherenceMinimumDays}`)
        : h('span', { class: 'flag ok' }, icon('on'), 'met'),
    ),
    stat('Open alerts', open.length ? h('span', { class: 'chips' }, open) : 'None'),
  );
}

function renderAlerts(): void {
  const tbody = byId('alerts-body');
  if (!state.alerts.length) {
    tbody.replaceChildren(h('tr', {}, h('td', { colspan: '4', class: 'muted' }, 'No alerts for this patient.')));
    return;
  }
  const tz = state.patient!.timezone;
  tbody.replaceChildren(
    ...state.alerts.map((a) => {
      const status =
        a.status === 'resolved'
          ? `Resolved by ${a.resolvedByName || 'someone'}`
          : a.status === 'acknowledged'
            ? `Acknowledged by ${a.acknowledgedByName || 'someone'}`
            : 'Open';
      return h(
        'tr',
        { 'data-alert-id': a.id, 'data-status': a.status },
        h('td', { 'data-label': 'Opened' }, time(a.openedAt, dateTime(a.openedAt, tz, 'plain'), tz)),
        h('td', { 'data-label': 'Severity' }, severityBadge(a.severity)),
        h(
          'td',
          { 'data-label': 'Alert' },
          splitMessage(a.message)[0],
          [observedText(a, Date.now(), tz), lateText(a)]
            .filter(Boolean)
            .map((text) => h('span', { class: 'note' }, capitalized(text))),
          a.count > 1 ? h('span', { class: 'note' }, `${a.count} times, last ${ago(a.lastTriggeredAt)}`) : null,
          reopenedText(a) ? h('span', { class: 'note' }, `${capitalized(reopenedText(a))} ${ago(a.reopenedAt)}`) : null,
        ),
        h('td', { 'data-label': 'Status' }, status, a.note ? h('span', { class: 'note' }, `Note: ${a.note}`) : null),
      );
    }),
  );
}

function renderTeam(team: CareTeam): void {
  const list = byId('team-list');
  if (!team.members.length) {
    list.replaceChildren(h('li', { class: 'muted' }, 'Nobody is on this care team yet.'));
    return;
  }
  list.replaceChildren(
    ...team.members.map((m) =>
      h('li', {}, h('span', {}, m.name), h('span', { class: 'team__role' }, teamRole(m.role))),
    ),
  );
}

// ------------------------------------------------------------------------------------------------
// Care plan

const planStatus = byId('plan-status');
function setPlanStatus(text: string, kind?: 'ok' | 'error'): void {
  planStatus.textContent = text;
  planStatus.className = `status-line${kind ? ` status-line--${kind}` : ''}`;
}

function renderPlan(): void {
  const plan = state.plan!;
  const meta = byId('plan-meta');
  const tbody = byId('plan-body');
  if (!plan.version) {
    meta.textContent = 'No care plan yet';
    tbody.replaceChildren(
      h(
        'tr',
        {},
        h(
          'td',
          { colspan: '4', class: 'muted' },
          'No rules: this patient\u2019s readings open no alerts. A physician on the care team sets the care plan.',
        ),
      ),
    );
    return;
  }
  meta.textContent = `Version ${plan.version} · changed ${ago(plan.updatedAt)}${plan.templates.length ? ` · templates: ${plan.templates.join(', ')}` : ''}`;
  tbody.replaceChildren(
    ...plan.rules.map((rule) => {
      const cell = h('td', { 'data-label': 'Alert when' });
      renderCondition(cell, rule);
      const [headline, rest] = splitMessage(rule.message);
      return h(
        'tr',
        { 'data-rule-id': rule.id, 'data-quiet': rule.quietUntil ? 'true' : undefined },
        cell,
        h('td', { 'data-label': 'Severity' }, severityBadge(rule.severity)),
        h('td', { 'data-label': 'What to do' }, headline, h('span', { class: 'note' }, rest)),
        h('td', { 'data-label': 'From' }, ruleSource(rule)),
      );
    }),
  );
}

/** Where a rule comes from: a template, several (merged: one condition, one alert), or this patient's plan. */
function ruleSource(rule: PlanRule): string {
  if (rule.templates && rule.templates.length > 1) return `Templates: ${rule.templates.join(', ')} (one rule)`;
  return rule.template ? `Template: ${rule.template}` : 'Set for this patient';
}

/** "Quiet until Mar 11, 3:00 PM, set by Grace Holloway": a resolve with quietFor silenced the rule. */
function quietNote(rule: PlanRule): HTMLElement | null {
  if (!rule.quietUntil) return null;
  const tz = state.patient?.timezone;
  return h(
    'span',
    { class: 'note quiet-note', 'data-field': 'quiet' },
    icon('off'),
    ` Quiet until ${dateTime(rule.quietUntil, tz, 'plain')}`,
    rule.quietSetBy ? `, set by ${state.nameOf(rule.quietSetBy)}` : '',
    ': it opens no new alert for this patient until then',
  );
}

/** A rule with a value to change: every kind but `missing`. */
type ValueRule = Rule & { when: Extract<Rule['when'], { value: number }> };
const hasValue = (rule: Rule): rule is ValueRule => 'value' in rule.when;

function renderCondition(cell: HTMLElement, rule: PlanRule): void {
  const text = conditionText(rule);
  cell.replaceChildren(h('span', { class: 'condition' }, text));
  if (canEditPlan && hasValue(rule)) {
    const button = h(
      'button',
      { type: 'button', class: 'button button--quiet button--small', 'aria-label': `Change: ${text}` },
      'Change',
    );
    button.addEventListener('click', () => openEditor(cell, rule));
    cell.append(' ', button);
  }
  append(cell, [quietNote(rule)]);
}

function openEditor(cell: HTMLElement, rule: ValueRule): void {
  const inputId = `value-${rule.id}`;
  const input = h('input', {
    id: inputId,
    type: 'number',
    step: 'any',
    required: true,
    value: String(rule.when.value),
    inputmode: 'decimal',
  });
  const form = h(
    'form',
    { class: 'edit-form' },
    h('label', { for: inputId }, `New value (${ruleUnit(rule)})`),
    input,
    h('button', { type: 'submit', class: 'button button--primary button--small' }, 'Save'),
    h(
      'button',
      { type: 'button', class: 'button button--quiet button--small', onclick: () => renderCondition(cell, rule) },
      'Cancel',
    ),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = Number(input.value);
    if (input.value.trim() === '' || !Number.isFinite(value)) {
      setPlanStatus('Enter a number.', 'error');
      input.focus();
      return;
    }
    for (const b of form.querySelectorAll('button')) b.disabled = true;
    await saveValue(rule, value);
  });
  cell.replaceChildren(h('span', { class: 'condition' }, conditionText(rule)), form);
  input.focus();
  input.select();
}

/**
 * Saves a new value for one rule as a per-patient rule with the same id (which replaces the template's),
 * keeping the templates and every other per-patient rule as they are.
 */
async function saveValue(rule: ValueRule, value: number): Promise<void> {
  const plan = state.plan!;
  // What the service adds to rules in force is not part of a rule as written; the quiet fields are not
  // even accepted back (PUT answers 422), so they go too.
  const strip = ({
    template: _template,
    templates: _templates,
    mergedFrom: _mergedFrom,
    quietUntil: _quietUntil,
    quietSetBy: _quietSetBy,
    ...rest
  }: PlanRule): Rule => rest;
  const own = plan.rules.filter((r) => !r.template && r.id !== rule.id).map(strip);
  const changed: Rule = { ...strip(rule), when: { ...rule.when, value } };
  if (rule.template) {
    const note = `Changed for this patient from ${withUnit(rule.when.value, ruleUnit(rule))} (template ${rule.template}).`;
    changed.source = `${note} ${rule.source || ''}`.trim().slice(0, 500);
  }
  try {
    await api<CarePlan>(`${base}/care-plan`, {
      method: 'PUT',
      body: { templates: plan.templates, rules: [...own, changed] },
    });
    // Read back rather than keep PUT's answer, which leaves out the rules' quiet times.
    const saved = await api<CarePlan>(`${base}/care-plan`);
    state.plan = saved;
    renderPlan();
    for (const kind of CHART_KINDS) drawChart(kind);
    setPlanStatus(
      `Saved: ${conditionText(saved.rules.find((r) => r.id === rule.id) || changed)}. Care plan version ${saved.version}.`,
      'ok',
    );
    document.querySelector<HTMLElement>(`[data-rule-id="${CSS.escape(rule.id)}"] button`)?.focus();
  } catch (e) {
    const error = toApiError(e);
    if (error.status === 401) return;
    const details = error.details.map((d) => `${d.path} ${d.message}`).join('; ');
    setPlanStatus(`Not saved: ${error.message}${details ? ` (${details})` : ''}`, 'error');
    renderPlan();
  }
}

// ------------------------------------------------------------------------------------------------
// Recent readings

/** Rows shown until "Show all" is pressed. */
const READINGS_SHOWN = 12;
let recent: Reading[] = [];
let showAllReadings = false;
const moreReadings = byId('readings-more', HTMLButtonElement);
moreReadings.addEventListener('click', () => {
  showAllReadings = !showAllReadings;
  renderReadings();
});

function renderReadings(): void {
  const tbody = byId('readings-body');
  const tz = state.patient?.timezone;
  moreReadings.hidden = recent.length <= READINGS_SHOWN;
  moreReadings.textContent = showAllReadings ? `Show the newest ${READINGS_SHOWN}` : `Show all ${recent.length}`;
  moreReadings.setAttribute('aria-expanded', String(showAllReadings));
  if (!recent.length) {
    tbody.replaceChildren(h('tr', {}, h('td', { colspan: '3', class: 'muted' }, 'No readings in the last 14 days.')));
    return;
  }
  tbody.replaceChildren(
    ...recent
      .slice(0, showAllReadings ? recent.length : READINGS_SHOWN)
      .map((r) =>
        h(
          'tr',
          {},
          h('td', { 'data-label': 'Measured' }, time(r.measuredAt, dateTime(r.measuredAt, tz, 'plain'), tz)),
          h('td', { 'data-label': 'Measurement' }, READING_TYPE_LABELS[r.type]),
          h('td', { 'data-label': 'Value', class: 'num' }, readingText(r, state.unit)),
        ),
      ),
  );
}

async function loadReadings(): Promise<void> {
  const from = new Date(Date.now() - 14 * DAY).toISOString();
  let readings: Reading[] = [];
  let cursor: string | undefined;
  // Oldest first, a page at a time: follow the pages (a few at most) and keep the newest.
  for (let page = 0; page < 10; page++) {
    const query = new URLSearchParams({ from, limit: '1000' });
    if (cursor) query.set('cursor', cursor);
    const answer = await api<ReadingsPage>(`${base}/readings?${query}`);
    readings = readings.concat(answer.readings).slice(-100);
    cursor = answer.next;
    if (!cursor) break;
  }
  recent = readings.reverse().slice(0, 100);
  byId('readings-meta').textContent = recent.length
    ? `${plural(recent.length, 'reading')} in the last 14 days${recent.length === 100 ? ' (the newest 100)' : ''}`
    : '';
  renderReadings();
}

// ------------------------------------------------------------------------------------------------
// Monitoring status: pause (optionally until a date), resume, discharge after a confirmation; history

const statusNow = byId('status-now');
const statusActions = byId('status-actions');
const statusMessage = byId('status-message');
const pauseForm = byId('pause-form', HTMLFormElement);
const dischargeForm = byId('discharge-form', HTMLFormElement);
const pauseUntil = byId('pause-until', HTMLInputElement);
const pauseReason = byId('pause-reason', HTMLInputElement);
const dischargeReason = byId('discharge-reason', HTMLInputElement);

/** What each status means for the readings, in a sentence after the status itself. */
const STATUS_MEANING: Record<Patient['status'], string> = {
  active: 'readings are checked against the care plan.',
  paused: 'readings are stored but open no alerts; missing-data rules are stopped.',
  discharged: 'monitoring has ended; readings are still stored.',
};

function setStatusMessage(text: string, kind?: 'ok' | 'error'): void {
  statusMessage.textContent = text;
  statusMessage.className = `status-line${kind ? ` status-line--${kind}` : ''}`;
}

function renderStatus(): void {
  const patient = state.patient!;
  statusNow.replaceChildren(h('strong', {}, statusText(patient)), `: ${STATUS_MEANING[patient.status]}`);
  statusNow.dataset.status = patient.status;
  const button = (label: string, action: string, onclick: () => void, primary = false) =>
    h(
      'button',
      {
        type: 'button',
        class: `button button--small${primary ? ' button--primary' : ''}`,
        'data-action': action,
        onclick,
      },
      label,
    );
  const form = (shown: HTMLFormElement, focus: HTMLElement) => () => {
    pauseForm.hidden = shown !== pauseForm;
    dischargeForm.hidden = shown !== dischargeForm;
    setStatusMessage('');
    focus.focus();
  };
  statusActions.replaceChildren();
  append(
    statusActions,
    canChangeStatus
      ? [
          patient.status === 'active'
            ? button('Pause…', 'pause', form(pauseForm, pauseUntil))
            : button('Resume monitoring', 'resume', () => changeStatus({ status: 'active' }), true),
          patient.status !== 'discharged'
            ? button('Discharge…', 'discharge', form(dischargeForm, dischargeReason))
            : null,
        ]
      : [h('p', { class: 'muted small' }, 'The care team or an administrator changes the monitoring status.')],
  );
}

function closeStatusForms(): void {
  pauseForm.hidden = true;
  dischargeForm.hidden = true;
}
for (const cancel of document.querySelectorAll<HTMLButtonElement>(
  '#pause-form [data-cancel], #discharge-form [data-cancel]',
)) {
  cancel.addEventListener('click', () => {
    closeStatusForms();
    statusActions.querySelector<HTMLElement>('button')?.focus();
  });
}
pauseForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const until = pauseUntil.value ? startOfLocalDay(pauseUntil.value, state.patient!.timezone) : undefined;
  if (pauseUntil.value && (!until || Date.parse(until) <= Date.now())) {
    setStatusMessage('Choose a day after today, or leave the date empty.', 'error');
    pauseUntil.focus();
    return;
  }
  changeStatus({ status: 'paused', until, reason: pauseReason.value.trim() || undefined });
});
dischargeForm.addEventListener('submit', (event) => {
  event.preventDefault();
  changeStatus({ status: 'discharged', reason: dischargeReason.value.trim() || undefined });
});

async function changeStatus(change: { status: Patient['status']; until?: string; reason?: string }): Promise<void> {
  for (const b of document.querySelectorAll<HTMLButtonElement>(
    '#status-actions button, #pause-form button, #discharge-form button',
  ))
    b.disabled = true;
  try {
    state.patient = await api<Patient>(base, { method: 'PATCH', body: change });
    closeStatusForms();
    pauseForm.reset();
    dischargeForm.reset();
    renderHeader(state.patient, undefined, 0);
    renderStatus();
    setStatusMessage(`Monitoring status: ${statusText(state.patient)}.`, 'ok');
    statusActions.querySelector<HTMLElement>('button')?.focus();
    // A discharge resolves the open alerts; the history has a new entry.
    await Promise.all([loadHistory(), loadAlerts()]);
  } catch (e) {
    const error = toApiError(e);
    if (error.status === 401) return;
    setStatusMessage(`Not changed: ${error.message}`, 'error');
    renderStatus();
  } finally {
    for (const b of document.querySelectorAll<HTMLButtonElement>('#pause-form button, #discharge-form button'))
      b.disabled = false;
  }
}

async function loadHistory(): Promise<void> {
  const { history } = await api<StatusHistory>(`${base}/status-history`);
  const list = byId('status-history');
  const tz = state.patient!.timezone;
  if (!history.length) {
    list.replaceChildren(h('li', { class: 'muted' }, 'Monitored since the patient was added; never paused.'));
    return;
  }
  list.replaceChildren(
    ...history
      .slice()
      .reverse()
      .map((change) =>
        h(
          'li',
          { 'data-status': change.status },
          time(change.changedAt, dateTime(change.changedAt, tz, 'plain'), tz),
          h('span', {}, changeText(change, state.nameOf, tz)),
        ),
      ),
  );
}

async function loadAlerts(): Promise<void> {
  const inbox = await api<Inbox>(`/v1/inbox?patientId=${encodeURIComponent(patientId)}&resolved=200`);
  state.alerts = inbox.alerts;
  renderAlerts();
  renderDeviceClock();
}

// ------------------------------------------------------------------------------------------------
// A device whose clock is wrong (the `device-clock` alert, unresolved)

function renderDeviceClock(): void {
  const card = byId('device-clock');
  const tz = state.patient!.timezone;
  const problems = state.alerts.filter((a) => a.status !== 'resolved' && a.observed?.kind === 'device-clock');
  card.hidden = problems.length === 0;
  byId('device-clock-body').replaceChildren(
    ...problems.map((alert) => {
      const observed = alert.observed as Extract<NonNullable<Alert['observed']>, { kind: 'device-clock' }>;
      const device = state.devices.find((d) => d.id === observed.deviceId);
      const name = device
        ? `${DEVICE_KIND_LABELS[device.kind]}${device.serial ? ` (serial ${device.serial})` : ''}`
        : `Device ${observed.deviceId}`;
      const arrived = alert.reading?.receivedAt;
      return h(
        'div',
        { class: 'device-clock', 'data-device-id': observed.deviceId, 'data-alert-id': alert.id },
        h('p', {}, h('strong', {}, name), alert.active ? '' : ' (sending current readings again)'),
        h(
          'p',
          {},
          `Its newest reading is stamped ${dateTime(observed.measuredAt, tz, 'plain')}`,
          arrived ? ` but arrived ${dateTime(arrived, tz, 'plain')}` : '',
          '. Until its clock is right, its readings count as measured when they arrive. ',
          'Ask the patient to set the device’s date and time, then resolve the alert in the inbox.',
        ),
      );
    }),
  );
}

// ------------------------------------------------------------------------------------------------

async function load(): Promise<void> {
  try {
    const [patient, summary, team, plan, inbox, devices, clinicians] = await Promise.all([
      api<Patient>(base),
      api<PatientsSummary>(`/v1/patients-summary?patientId=${encodeURIComponent(patientId)}`),
      api<CareTeam>(`${base}/care-team`),
      api<CarePlan>(`${base}/care-plan`),
      api<Inbox>(`/v1/inbox?patientId=${encodeURIComponent(patientId)}&resolved=200`),
      api<Devices>(`${base}/devices`),
      listClinicians(),
    ]);
    state.patient = patient;
    state.plan = plan;
    state.alerts = inbox.alerts;
    state.devices = devices.devices;
    state.nameOf = namer([...team.members.map((m) => ({ id: m.clinicianId, name: m.name })), ...clinicians]);
    renderHeader(patient, summary.patients[0], summary.adherenceMinimumDays);
    renderTeam(team);
    renderPlan();
    renderAlerts();
    renderDeviceClock();
    renderStatus();
    await Promise.all([loadTrends(), loadReadings(), loadHistory()]);
    await Promise.all([loadTrends(), loadReadings()]);
    body.dataset.loaded = 'true';
  } catch (e) {
    const error = toApiError(e);
    if (error.status === 401) return;
    showBanner(`Could not load this patient: ${error.message}`, 'error');
  }
}
load();
