import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions, Metafile } from 'esbuild';

/**
 * The web client's build: the TypeScript in src/web/client, one entry per page plus common.ts (which every
 * page loads), bundled by esbuild into ES modules; code that several pages share goes into chunks that
 * each of them imports, so the frame's state exists once per page. `npm run build` writes the files to
 * dist/web/client (scripts/build-assets.ts); a service running from source (`npm run dev`, the tests)
 * bundles them in memory as it starts (assets.ts), so there is no stale copy to forget.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLIENT_SOURCE = 'src/web/client';
const SERVICE_WORKER_SOURCE = 'src/web/service-worker';
/** Where `npm run build` puts the service worker. */
export const SERVICE_WORKER_FILE = path.join(ROOT, 'dist/web/sw.js');
/** Where `npm run build` puts the bundles; the compiled assets.ts reads them from here. */
export const CLIENT_OUT_DIR = path.join(ROOT, 'dist/web/client');
export const CLIENT_ENTRIES = ['common', 'login', 'inbox', 'patients', 'patient', 'settings', 'on-call'] as const;
/**
 * What a bundle may contain: the client's own modules and the domain's plain data. A server module in a
 * page would be a bug, and one that imports node or zod would not run or would weigh the page down.
 */
const ALLOWED_INPUTS = [`${CLIENT_SOURCE}/`, `${SERVICE_WORKER_SOURCE}/`, 'src/domain/'];

export interface ClientFile {
  name: string;
  contents: Uint8Array;
  /** The name carries a hash of the content (the shared chunks): it may be cached for good as it is. */
  hashedName: boolean;
}

/** A bundled file: the entries are named after their page, the rest (chunks) after their content's hash. */
export function clientFile(name: string, contents: Uint8Array): ClientFile {
  return { name, contents, hashedName: !CLIENT_ENTRIES.some((entry) => name === `${entry}.js`) };
}

const OPTIONS = {
  absWorkingDir: ROOT,
  entryPoints: CLIENT_ENTRIES.map((name) => `${CLIENT_SOURCE}/${name}.ts`),
  tsconfig: `${CLIENT_SOURCE}/tsconfig.json`,
  outdir: CLIENT_OUT_DIR,
  bundle: true,
  format: 'esm',
  splitting: true,
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
  platform: 'browser',
  // The syntax the hand-written scripts used to be served in; esbuild lowers anything newer.
  target: 'es2022',
  write: false,
  metafile: true,
  logLevel: 'silent',
} satisfies BuildOptions;

/**
 * Bundles the client, in memory. esbuild is loaded here and only here: the service run from dist never
 * bundles, so it is a development dependency.
 */
export function bundleClient(): ClientFile[] {
  const require = createRequire(import.meta.url);
  const esbuild: typeof import('esbuild') = require('esbuild');
  const result = esbuild.buildSync(OPTIONS);
  checkInputs(result.metafile);
  return result.outputFiles.map((file) => clientFile(path.basename(file.path), file.contents));
}

function checkInputs(metafile: Metafile): void {
  const strays = Object.keys(metafile.inputs).filter((input) => !ALLOWED_INPUTS.some((dir) => input.startsWith(dir)));
  if (strays.length) {
    throw new Error(
      `The web client bundles ${strays.join(', ')}: it may take code only from ${ALLOWED_INPUTS.join(' and ')} (use import type for the server's types)`,
    );
  }
}

/**
 * The service worker, bundled on its own as a classic script: browsers register module service workers
 * unevenly, and it has its own global scope (src/web/service-worker/tsconfig.json).
 */
export function bundleServiceWorker(): Uint8Array {
  const require = createRequire(import.meta.url);
  const esbuild: typeof import('esbuild') = require('esbuild');
  const result = esbuild.buildSync({
    absWorkingDir: ROOT,
    entryPoints: [`${SERVICE_WORKER_SOURCE}/sw.ts`],
    tsconfig: `${SERVICE_WORKER_SOURCE}/tsconfig.json`,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  checkInputs(result.metafile);
  return result.outputFiles[0]!.contents;
}
