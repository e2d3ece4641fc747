/**
 * The telemetry rule's error action (issue 16, item 4): a delivery the rule cannot make (queue
 * deleted, role wrong) goes to a dead-letter queue instead of vanishing. The rule activity runs
 * here directly against moto (no workflow needed: it is one activity's AWS calls).
 */
import { randomUUID } from 'node:crypto';
import {
  CreateTopicRuleCommand,
  DeleteTopicRuleCommand,
  GetTopicRuleCommand,
  IoTClient,
  type TopicRulePayload,
} from '@aws-sdk/client-iot';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IotSettings } from '../../src/activities/deps.js';
import { telemetryRuleActivities } from '../../src/activities/telemetry-rules.js';
import { plantRuleNameFor, SHARED_RULE_NAME } from '../../src/iot/naming.js';
import { plantRuleSql, SHARED_RULE_SQL } from '../../src/iot/topic-rule.js';
import { awsClientConfig } from '../support/moto.js';
import { testSettings } from '../support/provisioning-harness.js';

const iot = new IoTClient({ ...awsClientConfig(), maxAttempts: 1 });
const sqs = new SQSClient(awsClientConfig());
const ROLE = 'arn:aws:iam::123456789012:role/solar-iot-rule';
let queueUrl = '';
let deadLetterQueueUrl = '';

beforeAll(async () => {
  const created = await Promise.all(
    ['solar-plant-data', 'solar-plant-data-dlq'].map((QueueName) =>
      sqs.send(new CreateQueueCommand({ QueueName })),
    ),
  );
  queueUrl = created[0]?.QueueUrl ?? '';
  deadLetterQueueUrl = created[1]?.QueueUrl ?? '';
});

afterAll(() => {
  iot.destroy();
  sqs.destroy();
});

function activities(overrides: Partial<IotSettings> = {}) {
  return telemetryRuleActivities({
    iot,
    settings: testSettings({ sqsQueueUrl: queueUrl, iotRoleArn: ROLE, ...overrides }),
  });
}

async function ruleOf(ruleName: string) {
  return (await iot.send(new GetTopicRuleCommand({ ruleName }))).rule;
}

/** A rule as releases before the error action made it: the SQS action only. */
function legacyPayload(sql: string): TopicRulePayload {
  return {
    sql,
    awsIotSqlVersion: '2016-03-23',
    ruleDisabled: false,
    actions: [{ sqs: { queueUrl, roleArn: ROLE, useBase64: false } }],
  };
}

describe('the telemetry rule', () => {
  it('round-trips an error action through moto (CreateTopicRule, then GetTopicRule)', async () => {
    const ruleName = `moto_error_action_${randomUUID().replaceAll('-', '')}`;
    const errorAction = { sqs: { queueUrl: deadLetterQueueUrl, roleArn: ROLE, useBase64: false } };
    await iot.send(
      new CreateTopicRuleCommand({
        ruleName,
        topicRulePayload: { ...legacyPayload("SELECT * FROM 'moto/check'"), errorAction },
      }),
    );
    try {
      expect((await ruleOf(ruleName))?.errorAction).toEqual(errorAction);
    } finally {
      await iot.send(new DeleteTopicRuleCommand({ ruleName }));
    }
  });

  it("sends a plant's failed deliveries to the dead-letter queue (per-plant rule, configured queue)", async () => {
    const plantId = randomUUID();
    const own = `${deadLetterQueueUrl}-own`;
    const { ruleName } = await activities({
      topicRuleMode: 'per-plant',
      deadLetterQueueUrl: own,
    }).ensureTelemetryRoute({ plantId });
    expect(ruleName).toBe(plantRuleNameFor(plantId));
    const rule = await ruleOf(plantRuleNameFor(plantId));
    expect(rule?.sql).toBe(plantRuleSql(plantId));
    expect(rule?.actions?.[0]?.sqs?.queueUrl).toBe(queueUrl);
    expect(rule?.errorAction).toEqual({ sqs: { queueUrl: own, roleArn: ROLE, useBase64: false } });
  });

  it("defaults to the telemetry queue's name with -dlq", async () => {
    const plantId = randomUUID();
    await activities({ topicRuleMode: 'per-plant' }).ensureTelemetryRoute({ plantId });
    expect((await ruleOf(plantRuleNameFor(plantId)))?.errorAction?.sqs?.queueUrl).toBe(deadLetterQueueUrl);
  });

  it('brings a rule made without the error action up to date, the shared rule and a plant rule alike', async () => {
    const plantId = randomUUID();
    const plantRule = plantRuleNameFor(plantId);
    await iot.send(
      new CreateTopicRuleCommand({
        ruleName: plantRule,
        topicRulePayload: legacyPayload(plantRuleSql(plantId)),
      }),
    );
    await iot.send(new DeleteTopicRuleCommand({ ruleName: SHARED_RULE_NAME })).catch(() => undefined);
    await iot.send(
      new CreateTopicRuleCommand({
        ruleName: SHARED_RULE_NAME,
        topicRulePayload: legacyPayload(SHARED_RULE_SQL),
      }),
    );
    expect((await ruleOf(plantRule))?.errorAction?.sqs).toBeUndefined();

    await activities({ topicRuleMode: 'per-plant' }).ensureTelemetryRoute({ plantId });
    await activities({ topicRuleMode: 'shared' }).ensureTelemetryRoute({ plantId });

    for (const [name, sql] of [
      [plantRule, plantRuleSql(plantId)],
      [SHARED_RULE_NAME, SHARED_RULE_SQL],
    ] as const) {
      const rule = await ruleOf(name);
      expect(rule?.sql).toBe(sql);
      expect(rule?.actions?.[0]?.sqs?.queueUrl).toBe(queueUrl);
      expect(rule?.errorAction?.sqs?.queueUrl, name).toBe(deadLetterQueueUrl);
    }
  });

  it('still refuses a rule of ours that routes other SQL, and a FIFO dead-letter queue', async () => {
    const plantId = randomUUID();
    await iot.send(
      new CreateTopicRuleCommand({
        ruleName: plantRuleNameFor(plantId),
        topicRulePayload: legacyPayload("SELECT * FROM 'elsewhere'"),
      }),
    );
    const taken = await activities({ topicRuleMode: 'per-plant' })
      .ensureTelemetryRoute({ plantId })
      .catch((e: unknown) => e);
    expect(taken).toBeInstanceOf(ApplicationFailure);
    expect((await ruleOf(plantRuleNameFor(plantId)))?.sql).toBe("SELECT * FROM 'elsewhere'");

    const fifo = await activities({ topicRuleMode: 'per-plant', deadLetterQueueUrl: `${queueUrl}-dlq.fifo` })
      .ensureTelemetryRoute({ plantId: randomUUID() })
      .catch((e: unknown) => e);
    expect(fifo).toBeInstanceOf(ApplicationFailure);
    expect((fifo as ApplicationFailure).nonRetryable).toBe(true);
    expect((fifo as Error).message).toMatch(
      /AWS_SQS_DEAD_LETTER_QUEUE_URL .* only delivers to standard queues/,
    );
  });
});
