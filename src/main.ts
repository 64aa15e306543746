import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { createSecureContext, rootCertificates } from 'node:tls';
import { pathToFileURL } from 'node:url';
import { getRequestListener } from '@hono/node-server';
import { createApp, type Stores } from './app.ts';
import { AuditLog } from './audit/audit-log.ts';
import { AlertActions, AlertStore } from './alerts/store.ts';
import { PatientAccess } from './care-team/access.ts';
import { AvailabilityStore } from './availability/store.ts';
import { CareTeamStore } from './care-team/store.ts';
import { ClinicianStore } from './clinicians/store.ts';
import { DeliveryTargetStore } from './delivery/store.ts';
import { DeviceStore } from './devices/store.ts';
import { FhirStore } from './fhir/store.ts';
import { PatientStore } from './patients/store.ts';
import { loadTemplates, CarePlanStore } from './care-plans/store.ts';
import { RuleEngine, type AlertChange } from './rules/engine.ts';
import { MissingDataClock } from './rules/missing-clock.ts';
import { loadVapidKeys, WebPushSender } from './delivery/web-push.ts';
import { defaultEscalationPolicy, onCallTier } from './delivery/escalation-policy.ts';
import { WebhookAgent } from './delivery/webhook.ts';
import { AlertDelivery } from './delivery/alert-delivery.ts';
import { SessionStore } from './auth/sessions.ts';
import { DeviceDirectory } from './devices/directory.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { Ingest } from './ingest/ingest.ts';
import { startMqttBroker } from './ingest/mqtt-broker.ts';
import { startMqttSubscriber } from './ingest/mqtt-subscriber.ts';
import { RateLimiter } from './ingest/rate-limit.ts';
import { gracefulClose, listen } from './ops/listen.ts';
import { createLogger, type Logger } from './ops/log.ts';
import { Metrics } from './ops/metrics.ts';
import type { ReadinessCheck } from './ops/routes.ts';
import { startCheckpointer } from './store/checkpointer.ts';
import { GroupCommit, openDatabase } from './store/db.ts';
import { InfluxForwarder, influxReadiness } from './store/influx-forwarder.ts';
import { InfluxReadingStore } from './store/influx-reading-store.ts';
import type { ReadingStore } from './store/reading-store.ts';
import { RejectionLog } from './store/rejection-log.ts';
import { SqliteReadingStore } from './store/sqlite-reading-store.ts';
import { IntegrationStore } from './vendors/store.ts';
import { TokenCipher } from './vendors/token-cipher.ts';
import { VendorIngest } from './vendors/vendor-ingest.ts';
import { WithingsApi } from './vendors/withings-api.ts';
import { WithingsSync } from './vendors/withings-sync.ts';

/** How the first account is made; printed at start while there is none, and shown on the sign-in page. */
export const FIRST_ADMIN_HINT =
  'create the first admin with  npm run admin -- create-admin --email you@agency.example --name "Your Name"  (it prints the password)';

export interface Homewatch {
  httpPort: number;
  /** The embedded broker's port; undefined with an external broker or MQTT_PORT=off. */
  mqttPort: number | undefined;
  /** The embedded broker's MQTT over TLS port; undefined with an external broker or no MQTT_TLS_PORT. */
  mqttTlsPort: number | undefined;
  /** No clinician account exists yet: someone must create the first admin (`npm run admin -- create-admin`). */
  needsFirstAdmin: boolean;
  stop(): Promise<void>;
}

/**
 * The composition root: opens the database, builds the pipeline and starts HTTP and MQTT. `stop()`
 * undoes it in reverse order: stop taking messages, let in-flight commits finish, close the database.
 */
export async function startHomewatch(config: Config, log: Logger = createLogger(config.LOG_LEVEL)): Promise<Homewatch> {
  const { db, sqlite } = openDatabase({ dataDir: config.DATA_DIR });
  const stops: Array<() => Promise<void> | void> = [() => void sqlite.close()];
  const stop = async () => {
    for (const step of stops.splice(0).reverse()) await step();
  };

  try {
    const checkpointer = await startCheckpointer(sqlite, log);
    stops.push(() => checkpointer.close());
    const metrics = new Metrics();
    // Ingest always commits to SQLite: it is the durable log devices are acknowledged on, and the rules'
    // history. With InfluxDB, the forwarder delivers from that log and queries go to InfluxDB.
    const sqliteReadings = new SqliteReadingStore(db);
    let readingStore: ReadingStore = sqliteReadings;
    let forwarder: InfluxForwarder | undefined;
    if (config.READINGS_STORE === 'influxdb') {
      // config.ts requires both with READINGS_STORE=influxdb.
      const influx = new InfluxReadingStore({
        url: config.INFLUX_URL!,
        database: config.INFLUX_DATABASE!,
        token: config.INFLUX_TOKEN,
      });
      const started = new InfluxForwarder({
        db,
        store: influx,
        backlogLimit: config.INFLUX_BACKLOG_LIMIT,
        metrics,
        log,
      });
      started.start();
      // Registered before the group commit's drain, so on stop it runs after the last commits and
      // before the database closes.
      stops.push(() => started.close());
      forwarder = started;
      readingStore = influx;
    }
    const commits = new GroupCommit(db, sqlite, {
      onCommit: (jobs) => metrics.commitJobs.observe(jobs),
      // The rules' caches may hold what a rolled-back batch did.
      onRollback: () => {
        engine.forgetAll();
        alerts.forgetAll();
      },
    });
    stops.push(() => commits.close());
    const rejections = new RejectionLog(db, { perDevice: config.REJECTIONS_PER_DEVICE });
    const directory = new DeviceDirectory(db);
    const limiter = new RateLimiter(config.DEVICE_RATE_LIMIT);
    const sessions = new SessionStore(db, { idleMs: config.SESSION_IDLE_TIMEOUT, maxAgeMs: config.SESSION_MAX_AGE });
    const audit = AuditLog.open(db, commits, config.DATA_DIR);
    const policy = defaultEscalationPolicy({
      escalation: { critical: config.ESCALATION_CRITICAL, warning: config.ESCALATION_WARNING },
      acknowledgement: { critical: config.ACK_TIMEOUT_CRITICAL, warning: config.ACK_TIMEOUT_WARNING },
    });
    const access = new PatientAccess(db, onCallTier(policy));
    const templates = loadTemplates();
    const carePlans = new CarePlanStore(db);
    const alerts = new AlertStore(db);
    const alertActions = new AlertActions(commits, alerts);
    const engine = new RuleEngine(db, carePlans, alerts);
    const vapid = loadVapidKeys({
      publicKey: config.VAPID_PUBLIC_KEY,
      privateKey: config.VAPID_PRIVATE_KEY,
      subject: config.VAPID_SUBJECT,
      dataDir: config.DATA_DIR,
    });
    // One TLS context for every outbound connection: given only `ca`, each new connection would parse
    // all the root certificates again, blocking the event loop (and so ingest) while it does.
    const outboundContext = config.OUTBOUND_CA_FILE
      ? createSecureContext({ ca: [...rootCertificates, readFileSync(config.OUTBOUND_CA_FILE, 'utf8')] })
      : undefined;
    const outboundAgent = outboundContext
      ? new HttpsAgent({ secureContext: outboundContext, keepAlive: true })
      : undefined;
    // Webhooks reach only public addresses or WEBHOOK_ALLOWED_HOSTS, checked at every connection.
    const webhookAgent = new WebhookAgent({
      allowedHosts: config.WEBHOOK_ALLOWED_HOSTS,
      keepAlive: true,
      ...(outboundContext ? { secureContext: outboundContext } : {}),
    });
    stops.push(() => webhookAgent.destroy());
    const availability = new AvailabilityStore(db);
    const delivery = new AlertDelivery({
      db,
      commits,
      alerts,
      policy,
      availability,
      push: new WebPushSender(vapid, outboundAgent),
      agent: webhookAgent,
      metrics,
      log,
    });
    const onAlertChanges = (changes: AlertChange[]) => {
      for (const { alert, event } of changes) {
        metrics.alertEvents.inc({ event, severity: alert.severity });
        log.info(
          {
            event: `alert_${event}`,
            alertId: alert.id,
            patientId: alert.patientId,
            ruleId: alert.ruleId,
            severity: alert.severity,
            count: alert.count,
          },
          'alert',
        );
      }
      delivery.kick();
      // A resolved missing-data alert restarts that rule's clock.
      if (changes.some((change) => change.event === 'resolved')) clock.kick();
    };
    const admission = forwarder?.admit.bind(forwarder);
    const ingest = new Ingest({
      commits,
      readings: sqliteReadings,
      rejections,
      metrics,
      rules: engine,
      onAlertChanges,
      admission,
    });
    // Vendor clouds feed the same Ingest, as the devices their vendor ids name.
    const integrations = new IntegrationStore(db, TokenCipher.load(config.DATA_DIR));
    const vendorIngest = new VendorIngest({ ingest, directory, log });
    const withingsSync = new WithingsSync({
      api: new WithingsApi({
        baseUrl: config.WITHINGS_API_URL,
        clientId: config.WITHINGS_CLIENT_ID,
        clientSecret: config.WITHINGS_CLIENT_SECRET,
      }),
      integrations,
      receiver: vendorIngest,
      log,
    });
    const clock = new MissingDataClock({ engine, commits, log, onAlertChanges });
    engine.onMissingDeadlineMoved = () => clock.kick();
    await clock.start();
    stops.push(() => clock.close());
    // After ingest has stopped (its servers close first), so the next start has nothing to rebuild.
    stops.push(() => commits.run(() => engine.saveStates()));
    // Anything left in the outbox or due from before a restart is picked up here.
    delivery.start();
    stops.push(() => delivery.close());

    const checks: ReadinessCheck[] = [
      () => {
        sqlite.prepare('select 1').get();
        return { name: 'database', ok: true };
      },
    ];
    if (forwarder) checks.push(influxReadiness(forwarder));

    let mqttPort: number | undefined;
    let mqttTlsPort: number | undefined;
    if (config.MQTT_URL) {
      const subscriber = startMqttSubscriber({
        url: config.MQTT_URL,
        clientId: config.MQTT_CLIENT_ID,
        username: config.MQTT_USERNAME,
        password: config.MQTT_PASSWORD,
        directory,
        ingest,
        limiter,
        log,
      });
      stops.push(() => subscriber.close());
      checks.push(() => ({
        name: 'mqtt',
        ok: subscriber.ready(),
        detail: subscriber.ready() ? 'subscribed' : 'not subscribed to MQTT_URL yet',
      }));
    } else {
      const broker = await startMqttBroker({
        host: config.HOST,
        port: config.MQTT_PORT,
        // config.ts requires the certificate and key with MQTT_TLS_PORT.
        tls:
          config.MQTT_TLS_PORT === undefined
            ? undefined
            : { port: config.MQTT_TLS_PORT, certFile: config.MQTT_TLS_CERT!, keyFile: config.MQTT_TLS_KEY! },
        directory,
        ingest,
        limiter,
        metrics,
        log,
        logLevel: config.LOG_LEVEL,
      });
      stops.push(() => broker.close());
      mqttPort = broker.port;
      mqttTlsPort = broker.tlsPort;
      checks.push(() => ({ name: 'mqtt', ok: true, detail: `embedded broker: ${broker.listeners}` }));
    }

    const stores: Stores = {
      patients: new PatientStore(db),
      clinicians: new ClinicianStore(db),
      careTeams: new CareTeamStore(db),
      carePlans,
      devices: new DeviceStore(db),
      alerts,
      deliveryTargets: new DeliveryTargetStore(db),
      readings: readingStore,
      rejections,
      availability,
      fhir: new FhirStore(db),
      integrations,
    };
    const app = createApp({
      stores,
      log,
      metrics,
      checks,
      audit,
      access,
      sessions,
      directory,
      ingest,
      limiter,
      vendors: { receiver: vendorIngest, withings: withingsSync },
      alertActions,
      templates,
      adminToken: config.RPM_ADMIN_TOKEN,
      corsOrigins: config.CORS_ORIGINS,
      sessionIdleMs: config.SESSION_IDLE_TIMEOUT,
      vapidPublicKey: vapid.publicKey,
      pushEndpointHosts: config.PUSH_ENDPOINT_HOSTS,
      webhookAllowedHosts: config.WEBHOOK_ALLOWED_HOSTS,
      trustProxy: config.TRUST_PROXY,
      onAlertChanges,
      onPatientStatusChanged: async (patientId, status, by) => {
        engine.forgetPatient(patientId);
        clock.kick();
        if (status !== 'discharged') return;
        const resolved = await alertActions.resolveAll(patientId, by, 'discharged');
        if (resolved.length) onAlertChanges(resolved.map((alert) => ({ alert, event: 'resolved' as const })));
      },
      onCarePlanChanged: (patientId: string) => {
        engine.forgetPatient(patientId);
        clock.kick();
      },
    });
    const server = createServer(getRequestListener(app.fetch));
    const closeHttp = gracefulClose(server);
    const httpPort = await listen(server, config.PORT, config.HOST, 'PORT');
    stops.push(closeHttp);
    log.info(
      { event: 'started', httpPort, mqttPort, mqttTlsPort, mqttUrl: config.MQTT_URL ? 'external' : 'embedded' },
      'Homewatch is serving',
    );
    const needsFirstAdmin = stores.clinicians.count() === 0;
    if (needsFirstAdmin) log.warn({ event: 'no_clinicians' }, `No clinician account yet: ${FIRST_ADMIN_HINT}`);
    return { httpPort, mqttPort, mqttTlsPort, needsFirstAdmin, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function main() {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`homewatch: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const log = createLogger(config.LOG_LEVEL);
  if (!config.RPM_ADMIN_TOKEN) {
    log.warn(
      { event: 'no_admin_token' },
      'RPM_ADMIN_TOKEN is not set: provisioning needs an admin account (npm run admin -- create-admin) until it is',
    );
  }
  let service: Homewatch;
  try {
    service = await startHomewatch(config, log);
  } catch (error) {
    const message = (error as Error).message;
    log.fatal({ event: 'start_failed' }, message);
    process.stderr.write(`homewatch: ${message}\n`);
    process.exit(1);
  }
  if (service.needsFirstAdmin) process.stderr.write(`homewatch: no clinician account yet; ${FIRST_ADMIN_HINT}\n`);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'stopping', signal }, 'Draining and closing');
    service.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ event: 'stop_failed', err: error }, 'Unclean shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
