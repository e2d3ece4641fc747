/**
 * Workflow metrics out of the sandbox: workflow code cannot reach prom-client (it runs in the
 * isolate, replayed at will), so this interceptor, bundled with the workflows
 * (`workflowInterceptorModules`), reports each execution's start and end through the
 * `workflowMetrics` sink; the worker injects that sink (src/worker/metrics.ts) with
 * callDuringReplay false, so a replay (cache eviction, another worker picking the run up) counts
 * nothing again. At-least-once, not exactly-once: a workflow task that fails after the call (a
 * worker killed mid-task) runs again and reports again. It issues no command: replay-safe.
 */
import {
  ApplicationFailure,
  ContinueAsNew,
  isCancellation,
  proxySinks,
  type Sinks,
  TemporalFailure,
  type WorkflowInterceptorsFactory,
} from '@temporalio/workflow';

/**
 * How an execution ended. A provision that fails rolls back what it created: `rolled_back` when
 * everything went, `rollback_incomplete` when resources are left (its failure names them).
 */
export const WORKFLOW_OUTCOMES = [
  'completed',
  'failed',
  'cancelled',
  'continued_as_new',
  'rolled_back',
  'rollback_incomplete',
] as const;
export type WorkflowOutcome = (typeof WORKFLOW_OUTCOMES)[number];

/** Failure types of provisionPlant (provision-plant.ts) that say how its rollback went. */
const OUTCOME_OF_FAILURE_TYPE: Readonly<Record<string, WorkflowOutcome>> = {
  ProvisioningFailed: 'rolled_back',
  RollbackIncomplete: 'rollback_incomplete',
};

export interface WorkflowMetricsSinks extends Sinks {
  workflowMetrics: {
    started(): void;
    finished(outcome: WorkflowOutcome): void;
  };
}

/**
 * How the run ends when its code throws `error`; undefined when it does not end: an error that is
 * no Temporal failure (a bug's TypeError) fails the workflow task, which the SDK retries, and the
 * run stays open (counted as failed, each retry counted it again).
 */
export function outcomeOf(error: unknown): WorkflowOutcome | undefined {
  if (error instanceof ContinueAsNew) return 'continued_as_new';
  if (!(error instanceof TemporalFailure)) return undefined;
  if (error instanceof ApplicationFailure) {
    const outcome = OUTCOME_OF_FAILURE_TYPE[error.type ?? ''];
    if (outcome) return outcome;
  }
  return isCancellation(error) ? 'cancelled' : 'failed';
}

const { workflowMetrics } = proxySinks<WorkflowMetricsSinks>();

export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [
    {
      async execute(input, next) {
        workflowMetrics.started();
        try {
          const result = await next(input);
          workflowMetrics.finished('completed');
          return result;
        } catch (error) {
          const outcome = outcomeOf(error);
          if (outcome) workflowMetrics.finished(outcome);
          throw error;
        }
      },
    },
  ],
});
