import type { Client } from '@temporalio/client';
import type { ActivityDeps } from '../activities/deps.js';
import { createActivities } from '../activities/index.js';
import { confirmRemoval, executePlan } from './remove.js';
import { buildDriftReport } from './report.js';
import type { ReconcileResult } from './types.js';

export { plantIdOfPolicy, plantIdOfRule, plantIdOfThing } from './names.js';
export { confirmRemoval, executePlan } from './remove.js';
export { buildDriftReport } from './report.js';
export { ensureReconcileSchedule, type ReconcileScheduleOptions } from './schedule.js';
export * from './types.js';

/**
 * Reconciliation in this process (the CLI): the report, and with `remove` the removal of the
 * orphans proven ours followed by a second report. Removal needs Temporal, to make sure no
 * provision or deprovision of a plant is running when its orphans go.
 */
export async function reconcileNow(
  deps: Omit<ActivityDeps, 'temporal'> & { temporal?: Client | undefined },
  options: { remove?: boolean; stepDeadlineMs?: number } = {},
): Promise<ReconcileResult> {
  const { report, plan } = await buildDriftReport(deps);
  if (!options.remove) return { report, removed: [], skipped: [], failed: [] };
  const { temporal } = deps;
  if (!temporal)
    throw new Error('Removing orphans needs Temporal, to check that no operation of the plant is running');
  const activities = createActivities({ ...deps, temporal });
  const outcome = await executePlan(
    plan,
    { activities, confirm: (group) => confirmRemoval({ db: deps.db, temporal }, group) },
    options.stepDeadlineMs === undefined ? {} : { stepDeadlineMs: options.stepDeadlineMs },
  );
  const after = (await buildDriftReport(deps)).report;
  return { report, ...outcome, after };
}
