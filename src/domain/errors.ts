import type { z } from 'zod';

/** One problem with a request, named by the path of the field (`readings.3.systolic`). */
export interface ErrorDetail {
  path: string;
  message: string;
}

/** Every error the API answers with; the HTTP status for each code lives here and nowhere else. */
export const ERROR_STATUS = {
  bad_request: 400,
  invalid_json: 400,
  unauthorized: 401,
  forbidden: 403,
  /** A state-changing request signed in by the session cookie that did not come from our own pages. */
  csrf: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  validation_failed: 422,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetail[] = [],
    /** Seconds a client should wait before retrying (429, 503). */
    readonly retryAfter?: number,
  ) {
    super(message);
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toBody() {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

/**
 * Zod error map in plain words: "must be at most 300", "is required", "is not a known field".
 * Used for every parse, device payloads and clinician requests alike, so messages read the same.
 */
export const plainErrors: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      if (issue.expected === 'number' && typeof issue.input === 'number') return 'must be a finite number';
      return `must be ${article(issue.expected)}, not ${describeInput(issue.input)}`;
    case 'too_small':
      if (issue.origin === 'string' || issue.origin === 'array') {
        return Number(issue.minimum) === 1
          ? 'must not be empty'
          : `must have at least ${issue.minimum} ${unitOf(issue.origin)}`;
      }
      return issue.inclusive ? `must be at least ${issue.minimum}` : `must be greater than ${issue.minimum}`;
    case 'too_big':
      if (issue.origin === 'string' || issue.origin === 'array')
        return `must have at most ${issue.maximum} ${unitOf(issue.origin)}`;
      return issue.inclusive ? `must be at most ${issue.maximum}` : `must be less than ${issue.maximum}`;
    case 'unrecognized_keys':
      return 'is not a known field';
    case 'invalid_value':
      return `must be ${issue.values.length === 1 ? '' : 'one of '}${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_format':
      return issue.format === 'datetime'
        ? 'must be an RFC 3339 date-time with an offset or Z'
        : `must be a valid ${issue.format}`;
    case 'not_multiple_of':
      return issue.divisor === 1 ? 'must be a whole number' : `must be a multiple of ${issue.divisor}`;
    default:
      return undefined;
  }
};

function unitOf(origin: string) {
  return origin === 'string' ? 'characters' : 'items';
}

function article(expected: string) {
  if (expected === 'int') return 'a whole number';
  if (expected === 'array') return 'an array';
  if (expected === 'object') return 'an object';
  return `a ${expected}`;
}

function describeInput(input: unknown) {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'an array';
  return typeof input === 'object' ? 'an object' : `a ${typeof input}`;
}

/** Turns zod issues into the contract's `details`; unknown keys get one entry each, named by path. */
export function toDetails(error: z.ZodError, prefix: (string | number)[] = []): ErrorDetail[] {
  return error.issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: [...path, key].join('.'), message: issue.message }));
    }
    return [{ path: path.join('.'), message: issue.message }];
  });
}

/** Parses with the plain error map, throwing a 422 AppError whose details name each field. */
export function parseOrThrow<T extends z.ZodType>(schema: T, input: unknown, what = 'request body'): z.output<T> {
  const result = schema.safeParse(input, { error: plainErrors });
  if (result.success) return result.data;
  throw new AppError('validation_failed', `The ${what} is not valid`, toDetails(result.error));
}
