import type { AppError, ErrorCode, ErrorDetail } from '../domain/errors.ts';

/**
 * Errors as FHIR answers them: an OperationOutcome (https://hl7.org/fhir/R4/operationoutcome.html) with
 * one issue per problem, its `expression` the FHIRPath of the element when there is one. The status codes
 * stay those of AppError (errors.ts), so the two APIs refuse alike.
 */

export interface OutcomeIssue {
  severity: 'fatal' | 'error' | 'warning' | 'information';
  code: string;
  diagnostics: string;
  expression?: string[];
}

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: OutcomeIssue[];
}

/** The issue type (https://hl7.org/fhir/R4/valueset-issue-type.html) of each error code; `processing` for any other. */
const ISSUE_TYPE: Partial<Record<ErrorCode, string>> = {
  bad_request: 'invalid',
  invalid_json: 'structure',
  unauthorized: 'login',
  forbidden: 'forbidden',
  not_found: 'not-found',
  conflict: 'conflict',
  payload_too_large: 'too-costly',
  unsupported_media_type: 'not-supported',
  validation_failed: 'invalid',
  rate_limited: 'throttled',
  internal: 'exception',
  unavailable: 'transient',
};

/** A path that is an element of a resource (`Observation.status`, `Bundle.entry[2].resource`), not a parameter's name. */
const isFhirPath = (path: string) => /^[A-Z][A-Za-z]+(?:$|[.[])/.test(path);

export function operationOutcome(issues: OutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}

/** The issues of problems named by a path each: FHIRPaths as `expression`, anything else (a parameter, a header) in the text. */
export function detailIssues(details: ErrorDetail[], code = 'invalid'): OutcomeIssue[] {
  return details.map(({ path, message }) =>
    isFhirPath(path)
      ? { severity: 'error', code, diagnostics: message, expression: [path] }
      : { severity: 'error', code, diagnostics: path ? `${path}: ${message}` : message },
  );
}

/** An AppError as an OperationOutcome: its message first, then each detail. */
export function errorOutcome(error: AppError): OperationOutcome {
  const code = ISSUE_TYPE[error.code] ?? 'processing';
  return operationOutcome([
    { severity: 'error', code, diagnostics: error.message },
    ...detailIssues(error.details, code),
  ]);
}
