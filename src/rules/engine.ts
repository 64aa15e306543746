import { randomUUID } from 'node:crypto';
import { and, desc, eq, gt, gte, inArray, isNotNull, max, notInArray, sql } from 'drizzle-orm';
import type { AlertEvent, AlertStore } from '../alerts/store.ts';
import { breach, deactivate, openAlert, type Alert } from '../alerts/lifecycle.ts';
import { presentReading, type ReadingType, type StoredReading } from '../domain/reading.ts';
import type { Metric } from '../domain/rule.ts';
import { bounded, inner } from '../store/cache.ts';
import { compileWrite, type Db } from '../store/db.ts';
import { metricState, outboxCursors, readings } from '../store/schema.ts';
import type { CarePlan, CarePlanStore } from '../care-plans/store.ts';
import {
  compileRule,
  evaluate,
  historyNeeds,
  isMissing,
  metricValues,
  type CompiledRule,
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
}

interface MetricState {
  lastReceivedAt: number;
  newestMeasuredAt: number;
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
    for (const reading of stored) {
      const plan = this.#plan(reading.patientId);
      for (const [metric, value] of metricValues(reading)) {
        const previous = this.#advance(reading.patientId, metric, reading);
        if (!plan) continue;

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
        const late = previous !== null && reading.measuredAt < previous.newestMeasuredAt;
        insertSorted(series, { t: reading.measuredAt, receivedAt: reading.receivedAt, value, readingId: reading.id });
        trim(series, needs);
        if (late) continue;
        for (const rule of rules) {
          const change = this.#apply(reading.patientId, plan, rule, evaluate(rule, series), reading, now);
          if (change) changes.push(change);
        }
      }
      notYetEvaluated.delete(reading.id);
    }
    if (now - this.#savedAt >= SAVE_STATES_EVERY_MS) this.saveStates(now);
    return changes;
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
      if (!compiled) continue;
      for (const rule of compiled.missing) {
        // The clock starts when the rule entered the plan, and again when a clinician resolved its alert:
        // resolving "no weight for 36 h" means "I know; tell me again if it goes on another 36 h".
        const since = Math.max(
          compiled.since[rule.rule.id] ?? now,
          this.alerts.lastResolvedAt(patientId, rule.rule.id) ?? 0,
        );
        const lastArrival = this.#metricState(patientId, rule.metric)?.lastReceivedAt;
        if (isMissing(rule, lastArrival, since, now)) {
          const change = this.#apply(patientId, compiled, rule, true, null, now, /* missing */ true);
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
    missing = false,
  ): AlertChange | undefined {
    const existing = this.alerts.findUnresolved(patientId, rule.rule.id);
    if (!matched) {
      if (existing?.active) this.alerts.update(deactivate(existing), null, now);
      return undefined;
    }
    const presented = reading && presentReading(reading);
    if (!existing) {
      const alert = openAlert({
        id: randomUUID(),
        patientId,
        ruleId: rule.rule.id,
        carePlanVersion: plan.version,
        metric: rule.metric,
        severity: rule.rule.severity,
        message: rule.rule.message,
        reading: presented,
        at: now,
      });
      this.alerts.insert(alert, now);
      return { alert, event: 'opened' };
    }
    // A missing-data alert already in force is not re-counted on every sweep.
    if (missing && existing.active) return undefined;
    const { alert, event } = breach(existing, {
      reading: presented,
      at: now,
      severity: rule.rule.severity,
      message: rule.rule.message,
    });
    this.alerts.update(alert, event, now);
    return { alert, event };
  }

  #plan(patientId: string): CompiledPlan | null {
    let plan = this.#plans.get(patientId);
    if (plan === undefined) {
      plan = compilePlan(this.carePlans.current(patientId));
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

function compilePlan(plan: CarePlan | undefined): CompiledPlan | null {
  if (!plan || plan.rules.length === 0) return null;
  const byMetric = new Map<Metric, CompiledRule[]>();
  const missing: CompiledRule[] = [];
  for (const rule of plan.rules) {
    const compiled = compileRule(rule);
    if (rule.when.kind === 'missing') missing.push(compiled);
    else byMetric.set(rule.metric, [...(byMetric.get(rule.metric) ?? []), compiled]);
  }
  const needs = new Map([...byMetric].map(([metric, rules]) => [metric, historyNeeds(rules)]));
  return { version: plan.version, byMetric, needs, missing, since: plan.ruleSince };
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
