/**
 * The Temporal calls a request makes, each bounded by a deadline so that with Temporal down a
 * request fails with 503 instead of hanging.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Client, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import type { IotMode } from '../config/index.js';
import { DependencyUnavailableError, mapTemporalError, OperationFailedError } from './errors.js';
import { latestOperation, type OperationView } from './operations.js';

export interface WaitOptions {
  /** Wait for the workflow to finish, as callers of the synchronous API expect; default false: return once started. */
  wait?: boolean;
  /** While waiting: called with the operation's progress. */
  onProgress?: (operation: OperationView) => void;
  pollIntervalMs?: number;
}

export interface TemporalCallOptions {
  mode: IotMode;
  /** Deadline of each call, retries included. */
  rpcTimeoutMs: number;
  /** How long a status query may wait for a worker. */
  queryTimeoutMs?: number | undefined;
}

export type TemporalCalls = ReturnType<typeof temporalCalls>;

/** Runs Temporal calls under a deadline of `timeoutMs`; a failure becomes the service's error. */
export async function boundedTemporalCall<T>(
  client: Client,
  timeoutMs: number,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await client.connection.withDeadline(Date.now() + timeoutMs, run);
  } catch (error) {
    throw mapTemporalError(error);
  }
}

export function temporalCalls(temporal: Client, options: TemporalCallOptions) {
  const { mode, rpcTimeoutMs, queryTimeoutMs } = options;

  /** A bounded call (not for long polls such as result()). */
  const call = <T>(run: () => Promise<T>): Promise<T> => boundedTemporalCall(temporal, rpcTimeoutMs, run);

  async function operationOf(plantId: string): Promise<OperationView | null> {
    try {
      return await latestOperation(temporal, plantId, { queryTimeoutMs, rpcTimeoutMs });
    } catch (error) {
      // With IoT disabled Temporal is optional: the plant's record alone answers.
      if (mode === 'disabled' && error instanceof DependencyUnavailableError) return null;
      throw error;
    }
  }

  async function isRunning(workflowId: string): Promise<boolean> {
    try {
      const { status } = await temporal.connection.withDeadline(Date.now() + rpcTimeoutMs, () =>
        temporal.workflow.getHandle(workflowId).describe(),
      );
      return status.name === 'RUNNING';
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return false;
      throw mapTemporalError(error);
    }
  }

  /** The workflow's result; progress is reported from the plant's operation while it runs. */
  async function follow<T>(workflowId: string, plantId: string, wait: WaitOptions): Promise<T> {
    const result = (temporal.workflow.getHandle(workflowId).result() as Promise<T>).then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    for (;;) {
      const settled = await Promise.race([result, sleep(wait.pollIntervalMs ?? 500).then(() => null)]);
      if (settled) {
        if ('value' in settled) return settled.value;
        const { error } = settled;
        if (error instanceof WorkflowFailedError) {
          throw new OperationFailedError(`${workflowId} failed: ${error.cause?.message ?? error.message}`, {
            cause: error,
          });
        }
        throw error;
      }
      if (wait.onProgress) {
        const op = await operationOf(plantId).catch(() => null);
        if (op) wait.onProgress(op);
      }
    }
  }

  return { call, operationOf, isRunning, follow };
}
