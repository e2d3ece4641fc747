/**
 * What SQL a telemetry rule may hold, checked before it reaches AWS: a rule may only read the
 * plants' own `solar/...` topics and call a short list of functions, so a typo or a pasted
 * statement cannot route another system's messages into the telemetry queue.
 */
import { assertValidPlantId } from '../iot/naming.js';
import { InvalidInputError } from './errors.js';

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
