import { z } from 'zod';
import { assignDeviceSchema, createDeviceSchema } from '../api/devices.ts';
import { createPatientSchema, readingsQuerySchema } from '../api/patients.ts';
import { readingInputSchema, MAX_READINGS_PER_BATCH } from '../domain/reading.ts';

/**
 * The OpenAPI 3 document, generated from the same zod schemas that validate requests, so it cannot
 * drift from what the service accepts.
 */
export function buildOpenApi() {
  const schema = (s: z.ZodType) => z.toJSONSchema(s, { target: 'openapi-3.0', io: 'input', unrepresentable: 'any' });
  const json = (ref: string) => ({ content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } } });
  const errorResponse = (description: string) => ({ description, ...json('Error') });
  const bearer = [{ bearer: [] }];
  const idParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });

  return {
    openapi: '3.0.3',
    info: {
      title: 'Homewatch',
      version: '1',
      description: 'Remote patient monitoring: device protocol and clinician API (see CONTRACT.md).',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Reading: schema(readingInputSchema),
        ReadingBatch: {
          type: 'object',
          additionalProperties: false,
          required: ['readings'],
          properties: { readings: { type: 'array', maxItems: MAX_READINGS_PER_BATCH, items: { $ref: '#/components/schemas/Reading' } } },
        },
        IngestResponse: {
          type: 'object',
          properties: {
            accepted: { type: 'integer' },
            duplicates: { type: 'integer' },
            rejected: { type: 'integer' },
            results: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  index: { type: 'integer' },
                  status: { type: 'string', enum: ['accepted', 'duplicate', 'rejected'] },
                  readingId: { type: 'string' },
                  errors: { type: 'array', items: { $ref: '#/components/schemas/ErrorDetail' } },
                },
              },
            },
          },
        },
        ErrorDetail: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } },
        Error: {
          type: 'object',
          properties: {
            error: {
              type: 'object',
              properties: {
                code: { type: 'string' },
                message: { type: 'string' },
                details: { type: 'array', items: { $ref: '#/components/schemas/ErrorDetail' } },
              },
            },
          },
        },
        CreatePatient: schema(createPatientSchema),
        CreateDevice: schema(createDeviceSchema),
        AssignDevice: schema(assignDeviceSchema),
      },
    },
    paths: {
      '/v1/readings': {
        post: {
          summary: 'A device sends one reading or a batch (also over MQTT: rpm/devices/{deviceId}/readings)',
          security: bearer,
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { oneOf: [{ $ref: '#/components/schemas/Reading' }, { $ref: '#/components/schemas/ReadingBatch' }] } } },
          },
          responses: {
            200: { description: 'At least one reading accepted or a duplicate', ...json('IngestResponse') },
            400: errorResponse('Not JSON, or not a reading nor a readings array'),
            401: errorResponse('Missing or unknown device token'),
            413: errorResponse('Body over 1 MiB or more than 1000 readings'),
            415: errorResponse('Not application/json'),
            422: { description: 'Every reading was rejected', ...json('IngestResponse') },
            429: errorResponse('Over the device rate limit (Retry-After set)'),
          },
        },
      },
      '/v1/patients': {
        get: { summary: 'Patients the caller may see', security: bearer, responses: { 200: { description: '{patients: [...]}' } } },
        post: {
          summary: 'Create a patient (admin)',
          security: bearer,
          requestBody: { required: true, ...json('CreatePatient') },
          responses: { 201: { description: 'The patient' }, 422: errorResponse('Invalid body') },
        },
      },
      '/v1/patients/{id}': {
        get: { summary: 'A patient', security: bearer, parameters: [idParam('id')], responses: { 200: { description: 'The patient' }, 404: errorResponse('Unknown') } },
      },
      '/v1/patients/{id}/readings': {
        get: {
          summary: 'Raw readings (oldest first, paged with cursor=next) or bucketed trends (bucket=1h|1d|1w)',
          security: bearer,
          parameters: [
            idParam('id'),
            ...Object.entries(schema(readingsQuerySchema).properties ?? {}).map(([name, s]) => ({ name, in: 'query', required: false, schema: s })),
          ],
          responses: { 200: { description: '{type, readings, next?} or {type, bucket, buckets}' }, 404: errorResponse('Unknown patient') },
        },
      },
      '/v1/devices': {
        get: { summary: 'Devices (admin)', security: bearer, responses: { 200: { description: '{devices: [...]}' } } },
        post: {
          summary: 'Provision a device (admin); the token is returned once',
          security: bearer,
          requestBody: { required: true, ...json('CreateDevice') },
          responses: { 201: { description: '{id, token, kind, serial, patientId}' }, 422: errorResponse('Invalid body') },
        },
      },
      '/v1/devices/{id}/patient': {
        put: {
          summary: 'Assign the device to a patient, or null to unassign (admin)',
          security: bearer,
          parameters: [idParam('id')],
          requestBody: { required: true, ...json('AssignDevice') },
          responses: { 200: { description: 'The device' }, 404: errorResponse('Unknown device') },
        },
      },
      '/v1/devices/{id}/token': {
        post: { summary: 'Rotate the device token (admin); the old one stops working', security: bearer, parameters: [idParam('id')], responses: { 200: { description: 'The device with its new token' } } },
      },
      '/v1/devices/{id}/rejections': {
        get: { summary: 'Refused payloads with their reasons, newest first (admin)', security: bearer, parameters: [idParam('id')], responses: { 200: { description: '{rejections: [{receivedAt, transport, reason, payload, rawPayload, errors}]}' } } },
      },
      '/healthz': { get: { summary: 'Liveness', responses: { 200: { description: 'Alive' } } } },
      '/readyz': { get: { summary: 'Readiness, naming each dependency', responses: { 200: { description: 'Ready' }, 503: { description: 'Not ready' } } } },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'Prometheus text' } } } },
    },
  };
}
