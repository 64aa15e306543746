import net from 'node:net';

/**
 * Returns a TCP port on 127.0.0.1 that was free a moment ago: listens on port 0, reads the port the
 * kernel picked, and closes. Another process could in theory take it before the caller binds it; for
 * test servers on loopback that race is negligible.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('freePort: could not read the listening address'));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/** Resolves once `host:port` accepts a TCP connection; rejects with the last error after `timeoutMs`. */
export async function waitForPort(
  port: number,
  opts: { host?: string; timeoutMs?: number; intervalMs?: number; abort?: () => Error | undefined } = {},
): Promise<void> {
  const host = opts.host ?? '127.0.0.1';
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    const aborted = opts.abort?.();
    if (aborted) throw aborted;
    try {
      await tryConnect(host, port);
      return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const reason = lastError instanceof Error ? lastError.message : String(lastError);
      throw new Error(`port ${host}:${port} did not accept connections within ${timeoutMs} ms (${reason})`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function tryConnect(host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error('connect timeout'));
    });
    socket.once('error', (err) => {
      socket.destroy();
      reject(err);
    });
  });
}
