import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  acknowledge,
  breach,
  deactivate,
  escalatedBySibling,
  expireAcknowledgement,
  openAlert,
  resolve,
  type Alert,
} from '../alerts/lifecycle.ts';
import type { Severity } from '../domain/rule.ts';
import {
  acknowledgeEscalation,
  acknowledgementExpired,
  afterStep,
  type Availability,
  type Escalation,
  defaultEscalationPolicy,
  dueStep,
  groupNotifications,
  isPushed,
  onCallTier,
  repeatTier,
  startEscalation,
} from './escalation-policy.ts';

const MINUTE = 60_000;
const policy = defaultEscalationPolicy({
  escalation: { critical: 15 * MINUTE, warning: 4 * 60 * MINUTE },
  acknowledgement: { critical: 60 * MINUTE, warning: 24 * 60 * MINUTE },
});
const team = [
  { clinicianId: 'nina', role: 'primary_nurse' as const },
  { clinicianId: 'bob', role: 'backup_nurse' as const },
  { clinicianId: 'paul', role: 'pcp' as const },
  { clinicianId: 'sam', role: 'specialist' as const },
];
const everyone: Availability = { team, unavailable: new Set(), onCall: 'olga' };

describe('the escalation policy', () => {
  it('notifies the primary nurse, then the backup, the pcp and the on-call clinician, each after the delay', () => {
    let escalation = startEscalation(0);
    const reached: string[][] = [];
    let now = 0;
    for (let i = 0; i < 4; i++) {
      expect(escalation.dueAt).toBe(now);
      const step = dueStep(escalation, everyone, policy);
      reached.push(step.clinicianIds);
      escalation = afterStep(escalation, step, true, 'critical', now, policy);
      now += 15 * MINUTE;
    }
    expect(reached).toEqual([['nina'], ['bob'], ['paul'], ['olga']]);
    expect(escalation).toMatchObject({ nextTier: repeatTier(policy), dueAt: now, repeat: 0 });
  });

  it('after the last tier repeats to every tier notified so far, every delay, until acknowledged', () => {
    let escalation: Escalation = { ...startEscalation(0), nextTier: repeatTier(policy), reachedAnyone: true };
    for (let n = 1; n <= 3; n++) {
      const step = dueStep(escalation, everyone, policy);
      expect(step).toEqual({ tier: repeatTier(policy), repeat: n, clinicianIds: ['nina', 'bob', 'paul', 'olga'] });
      escalation = afterStep(escalation, step, n !== 2, 'warning', n * 1000, policy);
      expect(escalation).toMatchObject({ state: 'pending', repeat: n, dueAt: n * 1000 + 4 * 60 * MINUTE });
    }
    expect(acknowledgeEscalation(escalation, 'warning', 5000, policy)).toMatchObject({
      state: 'acknowledged',
      dueAt: 5000 + 24 * 60 * MINUTE,
    });
  });

  it('skips an away clinician at once, and gives what reached nobody on the team to the on-call clinician', () => {
    const away: Availability = { team, unavailable: new Set(['nina', 'bob', 'paul']), onCall: 'olga' };
    let escalation = startEscalation(0);
    const steps = [];
    for (;;) {
      const step = dueStep(escalation, away, policy);
      steps.push(step);
      escalation = afterStep(escalation, step, step.clinicianIds.length > 0, 'critical', 0, policy);
      if (step.clinicianIds.length) break;
    }
    expect(steps.map((s) => s.clinicianIds)).toEqual([[], [], [], ['olga']]);
    expect(steps.at(-1)!.tier).toBe(onCallTier(policy));
  });

  it('an alert that reached nobody at all is flagged and the whole chain is tried again after the delay', () => {
    const nobody: Availability = { team: [], unavailable: new Set(), onCall: null };
    let escalation = startEscalation(0);
    for (let i = 0; i < 4; i++) {
      escalation = afterStep(escalation, dueStep(escalation, nobody, policy), false, 'critical', 100, policy);
    }
    expect(escalation).toMatchObject({ state: 'pending', nextTier: 0, unreachable: true, dueAt: 100 + 15 * MINUTE });
  });

  it('an alert flagged unreachable loses the flag once a later pass reaches someone', () => {
    const flagged: Escalation = { ...startEscalation(0), unreachable: true };
    const step = dueStep(flagged, everyone, policy);
    expect(afterStep(flagged, step, true, 'critical', 0, policy).unreachable).toBe(false);
    expect(afterStep(flagged, step, false, 'critical', 0, policy).unreachable).toBe(true);
  });

  it('an expired acknowledgement reopens an alert still active, and stands for one that cleared', () => {
    expect(acknowledgementExpired({ status: 'acknowledged', active: true })).toBe('reopen');
    expect(acknowledgementExpired({ status: 'acknowledged', active: false })).toBe('done');
    expect(acknowledgementExpired({ status: 'resolved', active: true })).toBe('done');
  });

  it('lets a new alert lead a notification it shares with a repeat of an older one of the same severity', () => {
    const [notification] = groupNotifications([
      { alertId: 'old', severity: 'critical', clinicianIds: ['nina'], fresh: false },
      { alertId: 'new', severity: 'critical', clinicianIds: ['nina'], fresh: true },
    ]);
    expect(notification).toEqual({ clinicianId: 'nina', alertIds: ['old', 'new'], severity: 'critical', lead: 'new' });
  });

  it('gives each clinician one notification for alerts due together, at the highest severity, with every id', () => {
    const notifications = groupNotifications([
      { alertId: 'hf-spo2-low', severity: 'warning', clinicianIds: ['nina'] },
      { alertId: 'copd-spo2-critical', severity: 'critical', clinicianIds: ['nina', 'bob'] },
      { alertId: 'hf-spo2-critical', severity: 'critical', clinicianIds: ['nina'] },
    ]);
    expect(notifications).toEqual([
      {
        clinicianId: 'nina',
        alertIds: ['hf-spo2-low', 'copd-spo2-critical', 'hf-spo2-critical'],
        severity: 'critical',
        lead: 'copd-spo2-critical',
      },
      { clinicianId: 'bob', alertIds: ['copd-spo2-critical'], severity: 'critical', lead: 'copd-spo2-critical' },
    ]);
  });
});

/**
 * A model of one patient's alerts through the pure lifecycle and policy, driven as the runner drives
 * them: readings breach or clear rules, clinicians acknowledge and resolve, the clock moves, and every
 * pass notifies what is due. Properties: an open pushed alert always has a notification due, and no
 * clinician is notified twice for one reading.
 */
const RULES = [
  { id: 'low', severity: 'warning' as Severity, below: 90 },
  { id: 'critical', severity: 'critical' as Severity, below: 88 },
  { id: 'info', severity: 'info' as Severity, below: 92 },
];

type Event =
  | { kind: 'reading'; value: number }
  | { kind: 'acknowledge'; rule: number; by: string }
  | { kind: 'resolve'; rule: number; by: string }
  | { kind: 'tick'; minutes: number };

const events = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('reading' as const), value: fc.integer({ min: 80, max: 99 }) }),
    fc.record({
      kind: fc.constant('acknowledge' as const),
      rule: fc.integer({ min: 0, max: 2 }),
      by: fc.constantFrom('nina', 'bob'),
    }),
    fc.record({
      kind: fc.constant('resolve' as const),
      rule: fc.integer({ min: 0, max: 2 }),
      by: fc.constantFrom('nina', 'bob'),
    }),
    fc.record({ kind: fc.constant('tick' as const), minutes: fc.integer({ min: 1, max: 600 }) }),
  ),
  { maxLength: 60 },
);

function runModel(script: Event[], availability: Availability, subscribed: ReadonlySet<string>) {
  let now = 0;
  let readingSeq = 0;
  const alerts = new Map<string, Alert>();
  const timers = new Map<string, Escalation>();
  /** Pushes by pass: [pass, clinician, reading that raised the alerts] */
  const pushes: Array<{ pass: number; clinicianId: string; reading: string | null }> = [];
  const violations: string[] = [];
  let pass = 0;

  const routeFromTierOne = (alert: Alert) => {
    if (isPushed(alert.severity, policy)) timers.set(alert.id, startEscalation(now));
  };

  /** One runner pass: due timers, grouped into one notification per clinician. */
  const runDue = () => {
    pass++;
    const due = [...timers].filter(([, t]) => t.dueAt <= now && (t.state === 'pending' || t.state === 'acknowledged'));
    const steps = [];
    for (const [id, timer] of due) {
      const alert = alerts.get(id)!;
      if (timer.state === 'acknowledged') {
        if (acknowledgementExpired(alert) === 'reopen') {
          const reopened = expireAcknowledgement(alert, now)!;
          alerts.set(id, reopened);
          routeFromTierOne(reopened);
        } else timers.set(id, { ...timer, state: 'done' });
        continue;
      }
      if (alert.status !== 'open') {
        timers.set(id, { ...timer, state: 'cancelled' });
        continue;
      }
      steps.push({ id, alert, timer, step: dueStep(timer, availability, policy) });
    }
    const notifications = groupNotifications(
      steps.map(({ id, alert, step }) => ({ alertId: id, severity: alert.severity, clinicianIds: step.clinicianIds })),
    );
    const delivered = new Set(notifications.map((n) => n.clinicianId).filter((id) => subscribed.has(id)));
    for (const n of notifications) {
      const reading = (alerts.get(n.lead)!.reading as { seq?: string } | null)?.seq ?? null;
      pushes.push({ pass, clinicianId: n.clinicianId, reading });
    }
    for (const { id, alert, timer, step } of steps) {
      const reached = step.clinicianIds.some((c) => delivered.has(c));
      timers.set(id, afterStep(timer, step, reached, alert.severity, now, policy));
    }
    return steps.length > 0;
  };

  const settle = () => {
    // Steps due "at once" (empty tiers) run in further passes at the same instant, as the runner loops.
    for (let i = 0; i < 20 && runDue(); i++) {
      if (![...timers.values()].some((t) => t.dueAt <= now && t.state === 'pending')) break;
    }
  };

  const checkInvariant = () => {
    for (const alert of alerts.values()) {
      if (alert.status !== 'open' || !isPushed(alert.severity, policy)) continue;
      const timer = timers.get(alert.id);
      if (timer?.state !== 'pending' || !Number.isFinite(timer.dueAt))
        violations.push(`open ${alert.id} (${alert.severity}) has no notification due: ${JSON.stringify(timer)}`);
    }
  };

  for (const event of script) {
    if (event.kind === 'tick') now += event.minutes * MINUTE;
    if (event.kind === 'reading') {
      const seq = `r${++readingSeq}`;
      let worst: Severity | undefined;
      for (const rule of RULES) {
        const matched = event.value < rule.below;
        const existing = alerts.get(rule.id);
        const live = existing && existing.status !== 'resolved' ? existing : undefined;
        if (!matched) {
          if (live?.active) alerts.set(rule.id, deactivate(live));
          continue;
        }
        if (!worst || policy.escalationMs[rule.severity] < policy.escalationMs[worst]) worst = rule.severity;
        const trigger = { reading: { seq }, at: now, severity: rule.severity, message: rule.id };
        if (!live) {
          const opened = openAlert({
            ...trigger,
            id: rule.id,
            patientId: 'p',
            ruleId: rule.id,
            carePlanVersion: 1,
            metric: 'spo2',
          });
          alerts.set(rule.id, opened);
          routeFromTierOne(opened);
          continue;
        }
        const { alert, event: what } = breach(live, trigger);
        alerts.set(rule.id, alert);
        if (what === 'reopened') routeFromTierOne(alert);
      }
      // A breach more severe than an acknowledged alert of the same metric reopens it.
      for (const [id, alert] of alerts) {
        if (!worst || alert.status === 'resolved') continue;
        const reopened = escalatedBySibling(alert, worst, now);
        if (reopened) {
          alerts.set(id, { ...reopened, reading: { seq } });
          routeFromTierOne(reopened);
        }
      }
    }
    if (event.kind === 'acknowledge' || event.kind === 'resolve') {
      const alert = alerts.get(RULES[event.rule]!.id);
      if (alert && alert.status !== 'resolved') {
        const changed =
          event.kind === 'acknowledge' ? acknowledge(alert, event.by, now) : resolve(alert, event.by, now, null);
        alerts.set(alert.id, changed);
        const timer = timers.get(alert.id);
        if (timer)
          timers.set(
            alert.id,
            event.kind === 'acknowledge'
              ? acknowledgeEscalation(timer, alert.severity, now, policy)
              : { ...timer, state: 'cancelled' },
          );
      }
    }
    settle();
    checkInvariant();
  }
  return { pushes, violations };
}

describe('the escalation policy, for any story', () => {
  const availabilities = fc.record({
    away: fc.subarray(['nina', 'bob', 'paul']),
    onCall: fc.constantFrom('olga', null),
    subscribed: fc.subarray(['nina', 'bob', 'paul', 'olga']),
  });

  it('keeps a notification due for every open alert, and notifies no clinician twice for one reading', () => {
    fc.assert(
      fc.property(events, availabilities, (script, { away, onCall, subscribed }) => {
        const { pushes, violations } = runModel(
          script,
          { team, unavailable: new Set(away), onCall },
          new Set(subscribed),
        );
        expect(violations).toEqual([]);
        const seen = new Set<string>();
        for (const push of pushes) {
          const key = `${push.pass} ${push.clinicianId}`;
          expect(seen.has(key), `two pushes to ${push.clinicianId} in one pass`).toBe(false);
          seen.add(key);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('one reading that opens several alerts makes one push per clinician', () => {
    const { pushes } = runModel([{ kind: 'reading', value: 85 }], everyone, new Set(['nina']));
    expect(pushes).toEqual([{ pass: 1, clinicianId: 'nina', reading: 'r1' }]);
  });
});
