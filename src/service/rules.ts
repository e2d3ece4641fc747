/**
 * Per-plant telemetry rules (createDataIngestionRule / updateRule): on AWS IoT, or in memory in
 * mock mode. Their SQL is checked first (rule-sql.ts).
 */
import {
  CreateTopicRuleCommand,
  GetTopicRuleCommand,
  type IoTClient,
  ReplaceTopicRuleCommand,
  type TopicRulePayload,
} from '@aws-sdk/client-iot';
import { defaultDeadLetterQueueUrl } from '../config/index.js';
import { isAwsError } from '../iot/aws-errors.js';
import { plantRuleNameFor, SHARED_RULE_NAME } from '../iot/naming.js';
import {
  errorActionFor,
  FifoQueueNotSupportedError,
  hasErrorActionOf,
  plantRuleSql,
  topicRulePayload,
} from '../iot/topic-rule.js';
import { mapAwsUnavailable } from './aws.js';
import { ConflictError, DependencyUnavailableError, InvalidInputError, NotFoundError } from './errors.js';
import { assertPlantId } from './plant-input.js';
import { validateRuleSql } from './rule-sql.js';

const RULE_NAME = /^[a-zA-Z0-9_]{1,128}$/;

export function assertRuleName(ruleName: unknown): asserts ruleName is string {
  if (typeof ruleName !== 'string' || !RULE_NAME.test(ruleName)) {
    throw new InvalidInputError(
      `Rule name ${JSON.stringify(ruleName)} is invalid: AWS IoT allows 1 to 128 letters, digits and "_"`,
    );
  }
}

export interface RuleSettings {
  sqsQueueUrl: string | undefined;
  iotRoleArn: string | undefined;
  /** AWS_SQS_DEAD_LETTER_QUEUE_URL (default `<queue>-dlq`): the rules' error action. */
  deadLetterQueueUrl?: string | undefined;
}

export interface RuleResult {
  ruleName: string;
  sql: string;
  /** False when an identical rule existed already. */
  created: boolean;
}

export interface RuleManager {
  createDataIngestionRule(plantId: string, ruleName?: string, description?: string): Promise<RuleResult>;
  updateRule(
    ruleName: string,
    plantId: string,
    update: { sql?: string; description?: string },
  ): Promise<RuleResult>;
}

function checkedArgs(plantId: string, ruleName: string | undefined) {
  assertPlantId(plantId);
  const name = ruleName ?? plantRuleNameFor(plantId);
  assertRuleName(name);
  return name;
}

class RuleNotOursError extends ConflictError {
  override readonly name = 'RuleNotOursError';
  constructor(ruleName: string, why: string) {
    super(
      'rule_not_ours',
      `Topic rule ${ruleName} was not created by createDataIngestionRule (${why}); updateRule only changes per-plant rules it created`,
    );
  }
}

/**
 * A rule created for one plant reads that plant's topics (or every plant's, `+`, if widened on
 * purpose): updating it in another plant's name would take its telemetry routing over.
 */
function assertRuleOfPlant(ruleName: string, plantId: string, existingSql: string | undefined) {
  const plantLevel = /\bFROM\s+'solar\/([^/']+)\//i.exec(existingSql ?? '')?.[1];
  if (plantLevel === undefined)
    throw new RuleNotOursError(ruleName, "its SQL does not read the plants' solar/<plantId>/... topics");
  if (plantLevel !== '+' && plantLevel !== plantId)
    throw new RuleNotOursError(ruleName, `it routes plant ${plantLevel}'s telemetry, not plant ${plantId}'s`);
}

function checkedUpdate(ruleName: string, plantId: string, update: { sql?: string; description?: string }) {
  assertRuleName(ruleName);
  // The shared rule routes every plant; the provisioning workflows own it, not a per-plant update.
  if (ruleName === SHARED_RULE_NAME)
    throw new RuleNotOursError(ruleName, 'it is the rule shared by every plant');
  assertPlantId(plantId);
  if (update.sql === undefined && update.description === undefined) {
    throw new InvalidInputError('Nothing to update: give sql, description or both');
  }
  return update.sql === undefined ? undefined : validateRuleSql(update.sql, plantId).sql;
}

/** The payload of a rule sending to the telemetry queue; DependencyUnavailableError while unconfigured. */
function payloadFor(settings: RuleSettings, sql: string, description: string): TopicRulePayload {
  const { sqsQueueUrl, iotRoleArn, deadLetterQueueUrl } = settings;
  if (!sqsQueueUrl || !iotRoleArn) {
    throw new DependencyUnavailableError(
      'configuration',
      'Cannot create a telemetry rule: set AWS_SQS_QUEUE_URL (a standard queue) and AWS_IOT_ROLE_ARN (a role AWS IoT may assume to send to it)',
    );
  }
  return configured(() =>
    topicRulePayload({ sql, description, queueUrl: sqsQueueUrl, roleArn: iotRoleArn, deadLetterQueueUrl }),
  );
}

/** FIFO refusals (a configuration problem) as the 503 that names the variable. */
function configured<T>(make: () => T): T {
  try {
    return make();
  } catch (error) {
    if (error instanceof FifoQueueNotSupportedError)
      throw new DependencyUnavailableError('configuration', error.message);
    throw error;
  }
}

async function replaceRule(iot: IoTClient, ruleName: string, topicRulePayload: TopicRulePayload) {
  try {
    await iot.send(new ReplaceTopicRuleCommand({ ruleName, topicRulePayload }));
  } catch (error) {
    if (isAwsError(error, 'SqlParseException', 'InvalidRequestException')) {
      throw new InvalidInputError(
        `AWS IoT refused the rule: ${(error as Error).message}`,
        'invalid_rule_sql',
      );
    }
    throw mapAwsUnavailable(error, 'ReplaceTopicRule');
  }
}

async function getRule(iot: IoTClient, ruleName: string) {
  try {
    const { rule } = await iot.send(new GetTopicRuleCommand({ ruleName }));
    return rule;
  } catch (error) {
    // AWS IoT answers a missing rule with UnauthorizedException; moto with ResourceNotFoundException.
    if (
      isAwsError(error, 'ResourceNotFoundException') ||
      (isAwsError(error, 'UnauthorizedException') &&
        /does not exist|not found/i.test((error as Error).message))
    ) {
      return undefined;
    }
    throw mapAwsUnavailable(error, 'GetTopicRule');
  }
}

export function awsRuleManager(iot: IoTClient, settings: RuleSettings): RuleManager {
  return {
    async createDataIngestionRule(plantId, ruleName, description) {
      const name = checkedArgs(plantId, ruleName);
      const sql = plantRuleSql(plantId);
      const payload = payloadFor(settings, sql, description ?? `Telemetry of solar plant ${plantId} to SQS`);
      try {
        await iot.send(new CreateTopicRuleCommand({ ruleName: name, topicRulePayload: payload }));
        return { ruleName: name, sql, created: true };
      } catch (error) {
        if (!isAwsError(error, 'ResourceAlreadyExistsException'))
          throw mapAwsUnavailable(error, 'CreateTopicRule');
      }
      const existing = await getRule(iot, name);
      if (existing?.sql === sql && existing.actions?.[0]?.sqs?.queueUrl === settings.sqsQueueUrl) {
        // Made before rules had an error action: brought up to date.
        if (!hasErrorActionOf(existing, payload)) await replaceRule(iot, name, payload);
        return { ruleName: name, sql, created: false };
      }
      throw new ConflictError(
        'rule_exists',
        `Topic rule ${name} already exists with other SQL or another queue; use updateRule or pick another name`,
      );
    },

    async updateRule(ruleName, plantId, update) {
      const sql = checkedUpdate(ruleName, plantId, update);
      const existing = await getRule(iot, ruleName);
      if (!existing)
        throw new NotFoundError(
          'rule_not_found',
          `Topic rule ${ruleName} does not exist; create it with createDataIngestionRule`,
        );
      // Ours: what createDataIngestionRule makes, one SQS action to the telemetry queue. Another
      // system's rule (other actions, other queue) is not this library's to rewrite.
      const actions = existing.actions ?? [];
      if (actions.length !== 1 || actions[0]?.sqs?.queueUrl !== settings.sqsQueueUrl) {
        throw new RuleNotOursError(
          ruleName,
          'its actions are not the one SQS action to AWS_SQS_QUEUE_URL that createDataIngestionRule creates',
        );
      }
      assertRuleOfPlant(ruleName, plantId, existing.sql);
      // The rule gets the configured error action (one made before it existed, too), sent with
      // the role of its SQS action.
      const deadLetterQueueUrl =
        settings.deadLetterQueueUrl ?? defaultDeadLetterQueueUrl(settings.sqsQueueUrl);
      const roleArn = actions[0]?.sqs?.roleArn;
      const topicRulePayload: TopicRulePayload = {
        sql: sql ?? existing.sql,
        description: update.description ?? existing.description,
        actions: existing.actions,
        errorAction:
          deadLetterQueueUrl && roleArn
            ? configured(() => errorActionFor(deadLetterQueueUrl, roleArn))
            : existing.errorAction,
        ruleDisabled: existing.ruleDisabled ?? false,
        awsIotSqlVersion: existing.awsIotSqlVersion ?? '2016-03-23',
      };
      await replaceRule(iot, ruleName, topicRulePayload);
      return { ruleName, sql: topicRulePayload.sql ?? '', created: false };
    },
  };
}

/** Mock mode: the same validation, no AWS call; rules live in memory. */
export function mockRuleManager(): RuleManager & { readonly rules: Map<string, string> } {
  const rules = new Map<string, string>();
  return {
    rules,
    async createDataIngestionRule(plantId, ruleName) {
      const name = checkedArgs(plantId, ruleName);
      const sql = plantRuleSql(plantId);
      const existing = rules.get(name);
      if (existing !== undefined && existing !== sql)
        throw new ConflictError(
          'rule_exists',
          `Topic rule ${name} already exists with other SQL (mock mode)`,
        );
      rules.set(name, sql);
      return { ruleName: name, sql, created: existing === undefined };
    },
    async updateRule(ruleName, plantId, update) {
      const sql = checkedUpdate(ruleName, plantId, update);
      const existing = rules.get(ruleName);
      if (existing === undefined)
        throw new NotFoundError('rule_not_found', `Topic rule ${ruleName} does not exist (mock mode)`);
      assertRuleOfPlant(ruleName, plantId, existing);
      rules.set(ruleName, sql ?? existing);
      return { ruleName, sql: sql ?? existing, created: false };
    },
  };
}
