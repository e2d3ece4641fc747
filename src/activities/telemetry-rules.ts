import {
  CreateTopicRuleCommand,
  DeleteTopicRuleCommand,
  DescribeEndpointCommand,
  GetTopicRuleCommand,
  type TopicRulePayload,
} from '@aws-sdk/client-iot';
import { ApplicationFailure } from '@temporalio/common';
import { awsCall, isAwsError, toActivityFailure } from '../iot/aws-errors.js';
import { plantRuleNameFor, SHARED_RULE_NAME } from '../iot/naming.js';
import {
  FifoQueueNotSupportedError,
  plantRuleSql,
  SHARED_RULE_SQL,
  topicRulePayload,
} from '../iot/topic-rule.js';
import type { ActivityDeps } from './deps.js';

export function telemetryRuleActivities({ iot, settings }: ActivityDeps) {
  function payloadFor(sql: string, description: string): TopicRulePayload {
    const { sqsQueueUrl, iotRoleArn } = settings;
    if (!sqsQueueUrl || !iotRoleArn) {
      throw ApplicationFailure.nonRetryable(
        'Cannot route telemetry: set AWS_SQS_QUEUE_URL (a standard queue) and AWS_IOT_ROLE_ARN (a role IoT may assume to send to it)',
        'ConfigurationError',
      );
    }
    try {
      return topicRulePayload(sql, sqsQueueUrl, iotRoleArn, description);
    } catch (error) {
      if (error instanceof FifoQueueNotSupportedError)
        throw ApplicationFailure.nonRetryable(error.message, error.name);
      throw error;
    }
  }

  /** Creates the rule, or accepts an existing one only if it routes the same SQL to the same queue. */
  async function ensureRule(ruleName: string, payload: TopicRulePayload) {
    try {
      await iot.send(new CreateTopicRuleCommand({ ruleName, topicRulePayload: payload }));
    } catch (error) {
      if (!isAwsError(error, 'ResourceAlreadyExistsException'))
        throw toActivityFailure('CreateTopicRule', error, ruleName);
      const { rule } = await awsCall('GetTopicRule', ruleName, () =>
        iot.send(new GetTopicRuleCommand({ ruleName })),
      );
      const queueUrl = rule?.actions?.[0]?.sqs?.queueUrl;
      if (rule?.sql !== payload.sql || queueUrl !== payload.actions?.[0]?.sqs?.queueUrl) {
        throw ApplicationFailure.nonRetryable(
          `Topic rule ${ruleName} already exists with other SQL or another queue; update or delete it first`,
          'ResourceAlreadyExistsException',
        );
      }
    }
  }

  return {
    /**
     * Makes sure this plant's telemetry reaches the queue: the shared `solar/+/data` rule by
     * default (created by the first plant, reused by every other), or a rule of its own.
     * Returns the per-plant rule name, or null when the shared rule carries it.
     */
    async ensureTelemetryRoute({ plantId }: { plantId: string }): Promise<{ ruleName: string | null }> {
      if (settings.topicRuleMode === 'shared') {
        await ensureRule(
          SHARED_RULE_NAME,
          payloadFor(SHARED_RULE_SQL, 'Telemetry of every solar plant to SQS'),
        );
        return { ruleName: null };
      }
      const ruleName = plantRuleNameFor(plantId);
      await ensureRule(
        ruleName,
        payloadFor(plantRuleSql(plantId), `Telemetry of solar plant ${plantId} to SQS`),
      );
      return { ruleName };
    },

    /** Removes this plant's own rule if it has one; the shared rule stays for the other plants. */
    async removeTelemetryRoute({ plantId }: { plantId: string }) {
      const ruleName = plantRuleNameFor(plantId);
      try {
        await iot.send(new DeleteTopicRuleCommand({ ruleName }));
      } catch (error) {
        if (isAwsError(error, 'ResourceNotFoundException')) return;
        // AWS IoT answers a missing rule with UnauthorizedException; a real permission problem must still fail.
        if (
          isAwsError(error, 'UnauthorizedException') &&
          /does not exist|not found/i.test((error as Error).message)
        )
          return;
        throw toActivityFailure('DeleteTopicRule', error, ruleName);
      }
    },

    /** The ATS data endpoint devices connect to. Configured value wins over asking AWS. */
    async getDataEndpoint(): Promise<string> {
      if (settings.iotEndpoint) return settings.iotEndpoint;
      const { endpointAddress } = await awsCall('DescribeEndpoint', 'iot:Data-ATS', () =>
        iot.send(new DescribeEndpointCommand({ endpointType: 'iot:Data-ATS' })),
      );
      return endpointAddress ?? '';
    },
  };
}
