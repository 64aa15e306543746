/**
 * The words for the kinds of device a patient measures with. Plain data: the web client bundles it as it
 * is. The kinds themselves are declared in src/devices/store.ts (a module the client cannot load, even
 * for its types); device.test.ts checks that both name the same kinds.
 */
export const DEVICE_KIND_LABELS = {
  bp_monitor: 'Blood pressure monitor',
  scale: 'Scale',
  pulse_oximeter: 'Pulse oximeter',
} as const;
export type DeviceKind = keyof typeof DEVICE_KIND_LABELS;
