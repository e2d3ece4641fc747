/**
 * What a process asks of AWS, as IAM sees it: a recorder installed on a process's AWS clients
 * through the AwsClientInterceptor seam (src/iot/clients.ts), and the mapping of each recorded SDK
 * call to the IAM requests AWS authorizes for it (action, resource ARN, request context).
 *
 * The mapping is explicit per operation and refuses an operation it does not know, so a new AWS
 * call in src/ cannot slip past the IAM test unmapped. Where the SDK operation and the IAM action
 * differ: SQS batch calls are authorized as their single action (DeleteMessageBatch ->
 * sqs:DeleteMessage, ChangeMessageVisibilityBatch -> sqs:ChangeMessageVisibility, SendMessageBatch
 * -> sqs:SendMessage; the Service Authorization Reference lists no batch actions), the IoT data
 * plane is authorized as iot:GetThingShadow / iot:UpdateThingShadow / iot:Publish, and a topic
 * rule whose actions name a role makes AWS check iam:PassRole on that role for the caller.
 */
import type { AwsClientInterceptor } from '../../src/iot/clients.js';

export interface AwsCall {
  /** `IoTClient`, `IoTDataPlaneClient`, `SQSClient`. */
  client: string;
  /** The SDK operation without `Command`. */
  operation: string;
  input: Record<string, unknown>;
}

/** What the recorder needs of an SDK client (every v3 client has it). */
export interface MiddlewareClient {
  middlewareStack: {
    add(
      middleware: (
        next: (args: { input: object }) => Promise<unknown>,
        context: { clientName?: string; commandName?: string },
      ) => (args: { input: object }) => Promise<unknown>,
      options: { step: 'initialize'; name: string; priority?: 'high' },
    ): void;
  };
}

/** Records every call a process's clients send, before anything (a fault injector too) sees it. */
export class AwsCallRecorder implements AwsClientInterceptor {
  readonly calls: AwsCall[] = [];

  install(client: object): unknown {
    (client as MiddlewareClient).middlewareStack.add(
      (next, context) => async (args) => {
        this.calls.push({
          client: String(context.clientName),
          operation: String(context.commandName).replace(/Command$/, ''),
          input: args.input as Record<string, unknown>,
        });
        return next(args);
      },
      { step: 'initialize', name: 'solarIotIamRecorder', priority: 'high' },
    );
    return client;
  }

  flush(): void {}

  /** How often `operation` was called (for waits in the flows). */
  count(operation: string): number {
    return this.calls.filter((c) => c.operation === operation).length;
  }
}

/** Several interceptors on the same clients (a recorder and a fault injector). */
export function allOf(...interceptors: AwsClientInterceptor[]): AwsClientInterceptor {
  return {
    install(client) {
      for (const i of interceptors) i.install(client);
      return client;
    },
    flush() {
      for (const i of interceptors) i.flush();
    },
  };
}

export interface IamRequest {
  /** `iot:CreateThing`. */
  action: string;
  /** The resource ARN AWS authorizes, or `*` for an action that takes no resource. */
  resource: string;
  /** Request context keys the policy's conditions may test. */
  context: Record<string, string>;
  /** The SDK call it comes from, for messages. */
  from: string;
}

export interface Account {
  region: string;
  accountId: string;
}

const str = (value: unknown, what: string): string => {
  if (typeof value !== 'string' || value === '') throw new Error(`IAM mapping: ${what} missing`);
  return value;
};

/** `https://sqs.../123456789012/name` (and moto's `http://127.0.0.1:port/123456789012/name`). */
export function queueArn(queueUrl: string, { region }: Account): string {
  const [accountId, name] = new URL(queueUrl).pathname.split('/').filter(Boolean);
  return `arn:aws:sqs:${region}:${str(accountId, 'queue account')}:${str(name, 'queue name')}`;
}

type Resource = (input: Record<string, unknown>, iot: string) => string;
const thing: Resource = (i, iot) => `${iot}:thing/${str(i.thingName, 'thingName')}`;
const cert: Resource = (i, iot) => `${iot}:cert/${str(i.certificateId, 'certificateId')}`;
const policy: Resource = (i, iot) => `${iot}:policy/${str(i.policyName, 'policyName')}`;
const rule: Resource = (i, iot) => `${iot}:rule/${str(i.ruleName, 'ruleName')}`;
/** Certificate ARNs are given whole (`principal`, `target`). */
const given =
  (field: string): Resource =>
  (i) =>
    str(i[field], field);
const none: Resource = () => '*';

/** IoT control plane and data plane: SDK operation -> [IAM action, resource]. */
const IOT: Record<string, [string, Resource]> = {
  CreateThing: ['iot:CreateThing', thing],
  DescribeThing: ['iot:DescribeThing', thing],
  DeleteThing: ['iot:DeleteThing', thing],
  ListThingPrincipals: ['iot:ListThingPrincipals', thing],
  AttachThingPrincipal: ['iot:AttachThingPrincipal', given('principal')],
  DetachThingPrincipal: ['iot:DetachThingPrincipal', given('principal')],
  ListPrincipalThings: ['iot:ListPrincipalThings', given('principal')],
  AttachPolicy: ['iot:AttachPolicy', given('target')],
  DetachPolicy: ['iot:DetachPolicy', given('target')],
  UpdateCertificate: ['iot:UpdateCertificate', cert],
  DeleteCertificate: ['iot:DeleteCertificate', cert],
  DescribeCertificate: ['iot:DescribeCertificate', cert],
  CreateCertificateFromCsr: ['iot:CreateCertificateFromCsr', none],
  CreateKeysAndCertificate: ['iot:CreateKeysAndCertificate', none],
  CreatePolicy: ['iot:CreatePolicy', policy],
  GetPolicy: ['iot:GetPolicy', policy],
  DeletePolicy: ['iot:DeletePolicy', policy],
  CreatePolicyVersion: ['iot:CreatePolicyVersion', policy],
  DeletePolicyVersion: ['iot:DeletePolicyVersion', policy],
  ListPolicyVersions: ['iot:ListPolicyVersions', policy],
  ListTargetsForPolicy: ['iot:ListTargetsForPolicy', policy],
  CreateTopicRule: ['iot:CreateTopicRule', rule],
  GetTopicRule: ['iot:GetTopicRule', rule],
  ReplaceTopicRule: ['iot:ReplaceTopicRule', rule],
  DeleteTopicRule: ['iot:DeleteTopicRule', rule],
  DescribeEndpoint: ['iot:DescribeEndpoint', none],
  ListAttachedPolicies: ['iot:ListAttachedPolicies', none],
  ListCertificates: ['iot:ListCertificates', none],
  ListPolicies: ['iot:ListPolicies', none],
  ListThings: ['iot:ListThings', none],
  ListTopicRules: ['iot:ListTopicRules', none],
};
const IOT_DATA: Record<string, [string, Resource]> = {
  GetThingShadow: ['iot:GetThingShadow', thing],
  UpdateThingShadow: ['iot:UpdateThingShadow', thing],
  Publish: ['iot:Publish', (i, iot) => `${iot}:topic/${str(i.topic, 'topic')}`],
};
/** SQS: SDK operation -> IAM action, on the queue of `QueueUrl`. */
const SQS: Record<string, string> = {
  ReceiveMessage: 'sqs:ReceiveMessage',
  DeleteMessageBatch: 'sqs:DeleteMessage',
  ChangeMessageVisibilityBatch: 'sqs:ChangeMessageVisibility',
  GetQueueAttributes: 'sqs:GetQueueAttributes',
  SendMessageBatch: 'sqs:SendMessage',
};

interface RulePayload {
  actions?: Record<string, { roleArn?: string } | undefined>[];
  errorAction?: Record<string, { roleArn?: string } | undefined>;
}

/** The roles a topic rule's actions name: AWS checks iam:PassRole on each for the caller. */
export function rolesPassedBy(payload: RulePayload | undefined): string[] {
  const actions = [...(payload?.actions ?? []), ...(payload?.errorAction ? [payload.errorAction] : [])];
  const roles = actions.flatMap((a) => Object.values(a).map((target) => target?.roleArn));
  return [...new Set(roles.filter((r): r is string => typeof r === 'string'))];
}

/** The IAM requests one SDK call makes; throws for an operation this mapping does not know. */
export function iamRequestsOf(call: AwsCall, account: Account): IamRequest[] {
  const from = `${call.client}.${call.operation}`;
  const iot = `arn:aws:iot:${account.region}:${account.accountId}`;
  const table = call.client === 'IoTClient' ? IOT : call.client === 'IoTDataPlaneClient' ? IOT_DATA : {};
  const iotEntry = table[call.operation];
  if (iotEntry) {
    const [action, resource] = iotEntry;
    const requests = [{ action, resource: resource(call.input, iot), context: {}, from }];
    if (call.operation === 'CreateTopicRule' || call.operation === 'ReplaceTopicRule') {
      for (const role of rolesPassedBy(call.input.topicRulePayload as RulePayload))
        requests.push({
          action: 'iam:PassRole',
          resource: role,
          context: { 'iam:PassedToService': 'iot.amazonaws.com' },
          from,
        });
    }
    return requests;
  }
  const sqsAction = call.client === 'SQSClient' ? SQS[call.operation] : undefined;
  if (sqsAction) {
    const resource = queueArn(str(call.input.QueueUrl, 'QueueUrl'), account);
    return [{ action: sqsAction, resource, context: {}, from }];
  }
  throw new Error(
    `IAM mapping: no IAM action known for ${from}; add it to test/support/iam-calls.ts (Service Authorization Reference)`,
  );
}
