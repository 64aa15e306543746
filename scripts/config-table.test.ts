import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { configSchema } from '../src/config.ts';
import { withConfigTable } from './config-table.ts';

it('the README configuration table is the one generated from the config schema (run npm run config-table)', () => {
  const readme = readFileSync(path.resolve(import.meta.dirname, '../README.md'), 'utf8');
  expect(readme).toBe(withConfigTable(readme));
  for (const name of Object.keys(configSchema.shape)) expect(readme).toContain(`| \`${name}\` |`);
});
