import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs, one line per event. Log ids (patient, device, reading, request), never names,
 * tokens or measured values: the redaction below is a safety net, not a licence.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'homewatch' },
    redact: {
      paths: ['*.token', '*.password', '*.authorization', 'token', 'password', 'authorization'],
      censor: '[redacted]',
    },
  });
}
