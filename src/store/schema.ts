import { index, integer, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

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
});

export const devices = sqliteTable('devices', {
  id: text('id').primaryKey(),
  kind: text('kind', { enum: ['bp_monitor', 'scale', 'pulse_oximeter'] }).notNull(),
  serial: text('serial'),
  patientId: text('patient_id').references(() => patients.id),
  /** SHA-256 of the device token: the token has 256 random bits, so a fast hash is safe and lookups are cheap. */
  tokenHash: text('token_hash').notNull().unique(),
  createdAt: integer('created_at').notNull(),
  assignedAt: integer('assigned_at'),
  tokenRotatedAt: integer('token_rotated_at'),
});

export const readings = sqliteTable(
  'readings',
  {
    /** Arrival order; the InfluxDB forwarder will track delivery by it. */
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    id: text('id').notNull().unique(),
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
    uniqueIndex('readings_device_dedupe').on(t.deviceId, t.dedupeKey),
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
    reason: text('reason', { enum: ['invalid', 'conflict', 'malformed', 'unassigned', 'rate_limited', 'unknown_device'] }).notNull(),
    /** The raw payload as received: one reading's JSON, or the whole body when it did not parse. */
    payload: text('payload').notNull(),
    /** JSON array of {path, message}. */
    errors: text('errors').notNull(),
  },
  (t) => [index('rejections_device_time').on(t.deviceId, t.receivedAt)],
);
