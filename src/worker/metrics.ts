/**
 * The worker's own Prometheus metrics (prom-client, served on WORKER_METRICS_PORT); the Temporal
 * SDK's worker metrics (task slots, poll and schedule-to-start latencies) are the Rust core's and
 * served on WORKER_METRICS_TEMPORAL_PORT (src/worker/telemetry.ts).
 *
 *   solar_iot_workflows_started_total{workflow}            the workflow interceptor's sink
 *   solar_iot_workflows_finished_total{workflow,outcome}   (src/workflows/metrics-interceptor.ts)
 *   solar_iot_aws_calls_total{service,operation,outcome}   SDK middleware (src/iot/aws-call-metrics.ts)
 *   solar_iot_plants{iot_status}                           PostgreSQL, every 30 s (./plant-gauges.ts)
 *   solar_iot_plants_oldest_in_status_seconds{iot_status}
 */
import type { InjectedSinks } from '@temporalio/worker';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { IOT_STATUSES } from '../db/schema.js';
import { AwsCallMetrics } from '../iot/aws-call-metrics.js';
import { WORKFLOW_OUTCOMES, type WorkflowMetricsSinks } from '../workflows/metrics-interceptor.js';

/** The workflow types whose series exist from the start (0 rather than "no data" on a dashboard). */
const COUNTED_WORKFLOWS = ['provisionPlant', 'deprovisionPlant', 'backfillPlants'] as const;

/** Statuses a plant passes through while a workflow works on it: their age is how long it has been. */
export const IN_PROGRESS_STATUSES = ['provisioning', 'deprovisioning'] as const;

export class WorkerMetrics {
  // This instance's registry only, never prom-client's global one (tests run several workers).
  readonly registry = new Registry();

  readonly workflowsStarted = new Counter({
    name: 'solar_iot_workflows_started_total',
    help: 'Workflow executions started on this worker, by workflow type (replays not counted)',
    labelNames: ['workflow'],
    registers: [this.registry],
  });

  readonly workflowsFinished = new Counter({
    name: 'solar_iot_workflows_finished_total',
    help:
      'Workflow executions ended on this worker, by workflow type and outcome: completed, failed, cancelled, ' +
      'continued_as_new, rolled_back (a provision failed and removed all it created), rollback_incomplete ' +
      '(a provision failed and left AWS resources: run deprovisionPlant once the cause is fixed)',
    labelNames: ['workflow', 'outcome'],
    registers: [this.registry],
  });

  readonly aws = new AwsCallMetrics(this.registry);

  readonly plants = new Gauge({
    name: 'solar_iot_plants',
    help: 'Plants by IoT status, counted from PostgreSQL every 30 s by every worker process (a backfill drains pending, disabled and failed)',
    labelNames: ['iot_status'],
    registers: [this.registry],
  });

  readonly oldestInStatus = new Gauge({
    name: 'solar_iot_plants_oldest_in_status_seconds',
    help: 'Seconds since the plant longest in provisioning (deprovisioning) entered that status; 0 when none is',
    labelNames: ['iot_status'],
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    for (const workflow of COUNTED_WORKFLOWS) {
      this.workflowsStarted.inc({ workflow }, 0);
      for (const outcome of WORKFLOW_OUTCOMES) this.workflowsFinished.inc({ workflow, outcome }, 0);
    }
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** The sink the workflow interceptor calls; never during replay. */
  sinks(): InjectedSinks<WorkflowMetricsSinks> {
    return {
      workflowMetrics: {
        started: {
          fn: (info) => this.workflowsStarted.inc({ workflow: info.workflowType }),
          callDuringReplay: false,
        },
        finished: {
          fn: (info, outcome) => this.workflowsFinished.inc({ workflow: info.workflowType, outcome }),
          callDuringReplay: false,
        },
      },
    };
  }

  /** Sets the plant gauges from one count per status (statuses absent from `counts` are 0). */
  setPlants(counts: ReadonlyMap<string, { plants: number; oldestSeconds: number }>): void {
    for (const iotStatus of IOT_STATUSES) {
      this.plants.set({ iot_status: iotStatus }, counts.get(iotStatus)?.plants ?? 0);
    }
    for (const iotStatus of IN_PROGRESS_STATUSES) {
      this.oldestInStatus.set({ iot_status: iotStatus }, counts.get(iotStatus)?.oldestSeconds ?? 0);
    }
  }
}

/** A sink that drops the calls: a worker without metrics still answers the interceptor's sink. */
export function noMetricsSinks(): InjectedSinks<WorkflowMetricsSinks> {
  const ignore = { fn: () => undefined, callDuringReplay: false };
  return { workflowMetrics: { started: ignore, finished: ignore } };
}
