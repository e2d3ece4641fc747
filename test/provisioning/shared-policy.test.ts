/**
 * POLICY_MODE=shared against moto: one policy with thing policy variables for every plant,
 * created once, attached and detached per certificate, never deleted by a plant.
 */
import {
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  DeletePolicyCommand,
  DetachPolicyCommand,
  GetPolicyCommand,
  ListAttachedPoliciesCommand,
  ListPolicyVersionsCommand,
  ListTargetsForPolicyCommand,
} from '@aws-sdk/client-iot';
import { WorkflowFailedError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { toActivityFailure } from '../../src/iot/aws-errors.js';
import { PLANT_ID_ATTRIBUTE, SHARED_POLICY_NAME, thingNameFor } from '../../src/iot/naming.js';
import {
  PLANT_ID_VARIABLE,
  plantPolicyOrigin,
  policyDocumentFor,
  sharedPolicyDocument,
  sharedPolicyOrigin,
  THING_NAME_VARIABLE,
} from '../../src/iot/policy-document.js';
import { earlierPolicyDocumentsFor, earlierSharedPolicyDocuments } from '../../src/iot/policy-history.js';
import {
  type DeprovisionResult,
  deprovisionWorkflowId,
  type PlantIotResources,
  provisionWorkflowId,
} from '../../src/workflows/contract.js';
import { newPlantId, ProvisioningHarness } from '../support/provisioning-harness.js';
import { useProvisioningHarness } from '../support/use-provisioning-harness.js';

/** AWS calls by command name, counted below the test's own fault middleware. */
const calls = new Map<string, number>();

const t = useProvisioningHarness({
  harness: (env) => {
    const h = new ProvisioningHarness(env);
    h.iot.middlewareStack.add(
      (next, context) => async (args) => {
        const command = String(context.commandName ?? '').replace(/Command$/, '');
        calls.set(command, (calls.get(command) ?? 0) + 1);
        return next(args);
      },
      { step: 'initialize', name: 'countCalls' },
    );
    return h;
  },
  beforeEach: (h) => {
    calls.clear();
    h.settings = { ...h.settings, policyMode: 'shared' };
  },
});

function provision(plantId: string, taskQueue: string): Promise<PlantIotResources> {
  return t.env.client.workflow.execute('provisionPlant', {
    taskQueue,
    workflowId: provisionWorkflowId(plantId),
    args: [{ plantId, plantName: `Plant ${plantId.slice(0, 8)}` }],
  });
}

function deprovision(plantId: string, taskQueue: string): Promise<DeprovisionResult> {
  return t.env.client.workflow.execute('deprovisionPlant', {
    taskQueue,
    workflowId: deprovisionWorkflowId(plantId),
    args: [{ plantId }],
  });
}

async function attachedTo(certificateArn: string): Promise<string[]> {
  const { policies } = await t.h.iot.send(new ListAttachedPoliciesCommand({ target: certificateArn }));
  return (policies ?? []).map((p) => p.policyName ?? '');
}

describe('the shared policy document', () => {
  it('uses thing policy variables: attached thing, client id = thing name, topics under the plantId attribute', () => {
    const doc = JSON.parse(sharedPolicyDocument());
    expect(doc.Version).toBe('2012-10-17');
    const byAction = new Map<string, { Resource: string[]; Condition: unknown }>(
      doc.Statement.map((s: { Action: string[] }) => [s.Action[0], s]),
    );
    const attached = { Bool: { 'iot:Connection.Thing.IsAttached': ['true'] } };
    for (const statement of byAction.values()) expect(statement.Condition).toEqual(attached);
    expect(THING_NAME_VARIABLE).toBe(['$', '{iot:Connection.Thing.ThingName}'].join(''));
    expect(PLANT_ID_VARIABLE).toBe(
      ['$', `{iot:Connection.Thing.Attributes[${PLANT_ID_ATTRIBUTE}]}`].join(''),
    );
    expect(byAction.get('iot:Connect')?.Resource).toEqual([`arn:aws:iot:*:*:client/${THING_NAME_VARIABLE}`]);
    const plant = PLANT_ID_VARIABLE;
    const shadow = `$aws/things/${THING_NAME_VARIABLE}/shadow*`;
    expect(byAction.get('iot:Publish')?.Resource).toEqual([
      `arn:aws:iot:*:*:topic/solar/${plant}/*`,
      ...['get', 'update', 'delete'].map((op) => `arn:aws:iot:*:*:topic/${shadow}/${op}`),
    ]);
    const inbound = [
      `solar/${plant}/commands/*`,
      ...['accepted', 'rejected', 'update/delta', 'update/documents'].map((t) => `${shadow}/${t}`),
    ];
    expect(byAction.get('iot:Subscribe')?.Resource).toEqual([
      ...inbound.map((t) => `arn:aws:iot:*:*:topicfilter/${t}`),
      ...inbound.map((t) => `arn:aws:iot:*:*:topic/${t}`),
    ]);
    // The same grants as a plant's own policy once the variables are resolved.
    const plantId = 'plant-7';
    const resolve = (document: string) =>
      document.replaceAll(THING_NAME_VARIABLE, thingNameFor(plantId)).replaceAll(plant, plantId);
    const own = JSON.parse(resolve(policyDocumentFor(plantId)));
    const withoutConditions = JSON.parse(resolve(sharedPolicyDocument())).Statement.map(
      ({ Condition: _, ...rest }: { Condition: unknown }) => rest,
    );
    expect(withoutConditions).toEqual(own.Statement);
  });

  it("knows an earlier release's documents as ours, to upgrade them, and nothing else", () => {
    const [earlierShared] = earlierSharedPolicyDocuments();
    const [earlierOwn] = earlierPolicyDocumentsFor('p-1');
    expect(sharedPolicyOrigin(sharedPolicyDocument())).toBe('current');
    expect(sharedPolicyOrigin(earlierShared as string)).toBe('earlier');
    expect(sharedPolicyOrigin(policyDocumentFor('p-1'))).toBe('foreign');
    expect(plantPolicyOrigin(earlierOwn as string, 'p-1')).toBe('earlier');
    expect(plantPolicyOrigin(earlierOwn as string, 'p-2')).toBe('foreign');
    // The earlier documents had no shadow topics at all.
    expect(earlierShared).not.toContain('$aws/things');
    expect(earlierOwn).not.toContain('$aws/things');
  });
});

describe('POLICY_MODE=shared', () => {
  it('attaches one shared policy, created once, and no policy of the plant', async () => {
    const [a, b] = [newPlantId(), newPlantId()];
    const [ra, rb] = await t.h.withWorker({}, async (taskQueue) => [
      await provision(a, taskQueue),
      await provision(b, taskQueue),
    ]);

    expect(ra.policyName).toBe(SHARED_POLICY_NAME);
    expect(rb.policyName).toBe(SHARED_POLICY_NAME);
    const policy = await t.h.iot.send(new GetPolicyCommand({ policyName: SHARED_POLICY_NAME }));
    expect(JSON.parse(policy.policyDocument ?? '')).toEqual(JSON.parse(sharedPolicyDocument()));
    expect((await t.h.awsInventory()).policies).toEqual([SHARED_POLICY_NAME]);
    expect(await attachedTo(ra.certificateArn)).toEqual([SHARED_POLICY_NAME]);
    expect(await attachedTo(rb.certificateArn)).toEqual([SHARED_POLICY_NAME]);
    expect((await t.h.plantRow(a))?.policyName).toBe(SHARED_POLICY_NAME);
    // Once for both plants (the first one found it missing), then attachments only.
    expect(calls.get('CreatePolicy')).toBe(1);
    expect(calls.get('AttachPolicy')).toBe(2);
    // The shared topic rule: created by the first plant, then found by GetTopicRule.
    expect(calls.get('CreateTopicRule')).toBe(1);
  });

  it('makes the shared policy again when it was deleted out of band since the last check', async () => {
    const [a, b] = [newPlantId(), newPlantId()];
    const rb = await t.h.withWorker({}, async (taskQueue) => {
      const ra = await provision(a, taskQueue);
      // An operator removes the policy; this worker checked it a moment ago and trusts that for a minute.
      await t.h.iot.send(
        new DetachPolicyCommand({ policyName: SHARED_POLICY_NAME, target: ra.certificateArn }),
      );
      await t.h.iot.send(new DeletePolicyCommand({ policyName: SHARED_POLICY_NAME }));
      return provision(b, taskQueue);
    });

    expect(await attachedTo(rb.certificateArn)).toEqual([SHARED_POLICY_NAME]);
    const policy = await t.h.iot.send(new GetPolicyCommand({ policyName: SHARED_POLICY_NAME }));
    expect(JSON.parse(policy.policyDocument ?? '')).toEqual(JSON.parse(sharedPolicyDocument()));
    // The first attach found no policy; the policy was made again and the attach repeated.
    expect(calls.get('CreatePolicy')).toBe(2);
    expect(calls.get('AttachPolicy')).toBe(3);
  });

  it('deprovision detaches the shared policy and leaves it to the other plants', async () => {
    const [a, b] = [newPlantId(), newPlantId()];
    const { ra, rb, removed } = await t.h.withWorker({}, async (taskQueue) => {
      const ra = await provision(a, taskQueue);
      const rb = await provision(b, taskQueue);
      const { removed } = await deprovision(a, taskQueue);
      return { ra, rb, removed };
    });

    expect(removed).toEqual([`certificate ${ra.certificateId}`, `thing ${thingNameFor(a)}`]);
    expect(calls.get('DeletePolicy')).toBeUndefined();
    const inventory = await t.h.awsInventory();
    expect(inventory.policies).toEqual([SHARED_POLICY_NAME]);
    expect(inventory.things).toEqual([thingNameFor(b)]);
    const { targets } = await t.h.iot.send(
      new ListTargetsForPolicyCommand({ policyName: SHARED_POLICY_NAME }),
    );
    expect(targets).toEqual([rb.certificateArn]);
    expect((await t.h.plantRow(a))?.iotStatus).toBe('deprovisioned');
  });

  it('rolls a failed provision back without touching the shared policy', async () => {
    const plantId = newPlantId();
    const error = await t.h
      .withWorker(
        {
          attachThingPrincipal: async () => {
            throw toActivityFailure(
              'AttachThingPrincipal',
              Object.assign(new Error('denied (injected)'), {
                name: 'UnauthorizedException',
                $metadata: { httpStatusCode: 401 },
              }),
            );
          },
        },
        (taskQueue) => provision(plantId, taskQueue),
      )
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(WorkflowFailedError);
    const inventory = await t.h.awsInventory();
    expect(inventory.things).toEqual([]);
    expect(inventory.certificates).toEqual([]);
    expect(inventory.policies).toEqual([SHARED_POLICY_NAME]);
    const { targets } = await t.h.iot.send(
      new ListTargetsForPolicyCommand({ policyName: SHARED_POLICY_NAME }),
    );
    expect(targets).toEqual([]);
  });

  it("upgrades a shared policy holding an earlier release's document to a new default version", async () => {
    const [earlier] = earlierSharedPolicyDocuments() as [string];
    await t.h.iot.send(new CreatePolicyCommand({ policyName: SHARED_POLICY_NAME, policyDocument: earlier }));
    // Four more versions, not default: AWS keeps five, so the oldest non-default one (2) goes first.
    for (let i = 0; i < 4; i++)
      await t.h.iot.send(
        new CreatePolicyVersionCommand({ policyName: SHARED_POLICY_NAME, policyDocument: earlier }),
      );
    calls.clear();
    const [a, b] = [newPlantId(), newPlantId()];
    const [ra] = await t.h.withWorker({}, async (taskQueue) => [
      await provision(a, taskQueue),
      await provision(b, taskQueue),
    ]);

    const policy = await t.h.iot.send(new GetPolicyCommand({ policyName: SHARED_POLICY_NAME }));
    expect(JSON.parse(policy.policyDocument ?? '')).toEqual(JSON.parse(sharedPolicyDocument()));
    expect(policy.defaultVersionId).toBe('6');
    const { policyVersions } = await t.h.iot.send(
      new ListPolicyVersionsCommand({ policyName: SHARED_POLICY_NAME }),
    );
    expect(policyVersions?.map((v) => v.versionId).sort()).toEqual(['1', '3', '4', '5', '6']);
    expect(calls.get('DeletePolicyVersion')).toBe(1);
    // Once, by the first plant; the second found the current document.
    expect(calls.get('CreatePolicyVersion')).toBe(1);
    expect(calls.get('CreatePolicy')).toBeUndefined();
    expect(await attachedTo(ra.certificateArn)).toEqual([SHARED_POLICY_NAME]);
  });

  it("upgrades a plant's own policy holding an earlier document, and deletes its versions on deprovision", async () => {
    t.h.settings = { ...t.h.settings, policyMode: 'per-plant' };
    const plantId = newPlantId();
    const policyName = `solar-plant-${plantId}-policy`;
    const [earlier] = earlierPolicyDocumentsFor(plantId) as [string];
    await t.h.iot.send(new CreatePolicyCommand({ policyName, policyDocument: earlier }));
    await t.h.withWorker({}, (taskQueue) => provision(plantId, taskQueue));

    const policy = await t.h.iot.send(new GetPolicyCommand({ policyName }));
    expect(JSON.parse(policy.policyDocument ?? '')).toEqual(JSON.parse(policyDocumentFor(plantId)));
    expect(policy.defaultVersionId).toBe('2');
    // AWS refuses DeletePolicy while a non-default version remains: deprovision deletes it first.
    const { removed } = await t.h.withWorker({}, (taskQueue) => deprovision(plantId, taskQueue));
    expect(removed).toContain(`policy ${policyName}`);
    expect((await t.h.awsInventory()).policies).toEqual([]);
    expect(calls.get('DeletePolicyVersion')).toBe(1);
  });

  it('refuses a policy of that name with another document, and rolls back', async () => {
    await t.h.iot.send(
      new CreatePolicyCommand({ policyName: SHARED_POLICY_NAME, policyDocument: policyDocumentFor('other') }),
    );
    const plantId = newPlantId();
    const error = await t.h
      .withWorker({}, (taskQueue) => provision(plantId, taskQueue))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(String((error as WorkflowFailedError).cause?.message)).toMatch(
      /solar-plants-policy exists with a different document/,
    );
    const inventory = await t.h.awsInventory();
    expect(inventory.things).toEqual([]);
    expect(inventory.certificates).toEqual([]);
    await t.h.iot.send(new DeletePolicyCommand({ policyName: SHARED_POLICY_NAME }));
  });

  it('deprovisions a plant provisioned with a policy of its own before the switch', async () => {
    const plantId = newPlantId();
    t.h.settings = { ...t.h.settings, policyMode: 'per-plant' };
    await t.h.withWorker({}, (taskQueue) => provision(plantId, taskQueue));
    t.h.settings = { ...t.h.settings, policyMode: 'shared' };
    const { removed } = await t.h.withWorker({}, (taskQueue) => deprovision(plantId, taskQueue));

    expect(removed).toContain(`policy solar-plant-${plantId}-policy`);
    expect((await t.h.awsInventory()).policies).toEqual([]);
  });
});
