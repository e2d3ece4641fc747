/**
 * The consumer's `ingest_dead_letter_messages` gauge: how many deliveries the telemetry rule could
 * not make wait in its dead-letter queue (ApproximateNumberOfMessages), on queues of this file's own.
 */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measureDeadLetters, startDeadLetterMonitor } from '../../src/ingest/dead-letters.js';
import { IngestMetrics, serveMetrics } from '../../src/ingest/metrics.js';
import { createQueue, newSqs, quietLogger, waitFor } from '../support/ingest.js';
import { memoryLogger } from '../support/product-stack.js';

let sqs: SQSClient;
let queueUrl = '';

beforeAll(async () => {
  sqs = newSqs();
  queueUrl = await createQueue(sqs);
  for (const n of [1, 2])
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: `{"failure":${n}}` }));
});

afterAll(() => sqs.destroy());

describe('ingest_dead_letter_messages', () => {
  it("is the dead-letter queue's ApproximateNumberOfMessages", async () => {
    const metrics = new IngestMetrics();
    expect(await measureDeadLetters(sqs, queueUrl, metrics)).toBe(2);
    expect(await metrics.value(metrics.deadLetters)).toBe(2);
  });

  it('is measured at start by the monitor and served on /metrics', async () => {
    const metrics = new IngestMetrics();
    const server = await serveMetrics(metrics, 0, '127.0.0.1');
    const monitor = startDeadLetterMonitor(sqs, queueUrl, metrics, quietLogger);
    try {
      await waitFor('the first measurement', async () => (await metrics.value(metrics.deadLetters)) === 2);
      const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
      expect(text).toMatch(/^ingest_dead_letter_messages 2$/m);
    } finally {
      await monitor.stop();
      await server.close();
    }
  });

  it('counts a queue it cannot read as an SQS error, and logs it once, not every run', async () => {
    const metrics = new IngestMetrics();
    const { logger, lines } = memoryLogger();
    const monitor = startDeadLetterMonitor(sqs, `${queueUrl}-missing`, metrics, logger, 20);
    try {
      await waitFor(
        'three failed measurements',
        async () => (await metrics.value(metrics.sqsErrors, { operation: 'get_queue_attributes' })) >= 3,
      );
    } finally {
      await monitor.stop();
    }
    const warnings = lines.filter((l) => String(l.msg).includes('dead-letter queue'));
    expect(warnings).toHaveLength(1);
    expect(JSON.stringify(warnings[0])).toContain(`${queueUrl}-missing`);
  });
});
