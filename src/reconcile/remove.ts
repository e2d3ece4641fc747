/**
 * Removing the orphans of a plan: a last check that nothing changed for the plant since the
 * report and no provision, deprovision or rotation running, then the existing idempotent
 * activities in the plan's order (the same order as releaseCertificate and deprovisionPlant:
 * deactivate, detach policy, detach thing and wait, delete; then rule, thing, policy).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { plants } from '../db/schema.js';
import { isRetryableAwsError } from '../iot/aws-errors.js';
import type { Confirmation } from '../workflows/activity-contracts/reconcile.js';
import { runningOperation } from './operations.js';
import { type RemovalActivities, runStep } from './steps.js';
import type { RemovalGroup, RemovalOutcome } from './types.js';

/**
 * True only if the plant's status is still the one the plan was made for, and no provision or
 * deprovision of it is running. A provision that starts after this check and before the removal
 * finishes can fail (its resources vanish under it) and roll back; it cannot leak anything.
 */
export async function confirmRemoval(
  deps: { db: Db; temporal: Client },
  group: Pick<RemovalGroup, 'plantId' | 'plantStatus'>,
): Promise<Confirmation> {
  const [row] = await deps.db
    .select({ iotStatus: plants.iotStatus })
    .from(plants)
    .where(eq(plants.id, group.plantId));
  const status = row?.iotStatus ?? 'unknown';
  if (status !== group.plantStatus) {
    return {
      confirmed: false,
      reason: `plant status changed from ${group.plantStatus} to ${status} since the report`,
    };
  }
  if (status === 'provisioning' || status === 'awaiting-csr' || status === 'deprovisioning')
    return { confirmed: false, reason: `plant is ${status}` };
  const running = await runningOperation(deps.temporal, group.plantId);
  if (running) return { confirmed: false, reason: `workflow ${running} is running` };
  return { confirmed: true, reason: 'unchanged since the report, no operation running' };
}

function retryable(error: unknown): boolean {
  if (error instanceof ApplicationFailure) return !error.nonRetryable;
  return isRetryableAwsError(error);
}

/**
 * Runs a plan in this process (the CLI; the reconcile workflow runs the same steps as Temporal
 * activities). Each step is retried with backoff for up to `stepDeadlineMs` while it fails
 * retryably (throttling, DeleteConflict after a detach, a detach still propagating).
 */
export async function executePlan(
  plan: RemovalGroup[],
  deps: { activities: RemovalActivities; confirm: (group: RemovalGroup) => Promise<Confirmation> },
  options: { stepDeadlineMs?: number } = {},
): Promise<RemovalOutcome> {
  const deadline = options.stepDeadlineMs ?? 120_000;
  const outcome: RemovalOutcome = { removed: [], skipped: [], failed: [] };
  for (const group of plan) {
    const check = await deps.confirm(group);
    if (!check.confirmed) {
      outcome.skipped.push({ plantId: group.plantId, reason: check.reason });
      continue;
    }
    try {
      for (const step of group.steps) {
        const started = Date.now();
        for (let attempt = 1; ; attempt++) {
          try {
            await runStep(deps.activities, step);
            break;
          } catch (error) {
            if (!retryable(error) || Date.now() - started > deadline) throw error;
            await sleep(Math.min(250 * 2 ** attempt, 10_000));
          }
        }
      }
      outcome.removed.push(...group.resources);
    } catch (error) {
      outcome.failed.push({ plantId: group.plantId, reason: (error as Error).message });
    }
  }
  return outcome;
}
