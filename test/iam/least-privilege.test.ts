/**
 * deploy/iam holds the least privilege of each process (issue 18, item 4). This file records
 * every AWS call each process makes in its flows (test/support/iam-flows.ts: worker, API,
 * consumer, the worker's admin tools, each with a recorder on its own AWS clients), maps each to
 * the IAM requests AWS authorizes (test/support/iam-calls.ts), and holds the documents to them:
 * a call no statement allows fails, and so does a grant (statement, action, resource) no call
 * uses. The rule role's calls are what AWS IoT does for the rules the worker wrote: send to each
 * queue their actions name, after assuming the role under its trust policy.
 *
 * Why one file that runs the flows itself, not a recording of the whole suite: the suite's tests
 * share clients between the product and their own checks and fake activities in places, so its
 * calls cannot be told apart by process; here each process's clients are its own. A new AWS call
 * in src/ that no flow makes fails the last test, which names it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type AwsCall,
  type IamRequest,
  iamRequestsOf,
  queueArn,
} from '../support/iam-calls.js';
import { type FlowSetting, type Recorders, runFlows } from '../support/iam-flows.js';
import {
  type Grant,
  grantedBy,
  grantsFor,
  loadPolicy,
  type PlaceholderValues,
  type PolicyDocument,
  scopeProblems,
  trustAllows,
} from '../support/iam-policies.js';
import { awsClientConfig } from '../support/moto.js';
import { filesLoadedBy, operationsIn, sourceFiles } from '../support/source-operations.js';

const ACCOUNT: Account = { region: awsClientConfig().region, accountId: '123456789012' };
const RULE_ROLE_ARN = process.env.AWS_IOT_ROLE_ARN ?? '';
const VALUES: PlaceholderValues = {
  ACCOUNT_ID: ACCOUNT.accountId,
  REGION: ACCOUNT.region,
  TELEMETRY_QUEUE: 'solar-plant-data',
  DEAD_LETTER_QUEUE: 'solar-plant-data-dlq',
  RULE_ROLE_NAME: RULE_ROLE_ARN.split(':role/')[1] ?? '',
};

/** Which documents each recorded principal holds. */
const ROLES = {
  worker: ['worker.json'],
  'worker with CERTIFICATE_MODE=create-keys': ['worker.json', 'worker-create-keys.json'],
  api: ['api.json'],
  ingest: ['ingest.json'],
  'IoT rule role': ['iot-rule-role.json'],
} as const;
type Role = keyof typeof ROLES;
const IDENTITY_POLICIES = [...new Set(Object.values(ROLES).flat())];
const policy = (file: string): PolicyDocument => loadPolicy(file, VALUES);

/** What each deployed process loads: its entry point, and for the worker the admin tools run with its role. */
const ENTRIES = {
  worker: [
    'src/worker.ts',
    'src/cli/reconcile.ts',
    'src/cli/stored-keys.ts',
    'src/cli/rotate.ts',
    'src/cli/setup.ts',
  ],
  api: ['src/api/main.ts'],
  ingest: ['src/ingest/main.ts'],
};

/** Code a process loads but never runs for its AWS calls, and why. */
const LOADED_NOT_CALLED: Record<string, Record<string, string>> = {
  api: {
    'src/service/rules.ts':
      'createDataIngestionRule and updateRule are the library API (src/client.ts); no route calls them',
  },
};

/** Files no deployed process loads, and why their AWS calls need no policy here. */
const NOT_DEPLOYED: Record<string, string> = {
  'src/ingest/simulate.ts': 'the simulator: creates the local queue, asks the endpoint for MQTT devices',
  'src/ingest/simulator.ts': 'the simulator: sends to the local queue what the IoT rule would deliver',
};

interface TopicRuleSqs {
  queueUrl?: string;
  roleArn?: string;
}

/** What AWS IoT does, as the rule role, for the rules the worker created or replaced. */
function ruleRoleRequests(calls: AwsCall[]): { requests: IamRequest[]; rules: string[]; roles: string[] } {
  const requests: IamRequest[] = [];
  const rules: string[] = [];
  const roles: string[] = [];
  for (const call of calls) {
    if (call.operation !== 'CreateTopicRule' && call.operation !== 'ReplaceTopicRule') continue;
    rules.push(`arn:aws:iot:${ACCOUNT.region}:${ACCOUNT.accountId}:rule/${String(call.input.ruleName)}`);
    const payload = call.input.topicRulePayload as {
      actions?: Record<string, unknown>[];
      errorAction?: Record<string, unknown>;
    };
    for (const action of [
      ...(payload.actions ?? []),
      ...(payload.errorAction ? [payload.errorAction] : []),
    ]) {
      const kinds = Object.keys(action).filter((k) => action[k] !== undefined);
      // iot-rule-role.json knows what an SQS action does; another kind needs other permissions.
      expect(kinds, 'topic rule action kinds').toEqual(['sqs']);
      const { queueUrl = '', roleArn = '' } = action.sqs as TopicRuleSqs;
      roles.push(roleArn);
      requests.push({
        action: 'sqs:SendMessage',
        resource: queueArn(queueUrl, ACCOUNT),
        context: {},
        from: `rule ${String(call.input.ruleName)}`,
      });
    }
  }
  return { requests, rules, roles };
}

describe('deploy/iam', () => {
  it('names only actions that exist, each on resources as narrow as the action allows', async () => {
    const problems = (await Promise.all(IDENTITY_POLICIES.map((f) => scopeProblems(policy(f))))).flat();
    expect(problems).toEqual([]);
  });

  it('lets only AWS IoT assume the rule role, for our rules in this account', () => {
    const trust = policy('iot-rule-role-trust.json');
    const rule = (name: string, account = ACCOUNT.accountId) => ({
      'aws:SourceAccount': account,
      'aws:SourceArn': `arn:aws:iot:${ACCOUNT.region}:${account}:rule/${name}`,
    });
    expect(trustAllows(trust, 'iot.amazonaws.com', rule('solar_plant_telemetry'))).toBe(true);
    expect(trustAllows(trust, 'iot.amazonaws.com', rule('solar_plant_rule_p_01'))).toBe(true);
    expect(trustAllows(trust, 'iot.amazonaws.com', rule('someone_elses_rule'))).toBe(false);
    expect(trustAllows(trust, 'iot.amazonaws.com', rule('solar_plant_telemetry', '210987654321'))).toBe(
      false,
    );
    expect(trustAllows(trust, 'iot.amazonaws.com', {})).toBe(false);
    expect(trustAllows(trust, 'lambda.amazonaws.com', rule('solar_plant_telemetry'))).toBe(false);
  });

  describe('against the calls each process makes', () => {
    let recorders: Recorders;
    let setting: FlowSetting;
    const requests = new Map<Role, IamRequest[]>();
    let ruleRole: ReturnType<typeof ruleRoleRequests>;

    beforeAll(async () => {
      ({ recorders, setting } = await runFlows());
      const iam = (calls: AwsCall[]) => calls.flatMap((c) => iamRequestsOf(c, ACCOUNT));
      ruleRole = ruleRoleRequests([...recorders.worker.calls, ...recorders.workerCreateKeys.calls]);
      requests.set('worker', iam(recorders.worker.calls));
      requests.set('worker with CERTIFICATE_MODE=create-keys', iam(recorders.workerCreateKeys.calls));
      requests.set('api', iam(recorders.api.calls));
      requests.set('ingest', iam(recorders.ingest.calls));
      requests.set('IoT rule role', ruleRole.requests);
    }, 300_000);

    it('each process is granted every call it makes', () => {
      const denied = [...requests].flatMap(([role, list]) =>
        list
          .filter((r) => grantsFor(ROLES[role].map(policy), r).length === 0)
          .map((r) => `${role}: ${r.action} on ${r.resource} (${r.from})`),
      );
      expect([...new Set(denied)]).toEqual([]);
    });

    it('no document grants an action on a resource its process never uses', () => {
      const used = new Set<string>();
      const key = (g: Grant) => `${g.file} ${g.sid}: ${g.action} on ${g.resource}`;
      for (const [role, list] of requests)
        for (const r of list) for (const g of grantsFor(ROLES[role].map(policy), r)) used.add(key(g));
      const unused = grantedBy(IDENTITY_POLICIES.map(policy))
        .map(key)
        .filter((k) => !used.has(k));
      expect(unused).toEqual([]);
    });

    it('the rules pass the rule role, which may send to the telemetry and dead-letter queues only', () => {
      expect(new Set(ruleRole.roles)).toEqual(new Set([RULE_ROLE_ARN]));
      expect(new Set(ruleRole.requests.map((r) => r.resource))).toEqual(
        new Set([
          queueArn(setting.telemetryQueueUrl, ACCOUNT),
          queueArn(setting.deadLetterQueueUrl, ACCOUNT),
        ]),
      );
      const trust = policy('iot-rule-role-trust.json');
      for (const arn of ruleRole.rules)
        expect(
          trustAllows(trust, 'iot.amazonaws.com', {
            'aws:SourceAccount': ACCOUNT.accountId,
            'aws:SourceArn': arn,
          }),
          arn,
        ).toBe(true);
    });

    it("every AWS operation in a process's code is one it was recorded making", () => {
      const recorded = {
        worker: [recorders.worker, recorders.workerCreateKeys],
        api: [recorders.api],
        ingest: [recorders.ingest],
      };
      const missing = Object.entries(ENTRIES).flatMap(([role, entries]) => {
        const made = new Set(
          recorded[role as keyof typeof recorded].flatMap((r) =>
            r.calls.map((c) => `${c.client}.${c.operation}`),
          ),
        );
        const files = [...new Set(entries.flatMap(filesLoadedBy))].filter(
          (f) => !(f in (LOADED_NOT_CALLED[role] ?? {})),
        );
        return [...operationsIn(files)].flatMap(([file, operations]) =>
          operations.filter((o) => !made.has(o)).map((o) => `${role}: ${o} (${file})`),
        );
      });
      expect(missing).toEqual([]);
    });

    it('every file of src/ that calls AWS is loaded by a deployed process, or says why not', () => {
      const loaded = new Set(Object.values(ENTRIES).flat().flatMap(filesLoadedBy));
      const unaccounted = [...operationsIn(sourceFiles())]
        .map(([file]) => file)
        .filter((file) => !loaded.has(file) && !(file in NOT_DEPLOYED));
      expect(unaccounted).toEqual([]);
    });
  });
});
