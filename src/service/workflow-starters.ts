/**
 * The one way the product starts a workflow (startWorkflow), and the typed starters built on it
 * for provisioning, deprovisioning and their status. src/client.ts re-exports the starters.
 */
import {
  type Client,
  type WorkflowHandleWithFirstExecutionRunId,
  WorkflowNotFoundError,
  type WorkflowStartOptions,
} from '@temporalio/client';
import {
  type SearchAttributePair,
  type WithWorkflowArgs,
  type Workflow,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
} from '@temporalio/common';
import {
  type DeprovisionPlantInput,
  deprovisionWorkflowId,
  IotStatusSearchAttribute,
  type OperationStatus,
  type PlantCertificateMode,
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

/** What a start names; `args` as the workflow `W` takes them. */
export type WorkflowStart<W extends Workflow> = WithWorkflowArgs<
  W,
  {
    /** The workflow type, by name: the client does not load workflow code. */
    workflowType: string;
    /** Derived from what the workflow acts on (a plant, a backfill), so one runs per subject. */
    workflowId: string;
    taskQueue: string;
    /** Set at start, so the run is found in the Web UI (PlantId, IotStatus) before its first task. */
    searchAttributes?: SearchAttributePair[];
    /** Read back by describe(): a provision's certificate mode (runningProvisionMode). */
    memo?: Record<string, unknown>;
  }
>;

/**
 * Starts a workflow, or returns the run already open under its id: a second start while one runs
 * attaches to it instead of running twice (USE_EXISTING); a closed run's id may be started again
 * (ALLOW_DUPLICATE). An open run of another type under the id is refused (requireWorkflowType).
 * The client's data converter encrypts the arguments bound to this workflow id
 * (src/codec/payload-codec.ts), so they cannot be replayed into another workflow.
 */
export async function startWorkflow<W extends Workflow>(
  client: Client,
  start: WorkflowStart<W>,
): Promise<WorkflowHandleWithFirstExecutionRunId<W>> {
  const { workflowType, searchAttributes, ...options } = start;
  // WorkflowStart<W> holds `args` under the SDK's own constraint (WithWorkflowArgs); TypeScript
  // cannot resolve that conditional type for a generic W, hence the assertion.
  const handle = await client.workflow.start<W>(workflowType, {
    ...options,
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    ...(searchAttributes ? { typedSearchAttributes: searchAttributes } : {}),
  } as WorkflowStartOptions<W>);
  return requireWorkflowType(client, handle, workflowType);
}

/**
 * A start with USE_EXISTING returns the run already under the id, whatever its type: a workflow
 * of another type squatting a plant's id (started by anyone who reaches Temporal) would otherwise
 * be taken for the plant's operation. Refuses the mismatch; returns the handle otherwise.
 */
async function requireWorkflowType<H extends WorkflowHandleWithFirstExecutionRunId>(
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

/** Queue and search attributes of a plant operation: found by PlantId, IotStatus set to what it does. */
function plantOperationStart(
  plantId: string,
  iotStatus: 'provisioning' | 'deprovisioning',
  options: StartOptions,
): { taskQueue: string; searchAttributes: SearchAttributePair[] } {
  return {
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    searchAttributes: [
      { key: PlantIdSearchAttribute, value: plantId },
      { key: IotStatusSearchAttribute, value: iotStatus },
    ],
  };
}

/**
 * The certificate mode of the plant's provision that is running, or null when none runs. A run
 * without the memo (the backfill's, or one started past the service) makes its key here: server.
 */
async function runningProvisionMode(
  client: Client,
  plantId: string,
  runId?: string,
): Promise<PlantCertificateMode | null> {
  try {
    const run = await client.workflow.getHandle(provisionWorkflowId(plantId), runId).describe();
    if (run.status.name !== 'RUNNING') return null;
    return run.memo?.certificateMode === 'device-csr' ? 'device-csr' : 'server';
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return null;
    throw error;
  }
}

/**
 * Refuses (409 certificate_mode_conflict) when the plant's running provision makes its key in
 * another mode than `mode`: joining it would silently give the caller the other mode's key.
 */
export async function refuseOtherModeRunning(
  client: Client,
  plantId: string,
  mode: PlantCertificateMode,
  runId?: string,
): Promise<void> {
  const running = await runningProvisionMode(client, plantId, runId);
  if (running === null || running === mode) return;
  throw new ConflictError(
    'certificate_mode_conflict',
    `A provision of plant ${plantId} in certificate mode ${running} is running (workflow ${provisionWorkflowId(plantId)}); a provision in mode ${mode} would join it and get a key made ${running === 'server' ? 'here' : 'on the device'}. Wait for it to finish, or deprovision the plant, then provision it with certificateMode ${mode}`,
  );
}

/**
 * Starts provisioning of a plant, or returns the run already in progress: the workflow id is the
 * plant's, and a second start while one runs attaches to it instead of running twice, if that run
 * makes the key in the same certificate mode (refuseOtherModeRunning otherwise).
 */
export async function startProvisioning(
  client: Client,
  input: ProvisionPlantInput,
  options: StartOptions = {},
) {
  const mode = input.certificateMode ?? 'server';
  const handle = await startWorkflow<typeof provisionPlant>(client, {
    workflowType: 'provisionPlant',
    workflowId: provisionWorkflowId(input.plantId),
    args: [input],
    memo: { certificateMode: mode },
    ...plantOperationStart(input.plantId, 'provisioning', options),
  });
  await refuseOtherModeRunning(client, input.plantId, mode, handle.firstExecutionRunId);
  return handle;
}

/** Starts deprovisioning; a running provision of the same plant is cancelled and rolled back first. */
export async function startDeprovisioning(
  client: Client,
  input: DeprovisionPlantInput,
  options: StartOptions = {},
) {
  return startWorkflow<typeof deprovisionPlant>(client, {
    workflowType: 'deprovisionPlant',
    workflowId: deprovisionWorkflowId(input.plantId),
    args: [input],
    ...plantOperationStart(input.plantId, 'deprovisioning', options),
  });
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
