import { MEASURE_TYPES } from './withings.ts';

/**
 * The two Withings API calls Homewatch makes, at WITHINGS_API_URL (operator configuration, so no
 * address check applies to it, unlike the agency's webhook URLs). Neither tokens nor answers are ever
 * logged or put in an error message: errors say what failed, by status.
 */

/** How long one call may take; a notification waits for its fetch, and Withings waits for our answer. */
const TIMEOUT_MS = 10_000;

/** Withings' envelope: `status` 0 is success, whatever the HTTP status (which is 200 for errors too). */
export interface WithingsAnswer<Body> {
  status: number;
  body?: Body;
  error?: string;
}

export interface MeasuresBody {
  measuregrps?: unknown;
  /** 1 (or true) while more groups remain, to fetch with `offset`. */
  more?: number | boolean;
  offset?: number;
}

export interface TokenBody {
  userid?: string | number;
  access_token?: string;
  refresh_token?: string;
  /** Seconds. */
  expires_in?: number;
}

/** The API could not be reached or did not answer as documented (a network error, an HTTP error, not JSON). */
export class WithingsUnreachable extends Error {
  override name = 'WithingsUnreachable';
}

export interface WithingsApiOptions {
  /** WITHINGS_API_URL, e.g. https://wbsapi.withings.net. */
  baseUrl: string;
  clientId: string | undefined;
  clientSecret: string | undefined;
  timeoutMs?: number;
}

export class WithingsApi {
  readonly #base: string;

  constructor(private readonly options: WithingsApiOptions) {
    this.#base = options.baseUrl.replace(/\/+$/, '');
  }

  /** Whether Homewatch can refresh tokens: WITHINGS_CLIENT_ID and WITHINGS_CLIENT_SECRET are set. */
  get canRefresh(): boolean {
    return Boolean(this.options.clientId && this.options.clientSecret);
  }

  /** Measure - Getmeas: the user's measure groups of the types Homewatch reads, measured in the window. */
  getMeasures(
    accessToken: string,
    window: { startdate: number; enddate: number; offset?: number | undefined },
  ): Promise<WithingsAnswer<MeasuresBody>> {
    const form = new URLSearchParams({
      action: 'getmeas',
      meastypes: Object.values(MEASURE_TYPES).join(','),
      category: '1',
      startdate: String(window.startdate),
      enddate: String(window.enddate),
    });
    if (window.offset !== undefined) form.set('offset', String(window.offset));
    return this.#post('/measure', form, { authorization: `Bearer ${accessToken}` });
  }

  /** OAuth2 - Requesttoken with the refresh token: a new access token and a new refresh token. */
  refreshTokens(refreshToken: string): Promise<WithingsAnswer<TokenBody>> {
    const form = new URLSearchParams({
      action: 'requesttoken',
      grant_type: 'refresh_token',
      client_id: this.options.clientId ?? '',
      client_secret: this.options.clientSecret ?? '',
      refresh_token: refreshToken,
    });
    return this.#post('/v2/oauth2', form);
  }

  async #post<Body>(path: string, form: URLSearchParams, headers: Record<string, string> = {}) {
    let response: Response;
    try {
      response = await fetch(this.#base + path, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
        body: form,
        // A redirect would carry the token elsewhere: the configured URL is the API, or nothing.
        redirect: 'error',
        signal: AbortSignal.timeout(this.options.timeoutMs ?? TIMEOUT_MS),
      });
    } catch (error) {
      throw new WithingsUnreachable(`the Withings API (${path}) could not be reached: ${(error as Error).name}`);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new WithingsUnreachable(`the Withings API (${path}) answered HTTP ${response.status}`);
    }
    let answer: unknown;
    try {
      answer = await response.json();
    } catch {
      throw new WithingsUnreachable(`the Withings API (${path}) answered with something that is not JSON`);
    }
    if (typeof answer !== 'object' || answer === null || typeof (answer as { status?: unknown }).status !== 'number') {
      throw new WithingsUnreachable(`the Withings API (${path}) answered without a status`);
    }
    return answer as WithingsAnswer<Body>;
  }
}
