import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { deprovisionWorkflowId, provisionWorkflowId } from '../workflows/contract.js';

/** Rotation's id; must match rotateCertificateWorkflowId in src/workflows/rotate-certificate.ts. */
const rotationWorkflowId = (plantId: string) => `rotate-certificate-${plantId}`;

/**
 * The workflow id of an operation running on the plant (provision, deprovision, certificate
 * rotation), or null. While one runs, a plant legitimately has half-made, extra (a rotation's
 * grace period: two certificates) or half-removed resources: reconciliation leaves it alone.
 */
export async function runningOperation(temporal: Client, plantId: string): Promise<string | null> {
  for (const workflowId of [
    provisionWorkflowId(plantId),
    deprovisionWorkflowId(plantId),
    rotationWorkflowId(plantId),
  ]) {
    try {
      const { status } = await temporal.workflow.getHandle(workflowId).describe();
      if (status.name === 'RUNNING') return workflowId;
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
  }
  return null;
}
