/** What Temporal knows about a plant's latest provision or deprovision. */
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import {
  type DeprovisionResult,
  deprovisionWorkflowId,
  provisionWorkflowId,
  statusQuery,
} from '../workflows/contract.js';
import { mapTemporalError } from './errors.js';

export const OPERATION_STATES = [
  'running',
  'completed',
  'failed',
  'cancelled',
  'terminated',
  'timed_out',
  'continued_as_new',
  'unknown',
] as const;
export type OperationState = (typeof OPERATION_STATES)[number];

export interface OperationView {
  kind: 'provision' | 'deprovision';
  workflowId: string;
  runId: string;
  state: OperationState;
  startedAt: string;
  closedAt: string | null;
  /** The step running now (running operations only; null when the worker did not answer). */
  currentStep: string | null;
  stepsDone: string[];
  lastError: string | null;
  /** A completed deprovision: what it removed (its result); absent when that cannot be read. */
  removed?: string[];
}

function stateOf(name: string): OperationState {
  const lower = name.toLowerCase();
  return (OPERATION_STATES as readonly string[]).includes(lower) ? (lower as OperationState) : 'unknown';
}

/**
 * The newest operation of the plant, or null if none was ever started. The step comes from the
 * workflow's `status` query, asked only of a running workflow (a closed one would need a worker
 * to replay it) and with a deadline, so a stopped worker never hangs the caller.
 */
export async function latestOperation(
  client: Client,
  plantId: string,
  timeouts: { queryTimeoutMs?: number | undefined; rpcTimeoutMs?: number | undefined } = {},
): Promise<OperationView | null> {
  const queryTimeoutMs = timeouts.queryTimeoutMs ?? 3_000;
  const rpcTimeoutMs = timeouts.rpcTimeoutMs ?? 10_000;
  try {
    const described = await Promise.all(
      (
        [
          ['provision', provisionWorkflowId(plantId), 'provisionPlant'],
          ['deprovision', deprovisionWorkflowId(plantId), 'deprovisionPlant'],
        ] as const
      ).map(async ([kind, workflowId, workflowType]) => {
        const handle = client.workflow.getHandle(workflowId);
        try {
          const description = await client.connection.withDeadline(Date.now() + rpcTimeoutMs, () =>
            handle.describe(),
          );
          // Another type under the plant's id is not the plant's operation (see requireWorkflowType).
          return description.type === workflowType ? { kind, handle, description } : null;
        } catch (error) {
          if (error instanceof WorkflowNotFoundError) return null;
          throw error;
        }
      }),
    );
    const latest = described
      .filter((d) => d !== null)
      .sort((a, b) => b.description.startTime.getTime() - a.description.startTime.getTime())[0];
    if (!latest) return null;
    const { kind, handle, description } = latest;
    const view: OperationView = {
      kind,
      workflowId: description.workflowId,
      runId: description.runId,
      state: stateOf(description.status.name),
      startedAt: description.startTime.toISOString(),
      closedAt: description.closeTime?.toISOString() ?? null,
      currentStep: null,
      stepsDone: [],
      lastError: null,
    };
    if (view.state === 'completed' && kind === 'deprovision') {
      // The close event only (no worker needed); decoded with this client's payload keys.
      try {
        const result = (await client.connection.withDeadline(Date.now() + rpcTimeoutMs, () =>
          client.workflow.getHandle(view.workflowId, view.runId, { followRuns: false }).result(),
        )) as DeprovisionResult | undefined;
        if (Array.isArray(result?.removed)) view.removed = result.removed;
      } catch {
        // A result under a payload key this process no longer holds: the rest is still true.
      }
    }
    if (view.state === 'running') {
      try {
        const status = await client.connection.withDeadline(Date.now() + queryTimeoutMs, () =>
          handle.query(statusQuery),
        );
        view.currentStep = status.currentStep;
        view.stepsDone = status.stepsDone;
        view.lastError = status.lastError;
      } catch {
        // No worker answered in time: the state from describe() is still true.
      }
    }
    return view;
  } catch (error) {
    throw mapTemporalError(error);
  }
}
