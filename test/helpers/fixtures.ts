import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const DEVICES = path.resolve(import.meta.dirname, '../../devices');

/** A sample payload from devices/<kind>/samples/<name>.json: the same files device makers read. */
export function sample(kind: 'bp_monitor' | 'scale' | 'pulse_oximeter', name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(DEVICES, kind, 'samples', `${name}.json`), 'utf8')) as Record<
    string,
    unknown
  >;
}

/** Every sample of a kind whose file name starts with `prefix` (e.g. all `invalid-` ones). */
export function samples(kind: 'bp_monitor' | 'scale' | 'pulse_oximeter', prefix: string) {
  return readdirSync(path.join(DEVICES, kind, 'samples'))
    .filter((file) => file.startsWith(prefix) && file.endsWith('.json'))
    .map((file) => ({ name: file.replace(/\.json$/, ''), payload: sample(kind, file.replace(/\.json$/, '')) }));
}
