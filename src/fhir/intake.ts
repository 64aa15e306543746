import type { DeviceIdentity } from '../devices/directory.ts';
import { AppError, type ErrorDetail } from '../domain/errors.ts';
import { MAX_READINGS_PER_BATCH } from '../domain/reading.ts';
import type { Ingest } from '../ingest/ingest.ts';
import type { PartialPayload } from '../store/rejection-log.ts';
import { normalizeReading } from '../normalize/reading.ts';
import {
  parseIfNoneExist,
  readObservations,
  type InboundReading,
  type Issue,
  type ObservationInput,
} from './inbound.ts';
import { heartRateId, toObservation, type Observation, type VitalKind } from './mapping.ts';
import { errorOutcome, operationOutcome, type OperationOutcome } from './outcome.ts';
import type { FhirStore } from './store.ts';

/**
 * The FHIR front door of the one ingest pipeline: Observations that devices and gateways post become the
 * device protocol's JSON and go through `Ingest.handleMessage`, so validation, de-duplication, rules,
 * alerts and rejections are the pipeline's, and its refusals come back named by FHIR element. What is
 * refused before the pipeline (not an Observation Homewatch stores) is kept among the device's rejections
 * too, as the pipeline keeps what it refuses.
 */

export interface ObservationIntakeOptions {
  ingest: Ingest;
  fhir: FhirStore;
}

/** A body as read: its text, kept among the rejections if refused, and its JSON. */
export interface PostedBody {
  raw: string;
  resource: unknown;
}

/** What a create made, or found already stored: the Observation's id and, if it can be read back, itself. */
export interface Created {
  status: 200 | 201;
  id: string;
  observation?: Observation;
}

/** How each created or found entry is answered, as a FHIR status line. */
const CREATED = '201 Created';
const FOUND = '200 OK';

type Outcome = { status: 'accepted' | 'duplicate'; readingId: string } | { status: 'rejected'; issues: Issue[] };

export class ObservationIntake {
  constructor(private readonly options: ObservationIntakeOptions) {}

  /** Keeps a body refused before it could be read (too large, not JSON, not FHIR JSON) among the rejections. */
  refuse(device: DeviceIdentity, payload: string | PartialPayload, error: AppError, receivedAt: number): Promise<void> {
    return this.options.ingest.refuse(device.id, payload, 'http', error, undefined, receivedAt);
  }

  /**
   * `POST Observation`: one reading. `ifNoneExist` is the header (`identifier=system|value`); without it
   * the Observation's first identifier is the reading's id. 201 when stored, 200 when it already was.
   */
  async create(
    device: DeviceIdentity,
    { raw, resource }: PostedBody,
    ifNoneExist: string | undefined,
    receivedAt: number,
  ): Promise<Created> {
    const identifier = ifNoneExist === undefined ? undefined : parseIfNoneExist(ifNoneExist);
    if (ifNoneExist !== undefined && identifier === undefined) {
      const error = new AppError('bad_request', 'If-None-Exist must be identifier=system|value', [
        { path: 'If-None-Exist', message: `${JSON.stringify(ifNoneExist)} is not identifier=system|value` },
      ]);
      await this.options.ingest.refuse(device.id, raw, 'http', error, 'invalid', receivedAt);
      throw error;
    }
    const input: ObservationInput = { resource, base: 'Observation', identifier, identifierPath: 'If-None-Exist' };
    const { readings, refused } = readObservations([input], device.patientId);
    const issues = refused.get(0);
    if (issues) {
      await this.#refuse(device, raw, issues, receivedAt);
      throw refusal('The Observation cannot be stored as a reading', issues);
    }
    const [result] = await this.#store(device, readings, receivedAt);
    if (result!.status === 'rejected') throw refusal('The reading was refused', result!.issues);
    const kind = readings[0]!.kinds[0]!;
    const reading = this.options.fhir.readingById(result!.readingId);
    return {
      status: result!.status === 'accepted' ? 201 : 200,
      id: observationId(result!.readingId, kind),
      observation: reading && toObservation(reading, kind),
    };
  }

  /**
   * `POST /` with a `transaction` Bundle (every entry stored, or none: each is checked as the pipeline
   * will check it before anything is stored) or a `batch` (each entry on its own). The response Bundle
   * has each entry's `response.status`, and the Observation's location.
   */
  async bundle(device: DeviceIdentity, { raw, resource }: PostedBody, receivedAt: number) {
    const bundle = readBundle(resource);
    if ('issues' in bundle) {
      await this.#refuse(device, raw, bundle.issues, receivedAt);
      throw refusal('The body is not a transaction or batch Bundle', bundle.issues);
    }
    const { type, entries } = bundle;
    const refused = new Map<number, Issue[]>();
    const inputs: ObservationInput[] = [];
    const inputEntry: number[] = [];
    entries.forEach((entry, index) => {
      const read = readEntry(entry, index);
      if ('issues' in read) refused.set(index, read.issues);
      else {
        inputs.push(read.input);
        inputEntry.push(index);
      }
    });
    const { readings, refused: refusedInputs } = readObservations(inputs, device.patientId);
    for (const [input, issues] of refusedInputs) refused.set(inputEntry[input]!, issues);
    for (const reading of readings) reading.inputs = reading.inputs.map((input) => inputEntry[input]!);

    if (type === 'transaction') {
      const issues = [...refused.values()].flat();
      for (const reading of readings) {
        const outcome = normalizeReading(reading.reading, receivedAt);
        if (!outcome.ok) issues.push(...namedIssues(outcome.errors, reading));
      }
      if (device.patientId === null) {
        issues.push({ expression: 'Bundle', message: 'the device is not assigned to a patient' });
      }
      if (issues.length) {
        await this.#refuse(device, raw, issues, receivedAt);
        throw refusal('The transaction was refused: nothing of it was stored', issues);
      }
    } else {
      await Promise.all(
        [...refused].map(([index, issues]) => this.#refuse(device, JSON.stringify(entries[index]), issues, receivedAt)),
      );
    }

    const responses: Array<{ response: Record<string, unknown> }> = entries.map(() => ({ response: {} }));
    const results = await this.#store(device, readings, receivedAt);
    results.forEach((result, index) => {
      const reading = readings[index]!;
      reading.inputs.forEach((entry, part) => {
        responses[entry] =
          result.status === 'rejected'
            ? failed(result.issues)
            : {
                response: {
                  status: result.status === 'accepted' ? CREATED : FOUND,
                  location: `Observation/${observationId(result.readingId, reading.kinds[part]!)}/_history/1`,
                  etag: 'W/"1"',
                },
              };
      });
    });
    for (const [index, issues] of refused) responses[index] = failed(issues);
    return { resourceType: 'Bundle', type: `${type}-response`, entry: responses };
  }

  /** Keeps what was refused before reaching the pipeline among the device's rejections, with its reasons. */
  #refuse(device: DeviceIdentity, payload: string, issues: Issue[], receivedAt: number) {
    const error = refusal('The Observation cannot be stored', issues);
    return this.options.ingest.refuse(device.id, payload, 'http', error, 'invalid', receivedAt);
  }

  /** The readings through the pipeline as one message; each one's outcome, refusals named by FHIR element. */
  async #store(device: DeviceIdentity, inbound: InboundReading[], receivedAt: number): Promise<Outcome[]> {
    if (!inbound.length) return [];
    const raw = JSON.stringify({ readings: inbound.map((item) => item.reading) });
    const { body } = await this.options.ingest.handleMessage(device, raw, 'http', receivedAt);
    if (!('results' in body)) throw new AppError('internal', body.error.message);
    return body.results.map((result, index) =>
      result.status === 'rejected'
        ? { status: 'rejected', issues: namedIssues(result.errors, inbound[index]!) }
        : { status: result.status, readingId: result.readingId },
    );
  }
}

/** The Observation id of a reading's own Observation or of its pulse. */
const observationId = (readingId: string, kind: VitalKind) =>
  kind === 'heart-rate' ? heartRateId(readingId) : readingId;

/** A 422 naming each element: the OperationOutcome's issues. */
function refusal(message: string, issues: Issue[]) {
  return new AppError(
    'validation_failed',
    message,
    issues.map(({ expression, message }) => ({ path: expression, message })),
  );
}

/** A batch entry that was not stored. */
function failed(issues: Issue[]): { response: { status: string; outcome: OperationOutcome } } {
  const { issue } = errorOutcome(refusal('This entry was not stored', issues));
  return { response: { status: '422 Unprocessable Entity', outcome: operationOutcome(issue) } };
}

/** The device protocol's reasons (`systolic: must be at most 300`) as the FHIR elements they came from. */
function namedIssues(errors: ErrorDetail[], reading: InboundReading): Issue[] {
  return errors.map(({ path, message }) => ({
    expression: reading.paths[path.split('.')[0]!] ?? reading.paths['']!,
    message,
  }));
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A transaction or batch Bundle's type and entries, or why it is not one. */
function readBundle(resource: unknown): { type: 'transaction' | 'batch'; entries: unknown[] } | { issues: Issue[] } {
  if (!isObject(resource) || resource.resourceType !== 'Bundle') {
    return { issues: [{ expression: 'Bundle.resourceType', message: 'must be "Bundle"' }] };
  }
  if (resource.type !== 'transaction' && resource.type !== 'batch') {
    return { issues: [{ expression: 'Bundle.type', message: 'must be "transaction" or "batch"' }] };
  }
  const entries = resource.entry ?? [];
  if (!Array.isArray(entries)) return { issues: [{ expression: 'Bundle.entry', message: 'must be an array' }] };
  if (entries.length > MAX_READINGS_PER_BATCH) {
    throw new AppError('payload_too_large', `A Bundle holds at most ${MAX_READINGS_PER_BATCH} entries`, [
      { path: 'Bundle.entry', message: `must have at most ${MAX_READINGS_PER_BATCH} entries, got ${entries.length}` },
    ]);
  }
  return { type: resource.type, entries };
}

/** An entry: a `POST Observation` (with its conditional-create identifier, if any), or why it cannot be. */
function readEntry(entry: unknown, index: number): { input: ObservationInput } | { issues: Issue[] } {
  const at = `Bundle.entry[${index}]`;
  if (!isObject(entry)) return { issues: [{ expression: at, message: 'must be an object' }] };
  const request = entry.request;
  if (
    !isObject(request) ||
    request.method !== 'POST' ||
    typeof request.url !== 'string' ||
    !/^Observation\/?$/.test(request.url)
  ) {
    return {
      issues: [
        {
          expression: `${at}.request`,
          message: 'must be {"method": "POST", "url": "Observation"}: entries create Observations',
        },
      ],
    };
  }
  let identifier: string | undefined;
  if (request.ifNoneExist !== undefined) {
    identifier = typeof request.ifNoneExist === 'string' ? parseIfNoneExist(request.ifNoneExist) : undefined;
    if (identifier === undefined) {
      return { issues: [{ expression: `${at}.request.ifNoneExist`, message: 'must be identifier=system|value' }] };
    }
  }
  return {
    input: {
      resource: entry.resource,
      base: `${at}.resource`,
      identifier,
      identifierPath: `${at}.request.ifNoneExist`,
    },
  };
}
