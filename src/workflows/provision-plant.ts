import { ApplicationFailure, CancellationScope, isCancellation, workflowInfo } from '@temporalio/workflow';
import { thingNameFor } from '../iot/naming.js';
import { coordinationSteps, createSteps, localCreateSteps, removeSteps } from './activity-options.js';
import { cancelledFailure, cancelRequestedMeanwhile } from './cancellation.js';
import type { PlantIotResources, ProvisionPlantInput } from './contract.js';
import { CsrInbox, plantCertificate } from './device-csr.js';
import { Progress } from './progress.js';
import { Saga } from './saga.js';
import { validProvisionInput } from './validation.js';

/**
 * Gives a plant its AWS IoT identity: thing, certificate, policy, attachments, telemetry rule,
 * then records it in PostgreSQL. Any failure, or a cancellation by a deprovision, rolls back
 * everything created so far; what the rollback cannot remove is named in the failure. In
 * certificate mode device-csr the certificate comes from the CSR the device sends (device-csr.ts).
 */
export async function provisionPlant(input: ProvisionPlantInput): Promise<PlantIotResources> {
  const { plantId, plantName, certificateMode, csrTimeoutMs } = validProvisionInput(input);
  const progress = new Progress('provision', plantId, 'provisioning');
  const thingName = thingNameFor(plantId);
  const inbox = new CsrInbox(plantId, thingName, certificateMode === 'device-csr');

  await progress.step('wait-for-deprovision', () => coordinationSteps.waitForDeprovisioning({ plantId }));
  const existing = await progress.step('record-start', () =>
    createSteps.beginProvisioning({ plantId, plantName }),
  );
  if (existing) {
    inbox.close(`plant ${plantId} is active already`);
    const endpoint = await progress.step('describe-endpoint', () => createSteps.getDataEndpoint());
    progress.resources(existing);
    progress.status('active');
    return { ...existing, endpoint };
  }

  // The certificate's key is stored under this id: activity retries reuse it, a new run makes a new one.
  const requestId = `${workflowInfo().workflowId}/${workflowInfo().runId}`;
  const saga = new Saga();
  try {
    // POLICY_MODE decides, in the activity: the shared policy (made sure of at most once a
    // minute per worker, no AWS call per plant) or the plant's own, created below on the
    // CreatePolicy quota queue. A local activity: no external call in the common case.
    const policy = await progress.step('choose-policy', () => localCreateSteps.plantPolicy({ plantId }));
    const { policyName } = policy;

    saga.add(`thing ${thingName}`, () => removeSteps.deleteThing({ thingName }));
    const thing = await progress.step('create-thing', () => createSteps.createThing({ plantId }));
    progress.resources(thing);

    const certificate = await plantCertificate({
      progress,
      saga,
      inbox,
      plantId,
      requestId,
      thingName,
      policyName,
      csrTimeoutMs,
    });
    progress.resources(certificate);
    const { certificateArn } = certificate;

    if (!policy.shared) {
      saga.add(`policy ${policyName}`, () => removeSteps.deletePolicy({ policyName }));
      await progress.step('create-policy', () => createSteps.createPolicy({ plantId }));
    }
    progress.resources({ policyName });

    saga.add(`attachment of ${policyName}`, () => removeSteps.detachPolicy({ policyName, certificateArn }));
    await progress.step('attach-policy', () => createSteps.attachPolicy({ policyName, certificateArn }));

    saga.add(`attachment of the certificate to ${thingName}`, async () => {
      await removeSteps.detachThingPrincipal({ thingName, certificateArn });
      await removeSteps.waitForThingDetached({ thingName, certificateArn });
    });
    await progress.step('attach-certificate', () =>
      createSteps.attachThingPrincipal({ thingName, certificateArn }),
    );

    saga.add(`telemetry rule of ${plantId}`, () => removeSteps.removeTelemetryRoute({ plantId }));
    const { ruleName } = await progress.step('create-rule', () =>
      createSteps.ensureTelemetryRoute({ plantId }),
    );

    // An activity, not local: a local activity that waits on DescribeEndpoint (endpoint not
    // configured) holds the workflow task, and the status query with it, for as long as the
    // call takes (queries in the worker-kill chaos test stalled 20 s that way).
    const endpoint = await progress.step('describe-endpoint', () => createSteps.getDataEndpoint());
    const resources: PlantIotResources = {
      ...thing,
      ...certificate,
      policyName,
      ...(ruleName ? { ruleName } : {}),
      endpoint,
    };
    progress.resources(resources);
    await progress.step('record-provisioned', () => createSteps.recordProvisioned({ plantId, resources }));
    progress.status('active');
    return resources;
  } catch (error) {
    const reason = progress.failed(error);
    inbox.close(`its provision ended: ${reason}`);
    progress.status('failed');
    const leftovers = await saga.compensate();
    const cancelled = isCancellation(error) || cancelRequestedMeanwhile();
    const summary =
      (cancelled ? 'Provisioning was cancelled' : `Provisioning failed: ${reason}`) +
      (leftovers.length
        ? `. Rollback could NOT remove: ${leftovers.join('; ')}`
        : '. Everything created was rolled back');
    const recordFailed = () => removeSteps.recordFailed({ plantId, reason: summary });
    // A cancelled workflow's scope refuses new activities: outside it, or a plant whose provision
    // an operator cancelled stays 'provisioning' for good (and reconciliation never judges it).
    const recorded = cancelled ? CancellationScope.nonCancellable(recordFailed) : recordFailed();
    await recorded.catch(() => undefined);
    if (leftovers.length) throw ApplicationFailure.nonRetryable(summary, 'RollbackIncomplete');
    if (cancelled) throw isCancellation(error) ? error : cancelledFailure(summary);
    throw ApplicationFailure.nonRetryable(summary, 'ProvisioningFailed');
  }
}
