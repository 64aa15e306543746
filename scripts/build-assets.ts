// Part of `npm run build`, after tsc: puts next to the compiled files in dist/ what src/ holds besides
// TypeScript (migrations, web styles and icons, the service worker), and the web client, bundled.
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleClient, CLIENT_OUT_DIR } from '../src/web/bundle.ts';

const CLIENT_SOURCE = path.join('src', 'web', 'client');

cpSync('src', 'dist', {
  recursive: true,
  filter: (file) => !/\.tsx?$/.test(file) && file !== CLIENT_SOURCE,
});

// Emptied first, so a chunk of an earlier build is never served.
rmSync(CLIENT_OUT_DIR, { recursive: true, force: true });
mkdirSync(CLIENT_OUT_DIR, { recursive: true });
for (const file of bundleClient()) writeFileSync(path.join(CLIENT_OUT_DIR, file.name), file.contents);
