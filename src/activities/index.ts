import type { Activities } from '../workflows/activity-contracts/index.js';
import { backfillActivities } from './backfill.js';
import { certificateActivities } from './certificates.js';
import type { ActivityDeps } from './deps.js';
import { operationActivities } from './operations.js';
import { plantRecordActivities } from './plant-records.js';
import { policyActivities } from './policies.js';
import { reconcileActivities } from './reconcile.js';
import { rotationActivities } from './rotation.js';
import { telemetryRuleActivities } from './telemetry-rules.js';
import { thingActivities } from './things.js';

export type { Activities } from '../workflows/activity-contracts/index.js';
export type { ActivityDeps, IotSettings, KeyVault } from './deps.js';

/** Every activity of the worker. Each makes one external call and is safe to repeat. */
export function createActivities(deps: ActivityDeps): Activities {
  return {
    ...thingActivities(deps),
    ...certificateActivities(deps),
    ...policyActivities(deps),
    ...telemetryRuleActivities(deps),
    ...plantRecordActivities(deps),
    ...operationActivities(deps),
    ...backfillActivities(deps),
    ...reconcileActivities(deps),
    ...rotationActivities(deps),
  };
}
