import { WorkflowFailedError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { startDeprovisioning, startProvisioning } from '../../src/client.js';
import { type DeprovisionResult, deprovisionWorkflowId, statusQuery } from '../../src/workflows/contract.js';
import { newPlantId } from '../support/provisioning-harness.js';
import { useProvisioningHarness } from '../support/use-provisioning-harness.js';

const t = useProvisioningHarness();

function deprovision(plantId: string, taskQueue: string): Promise<DeprovisionResult> {
  return t.env.client.workflow.execute('deprovisionPlant', {
    taskQueue,
    workflowId: deprovisionWorkflowId(plantId),
    args: [{ plantId }],
  });
}

async function expectNothingOfPlantInAws() {
  const inventory = await t.h.awsInventory();
  expect(inventory).toMatchObject({ things: [], certificates: [], policies: [], plantRules: [] });
}

describe('deprovisionPlant', () => {
  it('removes every resource of a fully provisioned plant, and a second run is a no-op', async () => {
    const plantId = newPlantId();
    await t.h.withWorker({}, async (taskQueue) => {
      const provisioned = await (
        await startProvisioning(t.env.client, { plantId, plantName: 'Full' }, { taskQueue })
      ).result();
      const result = await deprovision(plantId, taskQueue);
      expect(result.removed).toEqual(
        expect.arrayContaining([
          `certificate ${provisioned.certificateId}`,
          `thing ${provisioned.thingName}`,
        ]),
      );
      await expectNothingOfPlantInAws();

      const row = await t.h.plantRow(plantId);
      expect(row).toMatchObject({
        iotStatus: 'deprovisioned',
        thingName: null,
        certificateId: null,
        policyName: null,
      });
      const [stored] = await t.h.certificateRows(plantId);
      expect(stored).toMatchObject({ status: 'destroyed', encryptedPrivateKey: null });

      await deprovision(plantId, taskQueue); // again: nothing left to do, and it succeeds
      expect((await t.h.plantRow(plantId))?.iotStatus).toBe('deprovisioned');
      const status = await t.env.client.workflow.getHandle(deprovisionWorkflowId(plantId)).query(statusQuery);
      expect(status).toMatchObject({ operation: 'deprovision', iotStatus: 'deprovisioned', lastError: null });
    });
  });

  it('cleans a partly provisioned plant from what exists in AWS and in our records', async () => {
    const plantId = newPlantId();
    const real = t.h.realActivities();
    // Thing, certificate and policy exist and the policy is attached, but the certificate never
    // reached the thing: what a crash between steps 4 and 5 leaves without a saga.
    await real.createThing({ plantId });
    const certificate = await real.createCertificate({ plantId, requestId: `manual-${plantId}` });
    const { policyName } = await real.createPolicy({ plantId });
    await real.attachPolicy({ policyName, certificateArn: certificate.certificateArn });
    expect((await t.h.awsInventory()).certificates).toHaveLength(1);

    await t.h.withWorker({}, (taskQueue) => deprovision(plantId, taskQueue));
    await expectNothingOfPlantInAws();
  });

  it('finds and deletes a certificate whose creation answer was lost', async () => {
    const plantId = newPlantId();
    const real = t.h.realActivities();
    t.h.faults.once('CreateCertificateFromCsrCommand', 'lose-response');
    await expect(real.createCertificate({ plantId, requestId: `lost-${plantId}` })).rejects.toThrow(
      /socket hang up/,
    );
    expect((await t.h.awsInventory()).certificates).toHaveLength(1); // AWS has it, our record does not
    expect((await t.h.certificateRows(plantId))[0]?.certificateId).toBeNull();

    await t.h.withWorker({}, (taskQueue) => deprovision(plantId, taskQueue));
    await expectNothingOfPlantInAws();
    expect((await t.h.certificateRows(plantId))[0]).toMatchObject({
      status: 'destroyed',
      encryptedPrivateKey: null,
    });
  });

  it('keeps one certificate when a certificate request reaches AWS after its retry got one', async () => {
    const plantId = newPlantId();
    const requestId = `late-${plantId}`;
    const real = t.h.realActivities();
    const release = t.h.faults.holdOnce('CreateCertificateFromCsrCommand');
    // The first attempt's request is stuck in the network; Temporal times the attempt out and retries.
    const firstAttempt = real.createCertificate({ plantId, requestId });
    while (!(await t.h.certificateRows(plantId))[0]?.submittedAt) await new Promise((r) => setTimeout(r, 50));
    const retried = await real.createCertificate({ plantId, requestId });
    release(); // ...then the stuck request lands and AWS issues a second certificate
    expect(await firstAttempt).toEqual(retried);

    const inventory = await t.h.awsInventory();
    expect(inventory.certificates).toEqual([{ id: retried.certificateId, status: 'ACTIVE' }]);
    expect((await t.h.certificateRows(plantId)).map((r) => r.certificateId)).toEqual([retried.certificateId]);
  });

  it('succeeds for a plant that was never provisioned', async () => {
    const plantId = newPlantId();
    const result = await t.h.withWorker({}, (taskQueue) => deprovision(plantId, taskQueue));
    expect(result.plantId).toBe(plantId);
    await expectNothingOfPlantInAws();
  });

  it('stops a running provision, lets it roll back, then removes whatever remains', async () => {
    const plantId = newPlantId();
    const real = t.h.realActivities();
    let releaseAttach: () => void = () => {};
    const attachStarted = new Promise<void>((resolve) => {
      releaseAttach = resolve;
    });
    await t.h.withWorker(
      {
        // Hold the provision mid-way (policy attached) until the deprovision has started.
        attachThingPrincipal: async (args) => {
          releaseAttach();
          await new Promise((r) => setTimeout(r, 1_000));
          return real.attachThingPrincipal(args);
        },
      },
      async (taskQueue) => {
        const provision = await startProvisioning(
          t.env.client,
          { plantId, plantName: 'Race' },
          { taskQueue },
        );
        await attachStarted;
        const deprovisioning = await startDeprovisioning(t.env.client, { plantId }, { taskQueue });
        await deprovisioning.result();
        const provisionError = await provision.result().catch((e: unknown) => e);
        expect(provisionError).toBeInstanceOf(WorkflowFailedError);
      },
    );
    await expectNothingOfPlantInAws();
    const row = await t.h.plantRow(plantId);
    expect(row?.iotStatus).toBe('deprovisioned');
    for (const stored of await t.h.certificateRows(plantId)) expect(stored.encryptedPrivateKey).toBeNull();
  });
});
