/**
 * Custom telemetry rules (the seed's createDataIngestionRule / updateRule). SQL is checked here
 * before it reaches AWS: a rule may only read the plants' own `solar/...` topics, so a typo or a
 * pasted statement cannot route another system's messages into the telemetry queue.
 */
import {
  CreateTopicRuleCommand,
  GetTopicRuleCommand,
  type IoTClient,
  ReplaceTopicRuleCommand,
  type TopicRulePayload,
} from '@aws-sdk/client-iot';
import { isAwsError } from '../iot/aws-errors.js';
import {
  assertValidPlantId,
  InvalidPlantIdError,
  plantRuleNameFor,
  SHARED_RULE_NAME,
} from '../iot/naming.js';
import { FifoQueueNotSupportedError, plantRuleSql, topicRulePayload } from '../iot/topic-rule.js';
import { mapAwsUnavailable } from './aws.js';
import { ConflictError, DependencyUnavailableError, InvalidInputError, NotFoundError } from './errors.js';

const RULE_NAME = /^[a-zA-Z0-9_]{1,128}$/;
/** A sanity bound, far above any rule this product needs; AWS applies its own limits after it. */
export const MAX_RULE_SQL_LENGTH = 4096;

/** Matched on the statement with its string literals masked as `'<index>'` (see maskLiterals). */
const STATEMENT = /^SELECT\s+([\s\S]+?)\s+FROM\s+'(\d+)'(?:\s+WHERE\s+([\s\S]+))?$/i;

/**
 * The statement with each '...' literal replaced by its index, and the literals. What the checks
 * then look at is what the engine parses as code, never text a string literal holds. Anything
 * that would make the engine delimit literals differently from '...' with '' doubling is refused:
 * "..." and `...` (quoted names, in which ' is no delimiter) and \ (an escape in some dialects).
 */
function maskLiterals(sql: string): { code: string; literals: string[] } | { refused: string } {
  const quoting = /["`\\]/.exec(sql);
  if (quoting)
    return {
      refused: `it contains ${JSON.stringify(quoting[0])}; telemetry rules need no quoted names or escapes, only '...' strings ('' for a quote)`,
    };
  const literals: string[] = [];
  let code = '';
  for (let i = 0; i < sql.length; ) {
    if (sql[i] !== "'") {
      code += sql[i];
      i++;
      continue;
    }
    let text = '';
    let end = i + 1;
    for (; end < sql.length; end++) {
      if (sql[end] !== "'") text += sql[end];
      else if (sql[end + 1] === "'") {
        text += "'";
        end++;
      } else break;
    }
    if (end >= sql.length) return { refused: 'a string literal is not closed' };
    code += `'${literals.length}'`;
    literals.push(text);
    i = end + 1;
  }
  return { code, literals };
}

export function assertRuleName(ruleName: unknown): asserts ruleName is string {
  if (typeof ruleName !== 'string' || !RULE_NAME.test(ruleName)) {
    throw new InvalidInputError(
      `Rule name ${JSON.stringify(ruleName)} is invalid: AWS IoT allows 1 to 128 letters, digits and "_"`,
    );
  }
}

export function assertPlantId(plantId: unknown): asserts plantId is string {
  try {
    assertValidPlantId(plantId);
  } catch (error) {
    if (error instanceof InvalidPlantIdError) throw new InvalidInputError(error.message, 'invalid_plant_id');
    throw error;
  }
}

export interface ValidatedRuleSql {
  sql: string;
  topicFilter: string;
}

/**
 * Accepts `SELECT <fields> FROM 'solar/<plantId or +>/...' [WHERE <condition>]` and nothing else.
 * With a plantId, a literal plant level must be that plant's.
 */
export function validateRuleSql(sql: unknown, plantId?: string): ValidatedRuleSql {
  const fail = (why: string): never => {
    throw new InvalidInputError(`Rule SQL refused: ${why}`, 'invalid_rule_sql');
  };
  if (typeof sql !== 'string' || sql.trim() === '') return fail('it is empty');
  const text = sql.trim();
  if (text.length > MAX_RULE_SQL_LENGTH) fail(`it is longer than ${MAX_RULE_SQL_LENGTH} characters`);
  if (text.includes(';')) fail('it contains ";" (one statement only)');
  const masked = maskLiterals(text);
  if ('refused' in masked) return fail(masked.refused);
  const match = STATEMENT.exec(masked.code);
  if (!match || /\bFROM\b/i.test(match[3] ?? ''))
    return fail(
      `expected SELECT <fields> FROM 'solar/<plantId>/<...>' [WHERE <condition>], got ${JSON.stringify(text.slice(0, 80))}`,
    );
  const topicFilter = masked.literals[Number(match[2])] ?? '';
  const levels = topicFilter.split('/');
  if (levels[0] !== 'solar' || levels.length < 3) {
    fail(
      `it reads topic ${JSON.stringify(topicFilter)}; rules may only read the plants' topics solar/<plantId>/...`,
    );
  }
  levels.forEach((level, i) => {
    if (level === '') fail(`topic ${JSON.stringify(topicFilter)} has an empty level`);
    if (level === '#' && i !== levels.length - 1)
      fail(`"#" must be the last level of topic ${JSON.stringify(topicFilter)}`);
    if (level !== '+' && level !== '#' && /[+#]/.test(level)) {
      fail(`level ${JSON.stringify(level)} mixes a wildcard with text`);
    }
  });
  const plantLevel = levels[1] ?? '';
  if (plantLevel === '#') fail('the plant level may be "+" or a plant id, not "#"');
  if (plantLevel !== '+') {
    try {
      assertValidPlantId(plantLevel);
    } catch {
      fail(`${JSON.stringify(plantLevel)} is not a plant id`);
    }
    if (plantId !== undefined && plantLevel !== plantId) {
      fail(`it reads plant ${plantLevel}'s topics, but the rule belongs to plant ${plantId}`);
    }
  }
  const outside = functionsOutsideAllowList(masked.code);
  if (outside.length > 0) {
    fail(
      `it uses ${outside.join(', ')}; telemetry rules may only use ${[...RULE_SQL_FUNCTIONS].join(', ')} (nothing that reaches other services, secrets or data)`,
    );
  }
  return { sql: text, topicFilter };
}

/**
 * The functions a telemetry rule may call: what routing and light shaping of a plant's own
 * messages need. Everything else is refused, above all what reaches outside the message
 * (aws_lambda, get_secret, get_dynamodb, get_thing_shadow, get_registry_data,
 * machinelearning_predict, sql lookups): a rule runs with the IoT role's rights.
 */
export const RULE_SQL_FUNCTIONS = new Set([
  'topic',
  'timestamp',
  'clientid',
  'principal',
  'traceid',
  'newuuid',
  'parse_time',
  'cast',
  'isundefined',
  'isnull',
  'abs',
  'round',
  'floor',
  'ceil',
  'lower',
  'upper',
  'concat',
  'substring',
  'startswith',
  'endswith',
]);

/** SQL words that may precede "(" without being a call. */
const SQL_WORDS = new Set([
  'select',
  'from',
  'where',
  'and',
  'or',
  'not',
  'in',
  'as',
  'value',
  'case',
  'when',
  'then',
  'else',
  'is',
]);

/** `code`: the statement with its string literals masked (they may say anything). */
function functionsOutsideAllowList(code: string): string[] {
  if (/\/\*|--/.test(code)) return ['comments (/* */, --)'];
  const called = [...code.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*\(/g)].map((m) => (m[1] ?? '').toLowerCase());
  return [...new Set(called.filter((name) => !RULE_SQL_FUNCTIONS.has(name) && !SQL_WORDS.has(name)))];
}

export interface RuleSettings {
  sqsQueueUrl: string | undefined;
  iotRoleArn: string | undefined;
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

export function awsRuleManager(iot: IoTClient, settings: RuleSettings): RuleManager {
  function payloadFor(sql: string, description: string): TopicRulePayload {
    const { sqsQueueUrl, iotRoleArn } = settings;
    if (!sqsQueueUrl || !iotRoleArn) {
      throw new DependencyUnavailableError(
        'configuration',
        'Cannot create a telemetry rule: set AWS_SQS_QUEUE_URL (a standard queue) and AWS_IOT_ROLE_ARN (a role AWS IoT may assume to send to it)',
      );
    }
    try {
      return topicRulePayload(sql, sqsQueueUrl, iotRoleArn, description);
    } catch (error) {
      if (error instanceof FifoQueueNotSupportedError)
        throw new DependencyUnavailableError('configuration', error.message);
      throw error;
    }
  }

  async function getRule(ruleName: string) {
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

  return {
    async createDataIngestionRule(plantId, ruleName, description) {
      const name = checkedArgs(plantId, ruleName);
      const sql = plantRuleSql(plantId);
      const payload = payloadFor(sql, description ?? `Telemetry of solar plant ${plantId} to SQS`);
      try {
        await iot.send(new CreateTopicRuleCommand({ ruleName: name, topicRulePayload: payload }));
        return { ruleName: name, sql, created: true };
      } catch (error) {
        if (!isAwsError(error, 'ResourceAlreadyExistsException'))
          throw mapAwsUnavailable(error, 'CreateTopicRule');
      }
      const existing = await getRule(name);
      if (existing?.sql === sql && existing.actions?.[0]?.sqs?.queueUrl === settings.sqsQueueUrl) {
        return { ruleName: name, sql, created: false };
      }
      throw new ConflictError(
        'rule_exists',
        `Topic rule ${name} already exists with other SQL or another queue; use updateRule or pick another name`,
      );
    },

    async updateRule(ruleName, plantId, update) {
      const sql = checkedUpdate(ruleName, plantId, update);
      const existing = await getRule(ruleName);
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
      const topicRulePayload: TopicRulePayload = {
        sql: sql ?? existing.sql,
        description: update.description ?? existing.description,
        actions: existing.actions,
        errorAction: existing.errorAction,
        ruleDisabled: existing.ruleDisabled ?? false,
        awsIotSqlVersion: existing.awsIotSqlVersion ?? '2016-03-23',
      };
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
