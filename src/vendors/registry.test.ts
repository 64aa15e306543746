import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { normalizeReading } from '../normalize/reading.ts';
import { PUSH_VENDORS, VENDOR_NAMES } from './registry.ts';

/**
 * What registering a vendor commits it to: a folder in devices/ with its README and samples, a section
 * of docs/vendors.md, and samples that do what their names say (valid-: readings the pipeline accepts;
 * unusable-: kept among the integration's rejections; ignored-: acknowledged, nothing kept; implausible-:
 * readings the pipeline refuses).
 */
const devices = (name: string) => new URL(`../../devices/${name}/`, import.meta.url);
const RECEIVED = Date.parse('2026-11-22T00:00:00Z');

describe('the vendor registry', () => {
  const guide = readFileSync(new URL('../../docs/vendors.md', import.meta.url), 'utf8');

  it.each(VENDOR_NAMES)(
    '%s has its devices/ folder with a README and samples, and a section in docs/vendors.md',
    (name) => {
      expect(existsSync(new URL('README.md', devices(name)))).toBe(true);
      expect(readdirSync(new URL('samples/', devices(name))).length).toBeGreaterThan(0);
      expect(guide).toMatch(new RegExp(`^## .*\\(\`${name}\`\\)`, 'm'));
    },
  );

  for (const vendor of Object.values(PUSH_VENDORS)) {
    const files = readdirSync(new URL('samples/', devices(vendor.name))).filter((file) => file.endsWith('.json'));
    it.each(files)(`${vendor.name}/%s does what its name says`, (file) => {
      const batch = vendor.map(JSON.parse(readFileSync(new URL(`samples/${file}`, devices(vendor.name)), 'utf8')));
      const accepted = batch.readings.filter(({ reading }) => normalizeReading(reading, RECEIVED).ok);
      const [kind] = file.split('-');
      switch (kind) {
        case 'valid':
          expect(batch.problems).toEqual([]);
          expect(accepted.length).toBeGreaterThan(0);
          expect(accepted).toHaveLength(batch.readings.length);
          break;
        case 'unusable':
          expect(batch.readings).toEqual([]);
          expect(batch.problems.length).toBeGreaterThan(0);
          break;
        case 'ignored':
          expect(batch).toMatchObject({ readings: [], problems: [] });
          expect(batch.ignored).toBeGreaterThan(0);
          break;
        case 'implausible':
          expect(batch.problems).toEqual([]);
          expect(batch.readings.length).toBeGreaterThan(0);
          expect(accepted).toEqual([]);
          break;
        default:
          throw new Error(`${file}: a sample's name starts with valid-, unusable-, ignored- or implausible-`);
      }
    });
  }
});
