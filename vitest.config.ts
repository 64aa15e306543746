import { defineConfig } from 'vitest/config';

/**
 * Two projects. `unit`: the tests beside the source, in-process, no build, run in seconds
 * (`npm run test:unit`). `integration`: the suites in test/ that start the real service (compiled once
 * to dist/ by the global setup), real brokers, InfluxDB and Chromium, and the few `*.integration.test.ts`
 * beside their source that spawn a process or a thread.
 */
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'src/**/*.test.tsx', 'scripts/**/*.test.ts'],
          // Beside their source, but slow for the unit run: they spawn a process or wait on a thread.
          exclude: ['src/**/*.integration.test.ts'],
          // In-process tests of pure code and of a fresh temporary database each: nothing to isolate, and
          // loading the modules once per worker rather than once per file is most of the run's time.
          isolate: false,
          pool: 'threads',
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts', 'src/**/*.integration.test.ts'],
          globalSetup: ['test/helpers/build.ts'],
        },
      },
    ],
  },
});
