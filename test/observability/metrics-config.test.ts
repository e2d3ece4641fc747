/**
 * Where the worker's and the API's metrics listen is configuration (issue 18, item 1): loopback
 * and a fixed port by default, a wrong value stops the start with one line naming the variable,
 * and a port another process holds does too (the Temporal SDK's exporter included).
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { API_METRICS_PORT } from '../../src/api/settings.js';
import { loadApiConfig, loadWorkerConfig } from '../../src/app/config.js';
import { ConfigError } from '../../src/config/index.js';
import { freePort } from '../../tools/stack/processes.js';
import { ran, tsx } from '../support/child.js';
import { envFor } from '../support/product-stack.js';

const BASE = {
  DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db',
  ENCRYPTION_KEY: 'k9Qm2vX7pL4tR8wZ1cN6bH3jF5sD0gYa',
};

function configError(load: () => unknown): string {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('no ConfigError');
}

describe('metrics listeners in the configuration', () => {
  it('default to loopback and ports 9465, 9466 (worker) and 9467 (API)', () => {
    expect(loadWorkerConfig(BASE).metrics).toEqual({ host: '127.0.0.1', port: 9465, temporalPort: 9466 });
    expect(loadApiConfig(BASE).api.metrics).toEqual({ host: '127.0.0.1', port: API_METRICS_PORT });
    expect(API_METRICS_PORT).toBe(9467);
  });

  it('take the host and ports each process is given, 0 for no endpoint', () => {
    const worker = loadWorkerConfig({
      ...BASE,
      WORKER_METRICS_HOST: '0.0.0.0',
      WORKER_METRICS_PORT: '0',
      WORKER_METRICS_TEMPORAL_PORT: '19466',
    });
    expect(worker.metrics).toEqual({ host: '0.0.0.0', port: 0, temporalPort: 19466 });
    const api = loadApiConfig({
      ...BASE,
      API_TOKEN: 'x'.repeat(20),
      API_METRICS_HOST: '::',
      API_METRICS_PORT: '0',
    });
    expect(api.api.metrics).toEqual({ host: '::', port: 0 });
  });

  it('name every wrong variable in one error', () => {
    const message = configError(() =>
      loadWorkerConfig({
        ...BASE,
        WORKER_METRICS_HOST: 'http://0.0.0.0/',
        WORKER_METRICS_PORT: '70000',
        WORKER_METRICS_TEMPORAL_PORT: 'nine',
      }),
    );
    expect(message).toMatch(/^WORKER_METRICS_HOST: .* Fix: /m);
    expect(message).toMatch(/^WORKER_METRICS_PORT: "70000" is not a TCP port\. Fix: /m);
    expect(message).toMatch(/^WORKER_METRICS_TEMPORAL_PORT: "nine" is not a TCP port\. Fix: /m);
    expect(configError(() => loadApiConfig({ ...BASE, API_METRICS_PORT: '-1' }))).toMatch(
      /^API_METRICS_PORT: /,
    );
    expect(configError(() => loadApiConfig({ ...BASE, API_METRICS_HOST: 'a b' }))).toMatch(
      /^API_METRICS_HOST: /,
    );
  });

  it("refuse a host name for the worker while the Temporal SDK's exporter is on: it binds IP addresses only", () => {
    // The Rust core's exporter parses host:port as a socket address: "localhost" failed the
    // start with a TypeError from runtime_new, naming no variable.
    expect(configError(() => loadWorkerConfig({ ...BASE, WORKER_METRICS_HOST: 'localhost' }))).toMatch(
      /^WORKER_METRICS_HOST: "localhost" is not an IP address.* Fix: /m,
    );
    expect(
      loadWorkerConfig({ ...BASE, WORKER_METRICS_HOST: 'localhost', WORKER_METRICS_TEMPORAL_PORT: '0' })
        .metrics.host,
    ).toBe('localhost');
    expect(loadWorkerConfig({ ...BASE, WORKER_METRICS_HOST: '::1' }).metrics.host).toBe('::1');
  });

  it("refuse the API's own port for its metrics", () => {
    // Both on one host: the metrics endpoint bound first and the API then failed with
    // "PORT: 3000 ... is already in use (another API instance?)", the port its own process held.
    expect(
      configError(() =>
        loadApiConfig({ ...BASE, API_TOKEN: 'x'.repeat(20), PORT: '3000', API_METRICS_PORT: '3000' }),
      ),
    ).toMatch(/^API_METRICS_PORT: 3000 is also PORT, the API's port\. Fix: /m);
  });

  it('refuse one port for both of the worker', () => {
    expect(
      configError(() =>
        loadWorkerConfig({ ...BASE, WORKER_METRICS_PORT: '9500', WORKER_METRICS_TEMPORAL_PORT: '9500' }),
      ),
    ).toMatch(/^WORKER_METRICS_TEMPORAL_PORT: 9500 is also WORKER_METRICS_PORT/);
  });

  it("stop the worker with exit 2 naming WORKER_METRICS_TEMPORAL_PORT when the SDK's port is taken", async () => {
    const taken = createServer();
    const port = await freePort();
    await new Promise<void>((r) => taken.listen(port, '127.0.0.1', () => r()));
    try {
      const env = await envFor('aws', 'never-polled-queue', { WORKER_METRICS_TEMPORAL_PORT: String(port) });
      const { code, output } = await ran(tsx(['src/worker.ts']), { env });
      expect(code, output).toBe(2);
      expect(output).toMatch(
        new RegExp(`^WORKER_METRICS_TEMPORAL_PORT: ${port} on 127\\.0\\.0\\.1 is already in use`, 'm'),
      );
    } finally {
      taken.close();
    }
  });
});
