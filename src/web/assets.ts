import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The web app's static files, read once at start and served by the service itself (no CDN, no build
 * step): our own scripts and styles from `src/web/assets/`, and uPlot from node_modules. Each URL carries
 * a hash of the content (`/assets/app.css?v=1a2b3c4d`), so browsers may cache it for a year and still
 * get a new version the moment it changes.
 */
export interface Asset {
  body: Buffer;
  contentType: string;
  /** First 10 hex digits of the SHA-256 of the body. */
  hash: string;
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.webmanifest': 'application/manifest+json',
};

const ASSETS_DIR = fileURLToPath(new URL('./assets', import.meta.url));
const require = createRequire(import.meta.url);
/** Files served from packages, under our own names. */
const PACKAGE_ASSETS: Record<string, string> = {
  'uplot.js': 'uplot/dist/uPlot.iife.min.js',
  'uplot.css': 'uplot/dist/uPlot.min.css',
};

function asset(file: string): Asset {
  const body = readFileSync(file);
  const contentType = CONTENT_TYPES[path.extname(file)];
  if (!contentType) throw new Error(`web asset ${file}: no content type for its extension`);
  return { body, contentType, hash: createHash('sha256').update(body).digest('hex').slice(0, 10) };
}

export function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(ASSETS_DIR).sort()) assets.set(name, asset(path.join(ASSETS_DIR, name)));
  for (const [name, specifier] of Object.entries(PACKAGE_ASSETS)) assets.set(name, asset(require.resolve(specifier)));
  return assets;
}

/** `/assets/<name>?v=<hash>`; throws for an unknown name, so a typo fails at the first render, not in a browser. */
export function assetUrl(assets: ReadonlyMap<string, Asset>, name: string): string {
  const found = assets.get(name);
  if (!found) throw new Error(`no web asset named ${name}`);
  return `/assets/${name}?v=${found.hash}`;
}
