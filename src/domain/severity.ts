/**
 * How urgent an alert is, mildest first (the order that comparisons and routing use), and the word for
 * each. Plain data: the web client bundles it as it is.
 */
export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const SEVERITY_LABELS: Record<Severity, string> = { info: 'Info', warning: 'Warning', critical: 'Critical' };
