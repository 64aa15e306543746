import { and, asc, desc, eq, getTableColumns, gt, inArray, lt, max, ne, or, sql, type SQL } from 'drizzle-orm';
import { inner } from '../store/cache.ts';
import type { Cursor } from '../domain/cursor.ts';
import type { Severity } from '../domain/rule.ts';
import { compileWrite, type Db, type GroupCommit } from '../store/db.ts';
import { alertOutbox, alerts, deliveries, escalations, ruleQuiet } from '../store/schema.ts';
import { type Alert, resolve } from './lifecycle.ts';

export type AlertEvent = (typeof alertOutbox.$inferInsert)['event'];
export type Escalation = typeof escalations.$inferSelect;

/** Where an alert's escalation stands, as the API shows it. */
export function presentEscalation(escalation: Escalation) {
  return {
    state: escalation.state,
    nextTier: escalation.nextTier,
    dueAt: escalation.state === 'pending' ? new Date(escalation.dueAt).toISOString() : null,
    /** When the acknowledgement expires and the alert, if still active, is reopened. */
    acknowledgementExpiresAt: escalation.state === 'acknowledged' ? new Date(escalation.dueAt).toISOString() : null,
    /** Pushes sent again after the last tier, in this round. */
    repeats: escalation.repeat,
    /** Times the alert was routed again from the first tier (reopened). */
    rounds: escalation.round,
    reachedAnyone: escalation.reachedAnyone,
    unreachable: escalation.unreachable,
  };
}

export interface AlertQuery {
  /** undefined: every patient (admins); otherwise only these. */
  patientIds?: string[];
  patientId?: string;
  /** Only alerts whose escalation reached nobody. */
  unreachable?: boolean;
  status?: Alert['status'];
  severity?: Severity;
  limit: number;
  /** The `next` cursor of the previous page. */
  before?: Cursor;
}

/** Patients whose unresolved alerts (or their absence) are kept in memory at most. */
const CACHE_PATIENTS = 50_000;

/**
 * Saves alert transitions, each with its outbox event in the same transaction (call inside one).
 *
 * Every reading asks, for each rule on its metric, whether an unresolved alert exists; the answers are
 * kept in memory and updated by `insert` and `update`, which are the only writers (one process per
 * database, as with SQLite). `forgetAll` after a rolled-back transaction.
 */
export class AlertStore {
  readonly #findUnresolved;
  readonly #byId;
  // Written by drizzle once, bound per call: an alert opening (or clearing) is inside an ingest commit,
  // which building its SQL each time held up by about half a millisecond per statement.
  readonly #insert;
  readonly #update;
  readonly #insertEvent;
  /** By patient, then rule id (nested maps: a lookup builds no key string). */
  readonly #unresolved = new Map<string, Map<string, Alert | null>>();
  /** When each rule's alert was last resolved, by patient then rule id (null: never), for the missing-data sweep. */
  readonly #lastResolved = new Map<string, Map<string, number | null>>();

  constructor(private readonly db: Db) {
    this.#findUnresolved = db
      .select()
      .from(alerts)
      .where(
        and(
          eq(alerts.patientId, sql.placeholder('patientId')),
          eq(alerts.ruleId, sql.placeholder('ruleId')),
          ne(alerts.status, 'resolved'),
        ),
      )
      .prepare();
    this.#byId = db
      .select()
      .from(alerts)
      .where(eq(alerts.id, sql.placeholder('id')))
      .prepare();
    const row = Object.fromEntries(
      Object.keys(getTableColumns(alerts)).map((column) => [column, sql.placeholder(column)]),
    ) as Record<keyof typeof alerts.$inferInsert, ReturnType<typeof sql.placeholder>>;
    this.#insert = compileWrite(db.insert(alerts).values(row), db.$client);
    // set() takes placeholders as insert values() does (each becomes a Param with its column's encoder);
    // only its type does not say so.
    this.#update = compileWrite(
      db
        .update(alerts)
        .set(row as unknown as typeof alerts.$inferInsert)
        .where(eq(alerts.id, sql.placeholder('id'))),
      db.$client,
    );
    this.#insertEvent = compileWrite(
      db
        .insert(alertOutbox)
        .values({ alertId: sql.placeholder('alertId'), event: sql.placeholder('event'), at: sql.placeholder('at') }),
      db.$client,
    );
  }

  findUnresolved(patientId: string, ruleId: string): Alert | undefined {
    const byRule = this.#byRule(patientId);
    let alert = byRule.get(ruleId);
    if (alert === undefined) {
      const row = this.#findUnresolved.get({ patientId, ruleId });
      alert = row ? toAlert(row) : null;
      byRule.set(ruleId, alert);
    }
    return alert ?? undefined;
  }

  #byRule(patientId: string): Map<string, Alert | null> {
    return inner(this.#unresolved, patientId, CACHE_PATIENTS);
  }

  /** When a clinician last resolved this rule's alert for the patient, if ever. */
  lastResolvedAt(patientId: string, ruleId: string): number | undefined {
    const byRule = inner(this.#lastResolved, patientId, CACHE_PATIENTS);
    let at = byRule.get(ruleId);
    if (at === undefined) {
      at =
        this.db
          .select({ at: max(alerts.resolvedAt) })
          .from(alerts)
          .where(and(eq(alerts.patientId, patientId), eq(alerts.ruleId, ruleId), eq(alerts.status, 'resolved')))
          .get()?.at ?? null;
      byRule.set(ruleId, at);
    }
    return at ?? undefined;
  }

  /** Drops what is cached (after a rolled-back transaction). */
  forgetAll(): void {
    this.#unresolved.clear();
    this.#lastResolved.clear();
  }

  get(id: string): Alert | undefined {
    const row = this.#byId.get({ id });
    return row && toAlert(row);
  }

  insert(alert: Alert, at: number): void {
    const row = toRow(alert);
    this.#insert((column) => row[column as keyof typeof row]);
    this.#byRule(alert.patientId).set(alert.ruleId, alert);
    this.#outbox(alert.id, 'opened', at);
  }

  /** Saves a changed alert; `event` goes to the outbox when the change is one that delivery cares about. */
  update(alert: Alert, event: AlertEvent | null, at: number): void {
    const row = toRow(alert);
    this.#update((column) => row[column as keyof typeof row]);
    this.#byRule(alert.patientId).set(alert.ruleId, alert.status === 'resolved' ? null : alert);
    // Known only if looked up before; otherwise the next lookup reads it, this change included.
    const resolved = this.#lastResolved.get(alert.patientId);
    if (alert.resolvedAt !== null && resolved?.has(alert.ruleId))
      resolved.set(alert.ruleId, Math.max(resolved.get(alert.ruleId) ?? 0, alert.resolvedAt));
    if (event) this.#outbox(alert.id, event, at);
  }

  /** Call inside a transaction. */
  setQuiet(row: typeof ruleQuiet.$inferInsert): void {
    this.db
      .insert(ruleQuiet)
      .values(row)
      .onConflictDoUpdate({ target: [ruleQuiet.patientId, ruleQuiet.ruleId], set: row })
      .run();
  }

  /** The patient's quieted rules still quiet at `now`, by rule id. */
  quietRules(patientId: string, now: number): Map<string, { until: number; setBy: string; setAt: number }> {
    return new Map(
      this.db
        .select()
        .from(ruleQuiet)
        .where(and(eq(ruleQuiet.patientId, patientId), gt(ruleQuiet.until, now)))
        .all()
        .map((row) => [row.ruleId, { until: row.until, setBy: row.setBy, setAt: row.setAt }]),
    );
  }

  /** Newest first. */
  list(query: AlertQuery): Alert[] {
    const conditions: SQL[] = [];
    if (query.patientIds) conditions.push(inArray(alerts.patientId, query.patientIds));
    if (query.patientId) conditions.push(eq(alerts.patientId, query.patientId));
    if (query.status) conditions.push(eq(alerts.status, query.status));
    if (query.unreachable) {
      conditions.push(
        inArray(
          alerts.id,
          this.db.select({ id: escalations.alertId }).from(escalations).where(eq(escalations.unreachable, true)),
        ),
      );
    }
    if (query.severity) conditions.push(eq(alerts.severity, query.severity));
    if (query.before) {
      conditions.push(
        or(
          lt(alerts.openedAt, query.before.at),
          and(eq(alerts.openedAt, query.before.at), lt(alerts.id, query.before.id)),
        )!,
      );
    }
    return this.db
      .select()
      .from(alerts)
      .where(and(...conditions))
      .orderBy(desc(alerts.openedAt), desc(alerts.id))
      .limit(query.limit)
      .all()
      .map(toAlert);
  }

  /** For each alert: every delivery attempt, oldest first, and where its escalation stands (two queries for any number). */
  deliveriesFor(alertIds: string[]) {
    const result = new Map(
      alertIds.map((id) => [
        id,
        {
          escalation: null as Escalation | null,
          attempts: [] as Array<typeof deliveries.$inferSelect>,
        },
      ]),
    );
    if (alertIds.length === 0) return result;
    for (const row of this.db.select().from(escalations).where(inArray(escalations.alertId, alertIds)).all())
      result.get(row.alertId)!.escalation = row;
    for (const row of this.db
      .select()
      .from(deliveries)
      .where(inArray(deliveries.alertId, alertIds))
      .orderBy(asc(deliveries.seq))
      .all()) {
      result.get(row.alertId)!.attempts.push(row);
    }
    return result;
  }

  #outbox(alertId: string, event: AlertEvent, at: number) {
    this.#insertEvent((name) => (name === 'alertId' ? alertId : name === 'event' ? event : at));
  }
}

function toRow(alert: Alert): typeof alerts.$inferInsert {
  return {
    ...alert,
    reading: alert.reading === null ? null : JSON.stringify(alert.reading),
    observed: alert.observed === null ? null : JSON.stringify(alert.observed),
  };
}

function toAlert(row: typeof alerts.$inferSelect): Alert {
  return {
    ...row,
    reading: row.reading === null ? null : (JSON.parse(row.reading) as Record<string, unknown>),
    observed: row.observed === null ? null : (JSON.parse(row.observed) as Record<string, unknown>),
  };
}

/**
 * A clinician's acknowledge or resolve, applied in a group commit together with its outbox event. The
 * alert is read again inside the transaction: a reading may have updated it since the request began.
 */
export class AlertActions {
  constructor(
    private readonly commits: GroupCommit,
    private readonly alerts: AlertStore,
  ) {}

  /** `quietFor` on resolve: the rule opens no new alert for the patient until `until`. */
  quiet(patientId: string, ruleId: string, until: number, by: string): Promise<void> {
    return this.commits.run(() => this.alerts.setQuiet({ patientId, ruleId, until, setBy: by, setAt: Date.now() }));
  }

  /**
   * Resolves every unresolved alert of the patient (discharge), with the note, in one group commit.
   * Returns the resolved alerts, for whoever acts after the commit (routing, webhooks).
   */
  resolveAll(patientId: string, by: string, note: string): Promise<Alert[]> {
    return this.commits.run(() => {
      const at = Date.now();
      const unresolved = [
        ...this.alerts.list({ patientId, status: 'open', limit: 10_000 }),
        ...this.alerts.list({ patientId, status: 'acknowledged', limit: 10_000 }),
      ];
      return unresolved.map((alert) => {
        const resolved = resolve(alert, by, at, note);
        this.alerts.update(resolved, 'resolved', at);
        return resolved;
      });
    });
  }

  apply(
    id: string,
    change: (alert: Alert, by: string, at: number) => Alert,
    by: string,
    event: 'acknowledged' | 'resolved',
  ): Promise<Alert> {
    return this.commits.run(() => {
      const current = this.alerts.get(id)!;
      const next = change(current, by, Date.now());
      if (next !== current) this.alerts.update(next, event, Date.now());
      return next;
    });
  }
}
