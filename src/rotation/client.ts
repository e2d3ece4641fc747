import type { Client } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { startWorkflow } from '../service/workflow-starters.js';
import { PlantIdSearchAttribute, TASK_QUEUE } from '../workflows/contract.js';
import type { rotateCertificate } from '../workflows/rotate-certificate.js';
import { rotateCertificateWorkflowId } from './contract.js';

/**
 * Starts rotating a plant's certificate, or returns the rotation already running: one rotation
 * per plant at a time (workflow id from the plant id). A running workflow of another type under
 * that id is refused (workflow_id_in_use), never taken for the rotation.
 */
export async function startRotation(
  client: Client,
  input: { plantId: string; gracePeriod?: Duration },
  options: { taskQueue?: string } = {},
) {
  return startWorkflow<typeof rotateCertificate>(client, {
    workflowType: 'rotateCertificate',
    workflowId: rotateCertificateWorkflowId(input.plantId),
    args: [input],
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    searchAttributes: [{ key: PlantIdSearchAttribute, value: input.plantId }],
  });
}
