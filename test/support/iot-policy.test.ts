/**
 * The test broker's policy evaluator (iot-policy.ts), on small documents for each rule of AWS
 * IoT's evaluation, then on our two device policies: what a device may do with its own shadow
 * and telemetry, and nothing of another thing's.
 */
import { describe, expect, it } from 'vitest';
import { PLANT_ID_ATTRIBUTE, thingNameFor } from '../../src/iot/naming.js';
import {
  MAX_POLICY_DOCUMENT_LENGTH,
  PLANT_ID_VARIABLE,
  policyDocumentFor,
  sharedPolicyDocument,
  THING_NAME_VARIABLE,
} from '../../src/iot/policy-document.js';
import { type ConnectionContext, evaluatePolicies, policiesAllow, resourceArn } from './iot-policy.js';

const doc = (...Statement: object[]) => JSON.stringify({ Version: '2012-10-17', Statement });
const context = (clientId: string, attributes?: Record<string, string>): ConnectionContext => ({
  clientId,
  thing: attributes ? { thingName: clientId, attributes } : undefined,
});
const CLIENT_ID_VARIABLE = ['$', '{iot:ClientId}'].join('');
const dev = context('dev-1', { plantId: 'p1' });
const topic = (t: string) => resourceArn('topic', t);

describe('policy evaluation rules', () => {
  it('denies by default and lets an explicit Deny win over any Allow', () => {
    const allowAll = doc({ Effect: 'Allow', Action: 'iot:*', Resource: '*' });
    const denyOne = doc({ Effect: 'Deny', Action: ['iot:Publish'], Resource: [topic('a/secret')] });
    expect(evaluatePolicies([], 'iot:Publish', topic('a/b'), dev)).toBe('not allowed');
    expect(evaluatePolicies([allowAll], 'iot:Publish', topic('a/b'), dev)).toBe('allowed');
    expect(evaluatePolicies([allowAll, denyOne], 'iot:Publish', topic('a/secret'), dev)).toBe(
      'explicitly denied',
    );
    expect(evaluatePolicies([allowAll, denyOne], 'iot:Publish', topic('a/other'), dev)).toBe('allowed');
  });

  it('matches actions with wildcards, case-insensitively', () => {
    const d = doc({ Effect: 'Allow', Action: ['iot:Pub*', 'iot:Rece?ve'], Resource: ['*'] });
    expect(policiesAllow([d], 'iot:Publish', topic('x'), dev)).toBe(true);
    expect(policiesAllow([d], 'iot:publish', topic('x'), dev)).toBe(true);
    expect(policiesAllow([d], 'iot:Receive', topic('x'), dev)).toBe(true);
    expect(policiesAllow([d], 'iot:Subscribe', resourceArn('topicfilter', 'x'), dev)).toBe(false);
  });

  it('matches resources with * (across levels) and ? (one character); + and # are literal', () => {
    const d = doc({
      Effect: 'Allow',
      Action: 'iot:Publish',
      Resource: ['arn:aws:iot:*:*:topic/a/*/z', 'arn:aws:iot:*:*:topic/b/?', 'arn:aws:iot:*:*:topic/c/+'],
    });
    expect(policiesAllow([d], 'iot:Publish', topic('a/x/y/z'), dev)).toBe(true);
    expect(policiesAllow([d], 'iot:Publish', topic('a/x/y'), dev)).toBe(false);
    expect(policiesAllow([d], 'iot:Publish', topic('b/1'), dev)).toBe(true);
    expect(policiesAllow([d], 'iot:Publish', topic('b/12'), dev)).toBe(false);
    expect(policiesAllow([d], 'iot:Publish', topic('c/+'), dev)).toBe(true);
    expect(policiesAllow([d], 'iot:Publish', topic('c/x'), dev)).toBe(false);
  });

  it('tells topic from topicfilter ARNs: Subscribe needs a topicfilter grant, Publish and Receive a topic grant', () => {
    const d = doc({
      Effect: 'Allow',
      Action: ['iot:Publish', 'iot:Subscribe', 'iot:Receive'],
      Resource: ['arn:aws:iot:*:*:topicfilter/f/*'],
    });
    expect(policiesAllow([d], 'iot:Subscribe', resourceArn('topicfilter', 'f/1'), dev)).toBe(true);
    expect(policiesAllow([d], 'iot:Publish', topic('f/1'), dev)).toBe(false);
    expect(policiesAllow([d], 'iot:Receive', topic('f/1'), dev)).toBe(false);
  });

  it('resolves thing variables only for the attached thing named by the client id; unresolved matches nothing', () => {
    const d = doc({
      Effect: 'Allow',
      Action: ['iot:Connect', 'iot:Publish'],
      Resource: [
        `arn:aws:iot:*:*:client/${THING_NAME_VARIABLE}`,
        `arn:aws:iot:*:*:topic/t/${PLANT_ID_VARIABLE}/*`,
      ],
    });
    expect(policiesAllow([d], 'iot:Connect', resourceArn('client', 'dev-1'), dev)).toBe(true);
    expect(policiesAllow([d], 'iot:Publish', topic('t/p1/data'), dev)).toBe(true);
    expect(policiesAllow([d], 'iot:Publish', topic('t/p2/data'), dev)).toBe(false);
    const unattached = context('dev-1');
    expect(policiesAllow([d], 'iot:Connect', resourceArn('client', 'dev-1'), unattached)).toBe(false);
    expect(policiesAllow([d], 'iot:Publish', topic('t//data'), unattached)).toBe(false);
    // An attribute the thing does not have leaves the variable unresolved as well.
    expect(policiesAllow([d], 'iot:Publish', topic('t//data'), context('dev-1', {}))).toBe(false);
  });

  it('takes variable values and $(*) literally: they never widen a grant', () => {
    const d = doc({
      Effect: 'Allow',
      Action: 'iot:Publish',
      Resource: [`arn:aws:iot:*:*:topic/${CLIENT_ID_VARIABLE}/x`, 'arn:aws:iot:*:*:topic/lit/$(*)'],
    });
    expect(policiesAllow([d], 'iot:Publish', topic('*/x'), context('*'))).toBe(true);
    expect(policiesAllow([d], 'iot:Publish', topic('other/x'), context('*'))).toBe(false);
    expect(policiesAllow([d], 'iot:Publish', topic('lit/*'), dev)).toBe(true);
    expect(policiesAllow([d], 'iot:Publish', topic('lit/a'), dev)).toBe(false);
  });

  it('applies Bool iot:Connection.Thing.IsAttached and StringEquals conditions', () => {
    const d = doc({
      Effect: 'Allow',
      Action: 'iot:Connect',
      Resource: '*',
      Condition: {
        Bool: { 'iot:Connection.Thing.IsAttached': ['true'] },
        StringEquals: { 'iot:Connection.Thing.Attributes[plantId]': 'p1' },
      },
    });
    const client = resourceArn('client', 'dev-1');
    expect(policiesAllow([d], 'iot:Connect', client, dev)).toBe(true);
    expect(policiesAllow([d], 'iot:Connect', client, context('dev-1', { plantId: 'p2' }))).toBe(false);
    expect(policiesAllow([d], 'iot:Connect', client, context('dev-1'))).toBe(false);
  });

  it('refuses to evaluate what it does not know instead of misreading it', () => {
    const notAction = doc({ Effect: 'Allow', NotAction: 'iot:Connect', Resource: '*' });
    expect(() => policiesAllow([notAction], 'iot:Publish', topic('x'), dev)).toThrow(/NotAction/);
    const ipCondition = doc({
      Effect: 'Allow',
      Action: 'iot:*',
      Resource: '*',
      Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } },
    });
    expect(() => policiesAllow([ipCondition], 'iot:Publish', topic('x'), dev)).toThrow(/SourceIp|IpAddress/);
  });
});

describe.each([
  ['shared', () => sharedPolicyDocument()],
  ['per-plant', (plantId: string) => policyDocumentFor(plantId)],
])('the %s device policy', (_mode, documentFor) => {
  const plantId = 'plant-a';
  const thing = thingNameFor(plantId);
  const other = thingNameFor('plant-b');
  const self = context(thing, { [PLANT_ID_ATTRIBUTE]: plantId });
  const allows = (action: string, kind: 'client' | 'topic' | 'topicfilter', name: string, ctx = self) =>
    policiesAllow([documentFor(plantId)], action, resourceArn(kind, name), ctx);
  const prefixes = [`$aws/things/${thing}/shadow`, `$aws/things/${thing}/shadow/name/settings`];
  const requests = ['get', 'update', 'delete'];
  const answers = [
    'get/accepted',
    'get/rejected',
    'update/accepted',
    'update/rejected',
    'update/delta',
    'update/documents',
    'delete/accepted',
    'delete/rejected',
  ];

  it('fits the 2048-character limit AWS IoT sets, for the longest plant id', () => {
    expect(documentFor('x'.repeat(64)).length).toBeLessThanOrEqual(MAX_POLICY_DOCUMENT_LENGTH);
  });

  it('lets the device connect as its thing, publish telemetry and receive its commands', () => {
    expect(allows('iot:Connect', 'client', thing)).toBe(true);
    expect(allows('iot:Publish', 'topic', `solar/${plantId}/data`)).toBe(true);
    expect(allows('iot:Subscribe', 'topicfilter', `solar/${plantId}/commands/#`)).toBe(true);
    expect(allows('iot:Receive', 'topic', `solar/${plantId}/commands/set`)).toBe(true);
  });

  it('grants its own shadow topics, classic and named: publish requests, subscribe to and receive answers', () => {
    for (const prefix of prefixes) {
      for (const r of requests) expect(allows('iot:Publish', 'topic', `${prefix}/${r}`), r).toBe(true);
      for (const a of answers) {
        expect(allows('iot:Subscribe', 'topicfilter', `${prefix}/${a}`), a).toBe(true);
        expect(allows('iot:Receive', 'topic', `${prefix}/${a}`), a).toBe(true);
      }
    }
  });

  it('keeps requests and answers apart: no forged answers, no subscription to requests or shadow/#', () => {
    for (const prefix of prefixes) {
      for (const a of answers) expect(allows('iot:Publish', 'topic', `${prefix}/${a}`), a).toBe(false);
      for (const r of requests) {
        expect(allows('iot:Subscribe', 'topicfilter', `${prefix}/${r}`), r).toBe(false);
        expect(allows('iot:Receive', 'topic', `${prefix}/${r}`), r).toBe(false);
      }
    }
    expect(allows('iot:Subscribe', 'topicfilter', `$aws/things/${thing}/shadow/#`)).toBe(false);
  });

  it("grants nothing of another thing's shadow, nor of another plant", () => {
    for (const prefix of [`$aws/things/${other}/shadow`, `$aws/things/${other}/shadow/name/settings`]) {
      for (const r of requests) expect(allows('iot:Publish', 'topic', `${prefix}/${r}`)).toBe(false);
      for (const a of answers) {
        expect(allows('iot:Subscribe', 'topicfilter', `${prefix}/${a}`)).toBe(false);
        expect(allows('iot:Receive', 'topic', `${prefix}/${a}`)).toBe(false);
      }
    }
    // A thing whose name starts with this one's is another thing.
    expect(allows('iot:Publish', 'topic', `$aws/things/${thing}x/shadow/update`)).toBe(false);
    expect(allows('iot:Subscribe', 'topicfilter', '$aws/things/+/shadow/update/delta')).toBe(false);
    expect(allows('iot:Connect', 'client', other)).toBe(false);
    expect(allows('iot:Publish', 'topic', 'solar/plant-b/data')).toBe(false);
  });

  it('grants no shadow topic to a certificate attached to no thing', () => {
    const unattached = context(thing);
    expect(allows('iot:Publish', 'topic', `$aws/things/${thing}/shadow/update`, unattached)).toBe(false);
    expect(
      allows('iot:Subscribe', 'topicfilter', `$aws/things/${thing}/shadow/update/delta`, unattached),
    ).toBe(false);
  });
});
