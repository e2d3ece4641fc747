/**
 * The backfill's contract with clients (CLI, API, library): input, progress query and result.
 * Types and Temporal definitions only, like contract.ts, so the client can import it.
 */
import { defineQuery } from '@temporalio/workflow';
import type { IotStatus } from '../db/schema.js';

/** Plants without IoT resources that a backfill provisions. */
export const BACKFILL_STATUSES = ['disabled', 'pending', 'failed'] as const satisfies readonly IotStatus[];

export const DEFAULT_BACKFILL_CONCURRENCY = 5;
export const MAX_BACKFILL_CONCURRENCY = 50;
export const DEFAULT_BACKFILL_PAGE_SIZE = 100;
export const MAX_BACKFILL_PAGE_SIZE = 1000;
/** Failures listed by plant in the progress and result; beyond it only the count grows. */
export const MAX_LISTED_FAILURES = 200;

/** One backfill per namespace by default: a second start attaches to the running one. */
export const BACKFILL_WORKFLOW_ID = 'backfill-plants';

export interface BackfillFailure {
  plantId: string;
  reason: string;
}

/** Carried from run to run through continue-as-new. */
export interface BackfillTotals {
  done: number;
  failed: number;
  /** A provision of the plant was already running (started by the API, say): not started twice. */
  skipped: number;
  failures: BackfillFailure[];
  /** Runs before this one (continue-as-new count). */
  runs: number;
  startedAt: string;
}

export interface BackfillInput {
  /** Provisions running at once; bounded so a fleet backfill stays under the AWS IoT quotas. */
  concurrency?: number;
  /** Plants read per page; the workflow continues as new after each page. */
  pageSize?: number;
  /** Internal: where the previous run stopped (plants are visited in plant id order). */
  cursor?: string | null;
  /** Internal: totals of the previous runs. */
  totals?: BackfillTotals;
}

export interface BackfillProgress extends BackfillTotals {
  /** Still to visit: counted at the start of each run, decremented as plants finish. */
  remaining: number;
  inFlight: number;
  cursor: string | null;
  finished: boolean;
}

export type BackfillResult = Omit<BackfillProgress, 'inFlight' | 'remaining' | 'cursor'>;

export const backfillProgressQuery = defineQuery<BackfillProgress>('backfillProgress');
