// Part of `npm run build`, after tsc: puts next to the compiled files in dist/ what src/ holds besides
// TypeScript (migrations, web styles and icons), and the web client and its service worker, bundled.
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleClient, bundleServiceWorker, CLIENT_OUT_DIR, SERVICE_WORKER_FILE } from '../src/web/bundle.ts';

const CLIENT_SOURCE = path.join('src', 'web', 'client');
const SERVICE_WORKER_SOURCE = path.join('src', 'web', 'service-worker');

cpSync('src', 'dist', {
  recursive: true,
  filter: (file) => !/\.tsx?$/.test(file) && file !== CLIENT_SOURCE && file !== SERVICE_WORKER_SOURCE,
});

// Emptied first, so a chunk of an earlier build is never served.
rmSync(CLIENT_OUT_DIR, { recursive: true, force: true });
mkdirSync(CLIENT_OUT_DIR, { recursive: true });
for (const file of bundleClient()) writeFileSync(path.join(CLIENT_OUT_DIR, file.name), file.contents);
writeFileSync(SERVICE_WORKER_FILE, bundleServiceWorker());
