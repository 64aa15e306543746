import { defineConfig } from 'vitest/config';

/**
 * Two projects. `unit`: the tests beside the source, in-process, no build, run in seconds
 * (`npm run test:unit`). `integration`: the suites in test/ that start the real service (compiled once
 * to dist/ by the global setup), real brokers, InfluxDB and Chromium.
 */
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['src/**/*.test.ts', 'src/**/*.test.tsx', 'scripts/**/*.test.ts'] },
      },
      {
        extends: true,
        test: { name: 'integration', include: ['test/**/*.test.ts'], globalSetup: ['test/helpers/build.ts'] },
      },
    ],
  },
});
