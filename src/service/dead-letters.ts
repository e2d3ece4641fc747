/**
 * The dead-letter queue of the telemetry rules: the rules' error action sends there each delivery
 * AWS IoT could not make (telemetry queue deleted, role without sqs:SendMessage), one JSON message
 * per failed delivery (README "Failed rule deliveries"). Its depth is what an operator watches:
 * the API, the CLI and /readyz read it here, the consumer's gauge too.
 */
import { GetQueueAttributesCommand, QueueDoesNotExist, type SQSClient } from '@aws-sdk/client-sqs';
import { isAwsError } from '../iot/aws-errors.js';
import { mapAwsUnavailable } from './aws.js';
import { DependencyUnavailableError } from './errors.js';

export interface DeadLetterDepth {
  /** AWS_SQS_DEAD_LETTER_QUEUE_URL (default the telemetry queue's with -dlq). */
  queueUrl: string;
  /** ApproximateNumberOfMessages: failed deliveries waiting to be looked at. */
  messages: number;
  /** ApproximateNumberOfMessagesNotVisible: received by a reader and not yet deleted. */
  inFlight: number;
}

/** One GetQueueAttributes call; AWS errors as the SDK throws them. */
export async function readDeadLetterDepth(sqs: SQSClient, queueUrl: string): Promise<DeadLetterDepth> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    queueUrl,
    messages: Number(Attributes?.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

const CREATE_IT =
  'create it beside the telemetry queue (aws sqs create-queue), or point AWS_SQS_DEAD_LETTER_QUEUE_URL at the queue the rules should use';

/** The depth for the API and the CLI: a missing queue or setting as the 503 that says what to do. */
export async function deadLetterDepth(
  sqs: SQSClient | undefined,
  queueUrl: string | undefined,
): Promise<DeadLetterDepth> {
  if (!queueUrl) {
    throw new DependencyUnavailableError(
      'configuration',
      'No dead-letter queue: set AWS_SQS_QUEUE_URL (its -dlq queue is the default) or AWS_SQS_DEAD_LETTER_QUEUE_URL',
    );
  }
  if (!sqs) {
    throw new DependencyUnavailableError(
      'configuration',
      'This instance was created without an SQS client (createSolarIot deps.aws.sqs)',
    );
  }
  try {
    return await readDeadLetterDepth(sqs, queueUrl);
  } catch (error) {
    if (error instanceof QueueDoesNotExist || isAwsError(error, 'AWS.SimpleQueueService.NonExistentQueue')) {
      throw new DependencyUnavailableError(
        'configuration',
        `The dead-letter queue ${queueUrl} does not exist, so failed rule deliveries are lost: ${CREATE_IT}`,
        { cause: error },
      );
    }
    throw mapAwsUnavailable(error, 'GetQueueAttributes');
  }
}
