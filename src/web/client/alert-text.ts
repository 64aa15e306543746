import { REOPEN_REASON_LABELS } from '../../domain/alert-episode.ts';
import { METRIC_LABELS, type Metric } from '../../domain/measurements.ts';
import { ago, inSentence, near, withUnit } from './format.ts';
import type { Alert, InboxAlert } from './responses.ts';

/**
 * What an alert says beyond its rule's message, in plain words (pure): what the rule saw, how often it
 * was sent again, why it came back, whether its reading arrived late, and when an acknowledgement runs
 * out. Times near now read as "7:10 AM yesterday", in `timeZone` (the browser's by default).
 */

const metricLabel = (metric: string) => METRIC_LABELS[metric as Metric] ?? metric;

/**
 * "SpO2 86%", "Systolic mean of 6: 146 mmHg", "Weight +2.2 lb since 7:10 AM yesterday", "No weight since
 * Mar 3, 7:10 AM", "Device clock wrong: newest reading stamped …"; empty when the alert observed nothing.
 */
export function observedText(alert: Pick<Alert, 'metric' | 'observed'>, now = Date.now(), timeZone?: string): string {
  const observed = alert.observed;
  if (!observed) return '';
  const label = metricLabel(alert.metric);
  switch (observed.kind) {
    case 'reading':
      return `${label} ${withUnit(observed.value, observed.unit)}`;
    case 'mean':
      return `${label} mean of ${observed.count}: ${withUnit(observed.value, observed.unit)}`;
    case 'change':
      return `${label} ${observed.value > 0 ? '+' : ''}${withUnit(observed.value, observed.unit)} since ${near(observed.from.measuredAt, now, timeZone)}`;
    case 'missing':
      return `No ${inSentence(label)} since ${near(observed.since, now, timeZone)}`;
    case 'device-clock':
      return `Device clock wrong: newest reading stamped ${near(observed.measuredAt, now, timeZone)}`;
  }
}

/** "reopened: new episode", "reopened: got worse", "reopened: acknowledgement expired"; empty if never reopened. */
export function reopenedText(alert: Pick<Alert, 'reopenReason'>): string {
  return alert.reopenReason ? `reopened: ${REOPEN_REASON_LABELS[alert.reopenReason]}` : '';
}

/** "episode 2": how many times the condition came back after clearing; empty for the first. */
export function episodeText(alert: Pick<Alert, 'episode'>): string {
  return alert.episode > 1 ? `episode ${alert.episode}` : '';
}

/** "re-sent once", "re-sent 3 times": pushes repeated after the last tier because nobody acknowledged. */
export function resentText(escalation: Pick<NonNullable<InboxAlert['escalation']>, 'repeats'> | null): string {
  const repeats = escalation?.repeats ?? 0;
  if (!repeats) return '';
  return repeats === 1 ? 're-sent once' : `re-sent ${repeats} times`;
}

/** "measured 3 h ago, arrived late": the reading was measured before the newest one already received. */
export function lateText(alert: Pick<Alert, 'late' | 'reading'>, now = Date.now()): string {
  if (!alert.late) return '';
  return alert.reading ? `measured ${ago(alert.reading.measuredAt, now)}, arrived late` : 'arrived late';
}

/**
 * "acknowledgement expires 3:10 PM today": when an acknowledged alert whose condition still holds goes
 * back to open; empty when nothing is due.
 */
export function acknowledgementExpiryText(
  alert: Pick<InboxAlert, 'status' | 'escalation'>,
  now = Date.now(),
  timeZone?: string,
): string {
  const expires = alert.status === 'acknowledged' ? alert.escalation?.acknowledgementExpiresAt : null;
  return expires ? `acknowledgement expires ${near(expires, now, timeZone)}` : '';
}
