import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';

const backoff = { initialInterval: '1s', backoffCoefficient: 2 } as const;

/**
 * Steps that create resources. Transient AWS failures (throttling, 5xx, resets) are retried with
 * backoff; a step that still fails after 30 minutes rolls the provision back instead of leaving a
 * half-made plant waiting forever.
 */
export const createSteps = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  // On cancellation, wait for a call in flight to finish: compensating while it still runs would
  // undo first and let it create afterwards, leaving an orphan.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  scheduleToCloseTimeout: '30m',
  retry: { ...backoff, maximumInterval: '30s' },
});

/**
 * Steps that remove resources, in rollbacks and deprovisions. They must eventually succeed, and
 * AWS can refuse a policy delete for minutes after a detach, so they keep trying for hours.
 */
export const removeSteps = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '6h',
  retry: { ...backoff, maximumInterval: '2m' },
});

/** Waiting for another operation on the same plant: long, but heartbeating. */
export const coordinationSteps = proxyActivities<Activities>({
  startToCloseTimeout: '2h',
  heartbeatTimeout: '30s',
  retry: { ...backoff, maximumInterval: '30s' },
});
