import type { ReopenReason } from '../alerts/lifecycle.ts';

/**
 * Why an acknowledged alert went back to open, in the words a nurse reads after "reopened:". Plain
 * data: the web client bundles it as it is. The reasons are declared with the alert's lifecycle
 * (src/alerts/lifecycle.ts); the type import keeps these words complete when one is added.
 */
export const REOPEN_REASON_LABELS: Record<ReopenReason, string> = {
  new_episode: 'new episode',
  higher_severity: 'got worse',
  acknowledgement_expired: 'acknowledgement expired',
};
