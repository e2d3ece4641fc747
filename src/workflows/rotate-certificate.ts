import { type Duration, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time.js';
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  WorkflowIdReusePolicy,
  workflowInfo,
} from '@temporalio/workflow';
import { assertValidPlantId, InvalidPlantIdError } from '../iot/naming.js';
import {
  DEFAULT_GRACE_PERIOD,
  DEFAULT_MAX_CERTIFICATE_AGE_DAYS,
  DEFAULT_MAX_ROTATIONS_PER_RUN,
  endGracePeriodSignal,
  MAX_GRACE_PERIOD_MS,
  MAX_ROTATIONS_PER_RUN,
  type RotateCertificateInput,
  type RotateCertificateResult,
  type RotateExpiringInput,
  type RotateExpiringResult,
  type RotationStatus,
  rotateCertificateWorkflowId,
  rotationStatusQuery,
} from '../rotation/contract.js';
import type { RotationActivities } from './activity-contracts/rotation.js';
import { createSteps, readStepOptions } from './activity-options.js';
import { PlantIdSearchAttribute } from './contract.js';
import { releaseCertificate } from './release-certificate.js';
import { messageOf, Saga } from './saga.js';

const reads = proxyActivities<RotationActivities>(readStepOptions);

function invalid(message: string): never {
  throw ApplicationFailure.nonRetryable(message, 'InvalidInput');
}

function graceMs(value: unknown): number {
  if (value === undefined) return msToNumber(DEFAULT_GRACE_PERIOD);
  let ms: number;
  try {
    ms = msToNumber(value as Duration);
  } catch {
    invalid(`gracePeriod ${JSON.stringify(value)} is not a duration (e.g. "7d", "36h" or milliseconds)`);
  }
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_GRACE_PERIOD_MS) {
    invalid('gracePeriod must be between 0 and 365 days');
  }
  return ms;
}

/**
 * Gives an active plant a new certificate from a new key, lets old and new both work for a
 * grace period (a durable timer), then deactivates, detaches and deletes the old certificate and
 * destroys its stored key.
 *
 * Until the plant's record is switched to the new certificate, any failure or cancellation
 * removes the new certificate again (compensation registered before it is created, as in
 * provisioning). After the switch the new certificate stays. A cancellation during the grace
 * period (a deprovision stops rotations) leaves the old certificate for the deprovision to remove.
 */
export async function rotateCertificate(input: RotateCertificateInput): Promise<RotateCertificateResult> {
  if (!input || typeof input !== 'object') invalid('Expected one JSON object argument with a plantId');
  try {
    assertValidPlantId(input.plantId);
  } catch (error) {
    if (error instanceof InvalidPlantIdError) invalid(error.message);
    throw error;
  }
  const { plantId } = input;
  const gracePeriodMs = graceMs(input.gracePeriod);
  const status: RotationStatus = {
    plantId,
    phase: 'starting',
    previousCertificateId: null,
    certificateId: null,
    graceEndsAt: null,
    lastError: null,
  };
  let graceEnded = false;
  setHandler(rotationStatusQuery, () => ({ ...status }));
  setHandler(endGracePeriodSignal, () => {
    graceEnded = true;
  });
  upsertSearchAttributes([{ key: PlantIdSearchAttribute, value: plantId }]);

  const target = await createSteps.beginRotation({ plantId });
  const { thingName, policyName, current } = target;
  status.previousCertificateId = current.certificateId;
  // A new run makes a new key; activity retries of this run reuse the one it stored.
  const requestId = `${workflowInfo().workflowId}/${workflowInfo().runId}`;

  status.phase = 'issuing';
  const saga = new Saga();
  let issued: { certificateId: string; certificateArn: string };
  try {
    saga.add(`new certificate of request ${requestId}`, () =>
      releaseCertificate({ requestId, thingName, policyName }),
    );
    issued = await createSteps.createCertificate({ plantId, requestId });
    status.certificateId = issued.certificateId;
    await createSteps.attachPolicy({ policyName, certificateArn: issued.certificateArn });
    await createSteps.attachThingPrincipal({ thingName, certificateArn: issued.certificateArn });
    await createSteps.recordRotated({
      plantId,
      previousCertificateId: current.certificateId,
      certificate: issued,
    });
  } catch (error) {
    status.phase = 'failed';
    status.lastError = messageOf(error);
    const leftovers = await saga.compensate();
    const summary =
      (isCancellation(error) ? 'Rotation was cancelled' : `Rotation failed: ${status.lastError}`) +
      (leftovers.length
        ? `. Could NOT remove the new certificate: ${leftovers.join('; ')}`
        : `. The new certificate was removed; ${current.certificateId} is still the plant's certificate`);
    if (leftovers.length) throw ApplicationFailure.nonRetryable(summary, 'RollbackIncomplete');
    if (isCancellation(error)) throw error;
    throw ApplicationFailure.nonRetryable(summary, 'RotationFailed');
  }

  status.phase = 'grace-period';
  status.graceEndsAt = new Date(Date.now() + gracePeriodMs).toISOString();
  try {
    if (gracePeriodMs > 0) await condition(() => graceEnded, gracePeriodMs);
  } catch (error) {
    status.lastError = `cancelled in the grace period; old certificate ${current.certificateId} is still active`;
    throw error;
  }

  status.phase = 'retiring';
  // Once started, finish it: a half-retired certificate (inactive but attached) helps no one.
  await CancellationScope.nonCancellable(() =>
    releaseCertificate({
      ...(current.requestId ? { requestId: current.requestId } : {}),
      thingName,
      policyName,
      certificate: { certificateId: current.certificateId, certificateArn: current.certificateArn },
    }),
  );
  status.phase = 'done';
  return {
    plantId,
    previousCertificateId: current.certificateId,
    certificateId: issued.certificateId,
    certificateArn: issued.certificateArn,
  };
}

/**
 * Run by the rotation Schedule: starts a rotateCertificate child (workflow id from the plant id,
 * so a plant is never rotated twice at once) for at most `maxRotations` plants whose certificate
 * is older than `maxAgeDays`, oldest first. Children are abandoned, not awaited: their grace
 * periods last days, and the next scheduled run must not wait for them. A plant whose rotation
 * has switched is no longer old, so no run picks it again.
 */
export async function rotateExpiringCertificates(
  input: RotateExpiringInput = {},
): Promise<RotateExpiringResult> {
  const maxAgeDays = input.maxAgeDays ?? DEFAULT_MAX_CERTIFICATE_AGE_DAYS;
  if (!Number.isInteger(maxAgeDays) || maxAgeDays < 1 || maxAgeDays > 3650) {
    invalid('maxAgeDays must be a whole number from 1 to 3650');
  }
  const maxRotations = input.maxRotations ?? DEFAULT_MAX_ROTATIONS_PER_RUN;
  if (!Number.isInteger(maxRotations) || maxRotations < 1 || maxRotations > MAX_ROTATIONS_PER_RUN) {
    invalid(`maxRotations must be a whole number from 1 to ${MAX_ROTATIONS_PER_RUN}`);
  }
  graceMs(input.gracePeriod);
  const { activatedBefore, due } = await reads.listCertificatesToRotate({ maxAgeDays, limit: maxRotations });
  const result: RotateExpiringResult = { activatedBefore, started: [], alreadyRunning: [] };
  for (const { plantId } of due) {
    try {
      await startChild(rotateCertificate, {
        workflowId: rotateCertificateWorkflowId(plantId),
        args: [{ plantId, ...(input.gracePeriod !== undefined ? { gracePeriod: input.gracePeriod } : {}) }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        typedSearchAttributes: [{ key: PlantIdSearchAttribute, value: plantId }],
      });
      result.started.push(plantId);
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) result.alreadyRunning.push(plantId);
      else throw error;
    }
  }
  return result;
}
