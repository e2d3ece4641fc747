import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ApplicationFailure,
  ChildWorkflowFailure,
  continueAsNew,
  isCancellation,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
  WorkflowIdReusePolicy,
} from '@temporalio/workflow';
import type { BackfillActivities } from './activity-contracts/backfill.js';
import { readStepOptions } from './activity-options.js';
import {
  type BackfillInput,
  type BackfillProgress,
  type BackfillResult,
  type BackfillTotals,
  backfillProgressQuery,
  DEFAULT_BACKFILL_CONCURRENCY,
  DEFAULT_BACKFILL_PAGE_SIZE,
  MAX_BACKFILL_CONCURRENCY,
  MAX_BACKFILL_PAGE_SIZE,
  MAX_LISTED_FAILURES,
} from './backfill-contract.js';
import { IotStatusSearchAttribute, PlantIdSearchAttribute, provisionWorkflowId } from './contract.js';
import type { provisionPlant } from './provision-plant.js';

const reads = proxyActivities<BackfillActivities>(readStepOptions);

function boundedInt(value: unknown, fallback: number, max: number, name: string): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw ApplicationFailure.nonRetryable(`${name} must be a whole number from 1 to ${max}`, 'InvalidInput');
  }
  return value;
}

function reasonOf(error: unknown): string {
  const cause = error instanceof ChildWorkflowFailure ? (error.cause ?? error) : error;
  return cause instanceof Error ? cause.message : String(cause);
}

/**
 * Provisions every plant without IoT resources (IoT status disabled, pending or failed), a page
 * at a time in plant id order, `concurrency` provisions at once. Each plant is a provisionPlant
 * child with the plant's own workflow id, so a plant whose provision is already running is
 * never provisioned twice. A failed plant is listed with its reason and the run goes on. After
 * each page it continues as new with its cursor and totals, so its history stays small for any
 * fleet size and a crashed worker resumes where it stopped.
 */
export async function backfillPlants(input: BackfillInput = {}): Promise<BackfillResult> {
  const concurrency = boundedInt(
    input.concurrency,
    DEFAULT_BACKFILL_CONCURRENCY,
    MAX_BACKFILL_CONCURRENCY,
    'concurrency',
  );
  const pageSize = boundedInt(input.pageSize, DEFAULT_BACKFILL_PAGE_SIZE, MAX_BACKFILL_PAGE_SIZE, 'pageSize');
  const totals: BackfillTotals = input.totals ?? {
    done: 0,
    failed: 0,
    skipped: 0,
    failures: [],
    runs: 0,
    startedAt: new Date().toISOString(),
  };
  const cursor = input.cursor ?? null;
  const progress: BackfillProgress = { ...totals, remaining: 0, inFlight: 0, cursor, finished: false };
  setHandler(backfillProgressQuery, () => JSON.parse(JSON.stringify(progress)) as BackfillProgress);

  progress.remaining = await reads.countPlantsToBackfill({ afterId: cursor });
  const page = await reads.listPlantsToBackfill({ afterId: cursor, limit: pageSize });

  const fail = (plantId: string, reason: string) => {
    progress.failed += 1;
    if (progress.failures.length < MAX_LISTED_FAILURES) progress.failures.push({ plantId, reason });
  };

  const provisionOne = async ({ id: plantId, name: plantName }: { id: string; name: string }) => {
    progress.inFlight += 1;
    try {
      const child = await startChild<typeof provisionPlant>('provisionPlant', {
        args: [{ plantId, plantName }],
        workflowId: provisionWorkflowId(plantId),
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        // A terminated or cancelled backfill cancels its provisions, which then roll back cleanly.
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        typedSearchAttributes: [
          { key: PlantIdSearchAttribute, value: plantId },
          { key: IotStatusSearchAttribute, value: 'provisioning' },
        ],
      });
      await child.result();
      progress.done += 1;
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) progress.skipped += 1;
      else if (isCancellation(error)) throw error;
      else fail(plantId, reasonOf(error));
    } finally {
      progress.inFlight -= 1;
      progress.remaining = Math.max(0, progress.remaining - 1);
    }
  };

  const queue = [...page];
  await Promise.all(
    Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await provisionOne(next);
    }),
  );

  const last = page.at(-1);
  if (page.length === pageSize && last) {
    const { done, failed, skipped, failures, startedAt } = progress;
    return continueAsNew<typeof backfillPlants>({
      concurrency,
      pageSize,
      cursor: last.id,
      totals: { done, failed, skipped, failures, startedAt, runs: totals.runs + 1 },
    });
  }
  progress.finished = true;
  progress.runs = totals.runs + 1;
  const { done, failed, skipped, failures, runs, startedAt, finished } = progress;
  return { done, failed, skipped, failures, runs, startedAt, finished };
}
