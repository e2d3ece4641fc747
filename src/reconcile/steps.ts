/**
 * Dispatch of a removal step to its activity. No Node APIs: the reconcile workflow runs it with
 * Temporal activity stubs, the CLI with the activity functions themselves.
 */
import type { Activities } from '../workflows/activity-contracts/index.js';
import type { RemovalStep } from './types.js';

/** The sagas' idempotent removal activities that a removal plan calls. */
export type RemovalActivities = Pick<Activities, RemovalStep['activity']>;

export function runStep(activities: RemovalActivities, step: RemovalStep): Promise<void> {
  switch (step.activity) {
    case 'deactivateCertificate':
      return activities.deactivateCertificate(step.input);
    case 'detachPolicy':
      return activities.detachPolicy(step.input);
    case 'detachThingPrincipal':
      return activities.detachThingPrincipal(step.input);
    case 'waitForThingDetached':
      return activities.waitForThingDetached(step.input);
    case 'deleteCertificate':
      return activities.deleteCertificate(step.input);
    case 'removeTelemetryRoute':
      return activities.removeTelemetryRoute(step.input);
    case 'deleteThing':
      return activities.deleteThing(step.input);
    case 'deletePolicy':
      return activities.deletePolicy(step.input);
    case 'destroyStoredKey':
      return activities.destroyStoredKey(step.input);
  }
}
