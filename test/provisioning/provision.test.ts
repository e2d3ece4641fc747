import {
  CreateKeysAndCertificateCommand,
  DescribeCertificateCommand,
  DescribeThingCommand,
  GetPolicyCommand,
  GetTopicRuleCommand,
  IoTClient,
  ListAttachedPoliciesCommand,
  ListThingPrincipalsCommand,
} from '@aws-sdk/client-iot';
import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities/index.js';
import { startProvisioning } from '../../src/client.js';
import { toActivityFailure } from '../../src/iot/aws-errors.js';
import { policyNameFor, SHARED_RULE_NAME, thingNameFor } from '../../src/iot/naming.js';
import { policyDocumentFor } from '../../src/iot/policy-document.js';
import { SHARED_RULE_SQL } from '../../src/iot/topic-rule.js';
import { type PlantIotResources, provisionWorkflowId, statusQuery } from '../../src/workflows/contract.js';
import { FaultInjector } from '../../tools/faults/index.js';
import { decodedHistoryText } from '../support/history.js';
import { awsClientConfig } from '../support/moto.js';
import { newPlantId } from '../support/provisioning-harness.js';
import { useProvisioningHarness } from '../support/use-provisioning-harness.js';
import type { ActivityOverrides } from '../support/worker.js';

const t = useProvisioningHarness();

async function provision(plantId: string, taskQueue: string): Promise<PlantIotResources> {
  return t.env.client.workflow.execute('provisionPlant', {
    taskQueue,
    workflowId: provisionWorkflowId(plantId),
    args: [{ plantId, plantName: `Plant ${plantId.slice(0, 8)}` }],
  });
}

async function expectNothingOfPlantInAws() {
  const inventory = await t.h.awsInventory();
  expect(inventory.things).toEqual([]);
  expect(inventory.certificates).toEqual([]);
  expect(inventory.policies).toEqual([]);
  expect(inventory.plantRules).toEqual([]);
}

/** An AWS error as the SDK throws it, classified by the same mapping the activities use. */
function awsError(name: string, httpStatusCode: number): ApplicationFailure {
  return toActivityFailure(
    'Injected',
    Object.assign(new Error(`${name} (injected)`), { name, $metadata: { httpStatusCode } }),
  );
}

const CREATE_STEPS = [
  'createThing',
  'createCertificate',
  'createPolicy',
  'attachPolicy',
  'attachThingPrincipal',
  'ensureTelemetryRoute',
  'getDataEndpoint',
  'recordProvisioned',
] as const;

describe('provisionPlant', () => {
  it('creates every resource, records it, and keeps key material out of the history', async () => {
    const plantId = newPlantId();
    const resources = await t.h.withWorker({}, (taskQueue) => provision(plantId, taskQueue));

    const thingName = thingNameFor(plantId);
    expect(resources).toMatchObject({
      thingName,
      policyName: policyNameFor(plantId),
      endpoint: t.h.settings.iotEndpoint,
    });
    expect(resources).not.toHaveProperty('ruleName');

    const thing = await t.h.iot.send(new DescribeThingCommand({ thingName }));
    expect(thing.attributes).toEqual({ plantId });
    expect(thing.thingArn).toBe(resources.thingArn);

    const certificate = await t.h.iot.send(
      new DescribeCertificateCommand({ certificateId: resources.certificateId }),
    );
    expect(certificate.certificateDescription?.status).toBe('ACTIVE');
    expect(certificate.certificateDescription?.certificateArn).toBe(resources.certificateArn);

    const policy = await t.h.iot.send(new GetPolicyCommand({ policyName: resources.policyName }));
    expect(JSON.parse(policy.policyDocument ?? '')).toEqual(JSON.parse(policyDocumentFor(plantId)));

    const attached = await t.h.iot.send(
      new ListAttachedPoliciesCommand({ target: resources.certificateArn }),
    );
    expect(attached.policies?.map((p) => p.policyName)).toEqual([resources.policyName]);
    const principals = await t.h.iot.send(new ListThingPrincipalsCommand({ thingName }));
    expect(principals.principals).toEqual([resources.certificateArn]);

    const { rule } = await t.h.iot.send(new GetTopicRuleCommand({ ruleName: SHARED_RULE_NAME }));
    expect(rule?.sql).toBe(SHARED_RULE_SQL);
    expect(rule?.actions?.[0]?.sqs?.queueUrl).toBe(t.h.settings.sqsQueueUrl);

    const row = await t.h.plantRow(plantId);
    expect(row).toMatchObject({
      iotStatus: 'active',
      thingName,
      thingArn: resources.thingArn,
      certificateId: resources.certificateId,
      certificateArn: resources.certificateArn,
      policyName: resources.policyName,
      lastError: null,
    });
    expect(row?.provisionedAt).toBeInstanceOf(Date);

    const [stored] = await t.h.certificateRows(plantId);
    expect(stored?.encryptedPrivateKey).toBeTruthy();
    expect(stored?.encryptedPrivateKey).not.toContain('PRIVATE KEY');
    const privateKeyPem = await t.h.vault.decrypt(stored?.encryptedPrivateKey ?? '');
    expect(privateKeyPem).toContain('BEGIN PRIVATE KEY');

    const history = await decodedHistoryText(t.env.client.workflow.getHandle(provisionWorkflowId(plantId)));
    expect(history).toContain(resources.certificateId); // the search below looks at decoded payloads
    expect(history).not.toContain('PRIVATE KEY');
    expect(history).not.toContain('BEGIN CERTIFICATE');
    const keyBody = privateKeyPem.split('\n').slice(1, -2).join('');
    expect(history).not.toContain(keyBody.slice(0, 40));
  });

  it('answers the status query and keeps the search attributes current', async () => {
    const plantId = newPlantId();
    await t.h.withWorker({}, async (taskQueue) => {
      const handle = await startProvisioning(
        t.env.client,
        { plantId, plantName: 'Status plant' },
        { taskQueue },
      );
      await handle.result();
      const status = await handle.query(statusQuery);
      expect(status).toMatchObject({
        operation: 'provision',
        plantId,
        iotStatus: 'active',
        currentStep: null,
        lastError: null,
      });
      expect(status.stepsDone).toEqual(
        expect.arrayContaining(['create-thing', 'create-certificate', 'record-provisioned']),
      );
      expect(status.resources.thingName).toBe(thingNameFor(plantId));
      const description = await handle.describe();
      expect(description.searchAttributes.PlantId).toEqual([plantId]);
      expect(description.searchAttributes.IotStatus).toEqual(['active']);
    });
  });

  it('refuses bad input before any AWS call', async () => {
    for (const plantId of ['', 'a/b', 'x'.repeat(65), 'plant#1']) {
      const error = await t.h
        .withWorker({}, (taskQueue) =>
          t.env.client.workflow.execute('provisionPlant', {
            taskQueue,
            workflowId: `bad-input-${Math.random()}`,
            args: [{ plantId, plantName: 'Bad' }],
          }),
        )
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect((error as WorkflowFailedError).cause).toMatchObject({
        type: 'InvalidInput',
        nonRetryable: true,
      });
    }
    await expectNothingOfPlantInAws();
  });

  it.each(CREATE_STEPS)('rolls everything back when %s fails permanently', async (step) => {
    const plantId = newPlantId();
    const overrides: ActivityOverrides = {
      [step]: async () => {
        throw awsError('InvalidRequestException', 400);
      },
    };
    const error = await t.h
      .withWorker(overrides, (taskQueue) => provision(plantId, taskQueue))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((error as WorkflowFailedError).cause?.message).toContain('Everything created was rolled back');
    await expectNothingOfPlantInAws();
    const row = await t.h.plantRow(plantId);
    expect(row?.iotStatus).toBe('failed');
    expect(row?.lastError).toContain('InvalidRequestException');
    for (const stored of await t.h.certificateRows(plantId)) expect(stored.encryptedPrivateKey).toBeNull();
  });

  it.each(CREATE_STEPS)(
    'retries a transient failure of %s and completes with one certificate',
    async (step) => {
      const plantId = newPlantId();
      const real = t.h.realActivities();
      let failures = 0;
      const overrides: ActivityOverrides = {
        [step]: async (...args: unknown[]) => {
          if (failures++ === 0) throw awsError('ThrottlingException', 400);
          if (failures === 2) throw awsError('ServiceUnavailableException', 503);
          return (real[step] as (...a: unknown[]) => Promise<unknown>)(...args);
        },
      };
      const resources = await t.h.withWorker(overrides, (taskQueue) => provision(plantId, taskQueue));

      expect(failures).toBe(3);
      const inventory = await t.h.awsInventory();
      expect(inventory.certificates).toEqual([{ id: resources.certificateId, status: 'ACTIVE' }]);
      expect(inventory.things).toEqual([thingNameFor(plantId)]);
      expect((await t.h.plantRow(plantId))?.iotStatus).toBe('active');
    },
  );

  it.each([
    'CreateThingCommand',
    'CreateCertificateFromCsrCommand',
    'CreatePolicyCommand',
    'AttachPolicyCommand',
    'AttachThingPrincipalCommand',
    'CreateTopicRuleCommand',
  ])('completes without orphans when AWS did %s but the answer was lost', async (command) => {
    const plantId = newPlantId();
    t.h.faults.once(command, 'lose-response');
    const resources = await t.h.withWorker({}, (taskQueue) => provision(plantId, taskQueue));

    expect(t.h.faults.injected).toEqual([`${command}:lose-response`]);
    const inventory = await t.h.awsInventory();
    expect(inventory.certificates).toEqual([{ id: resources.certificateId, status: 'ACTIVE' }]);
    expect(inventory.things).toEqual([resources.thingName]);
    expect(inventory.policies).toEqual([resources.policyName]);
    const [stored, ...others] = await t.h.certificateRows(plantId);
    expect(others).toEqual([]);
    expect(stored?.certificateId).toBe(resources.certificateId);
  });

  it('completes with one certificate when the CreateCertificateFromCsr answer is lost among 30 recent certificates and a quarter of the reads fail', async () => {
    // Other plants' certificates, issued just before: every one is a candidate of the search.
    for (let i = 0; i < 3; i++) {
      await Promise.all(
        Array.from({ length: 10 }, () =>
          t.h.iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true })),
        ),
      );
    }
    const iot = new IoTClient({ ...awsClientConfig(), maxAttempts: 1 });
    const faults = new FaultInjector(
      'seed=5; CreateCertificateFromCsr=1:lost-response#1; DescribeCertificate|ListCertificates=0.25:throttling,500,503,timeout,reset,lost-response',
    );
    faults.install(iot);
    const faulty = createActivities({
      iot,
      db: t.h.database.db,
      vault: t.h.vault,
      temporal: t.env.client,
      settings: t.h.settings,
    });
    let attempts = 0;
    const plantId = newPlantId();
    try {
      const resources = await t.h.withWorker(
        {
          createCertificate: (args) => {
            attempts += 1;
            return faulty.createCertificate(args);
          },
        },
        (taskQueue) => provision(plantId, taskQueue),
      );
      // The first attempt lost its answer; the second found the certificate despite failed reads.
      expect(attempts).toBe(2);
      const injected = faults.snapshot().injected;
      expect(injected.CreateCertificateFromCsr).toEqual({ 'lost-response': 1 });
      expect(Object.keys(injected.DescribeCertificate ?? {})).not.toEqual([]);
      const inventory = await t.h.awsInventory();
      expect(inventory.certificates).toHaveLength(31);
      expect(inventory.certificates).toContainEqual({ id: resources.certificateId, status: 'ACTIVE' });
      const [stored, ...others] = await t.h.certificateRows(plantId);
      expect(others).toEqual([]);
      expect(stored?.certificateId).toBe(resources.certificateId);
    } finally {
      iot.destroy();
    }
  });

  it('rolls back a certificate whose creation answer was lost when a later step fails', async () => {
    const plantId = newPlantId();
    t.h.faults.once('CreateCertificateFromCsrCommand', 'lose-response');
    const real = t.h.realActivities();
    let calls = 0;
    const overrides: ActivityOverrides = {
      // AWS issues the certificate but the answer is lost; the retry then hits a hard quota.
      createCertificate: async (args) => {
        if (calls++ === 0) return real.createCertificate(args);
        throw awsError('LimitExceededException', 400);
      },
    };
    const error = await t.h
      .withWorker(overrides, (taskQueue) => provision(plantId, taskQueue))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(t.h.faults.injected).toEqual(['CreateCertificateFromCsrCommand:lose-response']);
    await expectNothingOfPlantInAws();
  });

  it('runs once when the same provision is started twice', async () => {
    const plantId = newPlantId();
    await t.h.withWorker({}, async (taskQueue) => {
      const first = await startProvisioning(t.env.client, { plantId, plantName: 'Twice' }, { taskQueue });
      const second = await startProvisioning(t.env.client, { plantId, plantName: 'Twice' }, { taskQueue });
      expect(second.firstExecutionRunId).toBe(first.firstExecutionRunId);
      const resources = await first.result();
      // Started again after it completed: a new run that finds the plant active and changes nothing.
      const third = await startProvisioning(t.env.client, { plantId, plantName: 'Twice' }, { taskQueue });
      expect(await third.result()).toEqual(resources);
    });
    const inventory = await t.h.awsInventory();
    expect(inventory.certificates).toHaveLength(1);
    expect(inventory.things).toHaveLength(1);
  });

  it('routes telemetry through a rule of its own in per-plant mode, and refuses a FIFO queue', async () => {
    const plantId = newPlantId();
    t.h.settings = { ...t.h.settings, topicRuleMode: 'per-plant' };
    try {
      const resources = await t.h.withWorker({}, (taskQueue) => provision(plantId, taskQueue));
      expect(resources.ruleName).toMatch(/^solar_plant_rule_[A-Za-z0-9_]+$/);
      expect((await t.h.awsInventory()).plantRules).toEqual([resources.ruleName]);

      const fifoPlant = newPlantId();
      t.h.settings = { ...t.h.settings, sqsQueueUrl: `${t.h.settings.sqsQueueUrl}.fifo` };
      const error = await t.h
        .withWorker({}, (taskQueue) => provision(fifoPlant, taskQueue))
        .catch((e: unknown) => e);
      expect((error as WorkflowFailedError).cause?.message).toContain('only delivers to standard queues');
      expect((await t.h.awsInventory()).things).toEqual([resources.thingName]);
    } finally {
      t.h.settings = { ...t.h.settings, topicRuleMode: 'shared' };
    }
  });
});
