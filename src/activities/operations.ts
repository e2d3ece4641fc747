import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { rotateCertificateWorkflowId } from '../rotation/contract.js';
import type { OperationActivities } from '../workflows/activity-contracts/operations.js';
import { deprovisionWorkflowId, provisionWorkflowId } from '../workflows/contract.js';
import type { ActivityDeps } from './deps.js';

/**
 * One plant never has a provision and a deprovision running at once. These activities talk to
 * Temporal itself: a workflow cannot wait for the result of a workflow it did not start.
 */
export function operationActivities({
  temporal,
  settings,
}: Pick<ActivityDeps, 'temporal' | 'settings'>): OperationActivities {
  /**
   * Waits for a workflow to close, heartbeating so a dead worker is noticed; false if none ran.
   * A run of another type under the id (squatted by anyone who reaches Temporal) is not the
   * operation looked for: it is neither cancelled nor waited for (it may never end).
   */
  async function waitForClose(
    workflowId: string,
    workflowType: string,
    cancelFirst: boolean,
  ): Promise<boolean> {
    const handle = temporal.workflow.getHandle(workflowId);
    try {
      const { status, type } = await handle.describe();
      if (status.name !== 'RUNNING' || type !== workflowType) return false;
      if (cancelFirst) await handle.cancel();
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return false;
      throw error;
    }
    const ctx = Context.current();
    const beat = setInterval(() => ctx.heartbeat(), settings.pollIntervalMs ?? 2_000);
    try {
      await Promise.race([handle.result().catch(() => undefined), ctx.cancelled]);
    } finally {
      clearInterval(beat);
    }
    return true;
  }

  return {
    /** Cancels a running provision of the plant and waits until its compensations have run. */
    async stopProvisioning({ plantId }: { plantId: string }): Promise<boolean> {
      return waitForClose(provisionWorkflowId(plantId), 'provisionPlant', true);
    },

    /**
     * For deprovisioning: cancels a running rotation of the plant and waits until it has closed
     * (a rotation before its switch removes its new certificate; one in its grace period leaves
     * both certificates, which the deprovision then removes). False if none was running.
     */
    async stopRotation({ plantId }: { plantId: string }): Promise<boolean> {
      return waitForClose(rotateCertificateWorkflowId(plantId), 'rotateCertificate', true);
    },

    /** A provision started while the plant is being deprovisioned waits for that to finish. */
    async waitForDeprovisioning({ plantId }: { plantId: string }): Promise<boolean> {
      return waitForClose(deprovisionWorkflowId(plantId), 'deprovisionPlant', false);
    },
  };
}
