import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_PUSH_ENDPOINT_HOSTS, loadConfig } from './config.ts';

/** The ConfigError loadConfig throws for `env`, or a failure when it does not throw one. */
function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('serves with no variable set: the contract defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      PORT: 3000,
      HOST: '0.0.0.0',
      DATA_DIR: './data',
      MQTT_PORT: 1883,
      READINGS_STORE: 'sqlite',
      DEVICE_RATE_LIMIT: 600,
      REJECTIONS_PER_DEVICE: 1000,
      ESCALATION_CRITICAL: 15 * 60_000,
      ESCALATION_WARNING: 4 * 3_600_000,
      LOG_LEVEL: 'info',
    });
    expect(config.MQTT_URL).toBeUndefined();
    expect(config.MQTT_TLS_PORT).toBeUndefined();
    expect(config.RPM_ADMIN_TOKEN).toBeUndefined();
    expect(config.PUSH_ENDPOINT_HOSTS).toEqual(DEFAULT_PUSH_ENDPOINT_HOSTS);
  });

  it('ignores variables it does not know (the rest of the environment)', () => {
    expect(loadConfig({ PATH: '/usr/bin', HOME: '/root', NODE_ENV: 'production' }).PORT).toBe(3000);
  });

  it('treats empty strings as unset', () => {
    const config = loadConfig({
      PORT: '',
      MQTT_PORT: '',
      DATA_DIR: '',
      MQTT_URL: '',
      RPM_ADMIN_TOKEN: '',
      READINGS_STORE: '',
      DEVICE_RATE_LIMIT: '',
      ESCALATION_CRITICAL: '',
      ESCALATION_WARNING: '',
      LOG_LEVEL: '',
    });
    expect(config).toMatchObject({
      PORT: 3000,
      MQTT_PORT: 1883,
      DATA_DIR: './data',
      READINGS_STORE: 'sqlite',
      DEVICE_RATE_LIMIT: 600,
      ESCALATION_CRITICAL: 900_000,
    });
    expect(config.MQTT_URL).toBeUndefined();
    expect(config.RPM_ADMIN_TOKEN).toBeUndefined();
  });

  it('reads the given values', () => {
    const config = loadConfig({
      PORT: '8080',
      MQTT_PORT: '0',
      DATA_DIR: '/var/lib/homewatch',
      MQTT_URL: 'mqtts://broker.example.org:8883',
      RPM_ADMIN_TOKEN: 'a'.repeat(16),
      DEVICE_RATE_LIMIT: '60',
      REJECTIONS_PER_DEVICE: '50',
      ESCALATION_CRITICAL: '30s',
      ESCALATION_WARNING: '2d',
      PUSH_ENDPOINT_HOSTS: ' Push.Example.org, localhost:8443 ,,',
    });
    expect(config).toMatchObject({
      PORT: 8080,
      MQTT_PORT: 0,
      DATA_DIR: '/var/lib/homewatch',
      MQTT_URL: 'mqtts://broker.example.org:8883',
      RPM_ADMIN_TOKEN: 'a'.repeat(16),
      DEVICE_RATE_LIMIT: 60,
      REJECTIONS_PER_DEVICE: 50,
      ESCALATION_CRITICAL: 30_000,
      ESCALATION_WARNING: 2 * 86_400_000,
      PUSH_ENDPOINT_HOSTS: ['push.example.org', 'localhost:8443'],
    });
  });

  it.each([
    ['PORT', 'abc', /PORT: expected a TCP port number/],
    ['PORT', '65536', /PORT: expected a TCP port number/],
    ['PORT', '80.5', /PORT: expected a TCP port number/],
    ['PORT', '-1', /PORT: expected a TCP port number/],
    ['MQTT_PORT', 'mqtt', /MQTT_PORT: expected a TCP port number from 0 to 65535, or off/],
    ['MQTT_PORT', 'OFF', /MQTT_PORT: expected a TCP port number from 0 to 65535, or off/],
    ['MQTT_TLS_PORT', 'off', /MQTT_TLS_PORT: expected a TCP port number/],
    ['DEVICE_RATE_LIMIT', '-1', /DEVICE_RATE_LIMIT: expected a whole number of messages per minute/],
    ['DEVICE_RATE_LIMIT', '0', /DEVICE_RATE_LIMIT: expected a whole number of messages per minute, above 0/],
    ['DEVICE_RATE_LIMIT', 'lots', /DEVICE_RATE_LIMIT: expected a whole number/],
    ['REJECTIONS_PER_DEVICE', '0', /REJECTIONS_PER_DEVICE: expected a whole number of rejections, above 0/],
    ['REJECTIONS_PER_DEVICE', '2.5', /REJECTIONS_PER_DEVICE: expected a whole number of rejections/],
    ['ESCALATION_CRITICAL', 'soon', /ESCALATION_CRITICAL: expected a duration such as 30s, 15m, 4h or 7d/],
    ['ESCALATION_WARNING', '4 hours', /ESCALATION_WARNING: expected a duration/],
    ['ESCALATION_WARNING', '0h', /ESCALATION_WARNING: expected a duration/],
    ['READINGS_STORE', 'cassandra', /READINGS_STORE: expected "sqlite" or "influxdb"/],
    ['MQTT_URL', 'not-a-url', /MQTT_URL: expected a broker URL/],
    ['MQTT_URL', 'http://127.0.0.1:1883', /MQTT_URL: expected a broker URL/],
    ['RPM_ADMIN_TOKEN', 'short', /RPM_ADMIN_TOKEN: expected at least 16 characters/],
    ['LOG_LEVEL', 'verbose', /LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent/],
  ])('refuses %s=%s with a sentence naming it', (name, value, expected) => {
    const error = configError({ [name]: value });
    expect(error.message).toMatch(expected);
    if (name !== 'RPM_ADMIN_TOKEN') expect(error.message).toContain(`(got ${JSON.stringify(value)})`);
  });

  it('never echoes a token in the message', () => {
    const error = configError({ RPM_ADMIN_TOKEN: 'sekrit' });
    expect(error.message).toContain('RPM_ADMIN_TOKEN');
    expect(error.message).not.toContain('sekrit');
  });

  it('never echoes credentials embedded in a refused URL', () => {
    const mqttUrl = configError({ MQTT_URL: 'http://rpm:hunter2-secret@broker.example.org:1883' });
    expect(mqttUrl.message).toMatch(/MQTT_URL: expected a broker URL/);
    expect(mqttUrl.message).not.toContain('hunter2-secret');

    const influxUrl = configError({ INFLUX_URL: 'influx://rpm:hunter2-secret@db.example.org:8086' });
    expect(influxUrl.message).toMatch(/INFLUX_URL: expected an http\(s\) URL/);
    expect(influxUrl.message).not.toContain('hunter2-secret');
  });

  it('names every bad variable at once', () => {
    const error = configError({ PORT: 'abc', DEVICE_RATE_LIMIT: '-1', ESCALATION_CRITICAL: 'soon' });
    expect(error.message).toMatch(/PORT:/);
    expect(error.message).toMatch(/DEVICE_RATE_LIMIT:/);
    expect(error.message).toMatch(/ESCALATION_CRITICAL:/);
  });

  it('READINGS_STORE=influxdb needs INFLUX_URL and INFLUX_DATABASE', () => {
    const error = configError({ READINGS_STORE: 'influxdb' });
    expect(error.message).toMatch(/INFLUX_URL: is required when READINGS_STORE=influxdb/);
    expect(error.message).toMatch(/INFLUX_DATABASE: is required when READINGS_STORE=influxdb/);

    const onlyUrl = configError({ READINGS_STORE: 'influxdb', INFLUX_DATABASE: 'rpm', INFLUX_URL: '' });
    expect(onlyUrl.message).toMatch(/INFLUX_URL/);
    expect(onlyUrl.message).not.toMatch(/INFLUX_DATABASE/);

    expect(
      loadConfig({ READINGS_STORE: 'influxdb', INFLUX_URL: 'http://127.0.0.1:8181', INFLUX_DATABASE: 'rpm' }),
    ).toMatchObject({
      READINGS_STORE: 'influxdb',
      INFLUX_URL: 'http://127.0.0.1:8181',
    });
  });

  it('MQTT_PORT=off turns plain MQTT off; 0 still means any free port', () => {
    expect(loadConfig({ MQTT_PORT: 'off' }).MQTT_PORT).toBe('off');
    expect(loadConfig({ MQTT_PORT: '0' }).MQTT_PORT).toBe(0);
  });

  it('MQTT_TLS_PORT needs MQTT_TLS_CERT and MQTT_TLS_KEY, and a port of its own', () => {
    const error = configError({ MQTT_TLS_PORT: '8883' });
    expect(error.message).toMatch(/MQTT_TLS_CERT: is required when MQTT_TLS_PORT is set/);
    expect(error.message).toMatch(/MQTT_TLS_KEY: is required when MQTT_TLS_PORT is set/);
    expect(configError({ MQTT_TLS_PORT: '8883', MQTT_TLS_KEY: 'key.pem' }).message).not.toMatch(/MQTT_TLS_KEY/);

    const files = { MQTT_TLS_CERT: 'cert.pem', MQTT_TLS_KEY: 'key.pem' };
    expect(configError({ ...files, MQTT_PORT: '8883', MQTT_TLS_PORT: '8883' }).message).toMatch(
      /MQTT_TLS_PORT: must differ from MQTT_PORT/,
    );
    expect(loadConfig({ ...files, MQTT_PORT: 'off', MQTT_TLS_PORT: '8883' })).toMatchObject({
      ...files,
      MQTT_PORT: 'off',
      MQTT_TLS_PORT: 8883,
    });
    expect(loadConfig({ ...files, MQTT_PORT: '0', MQTT_TLS_PORT: '0' }).MQTT_TLS_PORT).toBe(0);
  });

  it('Withings: the API URL defaults to Withings own, the client id and secret go together, the secret is never echoed', () => {
    const config = loadConfig({});
    expect(config.WITHINGS_API_URL).toBe('https://wbsapi.withings.net');
    expect(config.WITHINGS_CLIENT_ID).toBeUndefined();
    expect(loadConfig({ WITHINGS_API_URL: 'http://127.0.0.1:8089' }).WITHINGS_API_URL).toBe('http://127.0.0.1:8089');
    expect(configError({ WITHINGS_API_URL: 'ftp://withings.example' }).message).toMatch(
      /WITHINGS_API_URL: expected an http\(s\) URL/,
    );
    expect(configError({ WITHINGS_CLIENT_ID: 'abc' }).message).toMatch(
      /WITHINGS_CLIENT_SECRET: is required with the other WITHINGS_CLIENT_ variable/,
    );
    const secret = configError({ WITHINGS_CLIENT_SECRET: 'hunter2-withings' });
    expect(secret.message).toMatch(/WITHINGS_CLIENT_ID: is required/);
    expect(secret.message).not.toContain('hunter2-withings');
    expect(loadConfig({ WITHINGS_CLIENT_ID: 'abc', WITHINGS_CLIENT_SECRET: 's' })).toMatchObject({
      WITHINGS_CLIENT_ID: 'abc',
      WITHINGS_CLIENT_SECRET: 's',
    });
  });

  it('INFLUX_URL must be http(s)', () => {
    expect(configError({ INFLUX_URL: 'influx://db:8086' }).message).toMatch(/INFLUX_URL: expected an http\(s\) URL/);
  });

  it('WEBHOOK_ALLOWED_HOSTS is empty by default: webhooks reach public addresses only', () => {
    expect(loadConfig({}).WEBHOOK_ALLOWED_HOSTS).toEqual([]);
    expect(
      loadConfig({ WEBHOOK_ALLOWED_HOSTS: ' Hooks.Ward.internal, 10.0.0.5:8443 ,[::1]:9443,' }).WEBHOOK_ALLOWED_HOSTS,
    ).toEqual(['hooks.ward.internal', '10.0.0.5:8443', '[::1]:9443']);
  });

  it('TRUST_PROXY is off unless set to true; anything but true or false stops the start', () => {
    expect(loadConfig({}).TRUST_PROXY).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'true' }).TRUST_PROXY).toBe(true);
    expect(configError({ TRUST_PROXY: 'yes' }).message).toMatch(/TRUST_PROXY: expected true or false/);
    expect(loadConfig({ TRUST_PROXY: 'false' }).TRUST_PROXY).toBe(false);
    expect(configError({ TRUST_PROXY: 'nginx' }).message).toMatch(/TRUST_PROXY: expected true or false/);
  });
});
