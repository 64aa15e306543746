import { execFileSync } from 'node:child_process';
import path from 'node:path';

/**
 * vitest globalSetup: compiles the service once (`npm run build`, as `npm start` does), so the tests that
 * spawn a process run what users run, dist/main.js.
 */
export default function build(): void {
  execFileSync('npm', ['run', '--silent', 'build'], {
    cwd: path.resolve(import.meta.dirname, '../..'),
    stdio: 'inherit',
  });
}
