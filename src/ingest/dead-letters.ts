/**
 * The `ingest_dead_letter_messages` gauge: deliveries the telemetry rules could not make, waiting
 * in their dead-letter queue (ApproximateNumberOfMessages, src/service/dead-letters.ts), measured
 * at start and every minute. In the consumer because it is the process with a /metrics endpoint;
 * every consumer reports the same number, alert on max() of it above 0.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { type Logger, serializeError } from '../logging/index.js';
import { type Periodic, startPeriodic } from '../metrics/periodic.js';
import { readDeadLetterDepth } from '../service/dead-letters.js';
import type { IngestMetrics } from './metrics.js';

export const DEAD_LETTER_CHECK_MS = 60_000;

/** Reads the depth now, sets the gauge and answers it (throws what SQS throws). */
export async function measureDeadLetters(
  sqs: SQSClient,
  queueUrl: string,
  metrics: IngestMetrics,
): Promise<number> {
  const { messages } = await readDeadLetterDepth(sqs, queueUrl);
  metrics.deadLetters.set(messages);
  return messages;
}

/**
 * A queue it cannot read (deleted, never created, no permission) counts each time in
 * ingest_sqs_errors_total{operation="get_queue_attributes"}, but is logged once until it can be
 * read again: the gauge keeps its last value meanwhile.
 */
export function startDeadLetterMonitor(
  sqs: SQSClient,
  queueUrl: string,
  metrics: IngestMetrics,
  logger: Logger,
  everyMs = DEAD_LETTER_CHECK_MS,
): Periodic {
  let failing = false;
  return startPeriodic(everyMs, () =>
    measureDeadLetters(sqs, queueUrl, metrics).then(
      () => {
        if (failing) logger.info({ queueUrl }, 'dead-letter queue readable again');
        failing = false;
      },
      (err: unknown) => {
        metrics.sqsErrors.inc({ operation: 'get_queue_attributes' });
        if (!failing)
          logger.warn(
            { queueUrl, err: serializeError(err) },
            'cannot read the dead-letter queue of the telemetry rules: failed deliveries may be lost; create it or set AWS_SQS_DEAD_LETTER_QUEUE_URL',
          );
        failing = true;
      },
    ),
  );
}
