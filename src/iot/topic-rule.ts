import type { Action, TopicRule, TopicRulePayload } from '@aws-sdk/client-iot';
import { defaultDeadLetterQueueUrl } from '../config/index.js';
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
 * instead of letting AWS drop every message later. The error action is an SQS action too.
 */
export function assertStandardQueue(queueUrl: string, variable = 'AWS_SQS_QUEUE_URL'): void {
  if (queueUrl.endsWith('.fifo')) {
    throw new FifoQueueNotSupportedError(
      `${variable} ${queueUrl} is a FIFO queue, but an AWS IoT rule's SQS action only delivers ` +
        'to standard queues. Point the rule at a standard queue; deduplication then happens in PostgreSQL.',
    );
  }
}

export interface TelemetryRoute {
  sql: string;
  description: string;
  /** AWS_SQS_QUEUE_URL: the telemetry queue. */
  queueUrl: string;
  /** AWS_IOT_ROLE_ARN: the role AWS IoT assumes to send to both queues. */
  roleArn: string;
  /** AWS_SQS_DEAD_LETTER_QUEUE_URL; default the telemetry queue's name with `-dlq`. */
  deadLetterQueueUrl?: string | undefined;
}

/**
 * The rule's error action: AWS IoT sends each delivery it could not make (queue gone, role
 * without sqs:SendMessage) there, as a JSON message naming the rule, the topic, the failure and
 * the original payload (base64), instead of dropping it without a trace.
 */
export function errorActionFor(deadLetterQueueUrl: string, roleArn: string): Action {
  assertStandardQueue(deadLetterQueueUrl, 'AWS_SQS_DEAD_LETTER_QUEUE_URL');
  return { sqs: { queueUrl: deadLetterQueueUrl, roleArn, useBase64: false } };
}

export function topicRulePayload(route: TelemetryRoute): TopicRulePayload {
  const { sql, description, queueUrl, roleArn } = route;
  assertStandardQueue(queueUrl);
  const deadLetterQueueUrl = route.deadLetterQueueUrl ?? defaultDeadLetterQueueUrl(queueUrl) ?? '';
  return {
    sql,
    description,
    awsIotSqlVersion: '2016-03-23',
    ruleDisabled: false,
    actions: [{ sqs: { queueUrl, roleArn, useBase64: false } }],
    errorAction: errorActionFor(deadLetterQueueUrl, roleArn),
  };
}

/**
 * Whether an existing rule sends its failed deliveries where `payload` does. A rule made before
 * the error action existed (or pointing at another dead-letter queue) is not, and is replaced.
 */
export function hasErrorActionOf(rule: TopicRule | undefined, payload: TopicRulePayload): boolean {
  return rule?.errorAction?.sqs?.queueUrl === payload.errorAction?.sqs?.queueUrl;
}
