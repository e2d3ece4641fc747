import { Context } from '@temporalio/activity';
import { confirmRemoval } from '../reconcile/remove.js';
import { buildDriftReport } from '../reconcile/report.js';
import type { ReconcileActivities } from '../workflows/activity-contracts/reconcile.js';
import type { ActivityDeps } from './deps.js';

export function reconcileActivities(
  deps: Pick<ActivityDeps, 'iot' | 'db' | 'vault' | 'temporal' | 'settings'>,
): ReconcileActivities {
  return {
    /** Lists all of AWS IoT under our naming: heartbeats meanwhile, with the phase it is in. */
    async reconcileReport() {
      const ctx = Context.current();
      let phase = 'starting';
      const beat = setInterval(() => ctx.heartbeat(phase), 5_000);
      try {
        return await buildDriftReport(deps, (next) => {
          phase = next;
          ctx.heartbeat(phase);
        });
      } finally {
        clearInterval(beat);
      }
    },

    async confirmRemoval(group) {
      return confirmRemoval(deps, group);
    },
  };
}
