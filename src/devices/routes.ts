import { recordAccess } from '../care-team/access.ts';
import { Hono, type Context } from 'hono';
import type { AuditLog } from '../audit/audit-log.ts';
import { z } from 'zod';
import type { DeviceDirectory } from './directory.ts';
import { requireAdmin, type AppEnv } from '../auth/middleware.ts';
import { AppError, parseOrThrow } from '../domain/errors.ts';
import type { PatientStore } from '../patients/store.ts';
import type { RejectionLog } from '../store/rejection-log.ts';
import { VENDOR_NAMES } from '../vendors/registry.ts';
import { DEVICE_KINDS, type Device, type DeviceStore, presentDevice } from './store.ts';

export const createDeviceSchema = z
  .strictObject({
    kind: z.enum(DEVICE_KINDS),
    serial: z.string().min(1).max(128).optional(),
    patientId: z.string().min(1).nullable().optional(),
    /** A device that reaches us through its vendor's cloud (docs/vendors.md): the vendor and its id for it. */
    vendor: z.enum(VENDOR_NAMES).optional(),
    vendorDeviceId: z.string().trim().min(1).max(128).optional(),
  })
  .refine((input) => (input.vendor === undefined) === (input.vendorDeviceId === undefined), {
    path: ['vendorDeviceId'],
    message: 'goes with vendor: give both or neither',
  });

export const assignDeviceSchema = z.strictObject({ patientId: z.string().min(1).nullable() });

export const rejectionsQuerySchema = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(100) });

export interface DevicesRouteOptions {
  devices: DeviceStore;
  patients: PatientStore;
  directory: DeviceDirectory;
  rejections: RejectionLog;
  audit: AuditLog;
}

/** `/v1/devices`: provisioning, assignment to a patient, token rotation, and what a device had refused. */
export function devicesRoute({ devices, patients, directory, rejections, audit }: DevicesRouteOptions) {
  const record = (c: Context<AppEnv>, action: string, patientId: string | null) =>
    recordAccess(audit, c, action, patientId, 'success');
  const findDevice = (id: string): Device => {
    const device = devices.get(id);
    if (!device) throw new AppError('not_found', 'No such device');
    return device;
  };
  const checkPatient = (patientId: string | null | undefined) => {
    if (patientId && !patients.get(patientId)) {
      throw new AppError('validation_failed', 'The request body is not valid', [
        { path: 'patientId', message: 'is not a known patient' },
      ]);
    }
  };

  return (
    new Hono<AppEnv>()
      .use(requireAdmin())
      .post('/', async (c) => {
        const input = parseOrThrow(createDeviceSchema, await c.req.json());
        checkPatient(input.patientId);
        const { device, token } = devices.create(input);
        await record(c, 'device.create', device.patientId);
        // The token is shown this once; only its hash is kept.
        return c.json({ ...presentDevice(device), token }, 201);
      })
      .get('/', (c) => c.json({ devices: devices.list().map(presentDevice) }))
      .get('/:id', (c) => c.json(presentDevice(findDevice(c.req.param('id')))))
      .put('/:id/patient', async (c) => {
        const device = findDevice(c.req.param('id'));
        const { patientId } = parseOrThrow(assignDeviceSchema, await c.req.json());
        checkPatient(patientId);
        const updated = devices.assign(device.id, patientId);
        directory.forget(device.id);
        // Both patients' trails show the move: readings from now on go to the new one.
        if (device.patientId) await record(c, 'device.unassign', device.patientId);
        if (patientId) await record(c, 'device.assign', patientId);
        return c.json(presentDevice(updated!));
      })
      .post('/:id/token', async (c) => {
        const device = findDevice(c.req.param('id'));
        const { token, device: updated } = devices.rotateToken(device.id)!;
        directory.forget(device.id);
        await record(c, 'device.rotate_token', device.patientId);
        return c.json({ ...presentDevice(updated), token });
      })
      // Not limited to provisioned devices: an external broker can carry messages for unknown device ids.
      .get('/:id/rejections', async (c) => {
        const { limit } = parseOrThrow(rejectionsQuerySchema, c.req.query(), 'query');
        // What a device sent may be a patient's readings: the read is in the patient's trail.
        await record(c, 'device.rejections.read', devices.get(c.req.param('id'))?.patientId ?? null);
        return c.json({
          rejections: rejections.list(c.req.param('id'), limit).map((r) => ({
            receivedAt: new Date(r.receivedAt).toISOString(),
            transport: r.transport,
            reason: r.reason,
            payload: r.truncated ? r.payload : parsePayload(r.payload),
            rawPayload: r.payload,
            // Only the head of the payload is kept: how long it was and, if it was received whole, its hash.
            ...(r.truncated ? { truncated: true, bytes: r.bytes, sha256: r.sha256 } : {}),
            errors: r.errors,
          })),
        });
      })
  );
}

/** Parsed payloads nested deeper than this are given as their text. */
const MAX_PARSED_DEPTH = 32;

/**
 * The payload as JSON when it is JSON of a reading's modest depth, so tools can read it; otherwise its
 * text, as `rawPayload` always is. A device can send JSON nested thousands deep, which JSON.parse takes
 * but JSON.stringify (answering) cannot write back: the depth is counted first, without recursion.
 */
export function parsePayload(raw: string): unknown {
  if (nestingDepth(raw) > MAX_PARSED_DEPTH) return raw;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** How deep `[` and `{` nest in JSON text, outside strings; a scan, for text that may not be JSON at all. */
function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c)
        i++; // backslash: skip the escaped character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x5b || char === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (char === 0x5d || char === 0x7d) depth--;
  }
  return deepest;
}
