// Homewatch service worker: shows an alert pushed to this device and opens it on a click. Served at
// /sw.js (bundled by src/web/bundle.ts); the web app registers it and subscribes with the VAPID key.
import { SEVERITY_LABELS, type Severity } from '../../domain/severity.ts';

declare const self: ServiceWorkerGlobalScope;

/** What the server pushes (delivery/alert-delivery.ts): initials, never the patient's name. */
interface AlertPush {
  alertId?: string;
  alertIds?: string[];
  severity?: Severity;
  message?: string;
  patientInitials?: string;
  openedAt?: string;
  url?: string;
}

function read(event: PushEvent): AlertPush {
  try {
    return (event.data?.json() ?? {}) as AlertPush;
  } catch {
    return { message: event.data?.text() ?? 'New alert', severity: 'warning' };
  }
}

self.addEventListener('push', (event) => {
  const alert = read(event);
  const severity = alert.severity ? SEVERITY_LABELS[alert.severity] : 'Alert';
  const title = `${alert.severity === 'critical' ? `${severity.toUpperCase()} alert` : severity}${alert.patientInitials ? ` · ${alert.patientInitials}` : ''}`;
  event.waitUntil(
    self.registration.showNotification(title, {
      body: alert.message ?? 'New alert',
      // One notification per alert: a later push for the same alert replaces it.
      tag: alert.alertId ?? alert.alertIds?.[0] ?? 'homewatch',
      requireInteraction: alert.severity === 'critical',
      data: { url: alert.url ?? '/' },
      // Not in TypeScript's NotificationOptions yet, read by Chromium and Firefox.
      ...{
        renotify: alert.severity === 'critical',
        timestamp: alert.openedAt ? Date.parse(alert.openedAt) : Date.now(),
      },
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = new URL((event.notification.data as { url?: string } | null)?.url ?? '/', self.location.origin).href;
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((windows) => {
      const open = windows.find((w) => w.url === url);
      if (open) return open.focus();
      return self.clients.openWindow(url);
    }),
  );
});
