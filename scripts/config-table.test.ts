import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { configSchema } from '../src/config.ts';
import { CONFIG_PAGE, withConfigTable } from './config-table.ts';

it(`the configuration table in ${CONFIG_PAGE} is the one generated from the config schema (run npm run config-table)`, () => {
  const page = readFileSync(path.resolve(import.meta.dirname, '..', CONFIG_PAGE), 'utf8');
  expect(page).toBe(withConfigTable(page));
  for (const name of Object.keys(configSchema.shape)) expect(page).toContain(`| \`${name}\` |`);
});
