import { AppError } from '../domain/errors.ts';
import type { Logger } from '../ops/log.ts';
import type { Integration, IntegrationStore, WithingsTokens } from './store.ts';
import type { VendorIngest, VendorReceipt } from './vendor-ingest.ts';
import { MEASURE_APPLIS, mapWithingsMeasures, parseWithingsNotification } from './withings.ts';
import { type WithingsAnswer, type WithingsApi, WithingsUnreachable } from './withings-api.ts';

/** An access token this close to its expiry is refreshed before use rather than tried. */
const EXPIRY_MARGIN_MS = 60_000;
/** Pages of getmeas one notification may need; a notification covers minutes, so one page is the rule. */
const MAX_PAGES = 20;
/** Withings' body status for an expired or revoked access token. */
const INVALID_TOKEN = 401;

export interface WithingsSyncOptions {
  api: WithingsApi;
  integrations: IntegrationStore;
  receiver: VendorIngest;
  log: Logger;
}

/** Why the measures could not be fetched; the notification is kept with this reason and Withings told to retry. */
class FetchFailed extends Error {}

/**
 * A Withings notification, followed through: find the linked user's tokens, fetch the measures of the
 * notified window (refreshing the tokens when they have expired, or when Withings says so with body
 * status 401), and hand the measure groups to the pipeline as that user's device. Answers once the
 * readings are stored: the notification is acknowledged only then.
 */
export class WithingsSync {
  /** One refresh at a time per user: Withings replaces the refresh token each time. */
  readonly #refreshing = new Map<string, Promise<WithingsTokens>>();

  constructor(private readonly options: WithingsSyncOptions) {}

  async notify(integration: Integration, form: Record<string, string>, raw: string): Promise<VendorReceipt> {
    const { integrations, receiver } = this.options;
    const receipt: VendorReceipt = { accepted: 0, duplicates: 0, rejected: 0, ignored: 0, unknownDevices: [] };
    const notification = parseWithingsNotification(form);
    if ('errors' in notification) {
      await receiver.keep(integration, raw, 'malformed', notification.errors);
      return { ...receipt, rejected: 1 };
    }
    // Sleep, activity, device events...: nothing Homewatch records.
    if (!MEASURE_APPLIS.has(notification.appli)) return { ...receipt, ignored: 1 };

    const { userid } = notification;
    let tokens: WithingsTokens | undefined;
    try {
      tokens = integrations.withingsTokens(integration.id, userid);
    } catch {
      // Sealed under another key: DATA_DIR's vendor-tokens.key was replaced or lost.
      return this.#cannotFetch(
        integration,
        userid,
        raw,
        "the user's tokens cannot be opened with this DATA_DIR's key; link the user again",
      );
    }
    if (!tokens) {
      await receiver.keep(integration, raw, 'unknown_device', [
        {
          path: 'userid',
          message: `Withings user ${userid} is not linked to this integration; link it with POST /v1/integrations/${integration.id}/withings-users`,
        },
      ]);
      return { ...receipt, rejected: 1, unknownDevices: [userid] };
    }

    const groups: unknown[] = [];
    try {
      let offset: number | undefined;
      let pages = 0;
      do {
        const body = await this.#getMeasures(integration, userid, tokens, { ...notification, offset });
        if (Array.isArray(body.measuregrps)) groups.push(...body.measuregrps);
        else if (body.measuregrps !== undefined) groups.push(body.measuregrps); // kept as unreadable
        offset = body.more && typeof body.offset === 'number' ? body.offset : undefined;
      } while (offset !== undefined && ++pages < MAX_PAGES);
    } catch (error) {
      if (!(error instanceof FetchFailed || error instanceof WithingsUnreachable)) throw error;
      return this.#cannotFetch(integration, userid, raw, error.message);
    }
    return receiver.receive(integration, mapWithingsMeasures(userid, groups));
  }

  /** Keeps the notification with the reason, and asks Withings to send it again (503): a retry may succeed. */
  async #cannotFetch(integration: Integration, userid: string, raw: string, reason: string): Promise<never> {
    this.options.log.warn(
      { event: 'withings_fetch_failed', integrationId: integration.id, withingsUserId: userid, reason },
      'Withings measures could not be fetched; the notification is kept and Withings asked to send it again',
    );
    await this.options.receiver.keep(integration, raw, 'invalid', [{ path: '', message: reason }]);
    throw new AppError(
      'unavailable',
      'The measures could not be fetched from Withings; send the notification again later',
      [],
      60,
    );
  }

  /** getmeas with the user's access token, refreshed first when it has expired, and once more on status 401. */
  async #getMeasures(
    integration: Integration,
    userid: string,
    tokens: WithingsTokens,
    window: { startdate: number; enddate: number; offset: number | undefined },
  ) {
    const { api } = this.options;
    let current = tokens;
    let refreshed = false;
    if (current.expiresAt - Date.now() < EXPIRY_MARGIN_MS) {
      current = await this.#refresh(integration, userid, current);
      refreshed = true;
    }
    let answer = await api.getMeasures(current.accessToken, window);
    if (answer.status === INVALID_TOKEN && !refreshed) {
      current = await this.#refresh(integration, userid, current);
      answer = await api.getMeasures(current.accessToken, window);
    }
    // The next page uses what this one ended with.
    Object.assign(tokens, current);
    if (answer.status !== 0)
      throw new FetchFailed(`Withings getmeas answered status ${answer.status}${describe(answer)}`);
    return answer.body ?? {};
  }

  #refresh(integration: Integration, userid: string, tokens: WithingsTokens): Promise<WithingsTokens> {
    // Refreshed meanwhile by another notification: its tokens are the ones to use (the old refresh token
    // may already be void).
    const stored = this.options.integrations.withingsTokens(integration.id, userid);
    if (stored && stored.accessToken !== tokens.accessToken && stored.expiresAt - Date.now() >= EXPIRY_MARGIN_MS) {
      return Promise.resolve(stored);
    }
    const key = `${integration.id}:${userid}`;
    let pending = this.#refreshing.get(key);
    if (!pending) {
      pending = this.#requestTokens(integration, userid, tokens).finally(() => this.#refreshing.delete(key));
      this.#refreshing.set(key, pending);
    }
    return pending;
  }

  async #requestTokens(integration: Integration, userid: string, tokens: WithingsTokens): Promise<WithingsTokens> {
    const { api, integrations, log } = this.options;
    if (!api.canRefresh) {
      throw new FetchFailed(
        "the user's Withings access token has expired, and WITHINGS_CLIENT_ID and WITHINGS_CLIENT_SECRET are not set to refresh it",
      );
    }
    const answer = await api.refreshTokens(tokens.refreshToken);
    const body = answer.body;
    if (answer.status !== 0 || !body?.access_token || !body.refresh_token || typeof body.expires_in !== 'number') {
      throw new FetchFailed(
        `Withings refused to refresh the user's tokens (status ${answer.status}${describe(answer)}); link the user again`,
      );
    }
    const now = Date.now();
    const fresh = {
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      expiresAt: now + body.expires_in * 1000,
    };
    integrations.saveWithingsTokens(integration.id, userid, fresh, now);
    log.info(
      { event: 'withings_tokens_refreshed', integrationId: integration.id, withingsUserId: userid },
      'tokens refreshed',
    );
    return fresh;
  }
}

/** Withings' own error text, which names the problem and never holds a token. */
function describe(answer: WithingsAnswer<unknown>): string {
  return typeof answer.error === 'string' ? `: ${answer.error.slice(0, 200)}` : '';
}
