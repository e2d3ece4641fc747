/**
 * Typed starters for the provisioning workflows and their status (moved here unchanged from
 * src/client.ts, which re-exports them, so the library API can use them without an import cycle).
 */
import {
  type Client,
  type WorkflowHandleWithFirstExecutionRunId,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import {
  type DeprovisionPlantInput,
  deprovisionWorkflowId,
  IotStatusSearchAttribute,
  type OperationStatus,
  PlantIdSearchAttribute,
  type ProvisionPlantInput,
  provisionWorkflowId,
  statusQuery,
  TASK_QUEUE,
} from '../workflows/contract.js';
import type { deprovisionPlant, provisionPlant } from '../workflows/index.js';
import { ConflictError } from './errors.js';

export interface StartOptions {
  taskQueue?: string;
}

/**
 * A start with USE_EXISTING returns the run already under the id, whatever its type: a workflow
 * of another type squatting a plant's id (started by anyone who reaches Temporal) would otherwise
 * be taken for the plant's operation. Refuses the mismatch; returns the handle otherwise.
 */
export async function requireWorkflowType<H extends WorkflowHandleWithFirstExecutionRunId>(
  client: Client,
  handle: H,
  workflowType: string,
): Promise<H> {
  const running = await client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).describe();
  if (running.type !== workflowType) {
    throw new ConflictError(
      'workflow_id_in_use',
      `Workflow id ${handle.workflowId} is held by a running ${running.type} workflow (run ${running.runId}), not ${workflowType}; nothing was started. Find out who started it; terminate it (temporal workflow terminate --workflow-id ${handle.workflowId}) and retry`,
    );
  }
  return handle;
}

/**
 * Starts provisioning of a plant, or returns the run already in progress: the workflow id is the
 * plant's, and a second start while one runs attaches to it instead of running twice.
 */
export async function startProvisioning(
  client: Client,
  input: ProvisionPlantInput,
  options: StartOptions = {},
) {
  const handle = await client.workflow.start<typeof provisionPlant>('provisionPlant', {
    args: [input],
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    workflowId: provisionWorkflowId(input.plantId),
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    typedSearchAttributes: [
      { key: PlantIdSearchAttribute, value: input.plantId },
      { key: IotStatusSearchAttribute, value: 'provisioning' },
    ],
  });
  return requireWorkflowType(client, handle, 'provisionPlant');
}

/** Starts deprovisioning; a running provision of the same plant is cancelled and rolled back first. */
export async function startDeprovisioning(
  client: Client,
  input: DeprovisionPlantInput,
  options: StartOptions = {},
) {
  const handle = await client.workflow.start<typeof deprovisionPlant>('deprovisionPlant', {
    args: [input],
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    workflowId: deprovisionWorkflowId(input.plantId),
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    typedSearchAttributes: [
      { key: PlantIdSearchAttribute, value: input.plantId },
      { key: IotStatusSearchAttribute, value: 'deprovisioning' },
    ],
  });
  return requireWorkflowType(client, handle, 'deprovisionPlant');
}

/**
 * The latest operation's status for a plant (deprovision wins over provision when both exist and
 * the deprovision is newer), or null when no operation was ever started.
 */
export async function getOperationStatus(client: Client, plantId: string): Promise<OperationStatus | null> {
  const candidates = await Promise.all(
    (
      [
        [provisionWorkflowId(plantId), 'provisionPlant'],
        [deprovisionWorkflowId(plantId), 'deprovisionPlant'],
      ] as const
    ).map(async ([workflowId, workflowType]) => {
      const handle = client.workflow.getHandle(workflowId);
      try {
        const description = await handle.describe();
        if (description.type !== workflowType) return null;
        return { handle, startTime: description.startTime.getTime() };
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return null;
        throw error;
      }
    }),
  );
  const latest = candidates.filter((c) => c !== null).sort((a, b) => b.startTime - a.startTime)[0];
  return latest ? latest.handle.query(statusQuery) : null;
}
