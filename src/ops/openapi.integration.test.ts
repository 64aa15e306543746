import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApp, type AppOptions } from '../app.ts';
import { createLogger } from './log.ts';

const REDOCLY = fileURLToPath(new URL('../../node_modules/.bin/redocly', import.meta.url));

/** The web app's pages and assets: HTML for the browser, not the JSON API the document describes. */
const WEB_APP = new Set([
  '/',
  '/login',
  '/logout',
  '/patients',
  '/patients/{id}',
  '/alerts/{id}',
  '/settings',
  '/on-call',
  '/assets/{name}',
  '/sw.js',
]);

type Document = { paths: Record<string, Record<string, { operationId?: string; responses: Record<string, unknown> }>> };

interface LintProblem {
  ruleId: string;
  severity: string;
  message: string;
  location: { pointer: string }[];
}

/**
 * Runs `redocly lint` with the recommended rules on each document, in a directory of its own (so no
 * redocly.yaml around it applies) and offline: without REDOCLY_TELEMETRY=off it sends a usage report, and
 * the update check is kept off too.
 */
async function lint(documents: Record<string, string>): Promise<LintProblem[][]> {
  const dir = await mkdtemp(join(tmpdir(), 'homewatch-openapi-'));
  try {
    for (const [name, text] of Object.entries(documents)) await writeFile(join(dir, name), text);
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        REDOCLY,
        ['lint', ...Object.keys(documents), '--extends=recommended', '--format=json'],
        {
          cwd: dir,
          env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
          timeout: 30_000,
        },
        // Exit code 1 means problems were found: they are in the JSON on stdout.
        (error, out, stderr) => (out.trim() ? resolve(out) : reject(error ?? new Error(`no output: ${stderr}`))),
      );
    });
    // One report per document, in order, printed one after the other: `}{` where one ends and the next begins.
    const reports: { problems: LintProblem[] }[] = JSON.parse(`[${stdout.replace(/^\}\{$/gm, '},{')}]`);
    return reports.map((report) => report.problems);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const describeProblem = (p: LintProblem) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`;

describe('the served OpenAPI document', () => {
  // Building the app calls no store: only the GET /openapi.json handler runs, and it needs none.
  const app = createApp({ log: createLogger('silent'), corsOrigins: undefined, stores: {} } as unknown as AppOptions);
  let served: string;
  let doc: Document;

  beforeAll(async () => {
    const response = await app.request('/openapi.json');
    expect(response.status).toBe(200);
    served = await response.text();
    doc = JSON.parse(served);
  });

  it("passes Redocly's recommended rules with no error and no warning", async () => {
    // A copy with one operation's operationId and 4xx answers left out proves the rules that catch those run.
    const careless = structuredClone(doc);
    const listAlerts = careless.paths['/v1/alerts']!.get!;
    delete listAlerts.operationId;
    for (const status of Object.keys(listAlerts.responses))
      if (status.startsWith('4')) delete listAlerts.responses[status];

    const [problems, carelessProblems] = await lint({
      'openapi.json': served,
      'careless.json': JSON.stringify(careless),
    });

    expect(problems?.map(describeProblem)).toEqual([]);
    expect(carelessProblems?.map((p) => p.ruleId).sort()).toEqual(['operation-4xx-response', 'operation-operationId']);
  });

  it('names every operation with a camelCase operationId', () => {
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((op) => op.operationId));
    for (const id of ids) expect(id).toMatch(/^[a-z][a-zA-Z0-9]*$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('describes every route the service answers, and no other', () => {
    const routes = new Set(
      app.routes
        .filter((route) => route.method !== 'ALL')
        .map((route) => ({ method: route.method.toLowerCase(), path: route.path.replace(/:(\w+)/g, '{$1}') }))
        .filter((route) => !WEB_APP.has(route.path))
        .map((route) => `${route.method} ${route.path}`),
    );
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method} ${path}`),
    );
    expect([...documented].sort()).toEqual([...routes].sort());
  });
});
