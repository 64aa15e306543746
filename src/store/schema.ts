import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import { CARE_TEAM_ROLES } from '../domain/care-team.ts';

/**
 * The relational state. Times are epoch milliseconds (integers) so that SQLite and, later, PostgreSQL
 * compare and bucket them the same way. `npm run db:generate` turns changes here into a migration in
 * src/store/migrations, which the service applies at start.
 */

export const patients = sqliteTable('patients', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  birthDate: text('birth_date'),
  timezone: text('timezone').notNull().default('UTC'),
  externalId: text('external_id').unique(),
  createdAt: integer('created_at').notNull(),
  /** active, paused (vacation, in hospital; until `statusUntil` if set) or discharged. */
  status: text('status', { enum: ['active', 'paused', 'discharged'] })
    .notNull()
    .default('active'),
  statusUntil: integer('status_until'),
  /** When the status last changed (null: active since created). */
  statusChangedAt: integer('status_changed_at'),
});

/** Every change of a patient's status, with who made it and why: the status's version history. */
export const patientStatusChanges = sqliteTable(
  'patient_status_changes',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    patientId: text('patient_id')
      .notNull()
      .references(() => patients.id),
    version: integer('version').notNull(),
    status: text('status', { enum: ['active', 'paused', 'discharged'] }).notNull(),
    until: integer('until'),
    reason: text('reason'),
    changedBy: text('changed_by').notNull(),
    changedAt: integer('changed_at').notNull(),
  },
  (t) => [uniqueIndex('patient_status_changes_version').on(t.patientId, t.version)],
);

export const devices = sqliteTable(
  'devices',
  {
    id: text('id').primaryKey(),
    kind: text('kind', { enum: ['bp_monitor', 'scale', 'pulse_oximeter'] }).notNull(),
    serial: text('serial'),
    patientId: text('patient_id').references(() => patients.id),
    /** SHA-256 of the device token: the token has 256 random bits, so a fast hash is safe and lookups are cheap. */
    tokenHash: text('token_hash').notNull().unique(),
    createdAt: integer('created_at').notNull(),
    assignedAt: integer('assigned_at'),
    tokenRotatedAt: integer('token_rotated_at'),
    /**
     * A device that reaches us through its vendor's cloud (src/vendors/registry.ts): the vendor, and the
     * vendor's id for it (Tenovi's hwi_device_id, BodyTrace's deviceId, the Withings user id). Plain text,
     * not an enum, so that a new vendor needs no migration.
     */
    vendor: text('vendor'),
    vendorDeviceId: text('vendor_device_id'),
  },
  // Null for devices that send to us directly; SQLite lets any number of rows share a NULL here.
  (t) => [uniqueIndex('devices_vendor_device').on(t.vendor, t.vendorDeviceId)],
);

export const readings = sqliteTable(
  'readings',
  {
    /**
     * Arrival order; the InfluxDB forwarder and the rules' recovery track readings by it. The rowid
     * itself, without AUTOINCREMENT (whose bookkeeping was a seventh of an insert): SQLite gives each new
     * row the largest seq + 1, so seq only grows as long as no newest reading is deleted, and none is.
     */
    seq: integer('seq').primaryKey(),
    /** A UUIDv7 made here, never looked up on its own: no unique index to maintain on every insert. */
    id: text('id').notNull(),
    deviceId: text('device_id').notNull(),
    patientId: text('patient_id').notNull(),
    type: text('type', { enum: ['blood_pressure', 'weight', 'spo2'] }).notNull(),
    measuredAt: integer('measured_at').notNull(),
    receivedAt: integer('received_at').notNull(),
    systolic: real('systolic'),
    diastolic: real('diastolic'),
    pulse: real('pulse'),
    /** Weight in kg, or SpO2 in %. */
    value: real('value'),
    /** The unit the device sent. */
    unit: text('unit'),
    messageId: text('message_id'),
    /** `id:<message id>` or `at:<type>:<measuredAt>`: the contract's de-duplication key. */
    dedupeKey: text('dedupe_key').notNull(),
  },
  (t) => [
    /**
     * The key first, then the device: ingest writes each reading's entry here, and readings arriving
     * together from different devices carry neighbouring keys (measurement times close to now, or message
     * ids counting alike), so a commit dirties a few pages rather than one per device as with
     * (device, key): about a fifth of the main thread's CPU per reading under live MQTT load. The
     * de-duplication lookup gives both columns, so either order serves it.
     */
    uniqueIndex('readings_dedupe_device').on(t.dedupeKey, t.deviceId),
    index('readings_patient_type_time').on(t.patientId, t.type, t.measuredAt),
  ],
);

export const rejections = sqliteTable(
  'rejections',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    /** Not a foreign key: an external broker can carry messages for devices that do not exist. */
    deviceId: text('device_id').notNull(),
    receivedAt: integer('received_at').notNull(),
    transport: text('transport', { enum: ['http', 'mqtt'] }).notNull(),
    reason: text('reason', {
      enum: ['invalid', 'conflict', 'malformed', 'unassigned', 'rate_limited', 'unknown_device'],
    }).notNull(),
    /**
     * The raw payload as received: one reading's JSON, or the whole body when it did not parse. Of one
     * over 16 KiB (or a body not read whole), only its first 4 KiB: then `truncated`.
     */
    payload: text('payload').notNull(),
    truncated: integer('truncated', { mode: 'boolean' }).notNull().default(false),
    /** The size of the payload as received, when known (null for rows from before it was kept). */
    bytes: integer('bytes'),
    /** SHA-256 (hex) of the whole payload, when it was truncated and was received whole. */
    sha256: text('sha256'),
    /** JSON array of {path, message}. */
    errors: text('errors').notNull(),
  },
  // Per device in arrival order (seq is the rowid): the listing, newest first, and the trimming.
  (t) => [index('rejections_device_seq').on(t.deviceId, t.seq)],
);

export const clinicians = sqliteTable('clinicians', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  /** Lower-cased, so sign-in is case-insensitive. */
  email: text('email').notNull().unique(),
  role: text('role', { enum: ['admin', 'nurse', 'physician'] }).notNull(),
  /** scrypt, with its parameters: `scrypt$N$r$p$salt$key` (base64url). */
  passwordHash: text('password_hash').notNull(),
  createdAt: integer('created_at').notNull(),
  disabledAt: integer('disabled_at'),
});

export const sessions = sqliteTable(
  'sessions',
  {
    /** SHA-256 of the bearer token; the token itself is never stored. */
    tokenHash: text('token_hash').primaryKey(),
    clinicianId: text('clinician_id')
      .notNull()
      .references(() => clinicians.id),
    createdAt: integer('created_at').notNull(),
    lastSeenAt: integer('last_seen_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [index('sessions_clinician').on(t.clinicianId)],
);

export const careTeamMembers = sqliteTable(
  'care_team_members',
  {
    patientId: text('patient_id')
      .notNull()
      .references(() => patients.id),
    clinicianId: text('clinician_id')
      .notNull()
      .references(() => clinicians.id),
    role: text('role', { enum: CARE_TEAM_ROLES }).notNull(),
  },
  (t) => [
    uniqueIndex('care_team_patient_clinician').on(t.patientId, t.clinicianId),
    index('care_team_clinician').on(t.clinicianId),
  ],
);

/**
 * Append-only: nothing in the service updates or deletes a row. Each row carries the hash of the one
 * before it, so a changed or removed row breaks the chain (`npm run admin -- verify-audit`). From
 * `audit_checkpoint.since` on, the hash is an HMAC with the key in DATA_DIR (src/audit/audit-log.ts).
 */
export const auditEvents = sqliteTable(
  'audit_events',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    at: integer('at').notNull(),
    /** A clinician id, `admin-token`, `cli`, or null for a failed sign-in with an unknown email. */
    actorId: text('actor_id'),
    action: text('action').notNull(),
    patientId: text('patient_id'),
    outcome: text('outcome', { enum: ['success', 'denied', 'failure'] }).notNull(),
    requestId: text('request_id'),
    prevHash: text('prev_hash').notNull(),
    hash: text('hash').notNull(),
  },
  (t) => [index('audit_patient').on(t.patientId, t.seq), index('audit_actor').on(t.actorId, t.seq)],
);

/**
 * One row (id 1): where the audit chain ends, and where its keyed part begins, sealed with the key. Moved
 * with every append, in the same transaction, so rows removed from the end of the chain are missed.
 */
export const auditCheckpoint = sqliteTable('audit_checkpoint', {
  id: integer('id').primaryKey(),
  /** The first seq whose hash is keyed; the rows before it were written before the key existed. */
  since: integer('since').notNull(),
  /** The last row of the chain (0 and the genesis hash while it is empty). */
  seq: integer('seq').notNull(),
  hash: text('hash').notNull(),
  /** HMAC of since, seq and hash. */
  mac: text('mac').notNull(),
});

/** Every version of every care plan is kept: who changed it, when, and the rules then in force. */
export const carePlans = sqliteTable(
  'care_plans',
  {
    patientId: text('patient_id')
      .notNull()
      .references(() => patients.id),
    version: integer('version').notNull(),
    /** JSON: the templates applied, as given. */
    templates: text('templates').notNull(),
    /** JSON: every rule in force, templates expanded. */
    rules: text('rules').notNull(),
    /** JSON: rule id → epoch ms the rule entered the plan (a missing-data clock starts there). */
    ruleSince: text('rule_since').notNull(),
    createdAt: integer('created_at').notNull(),
    createdBy: text('created_by').notNull(),
  },
  (t) => [primaryKey({ columns: [t.patientId, t.version] })],
);

export const alerts = sqliteTable(
  'alerts',
  {
    id: text('id').primaryKey(),
    patientId: text('patient_id')
      .notNull()
      .references(() => patients.id),
    ruleId: text('rule_id').notNull(),
    carePlanVersion: integer('care_plan_version').notNull(),
    metric: text('metric').notNull(),
    severity: text('severity', { enum: ['info', 'warning', 'critical'] }).notNull(),
    status: text('status', { enum: ['open', 'acknowledged', 'resolved'] }).notNull(),
    /** Whether the rule's condition still holds on the newest reading. */
    active: integer('active', { mode: 'boolean' }).notNull(),
    message: text('message').notNull(),
    openedAt: integer('opened_at').notNull(),
    lastTriggeredAt: integer('last_triggered_at').notNull(),
    count: integer('count').notNull(),
    /** JSON: the reading that last triggered it, as the API shows readings; null for missing data. */
    reading: text('reading'),
    acknowledgedBy: text('acknowledged_by'),
    acknowledgedAt: integer('acknowledged_at'),
    resolvedBy: text('resolved_by'),
    resolvedAt: integer('resolved_at'),
    note: text('note'),
    /** 1, then one more for each new episode that reopened it. */
    episode: integer('episode').notNull().default(1),
    reopenedAt: integer('reopened_at'),
    reopenReason: text('reopen_reason', { enum: ['new_episode', 'higher_severity', 'acknowledgement_expired'] }),
    /** The triggering reading was measured before the newest one already received. */
    late: integer('late', { mode: 'boolean' }).notNull().default(false),
    /** JSON: what the rule measured when it last fired (the contract's `observed`). */
    observed: text('observed'),
  },
  (t) => [
    // One alert per patient and rule until a clinician resolves it: the database enforces it.
    uniqueIndex('alerts_one_unresolved').on(t.patientId, t.ruleId).where(sql`status <> 'resolved'`),
    index('alerts_patient_opened').on(t.patientId, t.openedAt),
    index('alerts_status_opened').on(t.status, t.openedAt),
  ],
);

/**
 * The seam between the rules and alert delivery: every alert event is written here in the same
 * transaction as the alert, and routing reads it from here. A crash between the two loses nothing.
 */
export const alertOutbox = sqliteTable('alert_outbox', {
  seq: integer('seq').primaryKey({ autoIncrement: true }),
  alertId: text('alert_id').notNull(),
  event: text('event', { enum: ['opened', 'updated', 'reopened', 'acknowledged', 'resolved'] }).notNull(),
  at: integer('at').notNull(),
});

/** Per patient and metric: when the last reading arrived (missing-data rules) and the newest measurement time. */
export const metricState = sqliteTable(
  'metric_state',
  {
    patientId: text('patient_id').notNull(),
    metric: text('metric', { enum: ['systolic', 'diastolic', 'pulse', 'weight', 'spo2'] }).notNull(),
    lastReceivedAt: integer('last_received_at').notNull(),
    newestMeasuredAt: integer('newest_measured_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.patientId, t.metric] })],
);

/** A clinician's browser or phone, as its PushSubscription gave it. */
export const pushSubscriptions = sqliteTable(
  'push_subscriptions',
  {
    id: text('id').primaryKey(),
    clinicianId: text('clinician_id')
      .notNull()
      .references(() => clinicians.id),
    endpoint: text('endpoint').notNull().unique(),
    p256dh: text('p256dh').notNull(),
    auth: text('auth').notNull(),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('push_subscriptions_clinician').on(t.clinicianId)],
);

/**
 * Escalation timers as data: the next care-team tier an alert goes to, and when. Survives a restart;
 * acknowledging or resolving the alert ends it.
 */
export const escalations = sqliteTable(
  'escalations',
  {
    alertId: text('alert_id').primaryKey(),
    /** Index into the routing policy's tiers (0: primary nurse). */
    nextTier: integer('next_tier').notNull(),
    dueAt: integer('due_at').notNull(),
    /** pending: a notification is due; acknowledged: the acknowledgement expires at dueAt; done; cancelled. */
    state: text('state', { enum: ['pending', 'acknowledged', 'done', 'cancelled'] }).notNull(),
    /** Repeats sent after the last tier, until someone acknowledges. */
    repeat: integer('repeat').notNull().default(0),
    /** One more each time the alert is routed again from the first tier (reopened). */
    round: integer('round').notNull().default(0),
    /** When this round began: an outbox event read again after a crash does not start it twice. */
    startedAt: integer('started_at').notNull().default(0),
    /** Whether any tier was reached; an alert that reached nobody is flagged for admins. */
    reachedAnyone: integer('reached_anyone', { mode: 'boolean' }).notNull(),
    unreachable: integer('unreachable', { mode: 'boolean' }).notNull(),
  },
  (t) => [index('escalations_state_due').on(t.state, t.dueAt)],
);

/** Every delivery attempt: which alert, to whom, over which channel, and how it went. */
export const deliveries = sqliteTable(
  'deliveries',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    alertId: text('alert_id').notNull(),
    event: text('event').notNull(),
    channel: text('channel', { enum: ['web_push', 'webhook'] }).notNull(),
    tier: integer('tier'),
    /** The escalation round (a reopened alert is routed again) and, after the last tier, the repeat. */
    round: integer('round').notNull().default(0),
    repeat: integer('repeat').notNull().default(0),
    clinicianId: text('clinician_id'),
    /** The push subscription or webhook. */
    targetId: text('target_id').notNull(),
    status: text('status', { enum: ['delivered', 'retrying', 'failed', 'gone', 'no_recipient'] }).notNull(),
    httpStatus: integer('http_status'),
    attempt: integer('attempt').notNull(),
    error: text('error'),
    at: integer('at').notNull(),
  },
  (t) => [index('deliveries_alert').on(t.alertId, t.seq)],
);

/** Agency endpoints (EHR, paging, secure messaging) that receive every alert event, signed. */
export const webhooks = sqliteTable('webhooks', {
  id: text('id').primaryKey(),
  url: text('url').notNull(),
  /** The HMAC-SHA256 key; kept as is because signing needs it (it is the agency's, not a user's secret). */
  secret: text('secret').notNull(),
  createdAt: integer('created_at').notNull(),
});

/** How far each consumer has read the alert outbox. */
export const outboxCursors = sqliteTable('outbox_cursors', {
  name: text('name').primaryKey(),
  seq: integer('seq').notNull(),
});

/**
 * Webhook deliveries still to make: one row per webhook and alert event, written with the outbox
 * cursor's advance, so a restart during a back-off resumes instead of forgetting the event.
 */
export const webhookJobs = sqliteTable(
  'webhook_jobs',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    webhookId: text('webhook_id').notNull(),
    /** The alert_outbox row this delivers. */
    outboxSeq: integer('outbox_seq').notNull(),
    attempts: integer('attempts').notNull(),
    nextAt: integer('next_at').notNull(),
    state: text('state', { enum: ['pending', 'done', 'failed'] }).notNull(),
  },
  (t) => [index('webhook_jobs_state_next').on(t.state, t.nextAt)],
);

/** When a clinician is away (vacation, off shift): routing treats them as unreachable then. */
export const awayPeriods = sqliteTable(
  'away_periods',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    clinicianId: text('clinician_id')
      .notNull()
      .references(() => clinicians.id),
    from: integer('from').notNull(),
    until: integer('until').notNull(),
    note: text('note'),
  },
  (t) => [index('away_periods_clinician').on(t.clinicianId, t.until)],
);

/** The agency's on-call rota: who takes what reached nobody on a care team, and when. */
export const onCallShifts = sqliteTable(
  'on_call_shifts',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    clinicianId: text('clinician_id')
      .notNull()
      .references(() => clinicians.id),
    from: integer('from').notNull(),
    until: integer('until').notNull(),
  },
  (t) => [index('on_call_shifts_until').on(t.until)],
);

/** `quietFor` on resolve: the rule opens no new alert for the patient until then. */
export const ruleQuiet = sqliteTable(
  'rule_quiet',
  {
    patientId: text('patient_id')
      .notNull()
      .references(() => patients.id),
    ruleId: text('rule_id').notNull(),
    until: integer('until').notNull(),
    setBy: text('set_by').notNull(),
    setAt: integer('set_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.patientId, t.ruleId] })],
);

/**
 * Each device's clock as its messages show it: a device that sent current readings and then three
 * messages in a row measured more than an hour before they arrived has a clock that was reset (a battery
 * change); its readings are evaluated as measured on arrival until they are current again.
 */
export const deviceClocks = sqliteTable('device_clocks', {
  deviceId: text('device_id').primaryKey(),
  /** When the device last sent a current reading (null: never). */
  currentAt: integer('current_at'),
  /** Stale messages in a row since then. */
  staleRun: integer('stale_run').notNull(),
  /** Since when the clock is judged wrong (null: it is fine). */
  offSince: integer('off_since'),
});

/**
 * A vendor's cloud that sends us readings (Tenovi, BodyTrace, Withings): one per vendor account of the
 * agency. The secret is random and shown once; only its SHA-256 is kept, like device tokens.
 */
export const integrations = sqliteTable('integrations', {
  id: text('id').primaryKey(),
  vendor: text('vendor').notNull(),
  secretHash: text('secret_hash').notNull().unique(),
  createdAt: integer('created_at').notNull(),
  createdBy: text('created_by').notNull(),
});

/**
 * A Withings account linked to an integration: Homewatch fetches that user's measures with these tokens
 * when Withings notifies it. The tokens must be usable, so they cannot be hashed: they are sealed with
 * AES-256-GCM under a key kept in DATA_DIR (src/vendors/token-cipher.ts), never logged nor shown.
 */
export const withingsUsers = sqliteTable(
  'withings_users',
  {
    integrationId: text('integration_id')
      .notNull()
      .references(() => integrations.id),
    withingsUserId: text('withings_user_id').notNull(),
    accessToken: text('access_token').notNull(),
    refreshToken: text('refresh_token').notNull(),
    /** When the access token expires (epoch ms). */
    expiresAt: integer('expires_at').notNull(),
    linkedAt: integer('linked_at').notNull(),
    /** When the tokens were last refreshed or replaced. */
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.integrationId, t.withingsUserId] })],
);
