/**
 * The action workflow ids of this project's schedules. The worker's payload codec lets a run
 * `<id>-<timestamp>` of these (and only these) read payloads bound to `<id>`: the schedule's
 * stored input was encoded for the action id, the server appends the timestamp (payload-codec.ts).
 */
import { RECONCILE_WORKFLOW_ID } from '../reconcile/types.js';

export const ROTATION_RUN_WORKFLOW_ID = 'rotate-expiring-certificates';

export const SCHEDULED_WORKFLOW_IDS: readonly string[] = [ROTATION_RUN_WORKFLOW_ID, RECONCILE_WORKFLOW_ID];
