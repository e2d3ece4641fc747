import type { Client } from '@temporalio/client';
import { type Duration, WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import { requireWorkflowType } from '../service/workflow-starters.js';
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
  const handle = await client.workflow.start<typeof rotateCertificate>('rotateCertificate', {
    args: [input],
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    workflowId: rotateCertificateWorkflowId(input.plantId),
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    typedSearchAttributes: [{ key: PlantIdSearchAttribute, value: input.plantId }],
  });
  return requireWorkflowType(client, handle, 'rotateCertificate');
}
