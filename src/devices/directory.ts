import { eq } from 'drizzle-orm';
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
 * Finds devices by token (HTTP, embedded MQTT) or by id (external MQTT), with a short cache so that a
 * device sending every few seconds does not cost a query per message. Unknown tokens are cached too, so a
 * device with a bad token cannot cost a query per attempt. Changes made here (`forget`) apply at once.
 */
export class DeviceDirectory {
  readonly #byTokenHash = new Map<string, Entry>();
  readonly #byId = new Map<string, Entry>();
  readonly #findByHash;
  readonly #findById;

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
  }

  byToken(token: string, now = Date.now()): DeviceIdentity | undefined {
    return cached(this.#byTokenHash, hashToken(token), now, this.#findByHash);
  }

  byId(id: string, now = Date.now()): DeviceIdentity | undefined {
    return cached(this.#byId, id, now, this.#findById);
  }

  /** Drops cached lookups after a device was re-assigned or its token rotated. */
  forget(deviceId: string): void {
    this.#byId.delete(deviceId);
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
