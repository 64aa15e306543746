import type { Agent } from 'node:https';
import { and, asc, eq, gt, isNull, lte, sql } from 'drizzle-orm';
import type { AlertStore } from '../alerts/store.ts';
import { presentAlert, type Alert } from '../alerts/lifecycle.ts';
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
import { routeAlert, type CareTeamMember, type RoutingPolicy } from './policy.ts';

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
  policy: RoutingPolicy;
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
    startEscalation: compileWrite(
      db
        .insert(escalations)
        .values({
          alertId: placeholder('alertId'),
          nextTier: 0,
          dueAt: placeholder('dueAt'),
          state: 'pending',
          reachedAnyone: false,
          unreachable: false,
        })
        .onConflictDoNothing(),
      db.$client,
    ),
    logDelivery: compileWrite(
      db.insert(deliveries).values({
        alertId: placeholder('alertId'),
        event: placeholder('event'),
        channel: placeholder('channel'),
        tier: placeholder('tier'),
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
      .where(and(eq(escalations.state, 'pending'), lte(escalations.dueAt, placeholder('now'))))
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
      .where(eq(escalations.state, 'pending'))
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
          eq(deliveries.tier, placeholder('tier')),
          eq(deliveries.status, 'delivered'),
        ),
      )
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
    const due = this.#queries.dueEscalations.all({ now: this.#now() });
    // Each escalation runs on its own: a new alert's push never waits for pushes still in flight (or
    // retrying) for others. An alert being escalated is not started again until its step is done.
    let started = 0;
    for (const row of due) {
      if (this.#escalating.has(row.alertId)) continue;
      started++;
      const step = this.#escalate(row)
        .catch((error: unknown) =>
          this.options.log.error(
            { event: 'escalation_failed', alertId: row.alertId, err: error },
            'An escalation step failed; it stays due',
          ),
        )
        .finally(() => {
          this.#escalating.delete(row.alertId);
          // Its next tier has a new due time (or it is done): the schedule must know.
          this.kick();
        });
      this.#escalating.set(row.alertId, step);
    }
    // A full batch may hide more due rows, but only go round again if this pass started something: a
    // batch of steps all still in flight would otherwise be read again and again without yielding.
    if (due.length === DUE_BATCH && started > 0) this.#again = true;
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
        if (
          (event.event === 'opened' || event.event === 'updated') &&
          alert.status === 'open' &&
          policy.pushed.includes(alert.severity)
        ) {
          // 'updated': the rule may have been raised (info → warning, warning → critical) since the alert
          // opened; such an alert starts escalating now, and one already escalating is due no later than
          // its new severity allows.
          this.#queries.startEscalation((name) => (name === 'alertId' ? alert.id : event.at));
          const row =
            event.event === 'updated'
              ? db.select().from(escalations).where(eq(escalations.alertId, alert.id)).get()
              : undefined;
          const dueBy = event.at + policy.escalationMs[alert.severity];
          if (row?.state === 'pending' && row.dueAt > dueBy) {
            db.update(escalations).set({ dueAt: dueBy }).where(eq(escalations.alertId, alert.id)).run();
          }
        } else if (event.event === 'acknowledged' || event.event === 'resolved') {
          db.update(escalations)
            .set({ state: 'cancelled' })
            .where(and(eq(escalations.alertId, alert.id), eq(escalations.state, 'pending')))
            .run();
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

  /** Works off one due escalation: tells the tier due, or passes the alert on at once if nobody in it is reachable. */
  async #escalate(row: Escalation): Promise<void> {
    const { db, commits, alerts, policy, metrics, log } = this.options;
    const alert = alerts.get(row.alertId);
    if (alert?.status !== 'open') {
      await commits.run(() =>
        db.update(escalations).set({ state: 'cancelled' }).where(eq(escalations.alertId, row.alertId)).run(),
      );
      return;
    }
    const team = this.#queries.team.all({ patientId: alert.patientId }) as CareTeamMember[];
    let reachedAnyone = row.reachedAnyone;
    for (let tier = row.nextTier; ; tier++) {
      const step = routeAlert(alert, team, tier, this.#now(), policy);
      if (!step) {
        await commits.run(() =>
          db
            .update(escalations)
            .set({ state: 'done', nextTier: tier, unreachable: !reachedAnyone })
            .where(eq(escalations.alertId, alert.id))
            .run(),
        );
        if (!reachedAnyone) {
          metrics.alertsUnreached.inc({ severity: alert.severity });
          log.error(
            { event: 'alert_unreached', alertId: alert.id, patientId: alert.patientId, severity: alert.severity },
            'An alert reached nobody on the care team',
          );
        }
        return;
      }
      if (tier > 0) metrics.escalations.inc({ severity: alert.severity, tier: String(tier) });
      const reached = await this.#deliverTier(alert, step.tier, step.clinicianIds);
      if (reached) {
        reachedAnyone = true;
        const last = tier + 1 >= policy.tiers.length;
        await commits.run(() =>
          db
            .update(escalations)
            .set({ nextTier: tier + 1, dueAt: step.nextAt, reachedAnyone: true, state: last ? 'done' : 'pending' })
            .where(eq(escalations.alertId, alert.id))
            .run(),
        );
        log.info(
          { event: 'alert_delivered', alertId: alert.id, tier, clinicians: step.clinicianIds.length },
          'Alert pushed to the care team',
        );
        return;
      }
      log.warn(
        { event: 'tier_unreachable', alertId: alert.id, tier },
        'Nobody reachable in this tier; passing the alert on',
      );
      // Retries can take a while: someone may have acknowledged meanwhile, and then nobody else is told.
      if (alerts.get(alert.id)?.status !== 'open') {
        await commits.run(() =>
          db.update(escalations).set({ state: 'cancelled' }).where(eq(escalations.alertId, alert.id)).run(),
        );
        return;
      }
    }
  }

  /** Pushes to every subscription of every clinician of the tier; true if at least one push was delivered. */
  async #deliverTier(alert: Alert, tier: number, clinicianIds: string[]): Promise<boolean> {
    const subscriptions = clinicianIds.flatMap((clinicianId) => this.#queries.subscriptions.all({ clinicianId }));
    if (subscriptions.length === 0) {
      await this.#log({
        alertId: alert.id,
        event: 'opened',
        channel: 'web_push',
        tier,
        clinicianId: null,
        targetId: '-',
        status: 'no_recipient',
        httpStatus: null,
        attempt: 0,
        error: clinicianIds.length ? 'no push subscription' : 'nobody in this tier',
        at: this.#now(),
      });
      return false;
    }
    const alreadyDelivered = new Set(this.#queries.delivered.all({ alertId: alert.id, tier }).map((d) => d.targetId));
    const payload = pushPayload(alert, tier, this.#queries.patientName.get({ patientId: alert.patientId })?.name ?? '');
    const results = await Promise.all(
      subscriptions.map((sub) =>
        alreadyDelivered.has(sub.id) ? Promise.resolve(true) : this.#pushWithRetries(alert, tier, sub, payload),
      ),
    );
    return results.some(Boolean);
  }

  async #pushWithRetries(
    alert: Alert,
    tier: number,
    sub: typeof pushSubscriptions.$inferSelect,
    payload: unknown,
  ): Promise<boolean> {
    const { db, commits, push, metrics } = this.options;
    const topic = alert.id.replaceAll('-', '').slice(0, 32);
    for (let attempt = 1; attempt <= PUSH_ATTEMPTS; attempt++) {
      const result = await push.send(sub, payload, {
        ttl: PUSH_TTL_SECONDS,
        urgency: alert.severity === 'critical' ? 'high' : 'normal',
        topic,
      });
      const base = {
        alertId: alert.id,
        event: 'opened',
        channel: 'web_push' as const,
        tier,
        clinicianId: sub.clinicianId,
        targetId: sub.id,
        attempt,
        at: this.#now(),
      };
      metrics.pushes.inc({ outcome: result.outcome, status: String(result.httpStatus ?? 'none') });
      if (result.outcome === 'delivered') {
        await this.#log({ ...base, status: 'delivered', httpStatus: result.httpStatus, error: null });
        const receivedAt = alert.reading?.receivedAt;
        if (tier === 0 && typeof receivedAt === 'string')
          metrics.readingToPushSeconds.observe((this.#now() - Date.parse(receivedAt)) / 1000);
        return true;
      }
      if (result.outcome === 'gone') {
        await this.#log({
          ...base,
          status: 'gone',
          httpStatus: result.httpStatus,
          error: 'subscription expired or unsubscribed; removed',
        });
        await commits.run(() => db.delete(pushSubscriptions).where(eq(pushSubscriptions.id, sub.id)).run());
        return false;
      }
      const last = result.outcome === 'failed' || attempt === PUSH_ATTEMPTS;
      // The API shows the status only; what went wrong (a network error, the service's answer) is logged.
      await this.#log({
        ...base,
        status: last ? 'failed' : 'retrying',
        httpStatus: result.httpStatus,
        error: result.httpStatus === null ? DELIVERY_FAILED : `push service answered ${result.httpStatus}`,
      });
      this.options.log.warn(
        { event: 'push_attempt_failed', alertId: alert.id, subscriptionId: sub.id, attempt, reason: result.error },
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

  #log(entry: typeof deliveries.$inferInsert): Promise<void> {
    return this.options.commits.run(() => {
      this.#queries.logDelivery((name) => entry[name as keyof typeof entry]);
    });
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

/** What a push carries: enough for the notification, nothing a lock screen should not show (initials, not names). */
function pushPayload(alert: Alert, tier: number, patientName: string) {
  return {
    alertId: alert.id,
    severity: alert.severity,
    message: alert.message.length > 120 ? `${alert.message.slice(0, 117)}…` : alert.message,
    patientInitials: initials(patientName),
    openedAt: new Date(alert.openedAt).toISOString(),
    tier,
    url: `/alerts/${alert.id}`,
  };
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
