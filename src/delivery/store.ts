import { randomUUID } from 'node:crypto';
import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import { secretsEqual } from '../auth/tokens.ts';
import type { Db } from '../store/db.ts';
import { pushSubscriptions, webhooks } from '../store/schema.ts';

export type Webhook = typeof webhooks.$inferSelect;

export interface NewPushSubscription {
  clinicianId: string;
  endpoint: string;
  p256dh: string;
  auth: string;
}

/**
 * Subscriptions kept per clinician: a phone, a workstation, a few ward tablets. Beyond it the oldest go
 * (most likely a browser since reset or thrown away), so one alert makes at most this many pushes each.
 */
export const PUSH_SUBSCRIPTIONS_PER_CLINICIAN = 10;

export type SavedPushSubscription =
  | { outcome: 'saved'; id: string; endpoint: string }
  /** The endpoint is another clinician's, and the caller did not show that browser's keys. */
  | { outcome: 'taken' };

/** Where alerts are delivered: clinicians' push subscriptions and the agency's webhooks. */
export class DeliveryTargetStore {
  constructor(private readonly db: Db) {}

  /**
   * Saves a browser's subscription for a clinician, newest first among their at most
   * PUSH_SUBSCRIPTIONS_PER_CLINICIAN. An endpoint is one browser, so it belongs to one clinician at a time:
   *
   * - the same clinician again (the browser re-subscribed): its keys are updated;
   * - another clinician with the same keys: the same browser, signed in by the next person (a shared ward
   *   tablet at shift change), so it moves to her. Only that browser (and this database) knows its `auth`
   *   secret. The previous clinician's alerts then pass over that tablet to the next tier, rather than
   *   ringing a device she has left;
   * - another clinician with other keys: someone who knows only the endpoint URL. Refused (`taken`): moving
   *   it would silently stop the owner's alerts.
   */
  savePushSubscription({ clinicianId, endpoint, p256dh, auth }: NewPushSubscription): SavedPushSubscription {
    return this.db.transaction((tx) => {
      const now = Date.now();
      const existing = tx.select().from(pushSubscriptions).where(eq(pushSubscriptions.endpoint, endpoint)).get();
      let id: string;
      if (!existing) {
        id = randomUUID();
        tx.insert(pushSubscriptions).values({ id, clinicianId, endpoint, p256dh, auth, createdAt: now }).run();
      } else {
        const sameBrowser = secretsEqual(existing.auth, auth) && secretsEqual(existing.p256dh, p256dh);
        if (existing.clinicianId !== clinicianId && !sameBrowser) return { outcome: 'taken' };
        id = existing.id;
        tx.update(pushSubscriptions)
          .set({ clinicianId, p256dh, auth, createdAt: now })
          .where(eq(pushSubscriptions.id, id))
          .run();
      }
      const beyondLimit = tx
        .select({ id: pushSubscriptions.id })
        .from(pushSubscriptions)
        .where(eq(pushSubscriptions.clinicianId, clinicianId))
        .orderBy(desc(pushSubscriptions.createdAt), desc(sql`rowid`))
        .all()
        .slice(PUSH_SUBSCRIPTIONS_PER_CLINICIAN);
      if (beyondLimit.length) {
        tx.delete(pushSubscriptions)
          .where(
            inArray(
              pushSubscriptions.id,
              beyondLimit.map((row) => row.id),
            ),
          )
          .run();
      }
      return { outcome: 'saved', id, endpoint };
    });
  }

  /** Removes one of the clinician's own subscriptions; another clinician's endpoint is left alone. */
  removePushSubscription(clinicianId: string, endpoint: string): void {
    this.db
      .delete(pushSubscriptions)
      .where(and(eq(pushSubscriptions.endpoint, endpoint), eq(pushSubscriptions.clinicianId, clinicianId)))
      .run();
  }

  createWebhook(url: string, secret: string): Webhook {
    return this.db.insert(webhooks).values({ id: randomUUID(), url, secret, createdAt: Date.now() }).returning().get();
  }

  listWebhooks(): Webhook[] {
    return this.db.select().from(webhooks).orderBy(asc(webhooks.createdAt)).all();
  }

  /** The removed webhook, or undefined if there was none. */
  removeWebhook(id: string): Webhook | undefined {
    return this.db.delete(webhooks).where(eq(webhooks.id, id)).returning().get();
  }
}
