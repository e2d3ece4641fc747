/**
 * Where and how a process serves its Prometheus metrics: a listener of its own (never the API's
 * port, so a scraper needs no API token and the API's clients never see the counters), on
 * loopback unless the process's `*_METRICS_HOST` opens it, and `*_METRICS_PORT` (0 = none).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ConfigError } from '../config/index.js';

/** `raw` (a *_METRICS_HOST variable), or 127.0.0.1 when unset: metrics tell plant counts and ids. */
export function readMetricsHost(variable: string, raw: string | undefined): string {
  const host = raw?.trim() || '127.0.0.1';
  if (!/^[A-Za-z0-9.:-]+$/.test(host)) {
    throw new ConfigError([
      `${variable}: ${JSON.stringify(host.slice(0, 80))} is not a host name or IP address. Fix: use 127.0.0.1 (default), 0.0.0.0 (all interfaces, e.g. in a container) or ::`,
    ]);
  }
  return host;
}

/** `raw` (a *_METRICS_PORT variable): a TCP port, 0 for no endpoint, `fallback` when unset. */
export function readMetricsPort(variable: string, raw: string | undefined, fallback: number): number {
  const text = raw?.trim() || String(fallback);
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 0 && port <= 65_535)) {
    throw new ConfigError([
      `${variable}: ${JSON.stringify(text.slice(0, 80))} is not a TCP port. Fix: use a port from 1 to 65535 (default ${fallback}), or 0 for no metrics endpoint`,
    ]);
  }
  return port;
}

export interface MetricsEndpoint {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/**
 * `/metrics` (Prometheus text format) and `/healthz` on `host:port`; resolves once listening. A
 * port in use is a ConfigError naming `portVariable` when given (another process of this host).
 */
export async function serveMetrics(
  source: { registry: Registry },
  port: number,
  host = '127.0.0.1',
  portVariable?: string,
): Promise<MetricsEndpoint> {
  const { registry } = source;
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(err));
        },
      );
    } else if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: try /metrics\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' && portVariable) {
        reject(
          new ConfigError([
            `${portVariable}: ${port} on ${host} is already in use (another process of this machine?). Fix: stop it, or set ${portVariable} to a free port (0: no metrics endpoint)`,
          ]),
        );
      } else reject(err);
    });
    server.listen(port, host, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // a scraper's keep-alive connection must not hold the exit
      }),
  };
}
