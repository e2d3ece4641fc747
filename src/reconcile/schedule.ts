import type { Client, ScheduleOptionsAction } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { upsertSchedule } from '../schedules/upsert-schedule.js';
import { TASK_QUEUE } from '../workflows/contract.js';
import {
  RECONCILE_SCHEDULE_ID,
  RECONCILE_WORKFLOW_ID,
  RECONCILE_WORKFLOW_TYPE,
  type ReconcileInput,
} from './types.js';

export interface ReconcileScheduleOptions {
  /** How often (Temporal duration, e.g. '1h', '15m'). Default one hour. */
  every?: Duration;
  /** Remove proven orphans on every run. Default false: report only. */
  remove?: boolean;
  taskQueue?: string;
  scheduleId?: string;
}

/**
 * Creates the reconcile Schedule, or brings an existing one to these options: safe to call on
 * every deployment. Runs never overlap (a slow reconciliation skips the next tick).
 */
export async function ensureReconcileSchedule(
  client: Client,
  options: ReconcileScheduleOptions = {},
): Promise<{ scheduleId: string; created: boolean }> {
  const scheduleId = options.scheduleId ?? RECONCILE_SCHEDULE_ID;
  const input: ReconcileInput = { remove: options.remove ?? false };
  const action: ScheduleOptionsAction = {
    type: 'startWorkflow',
    workflowType: RECONCILE_WORKFLOW_TYPE,
    workflowId: RECONCILE_WORKFLOW_ID,
    args: [input],
    taskQueue: options.taskQueue ?? TASK_QUEUE,
  };
  return upsertSchedule(client, scheduleId, { action, every: options.every ?? '1h', catchupWindow: '1m' });
}
