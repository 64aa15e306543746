import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layout's two rules that a reviewer could miss: HTTP route modules hold no SQL (each feature's
 * store does), and the admin CLI uses the stores, not the HTTP routes.
 */
const SRC = import.meta.dirname;
const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((file) => /\.tsx?$/.test(file));
const importsOf = (file: string) =>
  [...readFileSync(path.join(SRC, file), 'utf8').matchAll(/\bfrom\s+'([^']+)'/g)].map((match) => match[1]!);

/** Modules that define Hono routes: the sub-apps mounted by app.ts. */
const routeModules = files.filter(
  (file) =>
    file !== 'app.ts' &&
    !file.endsWith('.test.ts') &&
    readFileSync(path.join(SRC, file), 'utf8').includes('new Hono<AppEnv>()'),
);

describe('source layout', () => {
  it('finds the route modules', () => {
    expect(routeModules).toContain(path.join('patients', 'routes.ts'));
    expect(routeModules.length).toBeGreaterThan(10);
  });

  it.each(routeModules)('%s holds no SQL: no drizzle, no schema, no database handle', (file) => {
    const forbidden = importsOf(file).filter(
      (spec) => spec === 'drizzle-orm' || spec.endsWith('/store/schema.ts') || spec.endsWith('/store/db.ts'),
    );
    expect(forbidden).toEqual([]);
    expect(readFileSync(path.join(SRC, file), 'utf8')).not.toMatch(/\bdb\.(select|insert|update|delete)\(/);
  });

  it('the CLI imports no route module', () => {
    const routes = importsOf('cli.ts').filter((spec) =>
      routeModules.some((module) => path.resolve(SRC, spec) === path.resolve(SRC, module)),
    );
    expect(routes).toEqual([]);
  });
});
