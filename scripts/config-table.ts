/**
 * Writes the configuration table of docs/configuration.md from the config schema (src/config.ts), between
 * the `<!-- config-table -->` markers. `npm run config-table`; a test fails when the page is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { configSchema } from '../src/config.ts';

/** The page that holds the table, relative to the repository's root. */
export const CONFIG_PAGE = 'docs/configuration.md';
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

export function withConfigTable(page: string): string {
  const start = page.indexOf(START);
  const end = page.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${CONFIG_PAGE} has no ${START} … ${END} section`);
  return `${page.slice(0, start + START.length)}\n${configTable()}\n${page.slice(end)}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = path.resolve(import.meta.dirname, '..', CONFIG_PAGE);
  writeFileSync(file, withConfigTable(readFileSync(file, 'utf8')));
  console.log(`${CONFIG_PAGE}: configuration table updated`);
}
