import { randomUUID } from 'node:crypto';
import { and, desc, eq, gt, gte, inArray, isNotNull, max, notInArray, sql } from 'drizzle-orm';
import type { AlertEvent, AlertStore } from '../alerts/store.ts';
import { breach, deactivate, escalatedBySibling, openAlert, type Alert } from '../alerts/lifecycle.ts';
import { presentReading, type ReadingType, type StoredReading } from '../domain/reading.ts';
import type { Metric, Severity } from '../domain/rule.ts';
import { isMonitored, monitoredSince, type StatusFields } from '../patients/status.ts';
import { bounded, inner } from '../store/cache.ts';
import { compileWrite, type Db } from '../store/db.ts';
import { deviceClocks, metricState, outboxCursors, patients, readings, ruleQuiet } from '../store/schema.ts';
import { clockAfterMessage, type DeviceClock, UNKNOWN_CLOCK } from './device-clock.ts';
import type { CarePlan, CarePlanStore } from '../care-plans/store.ts';
import {
  compileRule,
  evaluate,
  historyNeeds,
  isMissing,
  metricValues,
  observe,
  type CompiledRule,
  type Observed,
  type Point,
} from './evaluate.ts';

/** An alert that changed, for whoever acts after the commit (metrics, logs, routing). */
export interface AlertChange {
  alert: Alert;
  event: AlertEvent;
}

interface CompiledPlan {
  version: number;
  /** Reading-driven rules by metric. */
  byMetric: Map<Metric, CompiledRule[]>;
  /** How much history each metric's rules need. */
  needs: Map<Metric, { count: number; windowMs: number }>;
  missing: CompiledRule[];
  since: Record<string, number>;
  /** The patient's monitoring status: a paused or discharged patient's readings open nothing. */
  patient: StatusFields & { statusChangedAt: number | null };
  /** Rule id → until when it opens no new alert (quietFor on resolve). */
  quiet: Map<string, number>;
}

interface MetricState {
  lastReceivedAt: number;
  newestMeasuredAt: number;
}

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

/** The rule id of the alert that says a device's clock is off (one per patient, naming the device). */
export const DEVICE_CLOCK_RULE = 'device-clock';

/** What a device-clock alert observed: which device, and when its last reading claims it was measured. */
interface DeviceClockObserved {
  kind: 'device-clock';
  deviceId: string;
  measuredAt: number;
}

/** The built-in rule behind device-clock alerts: not in any care plan, it watches the devices themselves. */
function deviceClockRule(deviceId: string): CompiledRule {
  return {
    ...compileRule({
      id: DEVICE_CLOCK_RULE,
      metric: 'pulse',
      when: { kind: 'threshold', op: '>', value: 0 },
      severity: 'warning',
      message: `Device ${deviceId}: its clock is wrong (three readings in a row measured more than 1 h before they arrived, as after a battery change). Its readings count as measured on arrival until it sends current ones; ask the patient to set the device's date and time.`,
    }),
    metric: 'device' as Metric,
  };
}

/** `observed` as the API shows it: times as RFC 3339. */
function presentObserved(observed: Observed | DeviceClockObserved | undefined): Record<string, unknown> | null {
  if (!observed) return null;
  const iso = (ms: number) => new Date(ms).toISOString();
  switch (observed.kind) {
    case 'change':
      return {
        ...observed,
        from: { ...observed.from, measuredAt: iso(observed.from.measuredAt) },
        to: { ...observed.to, measuredAt: iso(observed.to.measuredAt) },
      };
    case 'missing':
      return { kind: 'missing', since: iso(observed.since) };
    case 'device-clock':
      return { ...observed, measuredAt: iso(observed.measuredAt) };
    default:
      return { ...observed };
  }
}

/** Which stored readings carry a metric. */
const SOURCES: Record<Metric, { types: ReadingType[]; column: 'systolic' | 'diastolic' | 'pulse' | 'value' }> = {
  systolic: { types: ['blood_pressure'], column: 'systolic' },
  diastolic: { types: ['blood_pressure'], column: 'diastolic' },
  pulse: { types: ['blood_pressure', 'spo2'], column: 'pulse' },
  weight: { types: ['weight'], column: 'value' },
  spo2: { types: ['spo2'], column: 'value' },
};

/** Patients whose plans, histories and metric states are kept in memory at most. */
const CACHE_PATIENTS = 50_000;
/**
 * Metric states reach the database with the readings' transaction at most this often, not with every
 * reading (two writes per SpO2 reading were a tenth of ingest). What a crash leaves unsaved is rebuilt
 * from the readings stored after the last save (their cursor is saved with the states).
 */
const SAVE_STATES_EVERY_MS = 1_000;
const STATES_CURSOR = 'metric_state';

/**
 * Evaluates every accepted reading against the patient's care plan, inside the transaction that stores
 * the reading, so a reading is never stored without its alert decision (or the reverse).
 *
 * The recent history each rule needs (the last `count` values and the `within` window) is kept in memory
 * per patient and metric, loaded from the database once and then appended to, so a reading costs no
 * query. This assumes one writer per database, which holds for SQLite; `forgetAll` drops what a
 * rolled-back transaction may have left behind, `forgetPatient` what a care-plan change made stale.
 *
 * Late readings (measured before the newest value of the metric already seen) are stored and join the
 * history, so later windows and averages count them, but they never open or update an alert: an alert
 * describes the patient's current state, and a backfilled past value is not that.
 */
export class RuleEngine {
  readonly #plans = new Map<string, CompiledPlan | null>();
  /** Patients with a care plan, for the missing-data sweep; loaded once, then kept up by forgetPatient. */
  #planned: Set<string> | undefined;
  readonly #history = new Map<string, Map<Metric, Point[]>>();
  /** By patient, then metric (nested maps: a reading costs no key strings). */
  readonly #state = new Map<string, Map<Metric, MetricState | null>>();
  /** States changed since the last save, by patient and metric: always consulted before the database. */
  readonly #unsaved = new Map<string, Map<Metric, MetricState>>();
  #savedAt = 0;
  /** Set at start and after a rollback: the saved states may lag the stored readings. */
  #recoveryDue = true;
  readonly #loadState;
  readonly #saveState;
  /** Device clocks by device id (device-clock.ts). */
  readonly #clocks = new Map<string, DeviceClock>();
  readonly #loadClock;
  readonly #saveClock;
  readonly #loadPatient;
  readonly #loadQuiet;

  /** Called when data arrived for a metric with a missing-data alert in force: its next deadline moved. */
  onMissingDeadlineMoved: () => void = () => {};

  constructor(
    private readonly db: Db,
    private readonly carePlans: CarePlanStore,
    private readonly alerts: AlertStore,
  ) {
    this.#loadState = db
      .select({ lastReceivedAt: metricState.lastReceivedAt, newestMeasuredAt: metricState.newestMeasuredAt })
      .from(metricState)
      .where(
        and(eq(metricState.patientId, sql.placeholder('patientId')), eq(metricState.metric, sql.placeholder('metric'))),
      )
      .prepare();
    this.#loadClock = db
      .select({ currentAt: deviceClocks.currentAt, staleRun: deviceClocks.staleRun, offSince: deviceClocks.offSince })
      .from(deviceClocks)
      .where(eq(deviceClocks.deviceId, sql.placeholder('deviceId')))
      .prepare();
    this.#saveClock = compileWrite(
      db
        .insert(deviceClocks)
        .values({
          deviceId: sql.placeholder('deviceId'),
          currentAt: sql.placeholder('currentAt'),
          staleRun: sql.placeholder('staleRun'),
          offSince: sql.placeholder('offSince'),
        })
        .onConflictDoUpdate({
          target: deviceClocks.deviceId,
          set: {
            currentAt: sql`excluded.current_at`,
            staleRun: sql`excluded.stale_run`,
            offSince: sql`excluded.off_since`,
          },
        }),
      db.$client,
    );
    this.#loadPatient = db
      .select({ status: patients.status, statusUntil: patients.statusUntil, statusChangedAt: patients.statusChangedAt })
      .from(patients)
      .where(eq(patients.id, sql.placeholder('patientId')))
      .prepare();
    this.#loadQuiet = db
      .select({ ruleId: ruleQuiet.ruleId, until: ruleQuiet.until })
      .from(ruleQuiet)
      .where(eq(ruleQuiet.patientId, sql.placeholder('patientId')))
      .prepare();
    this.#saveState = compileWrite(
      db
        .insert(metricState)
        .values({
          patientId: sql.placeholder('patientId'),
          metric: sql.placeholder('metric'),
          lastReceivedAt: sql.placeholder('lastReceivedAt'),
          newestMeasuredAt: sql.placeholder('newestMeasuredAt'),
        })
        .onConflictDoUpdate({
          target: [metricState.patientId, metricState.metric],
          // `excluded` is the row we tried to insert; SQLite and PostgreSQL both read it this way.
          set: { lastReceivedAt: sql`excluded.last_received_at`, newestMeasuredAt: sql`excluded.newest_measured_at` },
        }),
      db.$client,
    );
  }

  /** Call inside the transaction that stored the readings (a GroupCommit job). */
  evaluateReadings(stored: readonly StoredReading[], now: number): AlertChange[] {
    const changes: AlertChange[] = [];
    // Readings of this batch are already in the table; one not yet evaluated must not be in a history
    // loaded for an earlier one, or that earlier reading would be judged against a later "newest".
    const notYetEvaluated = new Set(stored.map((r) => r.id));
    if (this.#recoveryDue) this.#recover(notYetEvaluated);
    // One call is one message of one device: its clock is judged on the message as a whole.
    const clockOff = this.#judgeClock(stored, now, changes);
    for (const reading of stored) {
      const plan = this.#plan(reading.patientId);
      const monitored = plan !== null && isMonitored(plan.patient, now);
      // A device whose clock is off: its readings count as measured when they arrived.
      const t = clockOff ? reading.receivedAt : reading.measuredAt;
      for (const [metric, value] of metricValues(reading)) {
        // The state follows the stored reading (as recovery replays it), whatever the device's clock.
        const previous = this.#advance(reading.patientId, metric, reading);
        if (!plan || !monitored) continue;

        // Data arrived: a missing-data alert for this metric no longer holds.
        for (const rule of plan.missing) {
          if (rule.metric !== metric) continue;
          const alert = this.alerts.findUnresolved(reading.patientId, rule.rule.id);
          if (alert?.active) {
            this.alerts.update(deactivate(alert), null, now);
            this.onMissingDeadlineMoved();
          }
        }

        const rules = plan.byMetric.get(metric);
        if (!rules) continue;
        const needs = plan.needs.get(metric)!;
        // Loaded without this reading (it is still among notYetEvaluated), which joins it here.
        const series = this.#series(reading.patientId, metric, needs, notYetEvaluated);
        const late = previous !== null && t < previous.newestMeasuredAt;
        // The history keeps the reading at its stored time, as a cold start loads it; a device whose clock
        // is off has it judged as measured on arrival, on a copy.
        const point = { t: reading.measuredAt, receivedAt: reading.receivedAt, value, readingId: reading.id };
        insertSorted(series, point);
        if (late) {
          // A late reading describes the past: it never clears or updates today's alerts, but a critical
          // value is still news (an oximeter syncing out of order), judged on the history up to it.
          const upTo = series.slice(0, series.lastIndexOf(point) + 1);
          for (const rule of rules) {
            if (rule.rule.severity !== 'critical' || !evaluate(rule, upTo)) continue;
            const change = this.#apply(reading.patientId, plan, rule, true, reading, now, {
              late: true,
              observed: observe(rule, upTo),
            });
            if (change) changes.push(change);
          }
          trim(series, needs);
          continue;
        }
        const judged = clockOff ? atArrival(series, point) : series;
        trim(series, needs);
        let worst: Severity | undefined;
        for (const rule of rules) {
          const matched = evaluate(rule, judged);
          const observed = matched ? observe(rule, judged) : undefined;
          const change = this.#apply(reading.patientId, plan, rule, matched, reading, now, { observed });
          if (change) changes.push(change);
          if (matched && (worst === undefined || SEVERITY_RANK[rule.rule.severity] > SEVERITY_RANK[worst]))
            worst = rule.rule.severity;
        }
        // The patient got worse than what a clinician acknowledged for this metric: reopen it.
        if (worst) changes.push(...this.#reopenMilder(reading.patientId, rules, worst, now));
      }
      notYetEvaluated.delete(reading.id);
    }
    if (now - this.#savedAt >= SAVE_STATES_EVERY_MS) this.saveStates(now);
    return changes;
  }

  /** Acknowledged alerts of these rules milder than `severity` go back to open. */
  #reopenMilder(patientId: string, rules: readonly CompiledRule[], severity: Severity, now: number): AlertChange[] {
    const changes: AlertChange[] = [];
    for (const rule of rules) {
      const existing = this.alerts.findUnresolved(patientId, rule.rule.id);
      const reopened = existing && escalatedBySibling(existing, severity, now);
      if (!reopened) continue;
      this.alerts.update(reopened, 'reopened', now);
      changes.push({ alert: reopened, event: 'reopened' });
    }
    return changes;
  }

  /**
   * Judges the device's clock on this message (device-clock.ts), keeps it, and opens or clears the
   * patient's `device-clock` alert. True while the clock is off.
   */
  #judgeClock(stored: readonly StoredReading[], now: number, changes: AlertChange[]): boolean {
    const first = stored[0];
    if (!first) return false;
    const before = this.#clock(first.deviceId);
    // What the patient's data already shows for this kind of reading, before this message.
    const [metric] = metricValues(first)[0] ?? [];
    const known = metric ? this.#metricState(first.patientId, metric)?.newestMeasuredAt : undefined;
    const { clock, event } = clockAfterMessage(before, stored, now, known);
    bounded(this.#clocks, CACHE_PATIENTS).set(first.deviceId, clock);
    // Written only when what is kept changes, not on every current reading.
    if (
      (before.currentAt === null) !== (clock.currentAt === null) ||
      before.staleRun !== clock.staleRun ||
      before.offSince !== clock.offSince
    ) {
      this.#saveClock((name) => (name === 'deviceId' ? first.deviceId : clock[name as keyof DeviceClock]));
    }
    const plan = this.#plan(first.patientId);
    if (event && plan && isMonitored(plan.patient, now)) {
      const newest = stored.at(-1)!;
      if (event === 'off') {
        const change = this.#apply(first.patientId, plan, deviceClockRule(first.deviceId), true, newest, now, {
          observed: { kind: 'device-clock', deviceId: first.deviceId, measuredAt: newest.measuredAt },
        });
        if (change) changes.push(change);
      } else {
        const alert = this.alerts.findUnresolved(first.patientId, DEVICE_CLOCK_RULE);
        if (alert?.active) this.alerts.update(deactivate(alert), null, now);
      }
    }
    return clock.offSince !== null;
  }

  #clock(deviceId: string): DeviceClock {
    let clock = this.#clocks.get(deviceId);
    if (!clock) {
      clock = this.#loadClock.get({ deviceId }) ?? UNKNOWN_CLOCK;
      bounded(this.#clocks, CACHE_PATIENTS).set(deviceId, clock);
    }
    return clock;
  }

  /**
   * Writes the metric states changed since the last save, with the cursor of the readings they cover
   * (all stored so far: each is evaluated in the transaction that stores it). Call inside a transaction;
   * it runs with ingest every second, and on a clean stop.
   */
  saveStates(now = Date.now()): void {
    for (const [patientId, byMetric] of this.#unsaved) {
      for (const [metric, state] of byMetric) {
        this.#saveState((name) =>
          name === 'patientId' ? patientId : name === 'metric' ? metric : state[name as keyof MetricState],
        );
      }
    }
    this.#unsaved.clear();
    const seq =
      this.db
        .select({ seq: max(readings.seq) })
        .from(readings)
        .get()?.seq ?? 0;
    this.db
      .insert(outboxCursors)
      .values({ name: STATES_CURSOR, seq })
      .onConflictDoUpdate({ target: outboxCursors.name, set: { seq } })
      .run();
    this.#savedAt = now;
  }

  /**
   * The clock side of the rules: opens (or re-activates) an alert for every `missing` rule whose metric
   * has not arrived for its `for`. Call inside a transaction. Returns the changes and when the next
   * deadline falls, so the caller can wake up then rather than up to a minute late.
   */
  sweepMissing(now: number): { changes: AlertChange[]; nextDeadline: number | undefined } {
    const changes: AlertChange[] = [];
    let nextDeadline: number | undefined;
    if (this.#recoveryDue) this.#recover(new Set());
    // Every input below is cached, so a sweep of 10,000 patients takes milliseconds, not a query each.
    this.#planned ??= new Set(this.carePlans.patientIds());
    for (const patientId of this.#planned) {
      const compiled = this.#plan(patientId);
      // Paused and discharged patients' clocks stop; a pause that ended restarts them from its end.
      if (!compiled || !isMonitored(compiled.patient, now)) continue;
      for (const rule of compiled.missing) {
        // The clock starts when the rule entered the plan, and again when a clinician resolved its alert:
        // resolving "no weight for 36 h" means "I know; tell me again if it goes on another 36 h".
        const since = Math.max(
          compiled.since[rule.rule.id] ?? now,
          this.alerts.lastResolvedAt(patientId, rule.rule.id) ?? 0,
          monitoredSince(compiled.patient, now),
        );
        const lastArrival = this.#metricState(patientId, rule.metric)?.lastReceivedAt;
        if (isMissing(rule, lastArrival, since, now)) {
          const change = this.#apply(patientId, compiled, rule, true, null, now, {
            missing: true,
            observed: observe(rule, [], { lastArrival, ruleSince: since }),
          });
          if (change) changes.push(change);
        } else {
          const deadline = Math.max(lastArrival ?? since, since) + rule.forMs;
          nextDeadline = nextDeadline === undefined ? deadline : Math.min(nextDeadline, deadline);
        }
      }
    }
    if (this.#unsaved.size && now - this.#savedAt >= SAVE_STATES_EVERY_MS) this.saveStates(now);
    return { changes, nextDeadline };
  }

  /**
   * After a batch rolled back: everything cached is rebuilt from the database on demand. Unsaved states
   * may include the rolled-back readings, so they are rebuilt too, from the readings that were committed.
   */
  forgetAll(): void {
    this.#planned = undefined;
    this.#plans.clear();
    // A rolled-back batch may have moved a device's clock too.
    this.#clocks.clear();
    this.#history.clear();
    this.#state.clear();
    this.#unsaved.clear();
    this.#recoveryDue = true;
  }

  /**
   * Brings the states up to date with the readings stored after the last save (a crash, or a rollback
   * that dropped unsaved states), leaving out `exclude`: readings of this transaction, not yet evaluated.
   * Runs inside the caller's transaction; what it finds is saved at its end.
   */
  #recover(exclude: ReadonlySet<string>): void {
    const after =
      this.db.select({ seq: outboxCursors.seq }).from(outboxCursors).where(eq(outboxCursors.name, STATES_CURSOR)).get()
        ?.seq ?? 0;
    const rows = this.db
      .select({
        id: readings.id,
        patientId: readings.patientId,
        type: readings.type,
        measuredAt: readings.measuredAt,
        receivedAt: readings.receivedAt,
        systolic: readings.systolic,
        diastolic: readings.diastolic,
        pulse: readings.pulse,
        value: readings.value,
      })
      .from(readings)
      .where(gt(readings.seq, after))
      .all();
    for (const row of rows) {
      if (exclude.has(row.id)) continue;
      for (const [metric] of metricValues(row)) this.#advance(row.patientId, metric, row);
    }
    this.#recoveryDue = false;
    this.#savedAt = 0;
  }

  /**
   * After a care-plan (or patient status) change. Not for a rollback: the patient's unsaved metric states
   * stay, and they are read before the database; a rollback calls forgetAll.
   */
  forgetPatient(patientId: string): void {
    this.#planned?.add(patientId);
    this.#plans.delete(patientId);
    this.#history.delete(patientId);
    this.#state.delete(patientId);
  }

  #apply(
    patientId: string,
    plan: CompiledPlan,
    rule: CompiledRule,
    matched: boolean,
    reading: StoredReading | null,
    now: number,
    options: { missing?: boolean; late?: boolean; observed?: Observed | DeviceClockObserved | undefined } = {},
  ): AlertChange | undefined {
    const existing = this.alerts.findUnresolved(patientId, rule.rule.id);
    if (!matched) {
      if (existing?.active) this.alerts.update(deactivate(existing), null, now);
      return undefined;
    }
    const presented = reading && presentReading(reading);
    const observed = presentObserved(options.observed);
    if (!existing) {
      // Resolved with quietFor: the clinician asked not to hear about this rule again until then.
      const quietUntil = plan.quiet.get(rule.rule.id);
      if (quietUntil !== undefined && now < quietUntil) return undefined;
      const alert = openAlert({
        id: randomUUID(),
        patientId,
        ruleId: rule.rule.id,
        carePlanVersion: plan.version,
        metric: rule.metric,
        severity: rule.rule.severity,
        message: rule.rule.message,
        reading: presented,
        late: options.late ?? false,
        observed,
        at: now,
      });
      this.alerts.insert(alert, now);
      return { alert, event: 'opened' };
    }
    // A missing-data alert already in force is not re-counted on every sweep.
    if (options.missing && existing.active) return undefined;
    // A late critical updates an alert only if it is not already in force: it describes the past.
    if (options.late && existing.active && existing.status === 'open') return undefined;
    const { alert, event } = breach(existing, {
      reading: presented,
      at: now,
      severity: rule.rule.severity,
      message: rule.rule.message,
      late: options.late ?? false,
      observed: observed ?? undefined,
    });
    this.alerts.update(alert, event, now);
    return { alert, event };
  }

  #plan(patientId: string): CompiledPlan | null {
    let plan = this.#plans.get(patientId);
    if (plan === undefined) {
      const patient = this.#loadPatient.get({ patientId });
      const quiet = new Map(this.#loadQuiet.all({ patientId }).map((row) => [row.ruleId, row.until]));
      plan = patient ? compilePlan(this.carePlans.current(patientId), patient, quiet) : null;
      bounded(this.#plans, CACHE_PATIENTS).set(patientId, plan);
    }
    return plan;
  }

  #metricState(patientId: string, metric: Metric): MetricState | null {
    const byMetric = inner(this.#state, patientId, CACHE_PATIENTS);
    let state = byMetric.get(metric);
    if (state === undefined) {
      state = this.#unsaved.get(patientId)?.get(metric) ?? this.#loadState.get({ patientId, metric }) ?? null;
      byMetric.set(metric, state);
    }
    return state;
  }

  /**
   * Moves a metric's state on by a reading that arrived, caches it and marks it for the next saveStates;
   * returns the state before.
   */
  #advance(patientId: string, metric: Metric, reading: { measuredAt: number; receivedAt: number }): MetricState | null {
    const previous = this.#metricState(patientId, metric);
    const state = {
      lastReceivedAt: Math.max(previous?.lastReceivedAt ?? 0, reading.receivedAt),
      // Capped at the arrival time: a device clock running ahead (up to the 10 minutes ingest allows)
      // must not make the next minutes of other devices' readings look late.
      newestMeasuredAt: Math.max(previous?.newestMeasuredAt ?? 0, Math.min(reading.measuredAt, reading.receivedAt)),
    };
    this.#state.get(patientId)!.set(metric, state);
    inner(this.#unsaved, patientId).set(metric, state);
    return previous;
  }

  /** The metric's recent history, loaded once (the last `count` values and the window before the newest). */
  #series(
    patientId: string,
    metric: Metric,
    needs: { count: number; windowMs: number },
    exclude: ReadonlySet<string>,
  ): Point[] {
    const byMetric = inner(this.#history, patientId, CACHE_PATIENTS);
    let series = byMetric.get(metric);
    if (!series) {
      series = this.#loadSeries(patientId, metric, needs, exclude);
      byMetric.set(metric, series);
    }
    return series;
  }

  #loadSeries(
    patientId: string,
    metric: Metric,
    needs: { count: number; windowMs: number },
    exclude: ReadonlySet<string>,
  ): Point[] {
    const { types, column } = SOURCES[metric];
    const value = readings[column];
    const conditions = [eq(readings.patientId, patientId), inArray(readings.type, types), isNotNull(value)];
    if (exclude.size) conditions.push(notInArray(readings.id, [...exclude]));
    const where = and(...conditions);
    const select = {
      t: readings.measuredAt,
      receivedAt: readings.receivedAt,
      value: sql<number>`${value}`,
      readingId: readings.id,
      seq: readings.seq,
    };
    const lastN = this.db
      .select(select)
      .from(readings)
      .where(where)
      .orderBy(desc(readings.measuredAt), desc(readings.seq))
      .limit(needs.count)
      .all();
    const newest = lastN[0]?.t;
    const windowed =
      newest !== undefined && needs.windowMs > 0
        ? this.db
            .select(select)
            .from(readings)
            .where(and(where, gte(readings.measuredAt, newest - needs.windowMs)))
            .all()
        : [];
    const byId = new Map([...lastN, ...windowed].map((p) => [p.readingId, p]));
    // Readings measured at the same time in the order they were stored, as insertSorted keeps them in memory.
    return [...byId.values()].sort((a, b) => a.t - b.t || a.seq - b.seq).map(({ seq: _, ...point }) => point);
  }
}

function compilePlan(
  plan: CarePlan | undefined,
  patient: CompiledPlan['patient'],
  quiet: Map<string, number>,
): CompiledPlan | null {
  if (!plan || plan.rules.length === 0) return null;
  const byMetric = new Map<Metric, CompiledRule[]>();
  const missing: CompiledRule[] = [];
  for (const rule of plan.rules) {
    const compiled = compileRule(rule);
    if (rule.when.kind === 'missing') missing.push(compiled);
    else byMetric.set(rule.metric, [...(byMetric.get(rule.metric) ?? []), compiled]);
  }
  const needs = new Map([...byMetric].map(([metric, rules]) => [metric, historyNeeds(rules)]));
  return { version: plan.version, byMetric, needs, missing, since: plan.ruleSince, patient, quiet };
}

/** A copy of the series with `point` moved to when it arrived (a device whose clock is off). */
function atArrival(series: readonly Point[], point: Point): Point[] {
  const copy = series.filter((p) => p !== point);
  insertSorted(copy, { ...point, t: point.receivedAt });
  return copy;
}

/** Inserts keeping `t` ascending; a point equal in time to others goes after them. */
function insertSorted(series: Point[], point: Point): void {
  let i = series.length;
  while (i > 0 && series[i - 1]!.t > point.t) i--;
  series.splice(i, 0, point);
}

/** Keeps what the rules can still need: the last `count` points and those within the window of the newest. */
function trim(series: Point[], needs: { count: number; windowMs: number }): void {
  const newest = series.at(-1);
  if (!newest) return;
  let drop = 0;
  while (drop < series.length - needs.count && series[drop]!.t < newest.t - needs.windowMs) drop++;
  if (drop > 0) series.splice(0, drop);
}
