// The patient page: trend charts (uPlot) from the bucketed readings API with the care plan's thresholds
// and the alerts drawn on them, recent readings, alert history, care team, and the care plan, which a
// physician on the team (or an administrator) may change in place.

(() => {
  const { h, api, ago, time, dateTime, severityBadge, splitMessage, plural, icon, KG_PER_LB } = window.HW;
  const body = document.body;
  const patientId = body.dataset.patientId;
  const canEditPlan = body.dataset.canEditPlan === 'true';
  const base = `/v1/patients/${encodeURIComponent(patientId)}`;
  const DAY = 86_400_000;

  const state = {
    days: 30,
    unit: localStorage.getItem('homewatch.weightUnit') === 'lb' ? 'lb' : 'kg',
    patient: null,
    plan: null,
    alerts: [],
    trends: {},
    charts: {},
    editing: null,
  };

  // ------------------------------------------------------------------------------------------------
  // Words for rules

  const OP = { '>': '>', '>=': '≥', '<': '<', '<=': '≤' };
  const METRIC = { systolic: 'Systolic', diastolic: 'Diastolic', pulse: 'Pulse', weight: 'Weight', spo2: 'SpO2' };
  const UNIT = { systolic: 'mmHg', diastolic: 'mmHg', pulse: 'bpm', weight: 'kg', spo2: '%' };
  const withUnit = (value, unit) => (unit === '%' ? `${value}%` : `${value} ${unit}`);

  function ruleUnit(rule) {
    return rule.when?.unit || UNIT[rule.metric];
  }
  function conditionText(rule) {
    const w = rule.when;
    const name = METRIC[rule.metric] || rule.metric;
    const value = w.value !== undefined ? withUnit(w.value, ruleUnit(rule)) : '';
    switch (w.kind) {
      case 'threshold':
        return `${name} ${OP[w.op]} ${value}`;
      case 'consecutive':
        return `${name} ${OP[w.op]} ${value} on ${w.count} readings in a row`;
      case 'average':
        return `Average of the last ${w.count} ${name.toLowerCase()} readings ${OP[w.op]} ${value}`;
      case 'change':
        return `${name} change ${OP[w.op]} ${w.value > 0 ? '+' : ''}${value} within ${w.within}`;
      case 'missing':
        return `No ${name.toLowerCase()} reading for ${w.for}`;
      default:
        return w.kind;
    }
  }

  /** A rule's level in kg (weight) or its metric's unit; undefined for rules that are not a level. */
  function ruleLevel(rule) {
    const w = rule.when;
    if (!['threshold', 'consecutive', 'average'].includes(w.kind)) return undefined;
    if (rule.metric !== 'weight') return w.value;
    return w.unit === 'lb' ? w.value * KG_PER_LB : w.unit === 'g' ? w.value / 1000 : w.value;
  }

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

  /** What each chart shows: its series from a bucket, its unit, and which rules and alerts belong on it. */
  const CHARTS = {
    blood_pressure: {
      type: 'blood_pressure',
      metrics: ['systolic', 'diastolic', 'pulse'],
      levels: ['systolic', 'diastolic'],
      unit: () => 'mmHg',
      lines: [
        { key: 'systolic', label: 'Systolic', color: COLORS.systolic, band: COLORS.band },
        { key: 'diastolic', label: 'Diastolic', color: COLORS.diastolic, band: COLORS.band2 },
      ],
      pick: (stats, key) => (stats && stats[key] != null ? stats[key] : null),
      convert: (x) => x,
      cap: undefined,
    },
    weight: {
      type: 'weight',
      metrics: ['weight'],
      levels: ['weight'],
      unit: () => state.unit,
      lines: [{ key: 'weight', label: 'Weight', color: COLORS.weight, band: 'rgba(107, 79, 163, 0.12)' }],
      pick: (stats) => stats,
      convert: (kg) => (kg == null ? null : state.unit === 'lb' ? kg / KG_PER_LB : kg),
      cap: undefined,
    },
    spo2: {
      type: 'spo2',
      metrics: ['spo2'],
      levels: ['spo2'],
      unit: () => '%',
      lines: [{ key: 'spo2', label: 'SpO2', color: COLORS.spo2, band: 'rgba(47, 125, 79, 0.12)' }],
      pick: (stats) => stats,
      convert: (x) => x,
      cap: 100,
    },
  };

  const round1 = (x) => Math.round(x * 10) / 10;

  function figure(kind) {
    return document.querySelector(`[data-chart="${kind}"]`);
  }

  function thresholdsFor(config) {
    const rules = state.plan?.rules || [];
    return rules
      .filter((rule) => config.levels.includes(rule.metric))
      .map((rule) => ({ rule, level: ruleLevel(rule) }))
      .filter((t) => t.level !== undefined)
      .map((t) => ({ ...t, value: config.convert(t.level) }));
  }

  /** Where an alert goes on the time axis: the reading that (last) triggered it, or its opening for missing data. */
  const alertTime = (alert) => Date.parse(alert.reading?.measuredAt || alert.openedAt);
  function alertsFor(config, fromMs, toMs) {
    return state.alerts.filter(
      (a) => config.metrics.includes(a.metric) && alertTime(a) >= fromMs && alertTime(a) <= toMs,
    );
  }

  /** Severity shapes on the canvas, as in the badges: octagon, triangle, circle. */
  function drawShape(ctx, severity, x, y, r) {
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

  function overlay(_config, thresholds, alerts) {
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
      const rows = new Map();
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
      const taken = [];
      const lineHeight = 13 * px;
      for (const [y, row] of [...rows].sort((a, b) => a[0] - b[0])) {
        const parts = row.map((t) => {
          const kind =
            t.rule.when.kind === 'threshold' ? '' : t.rule.when.kind === 'average' ? ' avg' : ` ×${t.rule.when.count}`;
          return `${METRIC[t.rule.metric]} ${OP[t.rule.when.op]} ${round1(t.value)}${kind} · ${t.rule.severity}`;
        });
        // Two templates may hold the same rule (systolic < 90 in heart failure and hypertension): say it once.
        const label = [...new Set(parts)].join('  /  ');
        const worst = ['critical', 'warning', 'info'].find((s) => row.some((t) => t.rule.severity === s));
        const spot = [y - lineHeight - px, y + 2 * px].find(
          (top) => !taken.some((other) => Math.abs(other - top) < lineHeight),
        );
        if (spot === undefined) continue;
        taken.push(spot);
        const textWidth = ctx.measureText(label).width;
        ctx.fillStyle = 'rgba(255, 255, 255, 0.88)';
        ctx.fillRect(left + width - textWidth - 6 * px, spot, textWidth + 4 * px, lineHeight);
        ctx.fillStyle = COLORS[worst] || COLORS.info;
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

  function legendFor(config, thresholds, alerts) {
    const items = config.lines.map((line) =>
      h('li', {}, h('span', { class: `swatch swatch--${line.key}` }), line.label),
    );
    if (thresholds.length) items.push(h('li', {}, h('span', { class: 'swatch swatch--threshold' }), 'Thresholds'));
    if (alerts.length) {
      const worst = ['critical', 'warning', 'info'].find((s) => alerts.some((a) => a.severity === s));
      items.push(
        h('li', {}, h('span', { class: `marker marker--${worst}` }, icon(worst)), plural(alerts.length, 'alert')),
      );
    }
    return items;
  }

  function summaryFor(config, buckets) {
    const count = buckets.reduce((n, b) => n + b.count, 0);
    if (!count) return `No readings in the last ${state.days} days.`;
    const unit = config.unit();
    const weighted = (key) => {
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
    const lowest = (key) => Math.min(...buckets.map((b) => config.pick(b.min, key)).filter((v) => v != null));
    const highest = (key) => Math.max(...buckets.map((b) => config.pick(b.max, key)).filter((v) => v != null));
    const head = `${plural(count, 'reading')} in ${state.days} days`;
    if (config.type === 'blood_pressure') {
      return `${head} · average ${Math.round(weighted('systolic'))}/${Math.round(weighted('diastolic'))} mmHg · systolic ${lowest('systolic')}–${highest('systolic')}, diastolic ${lowest('diastolic')}–${highest('diastolic')}`;
    }
    const c = config.convert;
    const first = c(config.pick(buckets[0].mean));
    const last = c(config.pick(buckets[buckets.length - 1].mean));
    const change = round1(last - first);
    const tail = config.type === 'weight' ? ` · change ${change > 0 ? '+' : ''}${withUnit(change, unit)}` : '';
    return `${head} · average ${withUnit(round1(c(weighted())), unit)} · range ${withUnit(round1(c(lowest())), unit)} to ${withUnit(round1(c(highest())), unit)}${tail}`;
  }

  function drawChart(kind) {
    const config = CHARTS[kind];
    const trend = state.trends[kind];
    const fig = figure(kind);
    const holder = fig.querySelector('.chart__canvas');
    const summary = fig.querySelector('.chart__summary');
    if (state.charts[kind]) {
      state.charts[kind].destroy();
      delete state.charts[kind];
    }
    if (!trend) return;
    const { buckets, bucketMs, fromMs, toMs } = trend;
    const thresholds = thresholdsFor(config);
    const alerts = alertsFor(config, fromMs, toMs);
    fig.querySelector('.legend').replaceChildren(...legendFor(config, thresholds, alerts));
    summary.textContent = summaryFor(config, buckets);
    fig.dataset.points = String(buckets.length);
    fig.dataset.thresholds = thresholds.map((t) => `${t.rule.id}:${round1(t.value)}`).join(' ');
    fig.dataset.alerts = String(alerts.length);
    if (!buckets.length) {
      holder.replaceChildren(
        h(
          'div',
          { class: 'chart__empty' },
          `No ${config.lines.map((l) => l.label.toLowerCase()).join(' or ')} readings in this period.`,
        ),
      );
      fig.dataset.state = 'empty';
      return;
    }
    holder.replaceChildren();

    // x: middle of each bucket, in seconds (uPlot's time unit).
    const data = [buckets.map((b) => (b.start + bucketMs / 2) / 1000)];
    const series = [{}];
    const bands = [];
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
    const tz = state.patient.timezone;
    const unit = config.unit();
    const width = Math.max(260, holder.clientWidth);
    const height = window.matchMedia('(max-width: 640px)').matches ? 200 : 240;
    const opts = {
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
      hooks: { draw: [overlay(config, thresholds, alerts)] },
    };
    // eslint-disable-next-line no-undef
    state.charts[kind] = new uPlot(opts, data, holder);
    fig.dataset.state = 'ready';
  }

  const resize = new ResizeObserver((entries) => {
    for (const entry of entries) {
      const kind = entry.target.closest('[data-chart]').dataset.chart;
      const chart = state.charts[kind];
      const width = Math.floor(entry.contentRect.width);
      if (chart && width > 0 && Math.abs(chart.width - width) > 1)
        chart.setSize({ width: Math.max(260, width), height: chart.height });
    }
  });
  for (const el of document.querySelectorAll('.chart__canvas')) resize.observe(el);

  async function loadTrends() {
    const toMs = Date.now();
    const fromMs = toMs - state.days * DAY;
    const bucket = state.days <= 7 ? '1h' : '1d';
    const bucketMs = bucket === '1h' ? 3_600_000 : DAY;
    const query = (type) =>
      `${base}/readings?${new URLSearchParams({ type, bucket, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() })}`;
    for (const kind of Object.keys(CHARTS)) figure(kind).dataset.state = 'loading';
    await Promise.all(
      Object.keys(CHARTS).map(async (kind) => {
        try {
          const answer = await api(query(CHARTS[kind].type));
          state.trends[kind] = {
            buckets: answer.buckets.map((b) => ({ ...b, start: Date.parse(b.start) })),
            bucketMs,
            fromMs,
            toMs,
          };
          drawChart(kind);
        } catch (e) {
          if (e.status === 401) return;
          figure(kind).dataset.state = 'error';
          figure(kind).querySelector('.chart__summary').textContent = `Could not load: ${e.message}`;
        }
      }),
    );
  }

  function setPressed(group, attr, value) {
    for (const button of group.querySelectorAll('button'))
      button.setAttribute('aria-pressed', String(button.dataset[attr] === String(value)));
  }
  const rangeGroup = document.getElementById('range-group');
  rangeGroup.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-days]');
    if (!button) return;
    state.days = Number(button.dataset.days);
    setPressed(rangeGroup, 'days', state.days);
    loadTrends();
  });
  const unitGroup = document.getElementById('unit-group');
  setPressed(unitGroup, 'unit', state.unit);
  unitGroup.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-unit]');
    if (!button) return;
    state.unit = button.dataset.unit;
    localStorage.setItem('homewatch.weightUnit', state.unit);
    setPressed(unitGroup, 'unit', state.unit);
    drawChart('weight');
    renderReadings();
  });

  // ------------------------------------------------------------------------------------------------
  // Header, alerts, care team

  function age(birthDate) {
    if (!birthDate) return null;
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

  function renderHeader(patient, summary) {
    document.getElementById('patient-name').textContent = patient.name;
    document.title = `${patient.name} · Homewatch`;
    const meta = [];
    if (patient.birthDate)
      meta.push(`Born ${dateTime(`${patient.birthDate}T12:00:00Z`, 'UTC', 'date')} (${age(patient.birthDate)})`);
    if (patient.externalId) meta.push(`MRN ${patient.externalId}`);
    meta.push(`Times in the patient's time zone, ${patient.timezone}`);
    document.getElementById('patient-meta').textContent = meta.join(' · ');
    if (!summary) return;
    const stat = (label, ...value) => h('div', {}, h('dt', {}, label), h('dd', {}, ...value));
    const open = ['critical', 'warning', 'info']
      .filter((s) => summary.openAlerts[s])
      .map((s) => severityBadge(s, `${summary.openAlerts[s]} ${s}`));
    document
      .getElementById('patient-stats')
      .replaceChildren(
        stat(
          'Last reading',
          summary.lastReadingAt
            ? time(summary.lastReadingAt, ago(summary.lastReadingAt), patient.timezone)
            : 'None yet',
        ),
        stat(
          'Days with readings (30)',
          `${summary.adherenceDays} of ${summary.adherence.windowDays} `,
          summary.adherenceLow
            ? h('span', { class: 'flag' }, icon('warning'), 'below 16')
            : h('span', { class: 'flag ok' }, icon('on'), 'met'),
        ),
        stat('Open alerts', open.length ? h('span', { class: 'chips' }, open) : 'None'),
      );
  }

  function renderAlerts() {
    const tbody = document.getElementById('alerts-body');
    if (!state.alerts.length) {
      tbody.replaceChildren(h('tr', {}, h('td', { colspan: '4', class: 'muted' }, 'No alerts for this patient.')));
      return;
    }
    const tz = state.patient.timezone;
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
            a.count > 1 ? h('span', { class: 'note' }, `${a.count} times, last ${ago(a.lastTriggeredAt)}`) : null,
          ),
          h('td', { 'data-label': 'Status' }, status, a.note ? h('span', { class: 'note' }, `Note: ${a.note}`) : null),
        );
      }),
    );
  }

  function renderTeam(team) {
    const list = document.getElementById('team-list');
    if (!team.members.length) {
      list.replaceChildren(h('li', { class: 'muted' }, 'Nobody is on this care team yet.'));
      return;
    }
    list.replaceChildren(
      ...team.members.map((m) =>
        h('li', {}, h('span', {}, m.name), h('span', { class: 'team__role' }, window.HW.TEAM_ROLE[m.role] || m.role)),
      ),
    );
  }

  // ------------------------------------------------------------------------------------------------
  // Care plan

  const planStatus = document.getElementById('plan-status');
  function setPlanStatus(text, kind) {
    planStatus.textContent = text;
    planStatus.className = `status-line${kind ? ` status-line--${kind}` : ''}`;
  }

  function renderPlan() {
    const plan = state.plan;
    const meta = document.getElementById('plan-meta');
    const tbody = document.getElementById('plan-body');
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
        return h(
          'tr',
          { 'data-rule-id': rule.id },
          cell,
          h('td', { 'data-label': 'Severity' }, severityBadge(rule.severity)),
          h(
            'td',
            { 'data-label': 'What to do' },
            splitMessage(rule.message)[0],
            h('span', { class: 'note' }, splitMessage(rule.message)[1]),
          ),
          h('td', { 'data-label': 'From' }, rule.template ? `Template: ${rule.template}` : 'Set for this patient'),
        );
      }),
    );
  }

  function renderCondition(cell, rule) {
    const text = conditionText(rule);
    const editable = canEditPlan && rule.when.value !== undefined;
    cell.replaceChildren(h('span', { class: 'condition' }, text));
    if (!editable) return;
    const button = h(
      'button',
      { type: 'button', class: 'button button--quiet button--small', 'aria-label': `Change: ${text}` },
      'Change',
    );
    button.addEventListener('click', () => openEditor(cell, rule));
    cell.append(' ', button);
  }

  function openEditor(cell, rule) {
    const inputId = `value-${rule.id}`;
    const unit = ruleUnit(rule);
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
      h('label', { for: inputId }, `New value (${unit})`),
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
  async function saveValue(rule, value) {
    const plan = state.plan;
    const strip = ({ template, ...rest }) => rest;
    const own = plan.rules.filter((r) => !r.template && r.id !== rule.id).map(strip);
    const changed = { ...strip(rule), when: { ...rule.when, value } };
    if (rule.template) {
      const note = `Changed for this patient from ${withUnit(rule.when.value, ruleUnit(rule))} (template ${rule.template}).`;
      changed.source = `${note} ${rule.source || ''}`.trim().slice(0, 500);
    }
    try {
      const saved = await api(`${base}/care-plan`, {
        method: 'PUT',
        body: { templates: plan.templates, rules: [...own, changed] },
      });
      state.plan = saved;
      renderPlan();
      for (const kind of Object.keys(CHARTS)) drawChart(kind);
      setPlanStatus(
        `Saved: ${conditionText(saved.rules.find((r) => r.id === rule.id) || changed)}. Care plan version ${saved.version}.`,
        'ok',
      );
      const row = document.querySelector(`[data-rule-id="${CSS.escape(rule.id)}"] button`);
      if (row) row.focus();
    } catch (e) {
      if (e.status === 401) return;
      const details = e.details.map((d) => `${d.path} ${d.message}`).join('; ');
      setPlanStatus(`Not saved: ${e.message}${details ? ` (${details})` : ''}`, 'error');
      renderPlan();
    }
  }

  // ------------------------------------------------------------------------------------------------
  // Recent readings

  /** Rows shown until "Show all" is pressed. */
  const READINGS_SHOWN = 12;
  let recent = [];
  let showAllReadings = false;
  const moreReadings = document.getElementById('readings-more');
  moreReadings.addEventListener('click', () => {
    showAllReadings = !showAllReadings;
    renderReadings();
  });
  function renderReadings() {
    const tbody = document.getElementById('readings-body');
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
            h('td', { 'data-label': 'Measurement' }, window.HW.TYPE_LABEL[r.type] || r.type),
            h('td', { 'data-label': 'Value', class: 'num' }, window.HW.reading(r, state.unit)),
          ),
        ),
    );
  }
  async function loadReadings() {
    const from = new Date(Date.now() - 14 * DAY).toISOString();
    let readings = [];
    let cursor;
    // Oldest first, a page at a time: follow the pages (a few at most) and keep the newest.
    for (let page = 0; page < 10; page++) {
      const query = new URLSearchParams({ from, limit: '1000' });
      if (cursor) query.set('cursor', cursor);
      const answer = await api(`${base}/readings?${query}`);
      readings = readings.concat(answer.readings).slice(-100);
      cursor = answer.next;
      if (!cursor) break;
    }
    recent = readings.reverse().slice(0, 100);
    document.getElementById('readings-meta').textContent = recent.length
      ? `${plural(recent.length, 'reading')} in the last 14 days${recent.length === 100 ? ' (the newest 100)' : ''}`
      : '';
    renderReadings();
  }

  // ------------------------------------------------------------------------------------------------

  async function load() {
    try {
      const [patient, summary, team, plan, inbox] = await Promise.all([
        api(base),
        api(`/v1/patients-summary?patientId=${encodeURIComponent(patientId)}`),
        api(`${base}/care-team`),
        api(`${base}/care-plan`),
        api(`/v1/inbox?patientId=${encodeURIComponent(patientId)}&resolved=200`),
      ]);
      state.patient = patient;
      state.plan = plan;
      state.alerts = inbox.alerts;
      renderHeader(patient, summary.patients[0]);
      renderTeam(team);
      renderPlan();
      renderAlerts();
      await Promise.all([loadTrends(), loadReadings()]);
      body.dataset.loaded = 'true';
    } catch (e) {
      if (e.status === 401) return;
      window.HW.showBanner(`Could not load this patient: ${e.message}`, 'error');
    }
  }
  load();
})();
