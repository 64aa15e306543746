import type { ErrorDetail } from '../../domain/errors.ts';
import { sessionEnded } from './frame.ts';

/** The JSON API, with the session cookie. A 401 sends the user to sign in again. */

export class ApiError extends Error {
  constructor(
    /** The HTTP status; 0 when the server could not be reached. */
    readonly status: number,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
  }
}

/** What a catch block holds, as an ApiError (a bug's TypeError becomes one with status 0). */
export function toApiError(error: unknown): ApiError {
  return error instanceof ApiError ? error : new ApiError(0, error instanceof Error ? error.message : String(error));
}

export interface ApiOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Sent as JSON. */
  body?: unknown;
}

/** The answer's JSON (null for 204); throws an ApiError with the server's message for any other status. */
export async function api<T>(path: string, options: ApiOptions = {}): Promise<T> {
  const { method = 'GET', body: payload } = options;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers:
        payload === undefined
          ? { accept: 'application/json' }
          : { accept: 'application/json', 'content-type': 'application/json' },
      body: payload === undefined ? undefined : JSON.stringify(payload),
    });
  } catch {
    throw new ApiError(0, 'Homewatch cannot be reached. Check the connection; the page retries by itself.');
  }
  if (response.status === 401) {
    sessionEnded();
    throw new ApiError(401, 'Your session ended.');
  }
  if (response.status === 204) return null as T;
  const json = await response.json().catch(() => null);
  if (!response.ok) {
    const error = json?.error;
    throw new ApiError(response.status, error?.message || `The server answered ${response.status}`, error?.details);
  }
  return json as T;
}
