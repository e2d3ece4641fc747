import { ApplicationFailure } from '@temporalio/workflow';
import { thingNameFor } from '../iot/naming.js';
import { coordinationSteps, removeSteps } from './activity-options.js';
import type { DeprovisionPlantInput, DeprovisionResult } from './contract.js';
import { Progress } from './progress.js';
import { releaseCertificate } from './release-certificate.js';
import { messageOf } from './saga.js';
import { validDeprovisionInput } from './validation.js';

/**
 * Takes a plant's AWS IoT identity away. It discovers what exists (our records plus the thing's
 * principals in AWS) rather than trusting either alone, so it cleans a fully, partly or never
 * provisioned plant, and running it again is a successful no-op.
 */
export async function deprovisionPlant(input: DeprovisionPlantInput): Promise<DeprovisionResult> {
  const { plantId } = validDeprovisionInput(input);
  const progress = new Progress('deprovision', plantId, 'deprovisioning');
  const thingName = thingNameFor(plantId);
  const removed: string[] = [];

  try {
    // A provision still running is cancelled first; its own rollback runs before we go on.
    await progress.step('stop-provisioning', () => coordinationSteps.stopProvisioning({ plantId }));
    // A rotation must not re-attach or record a certificate while the plant is taken apart.
    await progress.step('stop-rotation', () => coordinationSteps.stopRotation({ plantId }));
    const stored = await progress.step('record-start', () => removeSteps.beginDeprovisioning({ plantId }));
    const principals = await progress.step('list-principals', () =>
      removeSteps.listThingPrincipals({ thingName }),
    );
    // The policy the certificates carry, from our record: the shared one is only detached (the
    // other plants keep it), the plant's own is deleted too.
    const policy = await progress.step('read-policy', () => removeSteps.recordedPolicy({ plantId }));
    const { policyName } = policy;

    await progress.step('delete-rule', () => removeSteps.removeTelemetryRoute({ plantId }));

    const released = new Set<string>();
    for (const { requestId, certificateId, certificateArn } of stored) {
      const certificate = certificateId && certificateArn ? { certificateId, certificateArn } : null;
      await progress.step(`release-certificate ${certificateId ?? requestId}`, () =>
        releaseCertificate({ requestId, thingName, policyName, certificate }),
      );
      if (certificateArn) released.add(certificateArn);
      if (certificateId) removed.push(`certificate ${certificateId}`);
    }
    // Certificates attached in AWS that our records do not know (attached by hand, say).
    for (const certificateArn of principals.filter((arn) => !released.has(arn) && arn.includes(':cert/'))) {
      const certificateId = certificateArn.slice(certificateArn.lastIndexOf('/') + 1);
      await progress.step(`release-certificate ${certificateId}`, () =>
        releaseCertificate({ thingName, policyName, certificate: { certificateId, certificateArn } }),
      );
      removed.push(`certificate ${certificateId}`);
    }

    await progress.step('delete-thing', () => removeSteps.deleteThing({ thingName }));
    removed.push(`thing ${thingName}`);
    if (!policy.shared) {
      await progress.step('delete-policy', () => removeSteps.deletePolicy({ policyName }));
      removed.push(`policy ${policyName}`);
    }
    await progress.step('record-deprovisioned', () => removeSteps.recordDeprovisioned({ plantId }));
    progress.status('deprovisioned');
    return { plantId, removed };
  } catch (error) {
    const reason =
      `Deprovisioning stopped at ${progress.currentStep() ?? 'start'}: ${progress.failed(error)}. ` +
      'Every step is idempotent: fix the cause and start deprovisionPlant again.';
    progress.status('failed');
    await removeSteps.recordFailed({ plantId, reason }).catch(() => undefined);
    throw ApplicationFailure.nonRetryable(reason, 'DeprovisioningFailed', { cause: messageOf(error) });
  }
}
