import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface WebhookCall {
  headers: Record<string, string | string[] | undefined>;
  body: string;
  status: number;
  at: number;
}

/**
 * An HTTPS endpoint (own self-signed certificate, `caPem` to trust it) that records every webhook call.
 * `respondWith` queues statuses for the next calls (e.g. 503); after them it answers 204.
 */
export async function startWebhookReceiver() {
  const dir = mkdtempSync(path.join(tmpdir(), 'homewatch-webhook-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      path.join(dir, 'key.pem'),
      '-out',
      path.join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  const calls: WebhookCall[] = [];
  const queued: number[] = [];
  const server: Server = createServer(
    { key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) },
    (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const status = queued.shift() ?? 204;
        calls.push({ headers: req.headers, body, status, at: Date.now() });
        res.writeHead(status).end();
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `https://127.0.0.1:${port}/hook`,
    caPem: readFileSync(path.join(dir, 'cert.pem'), 'utf8'),
    calls,
    respondWith: (...statuses: number[]) => queued.push(...statuses),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        rmSync(dir, { recursive: true, force: true });
      }),
  };
}
