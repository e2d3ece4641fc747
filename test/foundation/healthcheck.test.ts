/**
 * The image's health checks (src/healthcheck.ts) against the test run's servers, for the settings
 * the image test does not run: a role whose endpoint is turned off (port 0) and a worker whose
 * event loop does not answer although Temporal does.
 */
import { createServer } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { HEALTH_CHECKS } from '../../src/healthcheck.js';
import { freePort } from '../../tools/stack/processes.js';
import { serversEnv } from '../support/servers-env.js';

/** The consumer's configuration needs one; the check never calls it. */
const QUEUE = 'http://127.0.0.1:9/123456789012/solar-plant-data';

/** A /healthz that answers 200, as src/metrics/serve.ts's does. */
const healthz = createServer((_req, res) => res.end('ok'));
afterAll(() => new Promise<void>((done) => healthz.close(() => done())));

describe('health checks', () => {
  it('ingest without a metrics endpoint (METRICS_PORT=0): healthy when its database answers, not otherwise', async () => {
    const check = HEALTH_CHECKS.ingest as (env: Record<string, string | undefined>) => Promise<void>;
    await expect(check(serversEnv({ METRICS_PORT: '0', AWS_SQS_QUEUE_URL: QUEUE }))).resolves.toBeUndefined();
    const closed = `postgres://postgres@127.0.0.1:${await freePort()}/solar_iot`;
    await expect(
      check(serversEnv({ METRICS_PORT: '0', AWS_SQS_QUEUE_URL: QUEUE, DATABASE_URL: closed })),
    ).rejects.toThrow(/database does not answer/);
  });

  it('worker with a metrics endpoint: unhealthy when its /healthz does not answer, although Temporal does', async () => {
    const check = HEALTH_CHECKS.worker as (env: Record<string, string | undefined>) => Promise<void>;
    const closed = String(await freePort());
    await expect(check(serversEnv({ WORKER_METRICS_PORT: closed }))).rejects.toThrow(/healthz/);
    await new Promise<void>((ready) => healthz.listen(0, '127.0.0.1', ready));
    const port = String((healthz.address() as { port: number }).port);
    await expect(check(serversEnv({ WORKER_METRICS_PORT: port }))).resolves.toBeUndefined();
    // Without an endpoint, Temporal's health is all there is to ask.
    await expect(check(serversEnv({ WORKER_METRICS_PORT: '0' }))).resolves.toBeUndefined();
    // Temporal unreachable with /healthz answering: test/foundation/image.test.ts.
  });
});
