import { randomBytes, randomUUID } from 'node:crypto';
import { and, desc, eq, inArray, or } from 'drizzle-orm';
import { hashToken } from '../auth/tokens.ts';
import type { ErrorDetail } from '../domain/errors.ts';
import type { Db } from '../store/db.ts';
import type { RejectionReason } from '../store/rejection-log.ts';
import { devices, integrations, rejections, withingsUsers } from '../store/schema.ts';
import type { TokenCipher } from './token-cipher.ts';

export type Integration = typeof integrations.$inferSelect;

/** Integration secrets: 256 random bits, prefixed so a leaked one is recognisable in a log or a repository scan. */
function generateIntegrationSecret(): string {
  return `hwi_${randomBytes(32).toString('base64url')}`;
}

/**
 * What arrived for an integration and names no provisioned device (an unknown device id, a payload that
 * cannot be read) is kept among the rejections under this key, in place of a device id.
 */
export const integrationRejectionKey = (integrationId: string) => `integration:${integrationId}`;

/** A Withings user's OAuth tokens, in the clear: only in memory, on their way to or from the Withings API. */
export interface WithingsTokens {
  accessToken: string;
  refreshToken: string;
  /** Epoch ms. */
  expiresAt: number;
}

export interface IntegrationRejection {
  receivedAt: number;
  /** The device it was kept under; null for what named no provisioned device. */
  deviceId: string | null;
  transport: string;
  reason: RejectionReason;
  payload: string;
  errors: ErrorDetail[];
}

/** Vendor integrations: their hashed secrets, the Withings users linked to them (tokens sealed), their rejections. */
export class IntegrationStore {
  constructor(
    private readonly db: Db,
    private readonly cipher: TokenCipher,
  ) {}

  /** A new integration and its secret, which exists only in this answer: the database keeps its hash. */
  create(vendor: string, createdBy: string): { integration: Integration; secret: string } {
    const secret = generateIntegrationSecret();
    const integration = this.db
      .insert(integrations)
      .values({ id: randomUUID(), vendor, secretHash: hashToken(secret), createdAt: Date.now(), createdBy })
      .returning()
      .get();
    return { integration, secret };
  }

  get(id: string): Integration | undefined {
    return this.db.select().from(integrations).where(eq(integrations.id, id)).get();
  }

  list(): Integration[] {
    return this.db.select().from(integrations).orderBy(integrations.createdAt).all();
  }

  /** The integration whose secret this is (secrets have 256 random bits: a lookup by hash is safe). */
  findBySecret(secret: string): Integration | undefined {
    return this.db
      .select()
      .from(integrations)
      .where(eq(integrations.secretHash, hashToken(secret)))
      .get();
  }

  /** Links a Withings user to the integration, or replaces their tokens; true when the link is new. */
  linkWithingsUser(integrationId: string, withingsUserId: string, tokens: WithingsTokens, now = Date.now()): boolean {
    const sealed = this.#seal(tokens);
    const existing = this.db
      .update(withingsUsers)
      .set({ ...sealed, updatedAt: now })
      .where(and(eq(withingsUsers.integrationId, integrationId), eq(withingsUsers.withingsUserId, withingsUserId)))
      .returning()
      .get();
    if (existing) return false;
    this.db
      .insert(withingsUsers)
      .values({ integrationId, withingsUserId, ...sealed, linkedAt: now, updatedAt: now })
      .run();
    return true;
  }

  withingsTokens(integrationId: string, withingsUserId: string): WithingsTokens | undefined {
    const row = this.db
      .select()
      .from(withingsUsers)
      .where(and(eq(withingsUsers.integrationId, integrationId), eq(withingsUsers.withingsUserId, withingsUserId)))
      .get();
    return (
      row && {
        accessToken: this.cipher.open(row.accessToken),
        refreshToken: this.cipher.open(row.refreshToken),
        expiresAt: row.expiresAt,
      }
    );
  }

  /** After a refresh: Withings issues a new refresh token each time, and the old one soon stops working. */
  saveWithingsTokens(integrationId: string, withingsUserId: string, tokens: WithingsTokens, now = Date.now()): void {
    this.db
      .update(withingsUsers)
      .set({ ...this.#seal(tokens), updatedAt: now })
      .where(and(eq(withingsUsers.integrationId, integrationId), eq(withingsUsers.withingsUserId, withingsUserId)))
      .run();
  }

  /**
   * Newest first: what named no device (kept under the integration), and what the vendor's devices had
   * refused (invalid, unassigned, conflicting readings), so the agency sees the whole integration in one list.
   */
  rejections(integration: Integration, limit: number): IntegrationRejection[] {
    const own = integrationRejectionKey(integration.id);
    const vendorDevices = this.db
      .select({ id: devices.id })
      .from(devices)
      .where(eq(devices.vendor, integration.vendor));
    return this.db
      .select()
      .from(rejections)
      .where(or(eq(rejections.deviceId, own), inArray(rejections.deviceId, vendorDevices)))
      .orderBy(desc(rejections.seq))
      .limit(limit)
      .all()
      .map((row) => ({
        receivedAt: row.receivedAt,
        deviceId: row.deviceId === own ? null : row.deviceId,
        transport: row.transport,
        reason: row.reason,
        payload: row.payload,
        errors: JSON.parse(row.errors) as ErrorDetail[],
      }));
  }

  #seal(tokens: WithingsTokens) {
    return {
      accessToken: this.cipher.seal(tokens.accessToken),
      refreshToken: this.cipher.seal(tokens.refreshToken),
      expiresAt: tokens.expiresAt,
    };
  }
}
