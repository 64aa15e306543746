import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolve } from '../alerts/lifecycle.ts';
import { AlertStore } from '../alerts/store.ts';
import { CarePlanStore } from '../care-plans/store.ts';
import { uuidv7 } from '../domain/ids.ts';
import { dedupeKey, toStored, type NormalizedReading, type StoredReading } from '../domain/reading.ts';
import { ruleSchema, type Rule } from '../domain/rule.ts';
import { SqliteReadingStore } from '../store/sqlite-reading-store.ts';
import { patients } from '../store/schema.ts';
import { openTestDatabase } from '../store/test-db.ts';
import { RuleEngine, type AlertChange } from './engine.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.parse('2026-11-20T07:00:00Z');

const rule = (input: Record<string, unknown>) => ruleSchema.parse({ message: 'm', ...input }) as Rule;
const spo2Critical = rule({
  id: 'spo2-critical',
  metric: 'spo2',
  when: { kind: 'threshold', op: '<', value: 88 },
  severity: 'critical',
});
const noWeight = rule({
  id: 'no-weight',
  metric: 'weight',
  when: { kind: 'missing', for: '36h' },
  severity: 'warning',
});

const spo2 = (measuredAt: number, value: number, pulse: number | null = null): NormalizedReading => ({
  messageId: null,
  type: 'spo2',
  measuredAt,
  systolic: null,
  diastolic: null,
  pulse,
  value,
  unit: null,
});
const weight = (measuredAt: number, kg: number): NormalizedReading => ({
  messageId: null,
  type: 'weight',
  measuredAt,
  systolic: null,
  diastolic: null,
  pulse: null,
  value: kg,
  unit: 'kg',
});

/**
 * A real database, and the service's rule engine on it. `restart` makes a new engine and alert store on
 * the same database, as a new process would have: after a clean stop (`saveStates` first, as main.ts
 * does on SIGTERM) or after a crash (nothing saved since the last periodic save).
 */
function openRules() {
  const database = openTestDatabase({
    // As main.ts wires it: a rolled-back batch drops both caches.
    onRollback: () => {
      rules.engine.forgetAll();
      rules.alerts.forgetAll();
    },
  });
  const { db, commits } = database;
  const carePlans = new CarePlanStore(db);
  const readings = new SqliteReadingStore(db);
  const start = () => {
    const alerts = new AlertStore(db);
    return { alerts, engine: new RuleEngine(db, carePlans, alerts) };
  };
  const rules = {
    ...database,
    carePlans,
    ...start(),
    addPatient(id: string, planRules: Rule[], at = T0) {
      db.insert(patients)
        .values({ id, name: `Patient ${id}`, createdAt: at })
        .run();
      if (planRules.length) carePlans.save(id, [], planRules, 'test', at);
      // As the care-plan route does (onCarePlanChanged).
      rules.engine.forgetPatient(id);
    },
    /** Stores the readings of one message and evaluates them, in the job's transaction (as Ingest does). */
    store(patientId: string, batch: NormalizedReading[], receivedAt: number, deviceId = 'device-1'): AlertChange[] {
      const stored: StoredReading[] = [];
      for (const normalized of batch) {
        const reading = toStored(normalized, uuidv7(receivedAt), deviceId, patientId, receivedAt);
        if (readings.insert(reading, dedupeKey(reading))) stored.push(reading);
      }
      return stored.length ? rules.engine.evaluateReadings(stored, receivedAt) : [];
    },
    receive(patientId: string, batch: NormalizedReading[], receivedAt: number, deviceId?: string) {
      return commits.run(() => rules.store(patientId, batch, receivedAt, deviceId));
    },
    sweep(now: number) {
      return commits.run(() => rules.engine.sweepMissing(now));
    },
    async restart(how: 'clean stop' | 'crash', now: number) {
      if (how === 'clean stop') await commits.run(() => rules.engine.saveStates(now));
      Object.assign(rules, start());
    },
  };
  return rules;
}

/** What a decision says, without the alert's random id, so that two databases can be compared. */
const decision = ({ alert, event }: AlertChange) => ({
  event,
  ruleId: alert.ruleId,
  severity: alert.severity,
  status: alert.status,
  active: alert.active,
  count: alert.count,
  lastTriggeredAt: alert.lastTriggeredAt,
  measuredAt: alert.reading?.measuredAt ?? null,
});

const open: Array<ReturnType<typeof openRules>> = [];
function openRulesForTest() {
  const rules = openRules();
  open.push(rules);
  return rules;
}
afterEach(async () => {
  for (const rules of open.splice(0)) await rules.close();
});

describe('RuleEngine: the cache and a cold start decide alike', () => {
  it.each(['clean stop', 'crash'] as const)(
    'a late reading just after a restart (%s) is still known to be late: it counts for no alert',
    async (how) => {
      const rules = openRulesForTest();
      rules.addPatient('p', [spo2Critical]);
      const received = T0 + HOUR;
      const opened = await rules.receive('p', [spo2(T0 + 30 * MINUTE, 85)], received);
      expect(opened.map(decision)).toMatchObject([{ event: 'opened', count: 1 }]);
      // Within a second of the last save, so saved only at a clean stop: after a crash the newest
      // measurement time must come back from the readings stored after the last save.
      const updated = await rules.receive('p', [spo2(T0 + 40 * MINUTE, 86)], received + 200);
      expect(updated.map(decision)).toMatchObject([{ event: 'updated', count: 2 }]);
      await rules.restart(how, received + 300);

      // Measured before the newest value already seen: stored, but it does not count for the alert...
      expect(await rules.receive('p', [spo2(T0 + 35 * MINUTE, 80)], received + 400, 'device-2')).toEqual([]);
      // ...while a current one does.
      const current = await rules.receive('p', [spo2(T0 + 50 * MINUTE, 85)], received + 500);
      expect(current.map(decision)).toMatchObject([{ event: 'updated', count: 3 }]);
    },
  );

  it('a restart continues consecutive, average and change rules from the stored history', async () => {
    const plan = [
      rule({
        id: 'low-3',
        metric: 'spo2',
        when: { kind: 'consecutive', op: '<', value: 92, count: 3 },
        severity: 'warning',
      }),
      rule({ id: 'avg-4', metric: 'spo2', when: { kind: 'average', op: '<', value: 90, count: 4 }, severity: 'info' }),
      rule({
        id: 'gain',
        metric: 'weight',
        when: { kind: 'change', op: '>=', value: 2, unit: 'lb', within: '24h' },
        severity: 'warning',
      }),
    ];
    const readings: Array<[NormalizedReading, number]> = [
      [spo2(T0, 91), T0 + 1_000],
      [weight(T0, 80), T0 + 2_000],
      [spo2(T0 + HOUR, 88), T0 + HOUR],
      [weight(T0 + 20 * HOUR, 80.5), T0 + 20 * HOUR],
      [spo2(T0 + 21 * HOUR, 90), T0 + 21 * HOUR],
      [spo2(T0 + 22 * HOUR, 89), T0 + 22 * HOUR],
      [weight(T0 + 23 * HOUR, 81), T0 + 23 * HOUR],
      [spo2(T0 + 24 * HOUR, 95), T0 + 24 * HOUR],
    ];
    const reference = openRulesForTest();
    reference.addPatient('p', plan);
    const expected = [];
    for (const [reading, at] of readings) expected.push((await reference.receive('p', [reading], at)).map(decision));
    // The reference fires each rule at least once, or the comparison would show little.
    expect(new Set(expected.flat().map((d) => d.ruleId))).toEqual(new Set(['low-3', 'avg-4', 'gain']));

    for (const how of ['clean stop', 'crash'] as const) {
      const restarted = openRulesForTest();
      restarted.addPatient('p', plan);
      const actual = [];
      for (const [reading, at] of readings) {
        actual.push((await restarted.receive('p', [reading], at)).map(decision));
        await restarted.restart(how, at);
      }
      expect(actual, how).toEqual(expected);
    }
  });

  /**
   * Two readings measured at the same millisecond (two oximeters of one patient, or a cuff and an
   * oximeter that both carry pulse, with clocks in whole seconds). The cache keeps them in the order they
   * arrived; a cold start loads them back from SQLite later row first (the index is scanned descending,
   * and JavaScript's sort by time is stable), so the last `count` of a `consecutive` rule holds another
   * pair. Either order would do; the two must agree.
   */
  it('readings measured at the same time count in the same order after a restart', async () => {
    const plan = [
      rule({
        id: 'low-2',
        metric: 'spo2',
        when: { kind: 'consecutive', op: '<', value: 90, count: 2 },
        severity: 'warning',
      }),
    ];
    const run = async (restart: boolean) => {
      const rules = openRulesForTest();
      rules.addPatient('p', plan);
      await rules.receive('p', [spo2(T0, 95)], T0 + HOUR, 'oximeter-1');
      await rules.receive('p', [spo2(T0 + MINUTE, 85)], T0 + HOUR + 10, 'oximeter-1');
      await rules.receive('p', [spo2(T0 + MINUTE, 95)], T0 + HOUR + 20, 'oximeter-2');
      if (restart) await rules.restart('clean stop', T0 + HOUR + 30);
      return (await rules.receive('p', [spo2(T0 + 2 * MINUTE, 85)], T0 + HOUR + 40, 'oximeter-1')).map(decision);
    };
    // Without a restart, the last two values are 95 (the later arrival at T0 + 1 min) and 85: nothing.
    expect(await run(false)).toEqual([]);
    expect(await run(true)).toEqual([]);
  });
});

describe('RuleEngine: dropping what it caches', () => {
  it('keeps the compiled care plan until forgetPatient, then evaluates the new plan on the history it needs', async () => {
    const rules = openRulesForTest();
    rules.addPatient('p', [spo2Critical]);
    for (const [i, value] of [89, 89].entries())
      expect(await rules.receive('p', [spo2(T0 + i * HOUR, value)], T0 + i * HOUR)).toEqual([]);

    const average = rule({
      id: 'avg-3',
      metric: 'spo2',
      when: { kind: 'average', op: '<', value: 90, count: 3 },
      severity: 'warning',
    });
    const plan = rules.carePlans.save('p', [], [average], 'test', T0 + 2 * HOUR);
    // The route that saves a plan calls forgetPatient; until then the cached plan is in force.
    expect(await rules.receive('p', [spo2(T0 + 2 * HOUR, 89)], T0 + 2 * HOUR)).toEqual([]);

    rules.engine.forgetPatient('p');
    // The history of the old plan held one value; the new rule needs three, read again from the readings.
    const changes = await rules.receive('p', [spo2(T0 + 3 * HOUR, 89.5)], T0 + 3 * HOUR);
    expect(changes.map(({ alert, event }) => [event, alert.ruleId, alert.carePlanVersion])).toEqual([
      ['opened', 'avg-3', plan.version],
    ]);
  });

  it('after a rolled-back batch (forgetAll), nothing of the rolled-back readings is left in the decisions', async () => {
    const rules = openRulesForTest();
    rules.addPatient('p', [spo2Critical]);
    const at = T0 + 10 * HOUR;
    const outcomes = await Promise.allSettled([
      rules.receive('p', [spo2(T0 + HOUR, 95)], at),
      // Stores and evaluates a reading, then fails: the whole batch rolls back, the first job runs again alone.
      rules.commits.run(() => {
        rules.store('p', [spo2(T0 + 3 * HOUR, 80)], at, 'device-2');
        throw new Error('disk full');
      }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected']);
    expect(rules.alerts.list({ patientId: 'p', limit: 10 })).toEqual([]);

    // The newest reading committed was measured at T0 + 1 h, so one measured at T0 + 2 h is current, not
    // late behind the rolled-back T0 + 3 h, and it opens the alert.
    const changes = await rules.receive('p', [spo2(T0 + 2 * HOUR, 85)], at + 100);
    expect(changes.map(decision)).toMatchObject([{ event: 'opened', ruleId: 'spo2-critical', count: 1 }]);
    expect(rules.alerts.list({ patientId: 'p', limit: 10 })).toHaveLength(1);
  });
});

describe('RuleEngine: missing-data deadlines', () => {
  it('opens the alert at the deadline counted from when the rule entered the plan, once', async () => {
    const rules = openRulesForTest();
    rules.addPatient('p', [noWeight], T0);
    expect(await rules.sweep(T0)).toEqual({ changes: [], nextDeadline: T0 + 36 * HOUR });
    expect(await rules.sweep(T0 + 36 * HOUR - 1)).toEqual({ changes: [], nextDeadline: T0 + 36 * HOUR });

    const due = await rules.sweep(T0 + 36 * HOUR);
    expect(due.changes.map(decision)).toEqual([
      {
        event: 'opened',
        ruleId: 'no-weight',
        severity: 'warning',
        status: 'open',
        active: true,
        count: 1,
        lastTriggeredAt: T0 + 36 * HOUR,
        measuredAt: null,
      },
    ]);
    // In force: no deadline to wait for, and later sweeps do not count it again.
    expect(due.nextDeadline).toBeUndefined();
    expect(await rules.sweep(T0 + 40 * HOUR)).toEqual({ changes: [], nextDeadline: undefined });
  });

  it('data arriving clears the alert and moves the deadline; a further gap re-triggers the same alert', async () => {
    const rules = openRulesForTest();
    rules.addPatient('p', [noWeight], T0);
    await rules.sweep(T0 + 36 * HOUR);
    let moved = 0;
    rules.engine.onMissingDeadlineMoved = () => moved++;

    const arrived = T0 + 37 * HOUR;
    expect(await rules.receive('p', [weight(arrived - MINUTE, 80)], arrived)).toEqual([]);
    expect(moved).toBe(1);
    const [alert] = rules.alerts.list({ patientId: 'p', limit: 10 });
    expect(alert).toMatchObject({ status: 'open', active: false, count: 1 });
    expect(await rules.sweep(arrived + HOUR)).toEqual({ changes: [], nextDeadline: arrived + 36 * HOUR });

    // Another reading of a metric without a missing rule in force does not move anything.
    await rules.receive('p', [weight(arrived + MINUTE, 80)], arrived + 2 * MINUTE);
    expect(moved).toBe(1);

    const again = await rules.sweep(arrived + 2 * MINUTE + 36 * HOUR);
    expect(again.changes.map(decision)).toMatchObject([{ event: 'updated', active: true, count: 2 }]);
    expect(again.changes[0]!.alert.id).toBe(alert!.id);
  });

  it('a resolved alert starts the clock again from when it was resolved', async () => {
    const rules = openRulesForTest();
    rules.addPatient('p', [noWeight], T0);
    const [opened] = (await rules.sweep(T0 + 36 * HOUR)).changes;
    const resolvedAt = T0 + 40 * HOUR;
    await rules.commits.run(() =>
      rules.alerts.update(resolve(opened!.alert, 'nurse-1', resolvedAt, 'called'), 'resolved', resolvedAt),
    );
    expect(await rules.sweep(resolvedAt + 36 * HOUR - 1)).toEqual({
      changes: [],
      nextDeadline: resolvedAt + 36 * HOUR,
    });
    const reopened = (await rules.sweep(resolvedAt + 36 * HOUR)).changes;
    expect(reopened.map(decision)).toMatchObject([{ event: 'opened', count: 1 }]);
    expect(reopened[0]!.alert.id).not.toBe(opened!.alert.id);
  });

  it.each(['clean stop', 'crash'] as const)(
    'after a restart (%s) the deadline still counts from the last arrival',
    async (how) => {
      const rules = openRulesForTest();
      rules.addPatient('p', [noWeight], T0);
      await rules.receive('p', [weight(T0 + HOUR, 80)], T0 + HOUR);
      // Within a second of the save made with the first: after a crash, only the reading tells of it.
      const last = T0 + HOUR + 500;
      await rules.receive('p', [weight(T0 + HOUR + 400, 80)], last, 'device-2');
      await rules.restart(how, last + 100);
      expect(await rules.sweep(last + HOUR)).toEqual({ changes: [], nextDeadline: last + 36 * HOUR });
      expect((await rules.sweep(last + 36 * HOUR - 1)).changes).toEqual([]);
      expect((await rules.sweep(last + 36 * HOUR)).changes.map(decision)).toMatchObject([{ event: 'opened' }]);
    },
  );
});

/**
 * The property behind the cache: whatever it drops, and whenever, decisions are the ones an engine that
 * never dropped anything makes. Two databases fed the same readings in the same transactions; on the
 * second, after some of them, the engine restarts (cleanly or after a crash) or forgets its caches.
 */
describe('RuleEngine: a property', () => {
  const PLAN = [
    spo2Critical,
    rule({
      id: 'low-3',
      metric: 'spo2',
      when: { kind: 'consecutive', op: '<', value: 92, count: 3 },
      severity: 'warning',
    }),
    rule({ id: 'avg-4', metric: 'spo2', when: { kind: 'average', op: '<', value: 91, count: 4 }, severity: 'info' }),
    rule({
      id: 'fast-2',
      metric: 'pulse',
      when: { kind: 'consecutive', op: '>', value: 115, count: 2 },
      severity: 'warning',
    }),
    rule({
      id: 'gain',
      metric: 'weight',
      when: { kind: 'change', op: '>=', value: 2, unit: 'lb', within: '24h' },
      severity: 'warning',
    }),
    rule({
      id: 'loss',
      metric: 'weight',
      when: { kind: 'change', op: '<=', value: -1.5, within: '3d' },
      severity: 'info',
    }),
    rule({ id: 'no-weight', metric: 'weight', when: { kind: 'missing', for: '12h' }, severity: 'warning' }),
  ];
  const DROPS = ['clean stop', 'crash', 'forgetAll', 'forgetPatient'] as const;
  type Drop = (typeof DROPS)[number];
  const step = fc.record({
    metric: fc.constantFrom('spo2', 'weight'),
    /** Hours after the run's start it was measured: one before an earlier reading's is late. */
    hour: fc.integer({ min: 0, max: 47 }),
    level: fc.integer({ min: 0, max: 8 }),
    /** After the previous reading; under a second leaves the metric states unsaved. */
    gapMs: fc.constantFrom(300, 700, HOUR, 5 * HOUR),
    drop: fc.option(fc.constantFrom(...DROPS), { freq: 2 }),
  });

  let reference: ReturnType<typeof openRules>;
  let dropping: ReturnType<typeof openRules>;
  beforeAll(() => {
    reference = openRules();
    dropping = openRules();
  });
  afterAll(async () => {
    await reference?.close();
    await dropping?.close();
  });

  async function drop(rules: ReturnType<typeof openRules>, how: Drop, patientId: string, now: number) {
    if (how === 'forgetAll') rules.engine.forgetAll();
    else if (how === 'forgetPatient') rules.engine.forgetPatient(patientId);
    else await rules.restart(how, now);
  }

  it('dropping the cache at any point changes no decision', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), async (steps) => {
        const patientId = `p${++run}`;
        // Each run in a time of its own, so that the earlier runs' patients are not swept into it.
        const start = T0 + run * 30 * 24 * HOUR;
        for (const rules of [reference, dropping]) rules.addPatient(patientId, PLAN, start);
        let receivedAt = start + 48 * HOUR;
        const messages = steps.map((s, i) => {
          receivedAt += s.gapMs;
          // Distinct times (+ i ms): equal ones are the known divergence above.
          const measuredAt = start + s.hour * HOUR + i;
          const reading =
            s.metric === 'spo2'
              ? spo2(measuredAt, 84 + s.level, 100 + 3 * s.level)
              : weight(measuredAt, 80 + 0.4 * s.level);
          return { reading, receivedAt, drop: s.drop };
        });
        // The same transactions on both: the messages between two drops, then a missing-data sweep.
        const segments: Array<typeof messages> = [[]];
        for (const message of messages) {
          segments.at(-1)!.push(message);
          if (message.drop) segments.push([]);
        }
        const decide = async (rules: ReturnType<typeof openRules>, segment: typeof messages) => {
          const now = segment.at(-1)?.receivedAt ?? receivedAt;
          const results = await Promise.all([
            ...segment.map((m) => rules.receive(patientId, [m.reading], m.receivedAt)),
            rules.sweep(now).then(({ changes, nextDeadline }) => [
              // Earlier runs' patients too, in the order of a Set the engine rebuilds when it drops its cache.
              ...changes.map((c) => JSON.stringify({ patientId: c.alert.patientId, ...decision(c) })).sort(),
              { nextDeadline },
            ]),
          ]);
          return results.map((changes) =>
            changes.map((c) => (typeof c === 'object' && 'alert' in c ? decision(c) : c)),
          );
        };
        for (const segment of segments) {
          // Both at once: their commits and fdatasyncs overlap.
          const [expected, actual] = await Promise.all([decide(reference, segment), decide(dropping, segment)]);
          expect(actual).toEqual(expected);
          const how = segment.at(-1)?.drop;
          if (how) await drop(dropping, how, patientId, segment.at(-1)!.receivedAt);
        }
        const alertsOf = (rules: ReturnType<typeof openRules>) =>
          rules.alerts
            .list({ patientId, limit: 100 })
            // Without the ids: alerts' and readings' are made at random.
            .map(({ id: _, reading, ...alert }) => ({ ...alert, measuredAt: reading?.measuredAt }))
            .sort((a, b) => a.openedAt - b.openedAt || a.ruleId.localeCompare(b.ruleId));
        expect(alertsOf(dropping)).toEqual(alertsOf(reference));
      }),
      { numRuns: 20 },
    );
  });
});
