/**
 * Writes the README's configuration table from the config schema (src/config.ts), between the
 * `<!-- config-table -->` markers. `npm run config-table`; a test fails when the README is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { configSchema } from '../src/config.ts';

const START = '<!-- config-table:start -->';
const END = '<!-- config-table:end -->';

export function configTable(): string {
  const json = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as {
    properties: Record<string, { default?: unknown; description?: string }>;
  };
  const rows = Object.entries(json.properties).map(([name, property]) => {
    const fallback = property.default === undefined ? 'unset' : `\`${String(property.default).replaceAll(',', ', ')}\``;
    return `| \`${name}\` | ${fallback} | ${property.description ?? ''} |`;
  });
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

export function withConfigTable(readme: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${START} … ${END} section`);
  return `${readme.slice(0, start + START.length)}\n${configTable()}\n${readme.slice(end)}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = path.resolve(import.meta.dirname, '../README.md');
  writeFileSync(file, withConfigTable(readFileSync(file, 'utf8')));
  console.log('README.md: configuration table updated');
}
