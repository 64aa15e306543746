import { z } from 'zod';
import { parseDuration } from './domain/duration.ts';

/**
 * The only reader of process.env. Every setting is validated at start; a bad one stops the process with
 * a sentence naming the variable and what it expected. The configuration table in docs/configuration.md is generated
 * from this schema (`npm run config-table`), so the descriptions here are the documentation.
 */

// 0 asks the system for any free port (the one bound is logged); tests use it.
const PORT_EXPECTED = 'expected a TCP port number from 0 to 65535';
const portNumber = (expected = PORT_EXPECTED) =>
  z.coerce.number({ error: expected }).int(expected).min(0, expected).max(65535, expected);
const port = (fallback: number) => portNumber().default(fallback);
// `off` rather than 0, which keeps its meaning of any free port.
const PORT_OR_OFF_EXPECTED = `${PORT_EXPECTED}, or off`;
const portOrOff = (fallback: number) =>
  z.union([z.literal('off'), portNumber(PORT_OR_OFF_EXPECTED)], { error: PORT_OR_OFF_EXPECTED }).default(fallback);

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((text) => parseDuration(text) !== undefined, 'expected a duration such as 30s, 15m, 4h or 7d')
    .transform((text) => parseDuration(text)!);

/** A comma-separated list of hosts (optionally host:port), lower-cased, blanks dropped; empty when unset without a default. */
const hostList = (fallback?: string) =>
  (fallback === undefined ? z.string().optional() : z.string().default(fallback)).transform((text = '') =>
    text
      .split(',')
      .map((host) => host.trim().toLowerCase())
      .filter(Boolean),
  );

/** The browser vendors' push services (Chrome/FCM, Firefox/Mozilla, Safari/Apple, Edge/WNS). */
export const DEFAULT_PUSH_ENDPOINT_HOSTS = [
  'fcm.googleapis.com',
  'android.googleapis.com',
  'updates.push.services.mozilla.com',
  'web.push.apple.com',
  '*.notify.windows.com',
];

export const configSchema = z
  .object({
    PORT: port(3000).describe('HTTP port'),
    HOST: z.string().min(1).default('0.0.0.0').describe('HTTP and embedded MQTT bind address'),
    DATA_DIR: z.string().min(1).default('./data').describe('Where the embedded database and generated keys live'),
    MQTT_PORT: portOrOff(1883).describe(
      'Port of the embedded MQTT broker (unused when MQTT_URL is set); off for none (MQTT over TLS only)',
    ),
    MQTT_TLS_PORT: portNumber()
      .optional()
      .describe('Port of the embedded broker for MQTT over TLS (8883 by convention); off when unset'),
    MQTT_TLS_CERT: z
      .string()
      .min(1)
      .optional()
      .describe("PEM file of the MQTT over TLS server's certificate (its chain after it); required with MQTT_TLS_PORT"),
    MQTT_TLS_KEY: z
      .string()
      .min(1)
      .optional()
      .describe("PEM file of that certificate's private key; required with MQTT_TLS_PORT"),
    MQTT_URL: z
      .url({ protocol: /^(mqtts?|wss?|tcp|ssl)$/, error: 'expected a broker URL such as mqtt://127.0.0.1:1883' })
      .optional()
      .describe(
        'External broker URL; when set no broker is embedded and the service subscribes to $share/rpm/rpm/devices/+/readings (QoS 1, persistent session)',
      ),
    MQTT_CLIENT_ID: z
      .string()
      .min(1)
      .max(128)
      .optional()
      .describe(
        'Client id for the external broker session; give each instance its own (default: homewatch-<hostname>)',
      ),
    MQTT_USERNAME: z.string().optional().describe('User name for the external broker'),
    MQTT_PASSWORD: z.string().optional().describe('Password for the external broker'),
    RPM_ADMIN_TOKEN: z
      .string()
      .min(16, 'expected at least 16 characters')
      .optional()
      .describe('Bearer token with admin rights, for provisioning and automation (at least 16 characters)'),
    READINGS_STORE: z
      .enum(['sqlite', 'influxdb'], { error: 'expected "sqlite" or "influxdb"' })
      .default('sqlite')
      .describe('Where readings are kept: sqlite (embedded) or influxdb'),
    INFLUX_URL: z
      .url({ protocol: /^https?$/, error: 'expected an http(s) URL' })
      .optional()
      .describe('InfluxDB base URL'),
    INFLUX_TOKEN: z.string().optional().describe('InfluxDB token, sent as Authorization: Token …'),
    INFLUX_DATABASE: z.string().min(1).optional().describe('InfluxDB database (1.x) or DBRP-mapped bucket'),
    INFLUX_BACKLOG_LIMIT: z.coerce
      .number({ error: 'expected a whole number of readings' })
      .int('expected a whole number of readings')
      .positive('expected a whole number of readings, above 0')
      .default(5_000_000)
      .describe(
        'Readings waiting for InfluxDB (kept in SQLite) at which devices are told to retry later (HTTP 503 with Retry-After, no MQTT PUBACK)',
      ),
    DEVICE_RATE_LIMIT: z.coerce
      .number({ error: 'expected a whole number of messages per minute' })
      .int('expected a whole number of messages per minute')
      .positive('expected a whole number of messages per minute, above 0')
      .default(600)
      .describe('HTTP requests plus MQTT messages one device may send per minute (a batch counts once)'),
    REJECTIONS_PER_DEVICE: z.coerce
      .number({ error: 'expected a whole number of rejections' })
      .int('expected a whole number of rejections')
      .positive('expected a whole number of rejections, above 0')
      .default(1000)
      .describe(
        'Refused payloads kept per device for admins to read (the newest; a payload over 16 KiB is kept as its first 4 KiB and its SHA-256)',
      ),
    ESCALATION_CRITICAL: duration('15m').describe(
      'How long an open critical alert may stay unacknowledged before the next tier is notified',
    ),
    ESCALATION_WARNING: duration('4h').describe(
      'How long an open warning alert may stay unacknowledged before the next tier is notified',
    ),
    ACK_TIMEOUT_CRITICAL: duration('1h').describe(
      'How long an acknowledgement of a critical alert holds while the alert stays active; then it is reopened and routed again',
    ),
    ACK_TIMEOUT_WARNING: duration('24h').describe(
      'How long an acknowledgement of a warning alert holds while the alert stays active; then it is reopened and routed again',
    ),
    PUSH_ENDPOINT_HOSTS: hostList(DEFAULT_PUSH_ENDPOINT_HOSTS.join(',')).describe(
      'Comma-separated host names (optionally host:port) a push subscription endpoint may point at',
    ),
    WEBHOOK_ALLOWED_HOSTS: hostList().describe(
      'Comma-separated host names or addresses (IPv6 in brackets; host:port for that port only) that webhooks may reach although they are not public (loopback, private, link-local, shared); anything else must resolve to public addresses only',
    ),
    VAPID_PUBLIC_KEY: z
      .string()
      .min(1)
      .optional()
      .describe('Web Push VAPID public key (base64url); generated into DATA_DIR/vapid.json when unset'),
    VAPID_PRIVATE_KEY: z
      .string()
      .min(1)
      .optional()
      .describe('Web Push VAPID private key (base64url), with VAPID_PUBLIC_KEY'),
    VAPID_SUBJECT: z
      .string()
      .regex(/^(mailto:|https:)/, 'expected a mailto: or https: URI')
      .default('mailto:admin@homewatch.example')
      .describe("Contact the push services may use about our traffic: the agency admin's mailto: or https: URI"),
    OUTBOUND_CA_FILE: z
      .string()
      .min(1)
      .optional()
      .describe(
        'A PEM file of extra certificate authorities trusted for push and webhook endpoints (e.g. an internal relay)',
      ),
    SESSION_IDLE_TIMEOUT: duration('30m').describe(
      'A clinician is signed out after this long without a request (automatic logoff, HIPAA 164.312(a)(2)(iii))',
    ),
    SESSION_MAX_AGE: duration('12h').describe('A clinician is signed out this long after signing in, however active'),
    TRUST_PROXY: z
      .enum(['true', 'false'], { error: 'expected true or false' })
      .default('false')
      .transform((text) => text === 'true')
      .describe(
        'Set to true behind one reverse proxy that appends the client to X-Forwarded-For: sign-in throttling then takes its right-most entry as the client, not the proxy',
      ),
    CORS_ORIGINS: z
      .string()
      .optional()
      .transform((text) =>
        text
          ?.split(',')
          .map((origin) => origin.trim())
          .filter(Boolean),
      )
      .describe('Comma-separated origins allowed to call the API from a browser (CORS is off when unset)'),
    WITHINGS_API_URL: z
      .url({ protocol: /^https?$/, error: 'expected an http(s) URL' })
      .default('https://wbsapi.withings.net')
      .describe(
        'Base URL of the Withings API, where measures (/measure) and token refreshes (/v2/oauth2) are fetched for linked Withings users (operator configuration: no address check applies)',
      ),
    WITHINGS_CLIENT_ID: z
      .string()
      .min(1)
      .optional()
      .describe("The agency's Withings application client id, to refresh linked users' tokens"),
    WITHINGS_CLIENT_SECRET: z
      .string()
      .min(1)
      .optional()
      .describe("That application's client secret; required with WITHINGS_CLIENT_ID"),
    LOG_LEVEL: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
        error: 'expected one of fatal, error, warn, info, debug, trace, silent',
      })
      .default('info')
      .describe('Log level (pino); logs are JSON, one line per event'),
  })
  .superRefine((env, ctx) => {
    if (Boolean(env.VAPID_PUBLIC_KEY) !== Boolean(env.VAPID_PRIVATE_KEY)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.VAPID_PUBLIC_KEY ? 'VAPID_PRIVATE_KEY' : 'VAPID_PUBLIC_KEY'],
        message: 'is required with the other VAPID key',
      });
    }
    if (Boolean(env.WITHINGS_CLIENT_ID) !== Boolean(env.WITHINGS_CLIENT_SECRET)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.WITHINGS_CLIENT_ID ? 'WITHINGS_CLIENT_SECRET' : 'WITHINGS_CLIENT_ID'],
        message: 'is required with the other WITHINGS_CLIENT_ variable',
      });
    }
    if (env.MQTT_TLS_PORT !== undefined) {
      for (const name of ['MQTT_TLS_CERT', 'MQTT_TLS_KEY'] as const) {
        if (!env[name])
          ctx.addIssue({ code: 'custom', path: [name], message: 'is required when MQTT_TLS_PORT is set' });
      }
      if (env.MQTT_TLS_PORT !== 0 && env.MQTT_TLS_PORT === env.MQTT_PORT) {
        ctx.addIssue({ code: 'custom', path: ['MQTT_TLS_PORT'], message: 'must differ from MQTT_PORT' });
      }
    }
    if (env.READINGS_STORE !== 'influxdb') return;
    for (const name of ['INFLUX_URL', 'INFLUX_DATABASE'] as const) {
      if (!env[name])
        ctx.addIssue({ code: 'custom', path: [name], message: 'is required when READINGS_STORE=influxdb' });
    }
  });

export type Config = z.output<typeof configSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Reads the settings from the environment. Empty values count as unset, so `PORT=` falls back to the
 * default rather than failing as "not a number".
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const names = Object.keys(configSchema.shape);
  const given = Object.fromEntries(
    names.filter((name) => env[name] !== undefined && env[name] !== '').map((name) => [name, env[name]]),
  );
  const result = configSchema.safeParse(given);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? 'configuration');
    const value =
      name in given && !/TOKEN|PASSWORD|SECRET/.test(name)
        ? ` (got ${JSON.stringify(withoutCredentials(given[name]!))})`
        : '';
    return `${name}: ${issue.message}${value}`;
  });
  throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
}

/** `mqtt://user:secret@host` → `mqtt://***@host`: a refused URL is shown, its credentials never. */
function withoutCredentials(value: string): string {
  return value.replace(/\/\/[^/@\s]*@/, '//***@');
}
