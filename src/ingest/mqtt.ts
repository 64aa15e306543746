import type { DeviceIdentity } from '../auth/device-directory.ts';
import { AppError } from '../domain/errors.ts';
import type { Ingest } from './handle-readings.ts';
import { MAX_BODY_BYTES } from './http.ts';
import type { RateLimiter } from '../rate-limit.ts';

/** `rpm/devices/{deviceId}/readings`; the shared subscription the external broker mode uses. */
export const READINGS_TOPIC = /^rpm\/devices\/([^/+#]+)\/readings$/;
export const SHARED_READINGS_SUBSCRIPTION = '$share/rpm/rpm/devices/+/readings';
export const resultsTopic = (deviceId: string) => `rpm/devices/${deviceId}/results`;

/** How much of an oversized payload is kept among the rejections, to show what the device sent. */
const OVERSIZED_KEPT_BYTES = 4096;

/** The text kept among the rejections: all of it, or the head of a payload over the size limit. */
export function payloadToKeep(payload: Buffer): string {
  return (payload.length > MAX_BODY_BYTES ? payload.subarray(0, OVERSIZED_KEPT_BYTES) : payload).toString('utf8');
}

export interface DeviceMessageOptions {
  ingest: Ingest;
  limiter: RateLimiter;
}

/**
 * One MQTT message from a device, for the embedded broker and the external subscriber alike. Resolves
 * with the body to publish on the results topic once everything is durably stored; a refused message is
 * answered there and kept among the rejections, so it never throws for bad input. It rejects only when
 * storing failed, and then the caller must not acknowledge.
 */
export async function handleDeviceMessage(
  { ingest, limiter }: DeviceMessageOptions,
  device: DeviceIdentity,
  payload: Buffer,
): Promise<unknown> {
  if (payload.length > MAX_BODY_BYTES) {
    const error = new AppError('payload_too_large', `The payload is ${payload.length} bytes; at most 1 MiB is accepted`);
    await ingest.refuse(device.id, payloadToKeep(payload), 'mqtt', error);
    return error.toBody();
  }
  const retryAfter = limiter.take(device.id);
  if (retryAfter > 0) {
    // An MQTT 3.1.1 PUBACK cannot say no, so the message is kept among the rejections rather than dropped.
    const error = new AppError('rate_limited', `Too many messages from this device; retry after ${retryAfter} s`, [], retryAfter);
    await ingest.refuse(device.id, payload.toString('utf8'), 'mqtt', error);
    return { ...error.toBody(), retryAfter };
  }
  const answer = await ingest.handleMessage(device, payload.toString('utf8'), 'mqtt');
  return answer.body;
}
