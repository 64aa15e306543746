import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  bundleClient,
  bundleServiceWorker,
  CLIENT_OUT_DIR,
  clientFile,
  type ClientFile,
  SERVICE_WORKER_FILE,
} from './bundle.ts';

/**
 * The web app's static files, read once at start and served by the service itself (no CDN): styles and
 * icons from `src/web/assets/`, uPlot from node_modules, and the client's scripts, bundled from
 * `src/web/client/` (see bundle.ts). Each URL carries a hash of the content (`/assets/app.css?v=1a2b3c4d`),
 * so browsers may cache it for a year and still get a new version the moment it changes.
 */
export interface Asset {
  body: Uint8Array;
  contentType: string;
  /** First 10 hex digits of the SHA-256 of the body. */
  hash: string;
  /** The name itself changes with the content (the client's shared chunks, imported without `?v=`). */
  immutable: boolean;
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

/** Running the TypeScript itself (tsx, vitest) rather than the build in dist/. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');

function asset(name: string, body: Uint8Array, immutable = false): Asset {
  const contentType = CONTENT_TYPES[path.extname(name)];
  if (!contentType) throw new Error(`web asset ${name}: no content type for its extension`);
  return { body, contentType, hash: createHash('sha256').update(body).digest('hex').slice(0, 10), immutable };
}

/** The sources do not change under a running process (`npm run dev` restarts it), so it bundles once. */
let bundled: ClientFile[] | undefined;

function clientFiles(): ClientFile[] {
  if (FROM_SOURCE) {
    bundled ??= bundleClient();
    return bundled;
  }
  let names: string[];
  try {
    names = readdirSync(CLIENT_OUT_DIR);
  } catch (error) {
    throw new Error(`The web client is not built in ${CLIENT_OUT_DIR}: run npm run build`, { cause: error });
  }
  return names.map((name) => clientFile(name, readFileSync(path.join(CLIENT_OUT_DIR, name))));
}

export function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const add = (name: string, body: Uint8Array, immutable?: boolean) => {
    if (assets.has(name)) throw new Error(`two web assets are named ${name}`);
    assets.set(name, asset(name, body, immutable));
  };
  for (const name of readdirSync(ASSETS_DIR).sort()) add(name, readFileSync(path.join(ASSETS_DIR, name)));
  for (const [name, specifier] of Object.entries(PACKAGE_ASSETS)) add(name, readFileSync(require.resolve(specifier)));
  for (const file of clientFiles()) add(file.name, file.contents, file.hashedName);
  return assets;
}

/** `/assets/<name>?v=<hash>`; throws for an unknown name, so a typo fails at the first render, not in a browser. */
export function assetUrl(assets: ReadonlyMap<string, Asset>, name: string): string {
  const found = assets.get(name);
  if (!found) throw new Error(`no web asset named ${name}`);
  return `/assets/${name}?v=${found.hash}`;
}

/** The service worker's script, bundled from src/web/service-worker (from dist/ when built). */
export function loadServiceWorker(): Uint8Array {
  return FROM_SOURCE ? bundleServiceWorker() : readFileSync(SERVICE_WORKER_FILE);
}
