import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { type Confirmation, confirmRemoval } from '../reconcile/remove.js';
import { buildDriftReport, type ReportWithPlan } from '../reconcile/report.js';
import type { RemovalGroup } from '../reconcile/types.js';
import type { ActivityDeps } from './deps.js';

/** The reconcile workflow's reads; its removals reuse the idempotent activities of the sagas. */
export function reconcileActivities(deps: ActivityDeps) {
  return {
    /** Drift report and removal plan. Lists all of AWS IoT under our naming: heartbeats meanwhile. */
    async reconcileReport(): Promise<ReportWithPlan> {
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

    /** Last check before a plant's orphans go: same status as in the report, no operation running. */
    async confirmRemoval(group: Pick<RemovalGroup, 'plantId' | 'plantStatus'>): Promise<Confirmation> {
      if (!deps.temporal) {
        throw ApplicationFailure.nonRetryable(
          'Activities were created without a Temporal client',
          'ConfigurationError',
        );
      }
      return confirmRemoval({ db: deps.db, temporal: deps.temporal }, group);
    },
  };
}
