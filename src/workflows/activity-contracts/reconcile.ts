import type { RemovalGroup, ReportWithPlan } from '../../reconcile/types.js';

/** The answer of the last check before a plant's orphans are removed. */
export interface Confirmation {
  confirmed: boolean;
  reason: string;
}

/** The reconcile workflow's reads; its removals reuse the idempotent activities of the sagas. */
export interface ReconcileActivities {
  /** Drift report and removal plan; heartbeats while it lists AWS IoT. */
  reconcileReport(): Promise<ReportWithPlan>;
  /** Last check before a plant's orphans go: same status as in the report, no operation running. */
  confirmRemoval(group: Pick<RemovalGroup, 'plantId' | 'plantStatus'>): Promise<Confirmation>;
}
