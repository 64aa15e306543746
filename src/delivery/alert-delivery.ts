import type { Agent } from 'node:https';
import { and, asc, eq, gt, inArray, isNull, lte, sql } from 'drizzle-orm';
import type { AlertStore } from '../alerts/store.ts';
import { expireAcknowledgement, presentAlert, type Alert } from '../alerts/lifecycle.ts';
import type { AvailabilityStore } from '../availability/store.ts';
import { METRIC_LABELS, type Metric } from '../domain/measurements.ts';
import { isMonitored } from '../patients/status.ts';
import type { Logger } from '../ops/log.ts';
import type { WebPushSender } from './web-push.ts';
import { DELIVERY_FAILED, postWebhook } from './webhook.ts';
import type { Metrics } from '../ops/metrics.ts';
import { compileWrite, type Db, type GroupCommit } from '../store/db.ts';
import {
  alertOutbox,
  careTeamMembers,
  clinicians,
  deliveries,
  escalations,
  outboxCursors,
  patients,
  pushSubscriptions,
  webhookJobs,
  webhooks,
} from '../store/schema.ts';
import {
  acknowledgeEscalation,
  acknowledgementExpired,
  afterStep,
  type CareTeamMember,
  dueStep,
  type Escalation as EscalationState,
  type EscalationPolicy,
  groupNotifications,
  hasten,
  isPushed,
  type Notification,
  type Step,
} from './escalation-policy.ts';

/** 3 attempts per push, waiting 1 s then 2 s (or the service's Retry-After, at most 30 s): a tier is judged unreachable within about a minute at worst. */
const PUSH_ATTEMPTS = 3;
const PUSH_BACKOFF_MS = [1_000, 2_000];
/** 6 attempts per webhook event, waiting 1, 2, 4, 8, 16 s: about half a minute before it is logged as failed. Kept in the database, so a restart resumes them. */
const WEBHOOK_ATTEMPTS = 6;
const WEBHOOK_BACKOFF_MS = 1_000;
const RETRY_AFTER_CAP_MS = 30_000;
/** Pushes are kept by the push service for an offline device at most a day. */
const PUSH_TTL_SECONDS = 24 * 3600;
/** The loop wakes at least this often, whatever else happens (a safety net, not the schedule). */
const IDLE_WAKE_MS = 30_000;
const OUTBOX_BATCH = 500;
/** Due escalations (or webhook jobs) started per pass; a full batch makes the loop go round again. */
const DUE_BATCH = 100;
const CURSOR = 'routing';
const CLOSE_WAIT_MS = 2_000;

export interface AlertDeliveryOptions {
  db: Db;
  commits: GroupCommit;
  alerts: AlertStore;
  policy: EscalationPolicy;
  /** Who is away, and who is on call. */
  availability: Pick<AvailabilityStore, 'unavailable' | 'onCallAt'>;
  /** A WebPushSender; only `send` is used, so a test can stand a fake in for the push service. */
  push: Pick<WebPushSender, 'send'>;
  /** Trusted CAs for webhook endpoints, as for push. */
  agent: Agent | undefined;
  metrics: Metrics;
  log: Logger;
  /** The clock of due times and of the delivery log: Date.now, unless a test moves time on itself. */
  now?: () => number;
  /** Waits out a push's back-off: a timer, unless a test moves time on itself. */
  sleep?: (ms: number) => Promise<void>;
  /**
   * Arms the loop's next wake-up `ms` from now and returns what disarms it: an unref'ed timer, unless a
   * test fires it itself after moving its clock on.
   */
  wakeIn?: (ms: number, wake: () => void) => () => void;
}

type Escalation = typeof escalations.$inferSelect;

/**
 * The statements of every routing pass and every push, written by drizzle once: building and preparing
 * them for each call cost more of the event loop than running them. Writes bind by name (compileWrite).
 */
function prepareQueries(db: Db) {
  const placeholder = sql.placeholder;
  return {
    /**
     * Starts (or, for a reopened alert, starts again) routing from the first tier. An event read again after
     * a crash changes nothing: a round starts only for an event newer than the current round's start.
     */
    startRound: compileWrite(
      db
        .insert(escalations)
        .values({
          alertId: placeholder('alertId'),
          nextTier: 0,
          dueAt: placeholder('at'),
          state: 'pending',
          reachedAnyone: false,
          unreachable: false,
          repeat: 0,
          round: 0,
          startedAt: placeholder('at'),
        })
        .onConflictDoUpdate({
          target: escalations.alertId,
          set: {
            nextTier: 0,
            dueAt: sql`excluded.due_at`,
            state: 'pending',
            reachedAnyone: false,
            unreachable: false,
            repeat: 0,
            round: sql`${escalations.round} + 1`,
            startedAt: sql`excluded.started_at`,
          },
          setWhere: sql`${escalations.startedAt} < excluded.started_at`,
        }),
      db.$client,
    ),
    logDelivery: compileWrite(
      db.insert(deliveries).values({
        alertId: placeholder('alertId'),
        event: placeholder('event'),
        channel: placeholder('channel'),
        tier: placeholder('tier'),
        round: placeholder('round'),
        repeat: placeholder('repeat'),
        clinicianId: placeholder('clinicianId'),
        targetId: placeholder('targetId'),
        status: placeholder('status'),
        httpStatus: placeholder('httpStatus'),
        attempt: placeholder('attempt'),
        error: placeholder('error'),
        at: placeholder('at'),
      }),
      db.$client,
    ),
    moveCursor: compileWrite(
      db
        .insert(outboxCursors)
        .values({ name: CURSOR, seq: placeholder('seq') })
        .onConflictDoUpdate({ target: outboxCursors.name, set: { seq: sql`excluded.seq` } }),
      db.$client,
    ),
    cursor: db.select({ seq: outboxCursors.seq }).from(outboxCursors).where(eq(outboxCursors.name, CURSOR)).prepare(),
    events: db
      .select()
      .from(alertOutbox)
      .where(gt(alertOutbox.seq, placeholder('after')))
      .orderBy(asc(alertOutbox.seq))
      .limit(OUTBOX_BATCH)
      .prepare(),
    webhookIds: db.select({ id: webhooks.id }).from(webhooks).prepare(),
    dueEscalations: db
      .select()
      .from(escalations)
      .where(and(inArray(escalations.state, ['pending', 'acknowledged']), lte(escalations.dueAt, placeholder('now'))))
      .orderBy(asc(escalations.dueAt))
      .limit(DUE_BATCH)
      .prepare(),
    dueWebhookJobs: db
      .select()
      .from(webhookJobs)
      .where(and(eq(webhookJobs.state, 'pending'), lte(webhookJobs.nextAt, placeholder('now'))))
      .orderBy(asc(webhookJobs.nextAt))
      .limit(DUE_BATCH)
      .prepare(),
    nextEscalations: db
      .select({ alertId: escalations.alertId, at: escalations.dueAt })
      .from(escalations)
      .where(inArray(escalations.state, ['pending', 'acknowledged']))
      .orderBy(asc(escalations.dueAt))
      .limit(placeholder('limit'))
      .prepare(),
    nextWebhookJobs: db
      .select({ seq: webhookJobs.seq, at: webhookJobs.nextAt })
      .from(webhookJobs)
      .where(eq(webhookJobs.state, 'pending'))
      .orderBy(asc(webhookJobs.nextAt))
      .limit(placeholder('limit'))
      .prepare(),
    // A disabled clinician is no longer on anyone's team for routing: their tier is passed over at once.
    team: db
      .select({ clinicianId: careTeamMembers.clinicianId, role: careTeamMembers.role })
      .from(careTeamMembers)
      .innerJoin(clinicians, eq(clinicians.id, careTeamMembers.clinicianId))
      .where(and(eq(careTeamMembers.patientId, placeholder('patientId')), isNull(clinicians.disabledAt)))
      .prepare(),
    subscriptions: db
      .select()
      .from(pushSubscriptions)
      .where(eq(pushSubscriptions.clinicianId, placeholder('clinicianId')))
      .prepare(),
    delivered: db
      .select({ targetId: deliveries.targetId })
      .from(deliveries)
      .where(
        and(
          eq(deliveries.alertId, placeholder('alertId')),
          eq(deliveries.round, placeholder('round')),
          eq(deliveries.tier, placeholder('tier')),
          eq(deliveries.repeat, placeholder('repeat')),
          eq(deliveries.status, 'delivered'),
        ),
      )
      .prepare(),
    patientStatus: db
      .select({ status: patients.status, statusUntil: patients.statusUntil })
      .from(patients)
      .where(eq(patients.id, placeholder('patientId')))
      .prepare(),
    patientName: db
      .select({ name: patients.name })
      .from(patients)
      .where(eq(patients.id, placeholder('patientId')))
      .prepare(),
  };
}

/**
 * Delivers alerts: reads the alert outbox (written with the alerts, so nothing between the rules and
 * here can be lost), turns each new pushed alert into an escalation row (timers as data), and works off
 * due escalations tier by tier: primary nurse, backup nurse, pcp. Acknowledging or resolving ends the
 * escalation. Every attempt is logged in `deliveries`, and a push already delivered for an alert and tier
 * is never sent again, so a restart re-sends nothing that arrived.
 */
export class AlertDelivery {
  /** Disarms the loop's next wake-up. */
  #disarm: (() => void) | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  readonly #background = new Set<Promise<unknown>>();
  readonly #webhooksInFlight = new Set<number>();
  /** Escalation steps in flight, by alert id. */
  readonly #escalating = new Map<string, Promise<void>>();
  readonly #queries: ReturnType<typeof prepareQueries>;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #wakeIn: (ms: number, wake: () => void) => () => void;

  constructor(private readonly options: AlertDeliveryOptions) {
    this.#queries = prepareQueries(options.db);
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? sleep;
    this.#wakeIn = options.wakeIn ?? wakeIn;
  }

  start(): void {
    this.kick();
  }

  /** Something changed (a new alert event): run soon. */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#disarm?.();
    this.#running = this.#run()
      .catch((error: unknown) =>
        this.options.log.error({ event: 'routing_failed', err: error }, 'Alert routing failed; retrying'),
      )
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.kick();
        } else this.#scheduleNext();
      });
  }

  async close(): Promise<void> {
    this.#stopped = true;
    this.#disarm?.();
    await this.#running;
    // A push being made (or retried) is finished, as before a stop; its record is then in the database.
    await Promise.allSettled(this.#escalating.values());
    // Webhook retries stop at their next step; a stop does not wait out their back-off.
    await Promise.race([Promise.allSettled(this.#background), sleep(CLOSE_WAIT_MS)]);
  }

  /**
   * Resolves once nothing is in flight (no routing pass, escalation step or webhook attempt) and only the
   * wake-up for the next due time is left armed. For tests: they move a fake clock on, fire the wake-up,
   * and wait here for what fell due to be done.
   */
  async idle(): Promise<void> {
    for (;;) {
      const busy = [this.#running, ...this.#escalating.values(), ...this.#background];
      if (!busy.some(Boolean)) return;
      await Promise.allSettled(busy);
    }
  }

  async #run(): Promise<void> {
    while (this.#consumeOutbox()) {
      // keep reading until the outbox is drained
    }
    const now = this.#now();
    const due = this.#queries.dueEscalations.all({ now }).filter((row) => !this.#escalating.has(row.alertId));
    const expired = due.filter((row) => row.state === 'acknowledged');
    if (expired.length) {
      await this.options.commits.run(() => this.#expireAcknowledgements(expired, now));
      // Reopened alerts have 'reopened' events in the outbox: read them in the next pass.
      this.#again = true;
    }
    const pending = due.filter((row) => row.state === 'pending');
    if (pending.length) {
      // Every step due now goes out in one pass: alerts raised by one reading reach each clinician as one
      // push. The pass runs on its own, so a new alert's push never waits for retries of an earlier one.
      const pass = this.#pass(pending, now)
        .catch((error: unknown) =>
          this.options.log.error({ event: 'escalation_failed', err: error }, 'An escalation pass failed; it stays due'),
        )
        .finally(() => {
          for (const row of pending) this.#escalating.delete(row.alertId);
          // Their next steps have new due times (or are due at once): the schedule must know.
          this.kick();
        });
      for (const row of pending) this.#escalating.set(row.alertId, pass);
    }
    // A full batch may hide more due rows, but only go round again if this pass started something: a
    // batch of steps all still in flight would otherwise be read again and again without yielding.
    if (due.length === DUE_BATCH && due.length > 0) this.#again = true;
    this.#startDueWebhooks();
  }

  /** Starts the webhook jobs that are due; they run beside the routing loop, so a slow agency endpoint never delays a push. */
  #startDueWebhooks(): void {
    const jobs = this.#queries.dueWebhookJobs.all({ now: this.#now() });
    for (const job of jobs) {
      if (this.#webhooksInFlight.has(job.seq)) continue;
      this.#webhooksInFlight.add(job.seq);
      this.#inBackground(
        this.#deliverWebhook(job).finally(() => {
          this.#webhooksInFlight.delete(job.seq);
          // Only now is the job's next attempt visible to the schedule (in flight, it is left out).
          this.#scheduleNext();
        }),
      );
    }
  }

  #scheduleNext(): void {
    if (this.#stopped) return;
    this.#disarm?.();
    // Escalations and jobs being worked on right now are not due again until they finish and set their next time.
    const escalation = this.#queries.nextEscalations
      .all({ limit: this.#escalating.size + 1 })
      .find((row) => !this.#escalating.has(row.alertId))?.at;
    const webhook = this.#queries.nextWebhookJobs
      .all({ limit: this.#webhooksInFlight.size + 1 })
      .find((job) => !this.#webhooksInFlight.has(job.seq))?.at;
    const times = [escalation, webhook].filter((t): t is number => typeof t === 'number');
    const next = times.length ? Math.min(...times) : undefined;
    const wait =
      next === null || next === undefined ? IDLE_WAKE_MS : Math.min(IDLE_WAKE_MS, Math.max(10, next - this.#now()));
    this.#disarm = this.#wakeIn(wait, () => this.kick());
  }

  /**
   * Turns outbox events into escalation changes and webhook deliveries; true if it read a full batch.
   * Committed at once (runNow), neither in a batch with readings nor waiting for an fdatasync, which
   * saves every push that much: the events are on disk already, committed with the readings that raised
   * them, so a crash before the next sync only has them read again (and a push possibly sent twice).
   */
  #consumeOutbox(): boolean {
    const { db, commits, alerts, policy } = this.options;
    const { events } = commits.runNow(() => {
      const events = this.#queries.events.all({ after: this.#queries.cursor.get()?.seq ?? 0 });
      for (const event of events) {
        const alert = alerts.get(event.alertId);
        if (!alert) continue;
        const row = db.select().from(escalations).where(eq(escalations.alertId, alert.id)).get();
        const pushed = isPushed(alert.severity, policy);
        switch (event.event) {
          case 'opened':
          case 'reopened':
            // A new alert, or one back to open (a new episode, a worse breach, an expired acknowledgement):
            // routed from the first tier at once.
            if (pushed && alert.status === 'open')
              this.#queries.startRound((name) => (name === 'alertId' ? alert.id : event.at));
            break;
          case 'updated':
            // The rule may have been raised (info → warning, warning → critical) since the alert opened:
            // an alert not escalating yet starts now, one escalating is due no later than its severity allows.
            if (!pushed || alert.status !== 'open') break;
            if (!row || row.state === 'done' || row.state === 'cancelled')
              this.#queries.startRound((name) => (name === 'alertId' ? alert.id : event.at));
            else this.#saveEscalation(alert.id, hasten(row, alert.severity, event.at, policy));
            break;
          case 'acknowledged':
            // No more notifications; the acknowledgement expires if the condition still holds by then.
            if (row && row.state !== 'cancelled')
              this.#saveEscalation(alert.id, acknowledgeEscalation(row, alert.severity, event.at, policy));
            break;
          case 'resolved':
            if (row) this.#saveEscalation(alert.id, { ...row, state: 'cancelled' });
            break;
        }
      }
      const last = events.at(-1);
      if (last) {
        // Every event's webhook deliveries are queued in the same transaction that moves the cursor past it.
        const hooks = this.#queries.webhookIds.all();
        for (const event of events) {
          for (const hook of hooks) {
            db.insert(webhookJobs)
              .values({ webhookId: hook.id, outboxSeq: event.seq, attempts: 0, nextAt: event.at, state: 'pending' })
              .run();
          }
        }
        this.#queries.moveCursor(() => last.seq);
      }
      return { events };
    });
    return events.length === OUTBOX_BATCH;
  }

  /** Acknowledgements whose time is up: an alert still active goes back to open; one that cleared stays acknowledged. */
  #expireAcknowledgements(rows: readonly Escalation[], now: number): void {
    const { alerts } = this.options;
    for (const row of rows) {
      const alert = alerts.get(row.alertId);
      const reopened = alert && acknowledgementExpired(alert) === 'reopen' && expireAcknowledgement(alert, now);
      if (reopened) {
        alerts.update(reopened, 'reopened', now);
        this.options.log.info(
          { event: 'acknowledgement_expired', alertId: reopened.id, patientId: reopened.patientId },
          'Acknowledgement expired with the alert still active: reopened',
        );
      } else this.#saveEscalation(row.alertId, { ...row, state: 'done' });
    }
  }

  #saveEscalation(alertId: string, escalation: EscalationState): void {
    const { nextTier, dueAt, state, repeat, reachedAnyone, unreachable } = escalation;
    this.options.db
      .update(escalations)
      .set({ nextTier, dueAt, state, repeat, reachedAnyone, unreachable })
      .where(eq(escalations.alertId, alertId))
      .run();
  }

  /**
   * One pass over the steps due now: who each alert's step reaches (escalation-policy.ts), one push per
   * clinician for all of them, then each alert's next step from whether its clinicians were reached.
   */
  async #pass(rows: readonly Escalation[], now: number): Promise<void> {
    const { db, commits, alerts, policy, availability, metrics, log } = this.options;
    const steps: Array<{ row: Escalation; alert: Alert; step: Step }> = [];
    const postponed: Array<{ row: Escalation; dueAt: number }> = [];
    const cancelled: string[] = [];
    const onCall = availability.onCallAt(now);
    for (const row of rows) {
      const alert = alerts.get(row.alertId);
      if (alert?.status !== 'open') {
        cancelled.push(row.alertId);
        continue;
      }
      // A paused patient's open alerts stay open but tell nobody until the pause ends.
      const patient = this.#queries.patientStatus.get({ patientId: alert.patientId });
      if (patient && !isMonitored(patient, now)) {
        const until = patient.status === 'paused' ? patient.statusUntil : null;
        postponed.push({ row, dueAt: until ?? now + policy.escalationMs[alert.severity] });
        continue;
      }
      const team = this.#queries.team.all({ patientId: alert.patientId }) as CareTeamMember[];
      const unavailable = availability.unavailable([...team.map((m) => m.clinicianId)], now);
      const step = dueStep(row, { team, unavailable, onCall }, policy);
      steps.push({ row, alert, step });
      if (step.tier > 0 && step.repeat === 0)
        metrics.escalations.inc({ severity: alert.severity, tier: String(step.tier) });
    }
    if (cancelled.length || postponed.length) {
      await commits.run(() => {
        for (const id of cancelled)
          db.update(escalations).set({ state: 'cancelled' }).where(eq(escalations.alertId, id)).run();
        for (const { row, dueAt } of postponed) this.#saveEscalation(row.alertId, { ...row, dueAt });
      });
    }
    if (steps.length === 0) return;

    const byAlert = new Map(steps.map((entry) => [entry.alert.id, entry]));
    const notifications = groupNotifications(
      steps.map(({ alert, step }) => ({
        alertId: alert.id,
        severity: alert.severity,
        clinicianIds: step.clinicianIds,
        fresh: step.tier === 0 && step.repeat === 0,
      })),
    );
    const reached = new Set<string>();
    const unsubscribed = new Set<string>();
    await Promise.all(
      notifications.map(async (notification) => {
        const outcome = await this.#notify(notification, byAlert);
        if (outcome === 'delivered') reached.add(notification.clinicianId);
        if (outcome === 'no_subscription') unsubscribed.add(notification.clinicianId);
      }),
    );
    const later = this.#now();
    await commits.run(() => {
      for (const { row, alert, step } of steps) {
        // Someone may have acknowledged while the pushes (and their retries) went out: then nobody else is told.
        if (alerts.get(alert.id)?.status !== 'open') continue;
        const reachedHere = step.clinicianIds.some((id) => reached.has(id));
        // The next step counts from when this one started, not from when its retries ended.
        const next = afterStep(row, step, reachedHere, alert.severity, now, policy);
        this.#saveEscalation(alert.id, next);
        if (next.unreachable && !row.unreachable) {
          metrics.alertsUnreached.inc({ severity: alert.severity });
          log.error(
            { event: 'alert_unreached', alertId: alert.id, patientId: alert.patientId, severity: alert.severity },
            'An alert reached nobody on the care team nor on call; trying again after the escalation delay',
          );
        }
        if (step.clinicianIds.every((id) => unsubscribed.has(id))) {
          this.#logNow({
            alertId: alert.id,
            event: 'opened',
            channel: 'web_push',
            tier: step.tier,
            round: row.round,
            repeat: step.repeat,
            clinicianId: null,
            targetId: '-',
            status: 'no_recipient',
            httpStatus: null,
            attempt: 0,
            error: step.clinicianIds.length ? 'no push subscription' : 'nobody in this tier',
            at: later,
          });
        } else if (reachedHere) {
          log.info(
            {
              event: step.repeat ? 'alert_repeated' : 'alert_delivered',
              alertId: alert.id,
              tier: step.tier,
              repeat: step.repeat,
              clinicians: step.clinicianIds.length,
            },
            step.repeat ? 'Alert pushed again: nobody has acknowledged it' : 'Alert pushed to the care team',
          );
        }
      }
    });
  }

  /**
   * One push to every subscription of the clinician, for every alert of the notification; true if one was
   * delivered. A subscription already delivered for all of them (at their step) is not pushed again, so a
   * restart re-sends nothing that arrived.
   */
  async #notify(
    notification: Notification,
    byAlert: ReadonlyMap<string, { row: Escalation; alert: Alert; step: Step }>,
  ): Promise<'delivered' | 'failed' | 'no_subscription'> {
    const subscriptions = this.#queries.subscriptions.all({ clinicianId: notification.clinicianId });
    if (subscriptions.length === 0) return 'no_subscription';
    const entries = notification.alertIds.map((id) => byAlert.get(id)!);
    const lead = byAlert.get(notification.lead)!;
    const delivered = (entry: (typeof entries)[number]) =>
      new Set(
        this.#queries.delivered
          .all({ alertId: entry.alert.id, round: entry.row.round, tier: entry.step.tier, repeat: entry.step.repeat })
          .map((d) => d.targetId),
      );
    const already = entries.map(delivered);
    const payload = pushPayload(
      entries.map((e) => e.alert),
      lead.alert,
      lead.step,
      this.#queries.patientName.get({ patientId: lead.alert.patientId })?.name ?? '',
    );
    const results = await Promise.all(
      subscriptions.map((sub) =>
        already.every((set) => set.has(sub.id))
          ? Promise.resolve(true)
          : this.#pushWithRetries(entries, notification, sub, payload),
      ),
    );
    return results.some(Boolean) ? 'delivered' : 'failed';
  }

  async #pushWithRetries(
    entries: ReadonlyArray<{ row: Escalation; alert: Alert; step: Step }>,
    notification: Notification,
    sub: typeof pushSubscriptions.$inferSelect,
    payload: unknown,
  ): Promise<boolean> {
    const { db, commits, push, metrics } = this.options;
    // One notification per lead alert on the device: a later push for it replaces the earlier one.
    const topic = notification.lead.replaceAll('-', '').slice(0, 32);
    const log = (fields: Pick<typeof deliveries.$inferInsert, 'status' | 'httpStatus' | 'error' | 'attempt'>) =>
      commits.run(() => {
        for (const { alert, row, step } of entries) {
          this.#logNow({
            alertId: alert.id,
            event: 'opened',
            channel: 'web_push',
            tier: step.tier,
            round: row.round,
            repeat: step.repeat,
            clinicianId: sub.clinicianId,
            targetId: sub.id,
            at: this.#now(),
            ...fields,
          });
        }
      });
    for (let attempt = 1; attempt <= PUSH_ATTEMPTS; attempt++) {
      const result = await push.send(sub, payload, {
        ttl: PUSH_TTL_SECONDS,
        urgency: notification.severity === 'critical' ? 'high' : 'normal',
        topic,
      });
      metrics.pushes.inc({ outcome: result.outcome, status: String(result.httpStatus ?? 'none') });
      if (result.outcome === 'delivered') {
        await log({ status: 'delivered', httpStatus: result.httpStatus, error: null, attempt });
        for (const { alert, step } of entries) {
          const receivedAt = alert.reading?.receivedAt;
          if (step.tier === 0 && step.repeat === 0 && typeof receivedAt === 'string')
            metrics.readingToPushSeconds.observe((this.#now() - Date.parse(receivedAt)) / 1000);
        }
        return true;
      }
      if (result.outcome === 'gone') {
        await log({
          status: 'gone',
          httpStatus: result.httpStatus,
          error: 'subscription expired or unsubscribed; removed',
          attempt,
        });
        await commits.run(() => db.delete(pushSubscriptions).where(eq(pushSubscriptions.id, sub.id)).run());
        return false;
      }
      const last = result.outcome === 'failed' || attempt === PUSH_ATTEMPTS;
      // The API shows the status only; what went wrong (a network error, the service's answer) is logged.
      await log({
        status: last ? 'failed' : 'retrying',
        httpStatus: result.httpStatus,
        error: result.httpStatus === null ? DELIVERY_FAILED : `push service answered ${result.httpStatus}`,
        attempt,
      });
      this.options.log.warn(
        {
          event: 'push_attempt_failed',
          alertId: notification.lead,
          subscriptionId: sub.id,
          attempt,
          reason: result.error,
        },
        'A push attempt failed',
      );
      if (last) return false;
      const wait =
        result.outcome === 'retry' && result.retryAfterMs !== undefined
          ? result.retryAfterMs
          : PUSH_BACKOFF_MS[attempt - 1]!;
      await this.#sleep(Math.min(RETRY_AFTER_CAP_MS, wait));
    }
    return false;
  }

  /** One attempt at a queued webhook job; the job row records the outcome and, on failure, when to try again. */
  async #deliverWebhook(job: typeof webhookJobs.$inferSelect): Promise<void> {
    const { db, commits, alerts, agent } = this.options;
    const hook = db.select().from(webhooks).where(eq(webhooks.id, job.webhookId)).get();
    const event = db.select().from(alertOutbox).where(eq(alertOutbox.seq, job.outboxSeq)).get();
    const alert = event && alerts.get(event.alertId);
    if (!hook || !event || !alert) {
      // The webhook was removed (or the event is gone): nothing to deliver.
      await commits.run(() => db.update(webhookJobs).set({ state: 'done' }).where(eq(webhookJobs.seq, job.seq)).run());
      return;
    }
    const body = JSON.stringify({
      event: `alert.${event.event}`,
      at: new Date(event.at).toISOString(),
      alert: presentAlert(alert),
    });
    const attempt = job.attempts + 1;
    const result = await postWebhook(hook.url, hook.secret, body, agent);
    const last = result.ok || !result.retryable || attempt >= WEBHOOK_ATTEMPTS;
    const state = result.ok ? 'done' : last ? 'failed' : 'pending';
    await commits.run(() => {
      db.update(webhookJobs)
        .set({ attempts: attempt, state, nextAt: this.#now() + WEBHOOK_BACKOFF_MS * 2 ** (attempt - 1) })
        .where(eq(webhookJobs.seq, job.seq))
        .run();
      db.insert(deliveries)
        .values({
          alertId: alert.id,
          event: event.event,
          channel: 'webhook',
          tier: null,
          clinicianId: null,
          targetId: hook.id,
          status: result.ok ? 'delivered' : last ? 'failed' : 'retrying',
          httpStatus: result.httpStatus,
          attempt,
          error: result.ok ? null : result.error,
          at: this.#now(),
        })
        .run();
    });
    if (!result.ok) {
      this.options.log.warn(
        { event: 'webhook_attempt_failed', alertId: alert.id, webhookId: hook.id, attempt, reason: result.reason },
        'A webhook attempt failed',
      );
    }
  }

  /** Logs a delivery attempt; call inside a transaction. */
  #logNow(entry: typeof deliveries.$inferInsert): void {
    this.#queries.logDelivery((name) => entry[name as keyof typeof entry]);
  }

  #inBackground(work: Promise<unknown>) {
    const tracked = work
      .catch((error: unknown) =>
        this.options.log.error({ event: 'webhook_failed', err: error }, 'Webhook delivery failed'),
      )
      .finally(() => this.#background.delete(tracked));
    this.#background.add(tracked);
  }
}

/**
 * What a push carries: enough for the notification, nothing a lock screen should not show (initials, not
 * names). One push stands for every alert of `alerts` (one reading that broke several rules); the text
 * names what was measured, most severe first.
 */
export function pushPayload(alerts: readonly Alert[], lead: Alert, step: Step, patientName: string) {
  const others = alerts.length - 1;
  const text = [observedText(lead), lead.message].filter(Boolean).join(': ');
  const message = `${text.length > 110 ? `${text.slice(0, 107)}…` : text}${others ? ` (+${others} more)` : ''}`;
  return {
    alertId: lead.id,
    alertIds: alerts.map((alert) => alert.id),
    severity: lead.severity,
    message,
    patientInitials: initials(patientName),
    openedAt: new Date(lead.openedAt).toISOString(),
    tier: step.tier,
    repeat: step.repeat,
    url: `/alerts/${lead.id}`,
  };
}

/** `SpO2 86 %`, `Weight +2.2 lb in 1 d`, `Systolic mean 146 mmHg`: what the rule saw, for a push or a list. */
export function observedText(alert: Pick<Alert, 'metric' | 'observed'>): string {
  const observed = alert.observed as {
    kind: string;
    value?: number;
    unit?: string;
    count?: number;
    from?: { measuredAt: string };
  } | null;
  if (!observed) return '';
  const label = METRIC_LABELS[alert.metric as Metric] ?? alert.metric;
  switch (observed.kind) {
    case 'reading':
      return `${label} ${observed.value} ${observed.unit}`;
    case 'mean':
      return `${label} mean of ${observed.count}: ${observed.value} ${observed.unit}`;
    case 'change':
      return `${label} ${observed.value! > 0 ? '+' : ''}${observed.value} ${observed.unit}`;
    case 'missing':
      return `No ${label.toLowerCase()}`;
    default:
      return '';
  }
}

export function initials(name: string): string {
  return name
    .split(/\s+/)
    .filter(Boolean)
    .map((part) => `${part[0]!.toUpperCase()}.`)
    .join(' ');
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The loop's wake-up: unref'ed, so that it never keeps a stopping process alive. */
function wakeIn(ms: number, wake: () => void): () => void {
  const timer = setTimeout(wake, ms);
  timer.unref();
  return () => clearTimeout(timer);
}
