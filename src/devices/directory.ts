import { and, eq } from 'drizzle-orm';
import { bounded } from '../store/cache.ts';
import type { Db } from '../store/db.ts';
import { devices } from '../store/schema.ts';
import { hashToken } from '../auth/tokens.ts';

/** What ingest needs to know of a device: who it is and whose readings it sends. */
export interface DeviceIdentity {
  id: string;
  kind: string;
  patientId: string | null;
  /** When its token was last rotated (ms), or null: a connection signed in before then is no longer trusted. */
  tokenRotatedAt: number | null;
}

/** How long a lookup is trusted; a re-assignment or token rotation made by another instance is seen after this. */
const CACHE_MS = 30_000;
const CACHE_MAX = 100_000;

type Entry = { device: DeviceIdentity | undefined; until: number };

/**
 * Finds devices by token (HTTP, embedded MQTT), by id (external MQTT) or by their vendor's id for them
 * (vendor webhooks), with a short cache so that a
 * device sending every few seconds does not cost a query per message. Unknown tokens are cached too, so a
 * device with a bad token cannot cost a query per attempt. Changes made here (`forget`) apply at once.
 */
export class DeviceDirectory {
  readonly #byTokenHash = new Map<string, Entry>();
  readonly #byId = new Map<string, Entry>();
  readonly #byVendorId = new Map<string, Entry>();
  readonly #findByHash;
  readonly #findById;
  readonly #findByVendorId;

  constructor(db: Db) {
    const columns = {
      id: devices.id,
      kind: devices.kind,
      patientId: devices.patientId,
      tokenRotatedAt: devices.tokenRotatedAt,
    };
    this.#findByHash = (tokenHash: string) =>
      db.select(columns).from(devices).where(eq(devices.tokenHash, tokenHash)).get();
    this.#findById = (id: string) => db.select(columns).from(devices).where(eq(devices.id, id)).get();
    this.#findByVendorId = (key: string) => {
      const [vendor, vendorDeviceId] = JSON.parse(key) as [string, string];
      return db
        .select(columns)
        .from(devices)
        .where(and(eq(devices.vendor, vendor), eq(devices.vendorDeviceId, vendorDeviceId)))
        .get();
    };
  }

  byToken(token: string, now = Date.now()): DeviceIdentity | undefined {
    return cached(this.#byTokenHash, hashToken(token), now, this.#findByHash);
  }

  byId(id: string, now = Date.now()): DeviceIdentity | undefined {
    return cached(this.#byId, id, now, this.#findById);
  }

  /**
   * A device that reaches us through its vendor's cloud, by the vendor's id for it (vendor webhooks).
   * Unknown ids are not cached: only an authenticated vendor asks, and a device provisioned after its
   * vendor's first payload must be found by the next one.
   */
  byVendorId(vendor: string, vendorDeviceId: string, now = Date.now()): DeviceIdentity | undefined {
    const key = JSON.stringify([vendor, vendorDeviceId]);
    const device = cached(this.#byVendorId, key, now, this.#findByVendorId);
    if (!device) this.#byVendorId.delete(key);
    return device;
  }

  /** Drops cached lookups after a device was re-assigned or its token rotated. */
  forget(deviceId: string): void {
    this.#byId.delete(deviceId);
    for (const [key, entry] of this.#byVendorId) {
      if (entry.device?.id === deviceId) this.#byVendorId.delete(key);
    }
    for (const [hash, entry] of this.#byTokenHash) {
      if (entry.device?.id === deviceId) this.#byTokenHash.delete(hash);
    }
  }
}

function cached(map: Map<string, Entry>, key: string, now: number, find: (key: string) => DeviceIdentity | undefined) {
  const hit = map.get(key);
  if (hit && hit.until > now) return hit.device;
  const device = find(key);
  bounded(map, CACHE_MAX).set(key, { device, until: now + CACHE_MS });
  return device;
}
