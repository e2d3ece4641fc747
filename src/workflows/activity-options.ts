import {
  ActivityCancellationType,
  type ActivityInterfaceFor,
  type ActivityOptions,
  proxyActivities,
  proxyLocalActivities,
  workflowInfo,
} from '@temporalio/workflow';
import { quotaOfActivity, quotaTaskQueue } from '../quotas/classes.js';
import type { CertificateActivities } from './activity-contracts/certificates.js';
import type { OperationActivities } from './activity-contracts/operations.js';
import type { PlantRecordActivities } from './activity-contracts/plant-records.js';
import type { PolicyActivities } from './activity-contracts/policies.js';
import type { RotationActivities } from './activity-contracts/rotation.js';
import type { TelemetryRuleActivities } from './activity-contracts/telemetry-rules.js';
import type { ThingActivities } from './activity-contracts/things.js';

/** What makes and removes a plant's IoT identity: provisioning, deprovisioning and rotation. */
type IdentityActivities = ThingActivities &
  CertificateActivities &
  PolicyActivities &
  TelemetryRuleActivities &
  PlantRecordActivities;

const backoff = { initialInterval: '1s', backoffCoefficient: 2 } as const;

/**
 * Like proxyActivities, but an activity that spends an AWS request-rate quota (src/quotas) is
 * scheduled on its quota's task queue, derived from this workflow's queue. The workers of that
 * queue poll with maxTaskQueueActivitiesPerSecond, so the Temporal server paces the whole fleet.
 */
function quotaRoutedActivities<A>(options: ActivityOptions): ActivityInterfaceFor<A> {
  const onWorkflowQueue = proxyActivities<A>(options);
  return new Proxy(onWorkflowQueue, {
    get(target, name, receiver) {
      const quota = typeof name === 'string' ? quotaOfActivity(name) : undefined;
      if (!quota || typeof name !== 'string') return Reflect.get(target, name, receiver);
      return (...args: unknown[]) => {
        const taskQueue = quotaTaskQueue(workflowInfo().taskQueue, quota);
        const routed = proxyActivities<Record<string, (...a: unknown[]) => Promise<unknown>>>({
          ...options,
          taskQueue,
        });
        return (routed[name] as (...a: unknown[]) => Promise<unknown>)(...args);
      };
    },
  });
}

/**
 * Steps that create resources. Transient AWS failures (throttling, 5xx, resets) are retried with
 * backoff; a step that still fails after 30 minutes rolls the provision back instead of leaving a
 * half-made plant waiting forever.
 */
export const createSteps = quotaRoutedActivities<IdentityActivities & RotationActivities>({
  startToCloseTimeout: '30s',
  // On cancellation, wait for a call in flight to finish: compensating while it still runs would
  // undo first and let it create afterwards, leaving an orphan.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  scheduleToCloseTimeout: '30m',
  retry: { ...backoff, maximumInterval: '30s' },
});

/**
 * Provisioning steps that normally make no external call (plantPolicy checks the shared policy
 * at most once a minute per worker). As local activities they run in the workflow's own worker,
 * which spares each a task-queue round trip and a workflow task (docs/performance.md). Still one
 * activity per step, with createSteps' timeouts and retries; none spends a rate quota. A step
 * that may wait on AWS does not belong here: a local activity holds the workflow task, and the
 * status query with it, while it runs.
 */
export const localCreateSteps = proxyLocalActivities<PolicyActivities & TelemetryRuleActivities>({
  startToCloseTimeout: '30s',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  scheduleToCloseTimeout: '30m',
  retry: { ...backoff, maximumInterval: '30s' },
});

/**
 * Steps that remove resources, in rollbacks and deprovisions. They must eventually succeed, and
 * AWS can refuse a policy delete for minutes after a detach, so they keep trying for hours.
 */
export const removeSteps = quotaRoutedActivities<IdentityActivities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '6h',
  retry: { ...backoff, maximumInterval: '2m' },
});

/**
 * Reads (records, AWS descriptions): short, retried with backoff and no deadline of their own, so
 * a read waits out an outage; the calling workflow decides how long it is willing to wait.
 */
export const readStepOptions: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { ...backoff, maximumInterval: '1m' },
};

/** Waiting for another operation on the same plant: long, but heartbeating. */
export const coordinationSteps = proxyActivities<OperationActivities>({
  startToCloseTimeout: '2h',
  heartbeatTimeout: '30s',
  retry: { ...backoff, maximumInterval: '30s' },
});
