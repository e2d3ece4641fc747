import { describe, expect, it } from 'vitest';
import {
  assertValidPlantId,
  InvalidPlantIdError,
  plantRuleNameFor,
  policyNameFor,
  thingNameFor,
} from '../../src/iot/naming.js';
import { policyDocumentFor, THING_NAME_VARIABLE } from '../../src/iot/policy-document.js';
import { topicRulePayload } from '../../src/iot/topic-rule.js';

describe('resource names', () => {
  it('derives thing and policy names from the plant id', () => {
    expect(thingNameFor('p-1')).toBe('solar-plant-p-1');
    expect(policyNameFor('p-1')).toBe('solar-plant-p-1-policy');
  });

  it('maps plant ids to legal, distinct topic rule names', () => {
    const ids = ['a-b', 'a_b', 'a_0b', 'a__b', 'a--b', '0f8fad5b-d9cb-469f-a165-70867728950e'];
    const names = ids.map(plantRuleNameFor);
    for (const name of names) expect(name).toMatch(/^[a-zA-Z0-9_]+$/);
    expect(new Set(names).size).toBe(ids.length);
  });

  it.each([
    ['', /non-empty/],
    ['x'.repeat(65), /at most 64/],
    ['a/b', /characters/],
    ['a+b', /characters/],
    ['a#', /characters/],
    ['plant id', /characters/],
  ])('refuses plant id %j', (plantId, message) => {
    expect(() => assertValidPlantId(plantId)).toThrow(InvalidPlantIdError);
    expect(() => assertValidPlantId(plantId)).toThrow(message);
  });
});

describe('policy document', () => {
  it('scopes every permission to the plant and its thing', () => {
    const document = JSON.parse(policyDocumentFor('p-1'));
    const resources = document.Statement.flatMap((s: { Resource: string[] }) => s.Resource);
    // Shadow topics name the thing through the variable AWS resolves to the attached thing
    // (policy-document.ts: written literally they do not fit 2048 characters).
    const shadow = `$aws/things/${THING_NAME_VARIABLE}/shadow*`;
    const answers = ['accepted', 'rejected', 'update/delta', 'update/documents'].map((t) => `${shadow}/${t}`);
    expect(resources).toEqual([
      'arn:aws:iot:*:*:client/solar-plant-p-1',
      'arn:aws:iot:*:*:topic/solar/p-1/*',
      ...['get', 'update', 'delete'].map((op) => `arn:aws:iot:*:*:topic/${shadow}/${op}`),
      'arn:aws:iot:*:*:topicfilter/solar/p-1/commands/*',
      ...answers.map((t) => `arn:aws:iot:*:*:topicfilter/${t}`),
      'arn:aws:iot:*:*:topic/solar/p-1/commands/*',
      ...answers.map((t) => `arn:aws:iot:*:*:topic/${t}`),
      'arn:aws:iot:*:*:thing/solar-plant-p-1',
    ]);
  });
});

describe('topic rule', () => {
  it('refuses a FIFO queue, naming the AWS limitation', () => {
    expect(() =>
      topicRulePayload({
        sql: 'SELECT 1',
        description: 'd',
        queueUrl: 'https://sqs.x/q.fifo',
        roleArn: 'arn:aws:iam::1:role/r',
      }),
    ).toThrow(/only delivers to standard queues/);
  });
});
