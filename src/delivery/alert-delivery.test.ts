import { createServer } from 'node:net';
import { and, asc, eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { acknowledge, openAlert, breach, type Alert } from '../alerts/lifecycle.ts';
import { AlertStore } from '../alerts/store.ts';
import type { CareTeamRole } from '../domain/care-team.ts';
import type { Severity } from '../domain/rule.ts';
import { createLogger } from '../ops/log.ts';
import { Metrics } from '../ops/metrics.ts';
import {
  careTeamMembers,
  clinicians,
  deliveries,
  escalations,
  patients,
  pushSubscriptions,
  webhookJobs,
  webhooks,
} from '../store/schema.ts';
import { openTestDatabase } from '../store/test-db.ts';
import { AlertDelivery } from './alert-delivery.ts';
import { AvailabilityStore } from '../availability/store.ts';
import { defaultEscalationPolicy } from './escalation-policy.ts';
import type { PushOptions, PushResult, PushTarget } from './web-push.ts';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const T0 = Date.parse('2026-11-20T07:00:00Z');
const CRITICAL_DELAY = 5 * MINUTE;
const WARNING_DELAY = 30 * MINUTE;
const ACK_CRITICAL = 60 * MINUTE;
const ACK_WARNING = 24 * 60 * MINUTE;
const TEAM: Array<[string, CareTeamRole]> = [
  ['primary', 'primary_nurse'],
  ['backup', 'backup_nurse'],
  ['pcp', 'pcp'],
];

/**
 * The clock AlertDelivery is given: `now`, a back-off `sleep` that moves it on at once, and the loop's
 * wake-up, which fires only when the test moves time past it.
 */
class FakeTime {
  now = T0;
  #wake: { at: number; fire: () => void } | undefined;

  readonly options = {
    now: () => this.now,
    sleep: async (ms: number) => {
      this.now += ms;
    },
    wakeIn: (ms: number, fire: () => void) => {
      const wake = { at: this.now + ms, fire };
      this.#wake = wake;
      return () => {
        if (this.#wake === wake) this.#wake = undefined;
      };
    },
  };

  get wakeAt(): number | undefined {
    return this.#wake?.at;
  }

  /** The armed wake-up if it falls due by `until`, disarmed. */
  takeDue(until: number): { at: number; fire: () => void } | undefined {
    const wake = this.#wake;
    if (!wake || wake.at > until) return undefined;
    this.#wake = undefined;
    return wake;
  }
}

/** What AlertDelivery puts in a push. */
type Payload = { alertId: string; severity: Severity; message: string; tier: number } & Record<string, unknown>;

/** Stands in for WebPushSender: answers each endpoint as told (delivered once told nothing), and records every attempt. */
class FakePush {
  readonly attempts: Array<{
    to: string;
    at: number;
    outcome: PushResult['outcome'];
    payload: Payload;
    options: PushOptions;
  }> = [];
  readonly #answers = new Map<string, PushResult[]>();
  /** While set, every send waits for it. */
  gate: Promise<void> | undefined;

  constructor(private readonly time: FakeTime) {}

  answer(to: string, ...results: PushResult[]): void {
    this.#answers.set(endpoint(to), results);
  }

  async send(target: PushTarget, payload: unknown, options: PushOptions): Promise<PushResult> {
    const result = this.#answers.get(target.endpoint)?.shift() ?? { outcome: 'delivered', httpStatus: 201 };
    const to = target.endpoint.slice(endpoint('').length);
    this.attempts.push({ to, at: this.time.now, outcome: result.outcome, payload: payload as Payload, options });
    if (this.gate) await this.gate;
    return result;
  }

  /** Who got a push, in order, as `phone@ms after T0`. */
  delivered(alertId?: string): string[] {
    return this.attempts
      .filter((a) => a.outcome === 'delivered' && (!alertId || a.payload.alertId === alertId))
      .map((a) => `${a.to}@${a.at - T0}`);
  }
}

const endpoint = (name: string) => `https://push.example/${name}`;

/** What opens an alert of patient "p", but its severity and time. */
const trigger = (id: string) => ({
  id,
  patientId: 'p',
  ruleId: id,
  carePlanVersion: 1,
  metric: 'spo2',
  message: 'SpO2 below 88 %: call the patient',
  reading: null,
});

/**
 * AlertDelivery on a real database, with a care team of three clinicians (each with a phone subscribed to
 * pushes) for patient "p", Ada Lovelace. Alerts are written as the rules and the alert routes write them
 * (the AlertStore, its outbox event in the same transaction), then the delivery is kicked, as main.ts does.
 */
function openDelivery() {
  const database = openTestDatabase();
  const { db, commits } = database;
  const time = new FakeTime();
  const push = new FakePush(time);
  const alerts = new AlertStore(db);
  const metrics = new Metrics();
  const policy = defaultEscalationPolicy({
    escalation: { critical: CRITICAL_DELAY, warning: WARNING_DELAY },
    acknowledgement: { critical: ACK_CRITICAL, warning: ACK_WARNING },
  });
  const availability = new AvailabilityStore(db);
  const start = () => {
    const delivery = new AlertDelivery({
      db,
      commits,
      alerts,
      policy,
      availability,
      push,
      agent: undefined,
      metrics,
      log: createLogger('silent'),
      ...time.options,
    });
    delivery.start();
    return delivery;
  };
  let delivery = start();
  let rule = 0;

  db.insert(patients).values({ id: 'p', name: 'Ada Lovelace', createdAt: T0 }).run();
  for (const [name, role] of TEAM) {
    db.insert(clinicians)
      .values({
        id: name,
        name,
        email: `${name}@example.org`,
        role: role === 'pcp' ? 'physician' : 'nurse',
        passwordHash: '-',
        createdAt: T0,
      })
      .run();
    db.insert(careTeamMembers).values({ patientId: 'p', clinicianId: name, role }).run();
    db.insert(pushSubscriptions)
      .values({
        id: `${name}-phone`,
        clinicianId: name,
        endpoint: endpoint(`${name}-phone`),
        p256dh: 'k',
        auth: 'a',
        createdAt: T0,
      })
      .run();
  }

  const harness = {
    ...database,
    availability,
    time,
    push,
    alerts,
    metrics,
    get delivery() {
      return delivery;
    },
    /** Waits until nothing is in flight. */
    settle: () => delivery.idle(),
    /** A new alert of the patient, as the rules open one; delivery is kicked as onAlertChanges does. */
    async raise(severity: Severity, patientId = 'p'): Promise<Alert> {
      const alert = openAlert({
        ...trigger(`alert-${++rule}`),
        patientId,
        severity,
        reading: { type: 'spo2', value: 85, receivedAt: new Date(time.now).toISOString() },
        at: time.now,
      });
      await commits.run(() => alerts.insert(alert, time.now));
      delivery.kick();
      await delivery.idle();
      return alert;
    },
    /** Saves a change made to an alert (an acknowledgement, a retrigger) with its outbox event, then kicks. */
    async change(alert: Alert, event: 'updated' | 'reopened' | 'acknowledged' | 'resolved') {
      await commits.run(() => alerts.update(alert, event, time.now));
      delivery.kick();
      await delivery.idle();
    },
    /** Moves the clock on by `ms`, waking the loop at each time it asked for and letting it finish. */
    async advance(ms: number) {
      const until = time.now + ms;
      for (let wake = time.takeDue(until); wake; wake = time.takeDue(until)) {
        time.now = Math.max(time.now, wake.at);
        wake.fire();
        await delivery.idle();
      }
      time.now = Math.max(time.now, until);
    },
    escalation: (alertId: string) => db.select().from(escalations).where(eq(escalations.alertId, alertId)).get(),
    /** The delivery log of an alert, as `tier clinician status(httpStatus) #attempt @ms after T0`. */
    log: (alertId: string) =>
      db
        .select()
        .from(deliveries)
        .where(eq(deliveries.alertId, alertId))
        .orderBy(asc(deliveries.seq))
        .all()
        .map((d) => `${d.tier} ${d.clinicianId ?? '-'} ${d.status}(${d.httpStatus ?? ''}) #${d.attempt} @${d.at - T0}`),
    /** A stop and a new start on the same database, as a restart of the service. */
    async restart() {
      await delivery.close();
      delivery = start();
    },
    async close() {
      await delivery.close();
      await database.close();
    },
  };
  return harness;
}

const open: Array<ReturnType<typeof openDelivery>> = [];
function openDeliveryForTest() {
  const harness = openDelivery();
  open.push(harness);
  return harness;
}
afterEach(async () => {
  for (const harness of open.splice(0)) await harness.close();
});

describe('AlertDelivery: escalation tier by tier', () => {
  it('pushes a new critical alert to the primary nurse at once, then the backup nurse and the pcp one delay apart', async () => {
    const t = openDeliveryForTest();
    const alert = await t.raise('critical');
    expect(t.push.delivered()).toEqual(['primary-phone@0']);
    expect(t.push.attempts[0]).toMatchObject({
      payload: {
        alertId: alert.id,
        severity: 'critical',
        message: 'SpO2 below 88 %: call the patient',
        patientInitials: 'A. L.',
        tier: 0,
        url: `/alerts/${alert.id}`,
      },
      options: { urgency: 'high', ttl: 24 * 3600, topic: alert.id.replaceAll('-', '') },
    });
    expect(JSON.stringify(t.push.attempts[0]!.payload)).not.toContain('Lovelace');
    expect(t.escalation(alert.id)).toMatchObject({ nextTier: 1, dueAt: T0 + CRITICAL_DELAY, state: 'pending' });

    await t.advance(CRITICAL_DELAY - 1);
    expect(t.push.delivered()).toEqual(['primary-phone@0']);
    await t.advance(1);
    expect(t.push.delivered()).toEqual(['primary-phone@0', `backup-phone@${CRITICAL_DELAY}`]);
    await t.advance(CRITICAL_DELAY);
    expect(t.push.delivered()).toEqual([
      'primary-phone@0',
      `backup-phone@${CRITICAL_DELAY}`,
      `pcp-phone@${2 * CRITICAL_DELAY}`,
    ]);
    expect(t.push.attempts.map((a) => a.payload.tier)).toEqual([0, 1, 2]);
    // After the PCP, the agency's on-call clinician (none is on shift here: passed at once, so the first repeat
    // takes its slot), then repeats to every tier told so far, every delay, until someone acknowledges: the
    // alert never goes silent, and never for two delays.
    expect(t.escalation(alert.id)).toMatchObject({ nextTier: 3, state: 'pending', dueAt: T0 + 3 * CRITICAL_DELAY });
    for (const n of [1, 2]) {
      await t.advance(CRITICAL_DELAY);
      const at = (2 + n) * CRITICAL_DELAY;
      expect(
        t.push
          .delivered()
          .slice(3 * n)
          .sort(),
      ).toEqual([`backup-phone@${at}`, `pcp-phone@${at}`, `primary-phone@${at}`]);
      expect(t.escalation(alert.id)).toMatchObject({ state: 'pending', repeat: n, dueAt: T0 + at + CRITICAL_DELAY });
    }
    expect(t.push.attempts.slice(3).map((a) => a.payload.repeat)).toEqual([1, 1, 1, 2, 2, 2]);
    await t.change(acknowledge(alert, 'pcp', t.time.now), 'acknowledged');
    await t.advance(10 * CRITICAL_DELAY);
    expect(t.push.attempts).toHaveLength(9);
  });

  it('wakes for the next escalation when it falls due, at least every 30 s', async () => {
    const t = openDeliveryForTest();
    await t.raise('critical');
    expect(t.time.wakeAt).toBe(T0 + 30 * SECOND);
    await t.advance(CRITICAL_DELAY - 10 * SECOND);
    expect(t.time.wakeAt).toBe(T0 + CRITICAL_DELAY);
  });

  it('a warning waits the warning delay', async () => {
    const t = openDeliveryForTest();
    const alert = await t.raise('warning');
    expect(t.push.delivered()).toEqual(['primary-phone@0']);
    expect(t.push.attempts[0]!.options.urgency).toBe('normal');
    await t.advance(WARNING_DELAY - 1);
    expect(t.push.delivered()).toHaveLength(1);
    await t.advance(1);
    expect(t.push.delivered(alert.id)).toEqual(['primary-phone@0', `backup-phone@${WARNING_DELAY}`]);
  });

  it('acknowledging stops the escalation', async () => {
    const t = openDeliveryForTest();
    const alert = await t.raise('critical');
    await t.advance(MINUTE);
    await t.change(acknowledge(alert, 'primary', t.time.now), 'acknowledged');
    expect(t.escalation(alert.id)).toMatchObject({ state: 'acknowledged', dueAt: T0 + MINUTE + ACK_CRITICAL });
    await t.advance(5 * CRITICAL_DELAY);
    expect(t.push.delivered()).toEqual(['primary-phone@0']);
  });

  it('an acknowledgement expires while the alert stays active: it is reopened and routed from the first tier', async () => {
    const t = openDeliveryForTest();
    const alert = await t.raise('critical');
    await t.advance(MINUTE);
    await t.change(acknowledge(alert, 'primary', t.time.now), 'acknowledged');
    await t.advance(ACK_CRITICAL);
    const reopened = t.alerts.get(alert.id)!;
    expect(reopened).toMatchObject({ status: 'open', reopenReason: 'acknowledgement_expired', episode: 1 });
    expect(t.push.delivered()).toEqual(['primary-phone@0', `primary-phone@${MINUTE + ACK_CRITICAL}`]);
    expect(t.escalation(alert.id)).toMatchObject({ state: 'pending', round: 1, nextTier: 1 });
  });

  it('an acknowledgement of an alert whose condition cleared stands when it expires', async () => {
    const t = openDeliveryForTest();
    const alert = await t.raise('critical');
    const acknowledged = acknowledge(alert, 'primary', t.time.now);
    await t.change(acknowledged, 'acknowledged');
    await t.change({ ...acknowledged, active: false }, 'updated');
    await t.advance(2 * ACK_CRITICAL);
    expect(t.alerts.get(alert.id)!.status).toBe('acknowledged');
    expect(t.escalation(alert.id)!.state).toBe('done');
    expect(t.push.attempts).toHaveLength(1);
  });

  it('an acknowledgement made while a tier is being pushed keeps the next tier from being told', async () => {
    const t = openDeliveryForTest();
    t.push.answer('primary-phone', { outcome: 'failed', httpStatus: 400, error: 'push service answered 400' });
    let release = () => {};
    t.push.gate = new Promise((resolve) => {
      release = resolve;
    });
    const alert = openAlert({ ...trigger('slow'), severity: 'critical', at: T0 });
    await t.commits.run(() => t.alerts.insert(alert, T0));
    t.delivery.kick();
    expect(t.push.attempts.map((a) => a.to)).toEqual(['primary-phone']); // waiting for the push service
    await t.commits.run(() => t.alerts.update(acknowledge(alert, 'primary', T0), 'acknowledged', T0));
    t.delivery.kick();
    release();
    await t.settle();
    // The primary nurse's push failed, but the alert was acknowledged meanwhile: nobody else is told.
    expect(t.push.attempts.map((a) => a.to)).toEqual(['primary-phone']);
    expect(t.escalation(alert.id)!.state).toBe('acknowledged');
  });

  it('does not push info alerts, nor escalate them', async () => {
    const t = openDeliveryForTest();
    const alert = await t.raise('info');
    await t.advance(5 * WARNING_DELAY);
    expect(t.push.attempts).toEqual([]);
    expect(t.escalation(alert.id)).toBeUndefined();
    expect(t.log(alert.id)).toEqual([]);
  });

  it('an info alert raised to critical (its rule was raised) is pushed at its next breach', async () => {
    const t = openDeliveryForTest();
    const alert = await t.raise('info');
    await t.advance(MINUTE);
    const { alert: raised } = breach(alert, {
      reading: null,
      at: t.time.now,
      severity: 'critical',
      message: 'Call now',
    });
    await t.change(raised, 'updated');
    expect(t.push.delivered()).toEqual([`primary-phone@${MINUTE}`]);
    expect(t.push.attempts[0]!.payload).toMatchObject({ severity: 'critical', message: 'Call now' });
    expect(t.escalation(alert.id)).toMatchObject({ nextTier: 1, dueAt: T0 + MINUTE + CRITICAL_DELAY });
  });

  it('a warning raised to critical while escalating is due no later than the critical delay allows', async () => {
    const t = openDeliveryForTest();
    const alert = await t.raise('warning');
    expect(t.escalation(alert.id)!.dueAt).toBe(T0 + WARNING_DELAY);
    await t.advance(MINUTE);
    await t.change(
      breach(alert, { reading: null, at: t.time.now, severity: 'critical', message: 'm' }).alert,
      'updated',
    );
    expect(t.escalation(alert.id)!.dueAt).toBe(T0 + MINUTE + CRITICAL_DELAY);
    // A repeat breach sends nothing new.
    expect(t.push.attempts).toHaveLength(1);
    await t.advance(CRITICAL_DELAY);
    expect(t.push.delivered()).toEqual(['primary-phone@0', `backup-phone@${MINUTE + CRITICAL_DELAY}`]);
  });
});

describe('AlertDelivery: availability, on call, and one push per reading', () => {
  const addOnCall = (t: ReturnType<typeof openDelivery>) => {
    t.db
      .insert(clinicians)
      .values({ id: 'olga', name: 'olga', email: 'olga@example.org', role: 'nurse', passwordHash: '-', createdAt: T0 })
      .run();
    t.db
      .insert(pushSubscriptions)
      .values({
        id: 'olga-phone',
        clinicianId: 'olga',
        endpoint: endpoint('olga-phone'),
        p256dh: 'k',
        auth: 'a',
        createdAt: T0,
      })
      .run();
    t.availability.setShifts([{ clinicianId: 'olga', from: T0 - MINUTE, until: T0 + 12 * 60 * MINUTE }]);
  };

  it('skips a clinician who is away at once, and gives what reached nobody on the team to the on-call nurse', async () => {
    const t = openDeliveryForTest();
    addOnCall(t);
    t.availability.setAwayPeriods('primary', [{ from: T0 - MINUTE, until: T0 + 60 * MINUTE, note: 'off shift' }]);
    const first = await t.raise('critical');
    expect(t.push.delivered(first.id)).toEqual(['backup-phone@0']);
    for (const id of ['backup', 'pcp'])
      t.availability.setAwayPeriods(id, [{ from: T0 - MINUTE, until: T0 + 60 * MINUTE, note: null }]);
    const second = await t.raise('critical');
    expect(t.push.delivered(second.id)).toEqual(['olga-phone@0']);
    expect(t.push.attempts.at(-1)!.payload.tier).toBe(3);
  });

  it('two alerts raised by one reading reach each clinician as one push, at the higher severity, with both ids', async () => {
    const t = openDeliveryForTest();
    const warning = openAlert({ ...trigger('hf-spo2-low'), severity: 'warning', at: T0 });
    const critical = openAlert({ ...trigger('copd-spo2-critical'), severity: 'critical', at: T0 });
    await t.commits.run(() => {
      t.alerts.insert(warning, T0);
      t.alerts.insert(critical, T0);
    });
    t.delivery.kick();
    await t.settle();
    expect(t.push.attempts).toHaveLength(1);
    expect(t.push.attempts[0]!.payload).toMatchObject({ alertId: critical.id, severity: 'critical' });
    expect([...(t.push.attempts[0]!.payload.alertIds as string[])].sort()).toEqual([warning.id, critical.id].sort());
    expect(t.log(warning.id)).toEqual(['0 primary delivered(201) #1 @0']);
    expect(t.log(critical.id)).toEqual(['0 primary delivered(201) #1 @0']);
  });

  it('a reopened alert is routed again from the first tier, in a new round', async () => {
    const t = openDeliveryForTest();
    const alert = await t.raise('warning');
    const acknowledged = acknowledge(alert, 'primary', t.time.now);
    await t.change(acknowledged, 'acknowledged');
    await t.change({ ...acknowledged, active: false }, 'updated');
    await t.advance(MINUTE);
    const { alert: reopened, event } = breach(
      { ...acknowledged, active: false },
      { reading: null, at: t.time.now, severity: 'warning', message: 'SpO2 79 %' },
    );
    expect(event).toBe('reopened');
    await t.change(reopened, 'reopened');
    expect(t.push.delivered()).toEqual(['primary-phone@0', `primary-phone@${MINUTE}`]);
    expect(t.escalation(alert.id)).toMatchObject({ state: 'pending', round: 1, nextTier: 1 });
  });
});

describe('AlertDelivery: pushes that fail', () => {
  it('removes a subscription the push service says is gone (410), and passes the alert to the next tier at once', async () => {
    const t = openDeliveryForTest();
    t.push.answer('primary-phone', { outcome: 'gone', httpStatus: 410 });
    const alert = await t.raise('critical');
    expect(t.push.delivered()).toEqual(['backup-phone@0']);
    expect(t.log(alert.id)).toEqual(['0 primary gone(410) #1 @0', '1 backup delivered(201) #1 @0']);
    expect(
      t.db.select().from(pushSubscriptions).where(eq(pushSubscriptions.id, 'primary-phone')).get(),
    ).toBeUndefined();
    expect(t.escalation(alert.id)).toMatchObject({ nextTier: 2, dueAt: T0 + CRITICAL_DELAY });

    // The nurse has no phone left: the next alert records that and goes on to the backup nurse.
    const next = await t.raise('critical');
    expect(t.log(next.id)).toEqual(['0 - no_recipient() #0 @0', '1 backup delivered(201) #1 @0']);
    expect(t.push.attempts.filter((a) => a.to === 'primary-phone')).toHaveLength(1);
  });

  it('retries a push after 1 s, then after the Retry-After the service asked for', async () => {
    const t = openDeliveryForTest();
    t.push.answer(
      'primary-phone',
      { outcome: 'retry', httpStatus: 503, retryAfterMs: undefined, error: 'push service answered 503' },
      { outcome: 'retry', httpStatus: 429, retryAfterMs: 10 * SECOND, error: 'push service answered 429' },
    );
    const alert = await t.raise('critical');
    expect(t.push.attempts.map((a) => `${a.to} ${a.outcome} @${a.at - T0}`)).toEqual([
      'primary-phone retry @0',
      'primary-phone retry @1000',
      'primary-phone delivered @11000',
    ]);
    expect(t.log(alert.id)).toEqual([
      '0 primary retrying(503) #1 @0',
      '0 primary retrying(429) #2 @1000',
      '0 primary delivered(201) #3 @11000',
    ]);
    // The next tier is due one delay after the tier was started, not after the retries.
    expect(t.escalation(alert.id)).toMatchObject({ nextTier: 1, dueAt: T0 + CRITICAL_DELAY });
  });

  it('a tier whose pushes fail (at once, or after three attempts) is unreachable: the next tier is told at once', async () => {
    const t = openDeliveryForTest();
    t.push.answer('primary-phone', { outcome: 'failed', httpStatus: 400, error: 'push service answered 400' });
    const retry = {
      outcome: 'retry',
      httpStatus: 500,
      retryAfterMs: undefined,
      error: 'push service answered 500',
    } as const;
    t.push.answer('backup-phone', retry, retry, retry);
    const alert = await t.raise('critical');
    expect(t.log(alert.id)).toEqual([
      '0 primary failed(400) #1 @0',
      '1 backup retrying(500) #1 @0',
      '1 backup retrying(500) #2 @1000',
      '1 backup failed(500) #3 @3000',
      '2 pcp delivered(201) #1 @3000',
    ]);
    expect(t.escalation(alert.id)).toMatchObject({
      state: 'pending',
      nextTier: 3,
      reachedAnyone: true,
      unreachable: false,
    });
  });

  it('an alert that reaches nobody is flagged for admins and counted', async () => {
    const t = openDeliveryForTest();
    t.db.insert(patients).values({ id: 'alone', name: 'Alan Turing', createdAt: T0 }).run();
    const alert = await t.raise('critical', 'alone');
    expect(t.push.attempts).toEqual([]);
    // Nobody in any tier and nobody on call: flagged, and the whole chain is tried again after the delay.
    expect(t.log(alert.id)).toEqual([0, 1, 2, 3].map((tier) => `${tier} - no_recipient() #0 @0`));
    expect(t.escalation(alert.id)).toMatchObject({
      state: 'pending',
      nextTier: 0,
      dueAt: T0 + CRITICAL_DELAY,
      reachedAnyone: false,
      unreachable: true,
    });
    expect(t.alerts.list({ unreachable: true, limit: 10 }).map((a) => a.id)).toEqual([alert.id]);
    expect((await t.metrics.alertsUnreached.get()).values).toEqual([{ labels: { severity: 'critical' }, value: 1 }]);
  });
});

describe('AlertDelivery: restarts', () => {
  it('a pending escalation survives a restart: the new process sends the tier that fell due while it was down', async () => {
    const t = openDeliveryForTest();
    const alert = await t.raise('critical');
    await t.delivery.close();
    t.time.now += CRITICAL_DELAY + MINUTE;
    await t.restart();
    await t.settle();
    expect(t.push.delivered()).toEqual(['primary-phone@0', `backup-phone@${CRITICAL_DELAY + MINUTE}`]);
    expect(t.escalation(alert.id)).toMatchObject({ nextTier: 2, dueAt: T0 + 2 * CRITICAL_DELAY + MINUTE });
  });

  it('an alert event written while delivery was stopped is delivered at the next start', async () => {
    const t = openDeliveryForTest();
    await t.delivery.close();
    const alert = openAlert({ ...trigger('while-down'), severity: 'critical', at: t.time.now });
    await t.commits.run(() => t.alerts.insert(alert, t.time.now));
    t.time.now += MINUTE;
    await t.restart();
    await t.settle();
    expect(t.push.delivered(alert.id)).toEqual([`primary-phone@${MINUTE}`]);
  });

  it('a crash between a push and its escalation row update sends nothing twice', async () => {
    const t = openDeliveryForTest();
    const alert = await t.raise('critical');
    await t.delivery.close();
    // As a crash would leave it: the push logged as delivered, the row still at the tier it pushed.
    t.db.update(escalations).set({ nextTier: 0, dueAt: T0 }).where(eq(escalations.alertId, alert.id)).run();
    t.time.now += MINUTE;
    await t.restart();
    await t.settle();
    expect(t.push.attempts).toHaveLength(1);
    expect(t.escalation(alert.id)).toMatchObject({
      nextTier: 1,
      dueAt: T0 + MINUTE + CRITICAL_DELAY,
      state: 'pending',
    });
  });

  /**
   * DUE_BATCH (100) escalations due and all still in flight (their pushes waiting on a slow push service,
   * or a restart with that many due): the pass reads the same 100 rows again, starts none, and since the
   * batch was full goes round again, in microtasks, without ever yielding to the event loop. Nothing
   * else runs (HTTP, MQTT, the pushes it waits for) until the process is killed. Here the fake clock
   * stops the spin after 600 readings of it by answering a time when nothing is due.
   */
  it('100 escalations in flight at once do not make the loop spin', async () => {
    const t = openDeliveryForTest();
    await t.delivery.close();
    let reads = 0;
    const now = t.time.options.now;
    // After the restart below: past 600 readings of the clock, a time when nothing is due.
    t.time.options.now = () => (++reads > 600 ? T0 - 60 * MINUTE : now());
    let release = () => {};
    t.push.gate = new Promise((resolve) => {
      release = resolve;
    });
    await t.commits.run(() => {
      for (let i = 0; i < 100; i++)
        t.alerts.insert(openAlert({ ...trigger(`a${i}`), severity: 'critical', at: T0 }), T0);
    });
    await t.restart();
    try {
      // One reading's worth of alerts of one patient: one push to the nurse, carrying all 100 ids.
      expect(t.push.attempts).toHaveLength(1);
      expect(t.push.attempts[0]!.payload.alertIds).toHaveLength(100);
      // A turn of the event loop: reached only once the passes stopped. One pass reads the clock for
      // each escalation it starts, and twice besides.
      await new Promise((resolve) => setImmediate(resolve));
      expect(reads).toBeLessThan(300);
    } finally {
      release();
      await t.settle();
    }
  });
});

describe('AlertDelivery: webhooks', () => {
  /** A webhook on a port nobody listens on: each attempt is refused at once, a failure worth retrying. */
  async function unreachableWebhook(t: ReturnType<typeof openDelivery>) {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    t.db
      .insert(webhooks)
      .values({ id: 'ehr', url: `https://127.0.0.1:${port}/hook`, secret: 's', createdAt: T0 })
      .run();
  }

  /** The webhook attempts for one kind of event, as `status #attempt @ms after T0`. */
  const attempts = (t: ReturnType<typeof openDelivery>, event: string) =>
    t.db
      .select()
      .from(deliveries)
      .where(and(eq(deliveries.channel, 'webhook'), eq(deliveries.event, event)))
      .orderBy(asc(deliveries.seq))
      .all()
      .map((d) => `${d.status} #${d.attempt} @${d.at - T0}`);

  it('queues every alert event for each webhook, and gives up on an unreachable one after 6 attempts', async () => {
    const t = openDeliveryForTest();
    await unreachableWebhook(t);
    const alert = await t.raise('info');
    await t.change(acknowledge(alert, 'primary', t.time.now), 'acknowledged');
    await t.advance(5 * MINUTE);
    expect(t.db.select().from(webhookJobs).all()).toMatchObject([
      { webhookId: 'ehr', attempts: 6, state: 'failed' },
      { webhookId: 'ehr', attempts: 6, state: 'failed' },
    ]);
    for (const event of ['opened', 'acknowledged']) {
      expect(attempts(t, event).map((a) => a.split(' @')[0])).toEqual([
        ...[1, 2, 3, 4, 5].map((n) => `retrying #${n}`),
        'failed #6',
      ]);
    }
  });

  /**
   * A failed attempt arms the loop's wake-up while its own job is still among those in flight, which the
   * schedule leaves out: the retry waits for the 30 s idle wake-up instead of its back-off. Measured
   * here: attempts at 0, 30, 60, 90, 120 s, two minutes before giving up rather than half a minute.
   */
  it('retries an unreachable webhook 1, 2, 4, 8 and 16 s apart, as its constants say', async () => {
    const t = openDeliveryForTest();
    await unreachableWebhook(t);
    await t.raise('info');
    await t.advance(MINUTE);
    expect(attempts(t, 'opened')).toEqual([
      'retrying #1 @0',
      'retrying #2 @1000',
      'retrying #3 @3000',
      'retrying #4 @7000',
      'retrying #5 @15000',
      'failed #6 @31000',
    ]);
  });
});
