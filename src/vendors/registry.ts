import { bodytrace } from './bodytrace.ts';
import type { PushVendor } from './mapping.ts';
import { tenovi } from './tenovi.ts';

/**
 * Every vendor whose cloud posts readings to us, by name. Adding one: a mapping file exporting its
 * `PushVendor` (like tenovi.ts), its samples in devices/<name>/, and a line here; its route, its
 * OpenAPI operation and its `vendor` value follow from this list.
 */
export const PUSH_VENDORS: Readonly<Record<string, PushVendor>> = {
  tenovi,
  bodytrace,
};

/** Withings is not pushed to us: its notification only says there is something to fetch (withings-sync.ts). */
export const WITHINGS = 'withings';

/** Every `vendor` an integration or a device may have. */
export const VENDOR_NAMES = Object.keys(PUSH_VENDORS).concat(WITHINGS) as [string, ...string[]];
