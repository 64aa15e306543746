import { z } from 'zod';
import { assignDeviceSchema, createDeviceSchema } from '../devices/routes.ts';
import { loginSchema } from '../auth/routes.ts';
import { pushSubscriptionSchema } from '../delivery/push-routes.ts';
import { createWebhookSchema } from '../delivery/webhook-routes.ts';
import { createClinicianSchema } from '../clinicians/store.ts';
import { careTeamSchema } from '../care-team/routes.ts';
import { createPatientSchema, readingsQuerySchema } from '../patients/routes.ts';
import { carePlanInputSchema, ruleSchema } from '../domain/rule.ts';
import { readingInputSchema, MAX_READINGS_PER_BATCH } from '../domain/reading.ts';

/**
 * The OpenAPI 3 document, generated from the same zod schemas that validate requests, so it cannot
 * drift from what the service accepts.
 */
export function buildOpenApi() {
  const schema = (s: z.ZodType) => z.toJSONSchema(s, { target: 'openapi-3.0', io: 'input', unrepresentable: 'any' });
  const json = (ref: string) => ({
    content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } },
  });
  const errorResponse = (description: string) => ({ description, ...json('Error') });
  const bearer = [{ bearer: [] }];
  const idParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });

  return {
    openapi: '3.0.3',
    info: {
      title: 'Homewatch',
      version: '1',
      description:
        'Remote patient monitoring: the device protocol (also over MQTT, rpm/devices/{deviceId}/readings) and the clinician API.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Reading: schema(readingInputSchema),
        ReadingBatch: {
          type: 'object',
          additionalProperties: false,
          required: ['readings'],
          properties: {
            readings: {
              type: 'array',
              maxItems: MAX_READINGS_PER_BATCH,
              items: { $ref: '#/components/schemas/Reading' },
            },
          },
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
        Login: schema(loginSchema),
        CreateClinician: schema(createClinicianSchema),
        CareTeam: schema(careTeamSchema),
        Rule: schema(ruleSchema),
        CarePlanInput: schema(carePlanInputSchema),
        PushSubscription: schema(pushSubscriptionSchema),
        CreateWebhook: schema(createWebhookSchema),
      },
    },
    paths: {
      '/v1/readings': {
        post: {
          summary: 'A device sends one reading or a batch (also over MQTT: rpm/devices/{deviceId}/readings)',
          security: bearer,
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  oneOf: [{ $ref: '#/components/schemas/Reading' }, { $ref: '#/components/schemas/ReadingBatch' }],
                },
              },
            },
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
        get: {
          summary: 'Patients the caller may see',
          security: bearer,
          responses: { 200: { description: '{patients: [...]}' } },
        },
        post: {
          summary: 'Create a patient (admin)',
          security: bearer,
          requestBody: { required: true, ...json('CreatePatient') },
          responses: { 201: { description: 'The patient' }, 422: errorResponse('Invalid body') },
        },
      },
      '/v1/patients/{id}': {
        get: {
          summary: 'A patient',
          security: bearer,
          parameters: [idParam('id')],
          responses: { 200: { description: 'The patient' }, 404: errorResponse('Unknown') },
        },
      },
      '/v1/patients/{id}/readings': {
        get: {
          summary: 'Raw readings (oldest first, paged with cursor=next) or bucketed trends (bucket=1h|1d|1w)',
          security: bearer,
          parameters: [
            idParam('id'),
            ...Object.entries(schema(readingsQuerySchema).properties ?? {}).map(([name, s]) => ({
              name,
              in: 'query',
              required: false,
              schema: s,
            })),
          ],
          responses: {
            200: { description: '{type, readings, next?} or {type, bucket, buckets}' },
            404: errorResponse('Unknown patient'),
          },
        },
      },
      '/v1/devices': {
        get: { summary: 'Devices (admin)', security: bearer, responses: { 200: { description: '{devices: [...]}' } } },
        post: {
          summary: 'Provision a device (admin); the token is returned once',
          security: bearer,
          requestBody: { required: true, ...json('CreateDevice') },
          responses: {
            201: { description: '{id, token, kind, serial, patientId}' },
            422: errorResponse('Invalid body'),
          },
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
        post: {
          summary: 'Rotate the device token (admin); the old one stops working',
          security: bearer,
          parameters: [idParam('id')],
          responses: { 200: { description: 'The device with its new token' } },
        },
      },
      '/v1/devices/{id}/rejections': {
        get: {
          summary: 'Refused payloads with their reasons, newest first (admin)',
          security: bearer,
          parameters: [idParam('id')],
          responses: {
            200: { description: '{rejections: [{receivedAt, transport, reason, payload, rawPayload, errors}]}' },
          },
        },
      },
      '/v1/auth/login': {
        post: {
          summary: 'Sign in: a bearer token (also set as an HttpOnly cookie) with its expiry',
          requestBody: { required: true, ...json('Login') },
          responses: {
            200: { description: '{token, expiresAt, clinician}' },
            401: errorResponse('Wrong email or password'),
            429: errorResponse('Too many failed sign-ins'),
          },
        },
      },
      '/v1/auth/logout': {
        post: {
          summary: 'Sign out (ends this session)',
          security: bearer,
          responses: { 204: { description: 'Signed out' } },
        },
      },
      '/v1/auth/me': {
        get: {
          summary: 'The signed-in clinician',
          security: bearer,
          responses: { 200: { description: '{clinician, role, actorId}' } },
        },
      },
      '/v1/clinicians': {
        get: {
          summary: 'Clinician accounts (admin)',
          security: bearer,
          responses: { 200: { description: '{clinicians: [...]}' } },
        },
        post: {
          summary: 'Create a clinician account (admin)',
          security: bearer,
          requestBody: { required: true, ...json('CreateClinician') },
          responses: {
            201: { description: '{id, name, email, role}' },
            409: errorResponse('Email in use'),
            422: errorResponse('Invalid body'),
          },
        },
      },
      '/v1/patients/{id}/care-team': {
        get: {
          summary: "The patient's care team",
          security: bearer,
          parameters: [idParam('id')],
          responses: { 200: { description: '{patientId, members}' }, 404: errorResponse('Unknown or not yours') },
        },
        put: {
          summary: 'Replace the care team (admin)',
          security: bearer,
          parameters: [idParam('id')],
          requestBody: { required: true, ...json('CareTeam') },
          responses: { 200: { description: 'The care team' }, 422: errorResponse('Invalid team') },
        },
      },
      '/v1/patients/{id}/devices': {
        get: {
          summary: "The patient's devices",
          security: bearer,
          parameters: [idParam('id')],
          responses: { 200: { description: '{devices: [...]}' } },
        },
      },
      '/v1/patients/{id}/care-plan': {
        get: {
          summary: 'The care plan in force: {version, templates, rules, updatedAt, updatedBy}',
          security: bearer,
          parameters: [idParam('id')],
          responses: { 200: { description: 'The care plan' } },
        },
        put: {
          summary:
            'A new version of the care plan (admin, or a physician on the care team); templates expanded, per-patient rules override',
          security: bearer,
          parameters: [idParam('id')],
          requestBody: { required: true, ...json('CarePlanInput') },
          responses: {
            200: { description: 'The care plan' },
            403: errorResponse('Not allowed to change it'),
            422: errorResponse('Invalid plan, every problem named'),
          },
        },
      },
      '/v1/patients/{id}/care-plan/versions': {
        get: {
          summary: 'Every version of the care plan, with who changed it and when',
          security: bearer,
          parameters: [idParam('id')],
          responses: { 200: { description: '{versions}' } },
        },
      },
      '/v1/care-plan-templates': {
        get: {
          summary: 'The templates in rules/, each rule with its clinical source',
          security: bearer,
          responses: { 200: { description: '{templates}' } },
        },
      },
      '/v1/alerts': {
        get: {
          summary:
            'Alerts of the patients the caller may see, newest first (status, patientId, severity, limit, cursor)',
          security: bearer,
          responses: { 200: { description: '{alerts, next?}' } },
        },
      },
      '/v1/alerts/{id}': {
        get: {
          summary: 'An alert',
          security: bearer,
          parameters: [idParam('id')],
          responses: { 200: { description: 'The alert' }, 404: errorResponse('Unknown or not yours') },
        },
      },
      '/v1/alerts/{id}/acknowledge': {
        post: {
          summary: 'Acknowledge: stops escalation',
          security: bearer,
          parameters: [idParam('id')],
          responses: { 200: { description: 'The alert' }, 409: errorResponse('Already resolved') },
        },
      },
      '/v1/alerts/{id}/resolve': {
        post: {
          summary: 'Resolve, with an optional note; the next breach opens a new alert',
          security: bearer,
          parameters: [idParam('id')],
          responses: { 200: { description: 'The alert' }, 409: errorResponse('Already resolved') },
        },
      },
      '/v1/inbox': {
        get: {
          summary:
            "The web app's inbox in one request: the caller's patients' alerts with patient and clinician names, push deliveries and the next escalation step (patientId, resolved)",
          security: bearer,
          responses: { 200: { description: '{alerts, ...}' } },
        },
      },
      '/v1/patients-summary': {
        get: {
          summary:
            'Per visible patient: last reading, open alerts by severity, and RPM adherence (days with a reading in the last 30, in the patient time zone; flagged below 16)',
          security: bearer,
          responses: { 200: { description: '{patients: [...]}' } },
        },
      },
      '/v1/alerts/{id}/deliveries': {
        get: {
          summary: 'Every delivery attempt for the alert (push, webhook) and where its escalation stands',
          security: bearer,
          parameters: [idParam('id')],
          responses: { 200: { description: '{escalation, deliveries}' } },
        },
      },
      '/v1/push/public-key': {
        get: {
          summary: "The server's VAPID public key (base64url) for PushManager.subscribe",
          responses: { 200: { description: '{publicKey}' } },
        },
      },
      '/v1/push/subscriptions': {
        post: {
          summary: "Register the signed-in clinician's browser; the endpoint must be on PUSH_ENDPOINT_HOSTS",
          security: bearer,
          requestBody: { required: true, ...json('PushSubscription') },
          responses: {
            201: { description: '{id, endpoint}' },
            422: errorResponse('Not a valid subscription, or a push service that is not allowed'),
          },
        },
        delete: {
          summary: 'Remove a subscription of the signed-in clinician ({endpoint})',
          security: bearer,
          responses: { 204: { description: 'Removed' } },
        },
      },
      '/v1/webhooks': {
        get: {
          summary: 'Registered webhooks (admin)',
          security: bearer,
          responses: { 200: { description: '{webhooks}' } },
        },
        post: {
          summary:
            'Register an HTTPS endpoint for every alert event, signed HMAC-SHA256 (admin); the secret is shown once',
          security: bearer,
          requestBody: { required: true, ...json('CreateWebhook') },
          responses: { 201: { description: '{id, url, createdAt, secret}' } },
        },
      },
      '/v1/webhooks/{id}': {
        delete: {
          summary: 'Remove a webhook (admin)',
          security: bearer,
          parameters: [idParam('id')],
          responses: { 204: { description: 'Removed' } },
        },
      },
      '/v1/audit': {
        get: {
          summary: 'The audit trail, newest first (admin; patientId, actorId, limit)',
          security: bearer,
          responses: { 200: { description: '{events}' } },
        },
      },
      '/v1/audit/verify': {
        get: {
          summary: "Checks the audit trail's hash chain (admin)",
          security: bearer,
          responses: { 200: { description: '{ok, checked, brokenAt?}' } },
        },
      },
      '/healthz': { get: { summary: 'Liveness', responses: { 200: { description: 'Alive' } } } },
      '/readyz': {
        get: {
          summary: 'Readiness, naming each dependency',
          responses: { 200: { description: 'Ready' }, 503: { description: 'Not ready' } },
        },
      },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'Prometheus text' } } } },
    },
  };
}
