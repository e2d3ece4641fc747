/**
 * The image's health checks (src/healthcheck.ts) against the test run's servers, for the settings
 * the image test does not run: a role whose endpoint is turned off (port 0) and a worker whose
 * event loop does not answer although Temporal does.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { HEALTH_CHECKS } from '../../src/healthcheck.js';
import { freePort } from '../../tools/stack/processes.js';

function stackEnv(extra: Record<string, string>): Record<string, string | undefined> {
  const stack = inject('stack');
  return {
    DATABASE_URL: stack.DATABASE_URL,
    TEMPORAL_ADDRESS: stack.TEMPORAL_ADDRESS,
    AWS_ENDPOINT_URL: stack.AWS_ENDPOINT_URL,
    AWS_REGION: stack.AWS_REGION,
    AWS_ACCESS_KEY_ID: stack.AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: stack.AWS_SECRET_ACCESS_KEY,
    ...extra,
  };
}

/** A /healthz that answers 200, as src/metrics/serve.ts's does. */
const healthz = createServer((_req, res) => res.end('ok'));
afterAll(() => new Promise<void>((done) => healthz.close(() => done())));

describe('health checks', () => {
  it('ingest without a metrics endpoint (METRICS_PORT=0): healthy when its queue answers, not otherwise', async () => {
    const stack = inject('stack');
    const sqs = new SQSClient({
      endpoint: stack.AWS_ENDPOINT_URL,
      region: stack.AWS_REGION,
      credentials: { accessKeyId: stack.AWS_ACCESS_KEY_ID, secretAccessKey: stack.AWS_SECRET_ACCESS_KEY },
    });
    const { QueueUrl = '' } = await sqs.send(new CreateQueueCommand({ QueueName: `hc-${randomUUID()}` }));
    sqs.destroy();
    const check = HEALTH_CHECKS.ingest as (env: Record<string, string | undefined>) => Promise<void>;
    await expect(
      check(stackEnv({ METRICS_PORT: '0', AWS_SQS_QUEUE_URL: QueueUrl })),
    ).resolves.toBeUndefined();
    const gone = QueueUrl.replace(/hc-[^/]+$/, `hc-missing-${randomUUID()}`);
    await expect(check(stackEnv({ METRICS_PORT: '0', AWS_SQS_QUEUE_URL: gone }))).rejects.toThrow(/queue/i);
  });

  it('worker with a metrics endpoint: unhealthy when its /healthz does not answer, although Temporal does', async () => {
    const check = HEALTH_CHECKS.worker as (env: Record<string, string | undefined>) => Promise<void>;
    const closed = String(await freePort());
    await expect(check(stackEnv({ WORKER_METRICS_PORT: closed }))).rejects.toThrow(/healthz/);
    await new Promise<void>((ready) => healthz.listen(0, '127.0.0.1', ready));
    const port = String((healthz.address() as { port: number }).port);
    await expect(check(stackEnv({ WORKER_METRICS_PORT: port }))).resolves.toBeUndefined();
    // Without an endpoint, Temporal's health is all there is to ask.
    await expect(check(stackEnv({ WORKER_METRICS_PORT: '0' }))).resolves.toBeUndefined();
    // Temporal unreachable with /healthz answering: test/foundation/image.test.ts.
  });
});
