import { randomUUID } from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import { generateDeviceToken, hashToken } from '../auth/tokens.ts';
import { AppError } from '../domain/errors.ts';
import type { Db } from '../store/db.ts';
import { devices } from '../store/schema.ts';

export const DEVICE_KINDS = ['bp_monitor', 'scale', 'pulse_oximeter'] as const;

export type Device = typeof devices.$inferSelect;

/** A device as the API shows it; the token hash never leaves the database. */
export function presentDevice(device: Device) {
  return {
    id: device.id,
    kind: device.kind,
    serial: device.serial,
    patientId: device.patientId,
    createdAt: new Date(device.createdAt).toISOString(),
    assignedAt: device.assignedAt === null ? null : new Date(device.assignedAt).toISOString(),
    vendor: device.vendor,
    vendorDeviceId: device.vendorDeviceId,
  };
}

export interface NewDevice {
  kind: Device['kind'];
  serial?: string | undefined;
  patientId?: string | null | undefined;
  /** A device that reaches us through its vendor's cloud: the vendor and its id for the device, together. */
  vendor?: string | undefined;
  vendorDeviceId?: string | undefined;
}

/** Provisioned devices: their rows, their tokens (hashed) and their assignment to a patient. */
export class DeviceStore {
  constructor(private readonly db: Db) {}

  /** A new device and its token, which exists only in this answer: the database keeps its hash. */
  create(input: NewDevice): { device: Device; token: string } {
    if (input.vendor && input.vendorDeviceId && this.findByVendorId(input.vendor, input.vendorDeviceId)) {
      throw new AppError('conflict', `A ${input.vendor} device with this vendorDeviceId exists`, [
        { path: 'vendorDeviceId', message: 'is already in use' },
      ]);
    }
    const token = generateDeviceToken();
    const now = Date.now();
    const device = this.db
      .insert(devices)
      .values({
        id: randomUUID(),
        kind: input.kind,
        serial: input.serial ?? null,
        patientId: input.patientId ?? null,
        tokenHash: hashToken(token),
        createdAt: now,
        assignedAt: input.patientId ? now : null,
        vendor: input.vendor ?? null,
        vendorDeviceId: input.vendorDeviceId ?? null,
      })
      .returning()
      .get();
    return { device, token };
  }

  get(id: string): Device | undefined {
    return this.db.select().from(devices).where(eq(devices.id, id)).get();
  }

  findByVendorId(vendor: string, vendorDeviceId: string): Device | undefined {
    return this.db
      .select()
      .from(devices)
      .where(and(eq(devices.vendor, vendor), eq(devices.vendorDeviceId, vendorDeviceId)))
      .get();
  }

  list(): Device[] {
    return this.db.select().from(devices).orderBy(asc(devices.createdAt)).all();
  }

  listForPatient(patientId: string): Device[] {
    return this.db.select().from(devices).where(eq(devices.patientId, patientId)).orderBy(asc(devices.createdAt)).all();
  }

  assign(id: string, patientId: string | null): Device | undefined {
    return this.db
      .update(devices)
      .set({ patientId, assignedAt: patientId ? Date.now() : null })
      .where(eq(devices.id, id))
      .returning()
      .get();
  }

  /** A new token for a device; the old one stops working. Shared by the API and the command-line tool. */
  rotateToken(id: string): { token: string; device: Device } | undefined {
    const token = generateDeviceToken();
    const device = this.db
      .update(devices)
      .set({ tokenHash: hashToken(token), tokenRotatedAt: Date.now() })
      .where(eq(devices.id, id))
      .returning()
      .get();
    return device && { token, device };
  }
}
