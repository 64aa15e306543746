import type { Server as HttpServer, ServerResponse } from 'node:http';
import type { Server } from 'node:net';

/**
 * Binds a server, turning the usual failures into a sentence that names the setting to change.
 * Resolves with the port actually bound (useful with port 0 in tests).
 */
export function listen(server: Server, port: number, host: string, variable: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) =>
      reject(new Error(describeListenError(error, port, host, variable)));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

function describeListenError(error: NodeJS.ErrnoException, port: number, host: string, variable: string): string {
  switch (error.code) {
    case 'EADDRINUSE':
      return `${variable} ${port} is already in use on ${host}; set ${variable} to a free port`;
    case 'EACCES':
      return `${variable} ${port} needs privileges to bind; set ${variable} to a port above 1023`;
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return `HOST ${host} is not an address of this machine; set HOST (e.g. 0.0.0.0 or 127.0.0.1)`;
    default:
      return `Cannot listen on ${host}:${port} (${error.message}); check ${variable} and HOST`;
  }
}

/** How long in-flight HTTP requests may take to finish after a stop before their connections are cut. */
const HTTP_DRAIN_DEADLINE_MS = 10_000;

/**
 * Prepares a graceful stop for an HTTP server: once stopping, no connection is kept alive (in-flight
 * responses go out with `Connection: close`, and connections that become idle are closed), so a client
 * that keeps posting on a kept-alive connection cannot hold the process open. Stragglers are cut at the
 * deadline. Returns the stop function.
 */
export function gracefulClose(server: HttpServer, deadlineMs = HTTP_DRAIN_DEADLINE_MS): () => Promise<void> {
  const active = new Set<ServerResponse>();
  let stopping = false;
  server.on('request', (_request, response: ServerResponse) => {
    if (stopping) response.shouldKeepAlive = false;
    active.add(response);
    response.once('close', () => {
      active.delete(response);
      if (stopping) server.closeIdleConnections();
    });
  });
  return () =>
    new Promise<void>((resolve) => {
      stopping = true;
      for (const response of active) response.shouldKeepAlive = false;
      const deadline = setTimeout(() => server.closeAllConnections(), deadlineMs);
      server.close(() => {
        clearTimeout(deadline);
        resolve();
      });
      server.closeIdleConnections();
    });
}
