// Homewatch service worker: shows an alert pushed to this device and opens it on a click.
// Served at /sw.js; the web app registers it and subscribes with the server's VAPID key.
const TITLES = { critical: 'CRITICAL alert', warning: 'Warning', info: 'Info' };

self.addEventListener('push', (event) => {
  let alert;
  try {
    alert = event.data.json();
  } catch {
    alert = { message: event.data ? event.data.text() : 'New alert', severity: 'warning' };
  }
  const title = `${TITLES[alert.severity] ?? 'Alert'}${alert.patientInitials ? ` · ${alert.patientInitials}` : ''}`;
  event.waitUntil(
    self.registration.showNotification(title, {
      body: alert.message,
      // One notification per alert: a later push for the same alert replaces it.
      tag: alert.alertId,
      renotify: alert.severity === 'critical',
      requireInteraction: alert.severity === 'critical',
      timestamp: alert.openedAt ? Date.parse(alert.openedAt) : Date.now(),
      data: { url: alert.url ?? '/' },
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = new URL(event.notification.data?.url ?? '/', self.location.origin).href;
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((windows) => {
      const open = windows.find((w) => w.url === url);
      if (open) return open.focus();
      return self.clients.openWindow(url);
    }),
  );
});
