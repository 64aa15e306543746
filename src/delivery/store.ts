import { randomUUID } from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import type { Db } from '../store/db.ts';
import { pushSubscriptions, webhooks } from '../store/schema.ts';

export type Webhook = typeof webhooks.$inferSelect;

export interface NewPushSubscription {
  clinicianId: string;
  endpoint: string;
  p256dh: string;
  auth: string;
}

/** Where alerts are delivered: clinicians' push subscriptions and the agency's webhooks. */
export class DeliveryTargetStore {
  constructor(private readonly db: Db) {}

  /** The same browser subscribing again (or for another clinician on a shared device) replaces the old row. */
  savePushSubscription({ endpoint, ...values }: NewPushSubscription): { id: string; endpoint: string } {
    return this.db
      .insert(pushSubscriptions)
      .values({ id: randomUUID(), endpoint, createdAt: Date.now(), ...values })
      .onConflictDoUpdate({ target: pushSubscriptions.endpoint, set: values })
      .returning({ id: pushSubscriptions.id, endpoint: pushSubscriptions.endpoint })
      .get();
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
