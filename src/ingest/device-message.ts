import type { DeviceIdentity } from '../devices/directory.ts';
import { AppError } from '../domain/errors.ts';
import type { Ingest } from './ingest.ts';
import { MAX_BODY_BYTES } from './http.ts';
import type { RateLimiter } from './rate-limit.ts';

export interface DeviceMessageOptions {
  ingest: Ingest;
  limiter: RateLimiter;
}

/**
 * One MQTT message from a device, for the embedded broker and the external subscriber alike. Resolves
 * with the body to publish on the results topic once everything is durably stored; a refused message is
 * answered there and kept among the rejections, so it never throws for bad input. It rejects when
 * storing failed or the device is far over its rate limit, and then the caller must not acknowledge.
 */
export async function handleDeviceMessage(
  { ingest, limiter }: DeviceMessageOptions,
  device: DeviceIdentity,
  payload: Buffer,
  { throttle }: { throttle: boolean },
): Promise<unknown> {
  if (payload.length > MAX_BODY_BYTES) {
    const error = new AppError(
      'payload_too_large',
      `The payload is ${payload.length} bytes; at most 1 MiB is accepted`,
    );
    await ingest.refuse(device.id, payload, 'mqtt', error);
    return error.toBody();
  }
  // An MQTT 3.1.1 PUBACK cannot refuse, and a PUBACK must mean stored: so a device over its limit is
  // slowed down (its PUBACKs come later) rather than answered "no". One a whole window in debt gets no
  // PUBACK at all and sends again later. On an external broker the wait would stall every device behind
  // the shared subscription, so there the broker's own limits apply and the excess is only counted.
  const wait = limiter.reserve(device.id);
  if (wait !== 0) ingest.countRateLimited('mqtt');
  if (throttle && wait < 0) {
    throw new AppError(
      'rate_limited',
      `Device ${device.id} is over DEVICE_RATE_LIMIT by a whole minute; not acknowledged`,
    );
  }
  if (throttle && wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  const answer = await ingest.handleMessage(device, payload.toString('utf8'), 'mqtt');
  return answer.body;
}
