import {
  CreateTopicRuleCommand,
  DeleteTopicRuleCommand,
  DescribeEndpointCommand,
  GetTopicRuleCommand,
  ReplaceTopicRuleCommand,
  type TopicRule,
  type TopicRulePayload,
} from '@aws-sdk/client-iot';
import { ApplicationFailure } from '@temporalio/common';
import { awsCall, isAwsError, toActivityFailure } from '../iot/aws-errors.js';
import { plantRuleNameFor, SHARED_RULE_NAME } from '../iot/naming.js';
import {
  FifoQueueNotSupportedError,
  hasErrorActionOf,
  plantRuleSql,
  SHARED_RULE_SQL,
  topicRulePayload,
} from '../iot/topic-rule.js';
import type { TelemetryRuleActivities } from '../workflows/activity-contracts/telemetry-rules.js';
import type { ActivityDeps } from './deps.js';
import { recheckEvery, SHARED_RESOURCE_TTL_MS } from './recheck.js';

/**
 * AWS IoT answers a missing rule with UnauthorizedException (moto: ResourceNotFoundException);
 * a real permission problem must still fail.
 */
function isMissingRule(error: unknown): boolean {
  if (isAwsError(error, 'ResourceNotFoundException')) return true;
  return (
    isAwsError(error, 'UnauthorizedException') && /does not exist|not found/i.test((error as Error).message)
  );
}

export function telemetryRuleActivities({
  iot,
  settings,
}: Pick<ActivityDeps, 'iot' | 'settings'>): TelemetryRuleActivities {
  function payloadFor(sql: string, description: string): TopicRulePayload {
    const { sqsQueueUrl, iotRoleArn, deadLetterQueueUrl } = settings;
    if (!sqsQueueUrl || !iotRoleArn) {
      throw ApplicationFailure.nonRetryable(
        'Cannot route telemetry: set AWS_SQS_QUEUE_URL (a standard queue) and AWS_IOT_ROLE_ARN (a role IoT may assume to send to it)',
        'ConfigurationError',
      );
    }
    try {
      return topicRulePayload({
        sql,
        description,
        queueUrl: sqsQueueUrl,
        roleArn: iotRoleArn,
        deadLetterQueueUrl,
      });
    } catch (error) {
      if (error instanceof FifoQueueNotSupportedError)
        throw ApplicationFailure.nonRetryable(error.message, error.name);
      throw error;
    }
  }

  function checkSame(ruleName: string, rule: TopicRule | undefined, payload: TopicRulePayload) {
    const queueUrl = rule?.actions?.[0]?.sqs?.queueUrl;
    if (rule?.sql !== payload.sql || queueUrl !== payload.actions?.[0]?.sqs?.queueUrl) {
      throw ApplicationFailure.nonRetryable(
        `Topic rule ${ruleName} already exists with other SQL or another queue; update or delete it first`,
        'ResourceAlreadyExistsException',
      );
    }
  }

  /**
   * An existing rule routing the same SQL to the same queue is ours; one without our error action
   * (made before it existed, or another dead-letter queue configured since) is replaced whole.
   */
  async function acceptExisting(ruleName: string, rule: TopicRule | undefined, payload: TopicRulePayload) {
    checkSame(ruleName, rule, payload);
    if (hasErrorActionOf(rule, payload)) return;
    await awsCall('ReplaceTopicRule', ruleName, () =>
      iot.send(new ReplaceTopicRuleCommand({ ruleName, topicRulePayload: payload })),
    );
  }

  /**
   * Creates the rule, or accepts an existing one only if it routes the same SQL to the same
   * queue (bringing its error action up to date). GetTopicRule first: once the rule exists (the
   * shared rule, after the first plant) that is the only call.
   */
  async function ensureRule(ruleName: string, payload: TopicRulePayload) {
    let existing: TopicRule | undefined;
    try {
      existing = (await iot.send(new GetTopicRuleCommand({ ruleName }))).rule;
    } catch (error) {
      if (!isMissingRule(error)) throw toActivityFailure('GetTopicRule', error, ruleName);
    }
    if (existing) return acceptExisting(ruleName, existing, payload);
    try {
      await iot.send(new CreateTopicRuleCommand({ ruleName, topicRulePayload: payload }));
    } catch (error) {
      if (!isAwsError(error, 'ResourceAlreadyExistsException'))
        throw toActivityFailure('CreateTopicRule', error, ruleName);
      // Created meanwhile by another worker, or a lost answer of ours.
      const { rule } = await awsCall('GetTopicRule', ruleName, () =>
        iot.send(new GetTopicRuleCommand({ ruleName })),
      );
      await acceptExisting(ruleName, rule, payload);
    }
  }

  /** The shared rule is made sure of at most once a minute per worker process (recheck.ts). */
  const ensureSharedRule = recheckEvery(SHARED_RESOURCE_TTL_MS, () =>
    ensureRule(SHARED_RULE_NAME, payloadFor(SHARED_RULE_SQL, 'Telemetry of every solar plant to SQS')),
  );

  return {
    /**
     * Makes sure this plant's telemetry reaches the queue: the shared `solar/+/data` rule by
     * default (created by the first plant, reused by every other), or a rule of its own.
     * Returns the per-plant rule name, or null when the shared rule carries it.
     */
    async ensureTelemetryRoute({ plantId }: { plantId: string }): Promise<{ ruleName: string | null }> {
      if (settings.topicRuleMode === 'shared') {
        await ensureSharedRule();
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
        if (isMissingRule(error)) return;
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
