import type { TopicRulePayload } from '@aws-sdk/client-iot';
import { telemetryTopicFor } from './naming.js';

/**
 * What the telemetry rules select. `topic(2)` is the plant id taken from the topic the device
 * published on; the consumer trusts it over the body's own plantId, because the policy only lets
 * a device publish under its own plant. `topic()` travels along for diagnosis.
 */
const SELECT = 'SELECT *, topic(2) AS plantId, topic() AS topic';

/** One rule for every plant: scales past the 1000-rules-per-account quota. */
export const SHARED_RULE_SQL = `${SELECT} FROM 'solar/+/data'`;

export function plantRuleSql(plantId: string): string {
  return `${SELECT} FROM '${telemetryTopicFor(plantId)}'`;
}

export class FifoQueueNotSupportedError extends Error {
  override readonly name = 'FifoQueueNotSupportedError';
}

/**
 * The SQS action of an IoT rule cannot deliver to a FIFO queue (AWS IoT developer guide, "SQS"
 * rule action), although the seed's setup names a FIFO queue; refuse early with the reason
 * instead of letting AWS drop every message later.
 */
export function assertStandardQueue(queueUrl: string): void {
  if (queueUrl.endsWith('.fifo')) {
    throw new FifoQueueNotSupportedError(
      `AWS_SQS_QUEUE_URL ${queueUrl} is a FIFO queue, but an AWS IoT rule's SQS action only delivers ` +
        'to standard queues. Point the rule at a standard queue; deduplication then happens in PostgreSQL.',
    );
  }
}

export function topicRulePayload(
  sql: string,
  queueUrl: string,
  roleArn: string,
  description: string,
): TopicRulePayload {
  assertStandardQueue(queueUrl);
  return {
    sql,
    description,
    awsIotSqlVersion: '2016-03-23',
    ruleDisabled: false,
    actions: [{ sqs: { queueUrl, roleArn, useBase64: false } }],
  };
}
