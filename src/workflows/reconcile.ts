import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import { type RemovalActivities, runStep } from '../reconcile/steps.js';
import type { ReconcileInput, ReconcileResult, RemovalOutcome } from '../reconcile/types.js';
import type { ReconcileActivities } from './activity-contracts/reconcile.js';

/** The report lists all of AWS IoT under our naming: long, heartbeating, retried a few times. */
const reads = proxyActivities<ReconcileActivities>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '1m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '2m', maximumAttempts: 5 },
});

/**
 * The sagas' own idempotent removal activities, with a shorter budget than a deprovision's: an
 * orphan that cannot go within 15 minutes is reported as failed, and the next run tries again.
 */
const removals = proxyActivities<RemovalActivities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '15m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

function messageOf(error: unknown): string {
  let current = error as { message?: string; cause?: unknown } | undefined;
  while (current?.cause && typeof current.cause === 'object') current = current.cause as typeof current;
  return current?.message ?? String(error);
}

/**
 * Compares PostgreSQL with AWS IoT and reports drift (orphans, missing resources, unattached
 * certificates). With `remove`, deletes the orphans our naming and stored records prove ours, one
 * plant at a time, each after a last check that the plant has not changed and no operation of it
 * is running; then reports again. Run on a Temporal Schedule (see ensureReconcileSchedule).
 */
export async function reconcile(input: ReconcileInput = {}): Promise<ReconcileResult> {
  if (input === null || typeof input !== 'object') {
    throw ApplicationFailure.nonRetryable(
      'Expected one JSON object argument, e.g. { "remove": false }',
      'InvalidInput',
    );
  }
  const { report, plan } = await reads.reconcileReport();
  if (!input.remove) return { report, removed: [], skipped: [], failed: [] };

  const outcome: RemovalOutcome = { removed: [], skipped: [], failed: [] };
  for (const group of plan) {
    const check = await reads.confirmRemoval({ plantId: group.plantId, plantStatus: group.plantStatus });
    if (!check.confirmed) {
      outcome.skipped.push({ plantId: group.plantId, reason: check.reason });
      continue;
    }
    try {
      for (const step of group.steps) await runStep(removals, step);
      outcome.removed.push(...group.resources);
    } catch (error) {
      outcome.failed.push({ plantId: group.plantId, reason: messageOf(error) });
    }
  }
  const after = (await reads.reconcileReport()).report;
  return { report, ...outcome, after };
}
