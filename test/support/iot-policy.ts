/**
 * Evaluates AWS IoT policy documents the way AWS IoT Core authorizes an MQTT client, for the test
 * broker (test/ingest/mqtt-support.ts): every feature our policies use, and a loud error for any
 * it does not know (so a policy can never pass here by being misread).
 *
 * - Explicit Deny wins over Allow; nothing allowed is denied (default deny).
 * - Action: a string or list, `*` and `?` wildcards (`iot:*`), case-insensitive as in IAM.
 * - Resource: a string or list of ARNs with `*` (any characters, `/` included) and `?` (one
 *   character); `+` and `#` are plain characters; `$(*)`, `$(?)`, `$($)` stand for the literal
 *   character (https://docs.aws.amazon.com/iot/latest/developerguide/iot-policy-variables.html,
 *   https://docs.aws.amazon.com/iot/latest/developerguide/pub-sub-policy.html).
 * - Variables `${iot:ClientId}`, `${iot:Connection.Thing.ThingName}` and
 *   `${iot:Connection.Thing.Attributes[name]}`; a thing variable resolves only when the
 *   certificate is attached to the thing named by the client id (non-exclusive association,
 *   https://docs.aws.amazon.com/iot/latest/developerguide/thing-policy-variables.html), an
 *   attribute only when the thing has it; a resource with an unresolved variable matches nothing.
 * - Condition `Bool` on `iot:Connection.Thing.IsAttached` and `StringEquals` on the variables'
 *   keys; several keys and operators must all hold, several values of one key are alternatives.
 *
 * Resources are ARNs as AWS builds them: `client/<clientId>` for iot:Connect,
 * `topic/<topic>` for iot:Publish and iot:Receive, `topicfilter/<filter>` for iot:Subscribe.
 */

export interface ConnectionContext {
  clientId: string;
  /**
   * The thing named by the client id, when the certificate is attached to it (ListPrincipalThings),
   * with its registry attributes (DescribeThing); undefined otherwise.
   */
  thing: { thingName: string; attributes: Record<string, string> } | undefined;
}

export type Decision = 'allowed' | 'explicitly denied' | 'not allowed';

export const TEST_ACCOUNT_ARN = 'arn:aws:iot:us-east-1:123456789012';

/** The ARN AWS authorizes an MQTT action against. */
export function resourceArn(kind: 'client' | 'topic' | 'topicfilter', name: string): string {
  return `${TEST_ACCOUNT_ARN}:${kind}/${name}`;
}

interface Statement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

const STATEMENT_KEYS = new Set(['Sid', 'Effect', 'Action', 'Resource', 'Condition']);
const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);

function parse(document: string): Statement[] {
  const parsed = JSON.parse(document) as { Version?: string; Statement: Statement | Statement[] };
  const statements = Array.isArray(parsed.Statement) ? parsed.Statement : [parsed.Statement];
  for (const s of statements) {
    const unknown = Object.keys(s).filter((k) => !STATEMENT_KEYS.has(k));
    if (unknown.length > 0)
      throw new Error(`policy evaluator: unsupported statement keys ${unknown.join(', ')}`);
    if (s.Effect !== 'Allow' && s.Effect !== 'Deny') throw new Error(`policy evaluator: Effect ${s.Effect}`);
  }
  // Policy variables are only substituted under the 2012-10-17 policy language.
  if (parsed.Version !== '2012-10-17' && document.includes('${'))
    throw new Error('policy evaluator: variables need Version 2012-10-17');
  return statements;
}

/** `*` and `?` as wildcards, everything else literal (a pattern already free of variables). */
function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  let regex = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '\u0000') regex += escapeRegex(pattern[++i] as string);
    else if (c === '*') regex += '.*';
    else if (c === '?') regex += '.';
    else regex += escapeRegex(c);
  }
  return new RegExp(`^${regex}$`, ignoreCase ? 'is' : 's').test(value);
}

const escapeRegex = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** The value of a variable (or condition key) in this connection, or undefined when it has none. */
function contextValue(name: string, context: ConnectionContext): string | undefined {
  if (name === 'iot:ClientId') return context.clientId;
  if (name === 'iot:Connection.Thing.ThingName') return context.thing?.thingName;
  if (name === 'iot:Connection.Thing.IsAttached') return context.thing ? 'true' : 'false';
  const attribute = /^iot:Connection\.Thing\.Attributes\[([^\]]+)\]$/.exec(name)?.[1];
  if (attribute !== undefined) return context.thing?.attributes[attribute];
  throw new Error(`policy evaluator: unsupported variable or condition key ${name}`);
}

/**
 * The resource pattern with its variables replaced, literal-character variables marked so the
 * matcher takes them literally; undefined when a variable has no value.
 */
function substitute(pattern: string, context: ConnectionContext): string | undefined {
  let unresolved = false;
  const result = pattern.replace(/\$\{([^}]+)\}|\$\(([*?$])\)/g, (_, variable?: string, literal?: string) => {
    if (literal !== undefined) return `\u0000${literal}`;
    const value = contextValue(variable as string, context);
    if (value === undefined) {
      unresolved = true;
      return '';
    }
    // A value is taken literally: a `*` in a thing name must not widen the grant.
    return value.replace(/[\s\S]/g, (c) => (c === '*' || c === '?' ? `\u0000${c}` : c));
  });
  return unresolved ? undefined : result;
}

function conditionHolds(condition: Statement['Condition'], context: ConnectionContext): boolean {
  return Object.entries(condition ?? {}).every(([operator, keys]) =>
    Object.entries(keys).every(([key, expected]) => {
      const actual = contextValue(key, context);
      if (actual === undefined) return false;
      if (operator === 'Bool') return list(expected).some((e) => e.toLowerCase() === actual);
      if (operator === 'StringEquals') return list(expected).some((e) => e === actual);
      throw new Error(`policy evaluator: unsupported condition operator ${operator}`);
    }),
  );
}

function applies(s: Statement, action: string, resource: string, context: ConnectionContext): boolean {
  if (!list(s.Action).some((a) => wildcardMatch(a, action, true))) return false;
  const resourceMatches = list(s.Resource).some((r) => {
    const pattern = substitute(r, context);
    return pattern !== undefined && wildcardMatch(pattern, resource);
  });
  return resourceMatches && conditionHolds(s.Condition, context);
}

/** The decision of AWS IoT over every policy attached to the principal, taken together. */
export function evaluatePolicies(
  documents: readonly string[],
  action: string,
  resource: string,
  context: ConnectionContext,
): Decision {
  const statements = documents.flatMap(parse);
  const hits = statements.filter((s) => applies(s, action, resource, context));
  if (hits.some((s) => s.Effect === 'Deny')) return 'explicitly denied';
  return hits.some((s) => s.Effect === 'Allow') ? 'allowed' : 'not allowed';
}

export function policiesAllow(
  documents: readonly string[],
  action: string,
  resource: string,
  context: ConnectionContext,
): boolean {
  return evaluatePolicies(documents, action, resource, context) === 'allowed';
}
