/**
 * The benchmark's baselines, each run as its own process so it gets a core as the service does:
 *   aedes: a bare aedes broker that acknowledges every QoS 1 publish with a no-op handler;
 *   hono:  a Hono hello-world that reads a POST body and answers 200.
 * Prints one JSON line with the port once listening. `tsx scripts/bench-baselines.ts aedes|hono`
 */
import { createServer } from 'node:net';
import { serve } from '@hono/node-server';
import { Aedes } from 'aedes';
import { Hono } from 'hono';

const which = process.argv[2];
if (which === 'aedes') {
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle);
  server.listen(0, '127.0.0.1', () =>
    console.log(JSON.stringify({ port: (server.address() as { port: number }).port })),
  );
} else if (which === 'hono') {
  const app = new Hono().post('/', async (c) => {
    await c.req.text();
    return c.json({ ok: true });
  });
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
    console.log(JSON.stringify({ port: info.port })),
  );
  process.on('SIGTERM', () => server.close());
} else {
  throw new Error('usage: bench-baselines.ts aedes|hono');
}
