/**
 * The ingestion consumer's Prometheus endpoint listens on loopback unless METRICS_HOST opens it
 * (issue 13, item 10): read from the kernel's socket table (/proc/net/tcp, tcp6), not by trying
 * to connect from outside, so the answer does not depend on this machine's network.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../tools/stack/processes.js';
import { ran, started, tsx } from '../support/child.js';
import { createQueue, newSqs } from '../support/ingest.js';
import { listeningAddresses } from '../support/listening.js';

let sqs: SQSClient;
let queueUrl: string;
beforeAll(async () => {
  sqs = newSqs();
  queueUrl = await createQueue(sqs);
});
afterAll(() => sqs.destroy());

async function run(env: Record<string, string>, check: (port: number) => void): Promise<void> {
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_SQS_QUEUE_URL: queueUrl,
    METRICS_PORT: String(port),
    LOG_LEVEL: 'info',
    ...env,
  };
  // As npm start runs it: without ENCRYPTION_KEY (the consumer never touches a private key).
  delete childEnv.ENCRYPTION_KEY;
  const child = started(tsx(['src/ingest/main.ts']), { env: childEnv });
  try {
    await child.waitFor(/metrics endpoint listening/);
    check(port);
  } finally {
    await child.stop();
  }
}

describe('ingest metrics listener', () => {
  it('listens on 127.0.0.1 only by default', async () => {
    await run({}, (port) => expect(listeningAddresses(port)).toEqual(['127.0.0.1']));
  });

  it('listens where METRICS_HOST says (0.0.0.0 in a container)', async () => {
    await run({ METRICS_HOST: '0.0.0.0' }, (port) => expect(listeningAddresses(port)).toEqual(['0.0.0.0']));
  });

  it('refuses a METRICS_HOST that is not an address, exit code 2', async () => {
    const { code, stderr } = await ran(tsx(['src/ingest/main.ts']), {
      env: { ...process.env, AWS_SQS_QUEUE_URL: queueUrl, METRICS_HOST: 'http://0.0.0.0/' },
    });
    expect(code).toBe(2);
    expect(stderr).toMatch(/^METRICS_HOST: .* Fix: /m);
  });
});
