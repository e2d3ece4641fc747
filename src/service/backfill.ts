/** Starting and following the backfillPlants workflow. */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Client, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import {
  BACKFILL_WORKFLOW_ID,
  type BackfillProgress,
  type BackfillResult,
  backfillProgressQuery,
  MAX_BACKFILL_CONCURRENCY,
  MAX_BACKFILL_PAGE_SIZE,
} from '../workflows/backfill-contract.js';
import type { backfillPlants } from '../workflows/index.js';
import { InvalidInputError, mapTemporalError, OperationFailedError } from './errors.js';
import { boundedTemporalCall } from './temporal-calls.js';
import { startWorkflow } from './workflow-starters.js';

export interface BackfillOptions {
  /** Provisions at once (1 to 50, default 5). */
  concurrency?: number;
  /** Plants per page / per workflow run (1 to 1000, default 100). */
  pageSize?: number;
  /**
   * Default `backfill-plants`: one backfill per namespace; starting again attaches to it. Another
   * id runs under `backfill-<id>` (see backfillWorkflowId).
   */
  workflowId?: string;
}

export interface BackfillHandleInfo {
  workflowId: string;
  runId: string;
}

export interface FollowOptions {
  onProgress?: (progress: BackfillProgress) => void;
  pollIntervalMs?: number;
}

const BACKFILL_ID_PREFIX = 'backfill-';
const CALLER_ID = /^[A-Za-z0-9_.-]{1,200}$/;

/**
 * The workflow id of a caller's backfill: always under `backfill-`, so a caller can never choose
 * a plant's `provision-plant-<id>` / `deprovision-plant-<id>` (or any other workflow's) id. An id
 * that already has the prefix (the default, or what a start answered) is used as is.
 */
export function backfillWorkflowId(callerId: string = BACKFILL_WORKFLOW_ID): string {
  if (!CALLER_ID.test(callerId)) {
    throw new InvalidInputError(
      `workflowId ${JSON.stringify(callerId.slice(0, 80))} is invalid: use 1 to 200 letters, digits, ".", "_" or "-"`,
    );
  }
  return callerId.startsWith(BACKFILL_ID_PREFIX) ? callerId : `${BACKFILL_ID_PREFIX}${callerId}`;
}

function checkBound(value: number | undefined, max: number, name: string) {
  if (value !== undefined && (!Number.isInteger(value) || value < 1 || value > max)) {
    throw new InvalidInputError(`${name} must be a whole number from 1 to ${max}`);
  }
}

export function backfillClient(client: Client, taskQueue: string, rpcTimeoutMs = 10_000) {
  const temporal = <T>(run: () => Promise<T>): Promise<T> => boundedTemporalCall(client, rpcTimeoutMs, run);

  async function progressOf(workflowId: string): Promise<BackfillProgress | null> {
    try {
      return await client.connection.withDeadline(Date.now() + 5_000, () =>
        client.workflow.getHandle(workflowId).query(backfillProgressQuery),
      );
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return null;
      throw mapTemporalError(error);
    }
  }

  return {
    async start(options: BackfillOptions = {}): Promise<BackfillHandleInfo> {
      checkBound(options.concurrency, MAX_BACKFILL_CONCURRENCY, 'concurrency');
      checkBound(options.pageSize, MAX_BACKFILL_PAGE_SIZE, 'pageSize');
      const workflowId = backfillWorkflowId(options.workflowId);
      const handle = await temporal(() =>
        startWorkflow<typeof backfillPlants>(client, {
          workflowType: 'backfillPlants',
          workflowId,
          args: [{ concurrency: options.concurrency, pageSize: options.pageSize }],
          taskQueue,
        }),
      );
      return { workflowId, runId: handle.firstExecutionRunId };
    },

    /** The latest run's progress, or null if no backfill with this id ever ran. */
    progress(workflowId: string = BACKFILL_WORKFLOW_ID): Promise<BackfillProgress | null> {
      return progressOf(backfillWorkflowId(workflowId));
    },

    /** Waits for the backfill (across its continue-as-new runs), reporting progress meanwhile. */
    async wait(
      callerId: string = BACKFILL_WORKFLOW_ID,
      options: FollowOptions = {},
    ): Promise<BackfillResult> {
      const workflowId = backfillWorkflowId(callerId);
      const handle = client.workflow.getHandle<typeof backfillPlants>(workflowId);
      const result = handle.result().then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      for (;;) {
        const settled = await Promise.race([result, sleep(options.pollIntervalMs ?? 1_000).then(() => null)]);
        if (settled) {
          if ('value' in settled) return settled.value;
          const { error } = settled;
          if (error instanceof WorkflowFailedError) {
            throw new OperationFailedError(
              `Backfill ${workflowId} failed: ${error.cause?.message ?? error.message}`,
              { cause: error },
            );
          }
          throw mapTemporalError(error);
        }
        if (options.onProgress) {
          // Between two runs the query can miss; the next poll catches up.
          const p = await progressOf(workflowId).catch(() => null);
          if (p) options.onProgress(p);
        }
      }
    },
  };
}
