import { describe, expect, it } from 'vitest';
import { DEVICE_KINDS } from '../devices/store.ts';
import { DEVICE_KIND_LABELS } from './device.ts';

describe('device kind words', () => {
  it('name every kind of device the service provisions, and no other', () => {
    expect(Object.keys(DEVICE_KIND_LABELS).sort()).toEqual([...DEVICE_KINDS].sort());
  });
});
