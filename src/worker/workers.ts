/**
 * The ONE place workers for the solar-iot workflows are made. A deployment (or a test) runs a
 * set: the main worker on the task queue (workflows and every activity), plus one activity
 * worker per AWS quota class on `${taskQueue}@${operation}` polling with
 * maxTaskQueueActivitiesPerSecond, a limit the Temporal server applies to ALL workers of that
 * queue together, so the fleet as a whole stays under the AWS account's request-rate quota.
 */
import type { DataConverter } from '@temporalio/common';
import { type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { ACTIVITY_QUOTAS, QUOTA_OPERATIONS, type QuotaOperation, quotaTaskQueue } from '../quotas/classes.js';
import { StartPacer } from '../quotas/pacer.js';
import {
  type QuotaSettings,
  quotaQueueLimits,
  readQuotaSettings,
  readQuotaUtilization,
} from '../quotas/settings.js';
import type { WorkerTracing } from '../tracing/index.js';
import { workflowInterceptorModulesOf } from './bundle.js';
import { noMetricsSinks, type WorkerMetrics } from './metrics.js';

// biome-ignore lint/suspicious/noExplicitAny: activity functions of any signature
type ActivityFunctions = Record<string, (...args: any[]) => Promise<unknown>>;

export interface CreateWorkersOptions {
  connection: NativeConnection;
  namespace?: string | undefined;
  taskQueue: string;
  activities: object;
  /** A prebuilt bundle (see src/worker/bundle.ts); otherwise `workflowsPath` is bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  workflowsPath?: string | undefined;
  dataConverter?: DataConverter | undefined;
  /** The account's quotas, requests per second; default: the environment (src/quotas/settings.ts). */
  quotas?: QuotaSettings | undefined;
  /** Share of each quota the queues dispatch at; default: SOLAR_IOT_QUOTA_UTILIZATION or 0.95. */
  utilization?: number | undefined;
  /** Where the workflow interceptor's counts go (src/worker/metrics.ts); none: dropped. */
  metrics?: WorkerMetrics | undefined;
  /**
   * Traces (src/tracing), with the traced workflow bundle (bundle.ts: `resolveWorkflowCode('traced')`);
   * none: no span, and the plain bundle.
   */
  tracing?: WorkerTracing | undefined;
  /** Anything else for the main worker (shutdownGraceTime also applies to the quota workers). */
  options?: Partial<WorkerOptions>;
}

/** The workers of one task queue, run and stopped together. */
export class WorkerSet {
  private running: Promise<void> | undefined;

  constructor(
    readonly main: Worker,
    readonly quotaWorkers: ReadonlyMap<QuotaOperation, Worker>,
    /** maxTaskQueueActivitiesPerSecond of each quota queue. */
    readonly limits?: Readonly<QuotaSettings>,
  ) {}

  get workers(): Worker[] {
    return [this.main, ...this.quotaWorkers.values()];
  }

  /** Runs every worker until shutdown(); if one fails, the others are shut down and it rejects. */
  run(): Promise<void> {
    this.running ??= (async () => {
      const results = await Promise.allSettled(
        this.workers.map((worker) =>
          worker.run().catch((error: unknown) => {
            this.shutdown();
            throw error;
          }),
        ),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    })();
    return this.running;
  }

  /** Starts graceful shutdown of every worker still running (idempotent). */
  shutdown(): void {
    for (const worker of this.workers) if (worker.getState() === 'RUNNING') worker.shutdown();
  }

  /** Runs the workers until `body` settles, then shuts them down and waits for them. */
  async runUntil<T>(body: Promise<T> | (() => Promise<T>)): Promise<T> {
    const running = this.run();
    const stopped = running.then(() => {
      throw new Error('workers stopped before the body finished');
    });
    try {
      return await Promise.race([typeof body === 'function' ? body() : body, stopped]);
    } finally {
      // run() marks every worker RUNNING synchronously, so shutdown() reaches them all.
      this.shutdown();
      await running.catch(() => undefined);
      stopped.catch(() => undefined);
    }
  }
}

/** Creates the main worker and the quota workers of `taskQueue`. */
export async function createWorkers(opts: CreateWorkersOptions): Promise<WorkerSet> {
  const limits = quotaQueueLimits(
    opts.quotas ?? readQuotaSettings(),
    opts.utilization ?? readQuotaUtilization(),
  );
  const activities = opts.activities as ActivityFunctions;
  const common = {
    connection: opts.connection,
    ...(opts.namespace ? { namespace: opts.namespace } : {}),
    ...(opts.dataConverter ? { dataConverter: opts.dataConverter } : {}),
    ...(opts.options?.shutdownGraceTime ? { shutdownGraceTime: opts.options.shutdownGraceTime } : {}),
  };
  const { tracing } = opts;
  // Outermost: an activity's span covers its wait for a turn (StartPacer) too.
  const activityInterceptors = [...(tracing?.activity ?? [])];
  const main = await Worker.create({
    ...common,
    ...opts.options,
    taskQueue: opts.taskQueue,
    // A prebuilt bundle carries the workflow interceptors (bundle.ts); bundling at start adds them.
    ...(opts.workflowBundle
      ? { workflowBundle: opts.workflowBundle }
      : { workflowsPath: opts.workflowsPath }),
    interceptors: {
      activity: activityInterceptors,
      ...(opts.workflowBundle
        ? {}
        : { workflowModules: workflowInterceptorModulesOf(tracing ? 'traced' : 'plain') }),
    },
    sinks: { ...(opts.metrics?.sinks() ?? noMetricsSinks()), ...tracing?.sinks },
    activities,
  });
  const quotaWorkers = new Map<QuotaOperation, Worker>();
  for (const operation of QUOTA_OPERATIONS) {
    const own = Object.entries(activities).filter(([name]) => ACTIVITY_QUOTAS[name] === operation);
    if (own.length === 0) continue;
    quotaWorkers.set(
      operation,
      await Worker.create({
        ...common,
        taskQueue: quotaTaskQueue(opts.taskQueue, operation),
        activities: Object.fromEntries(own),
        // The server paces the whole fleet; the pacer spaces this process's starts at the same
        // rate, so the tasks the server releases together (up to ceil(rate)) reach AWS spaced.
        maxTaskQueueActivitiesPerSecond: limits[operation],
        interceptors: {
          activity: [...activityInterceptors, new StartPacer(limits[operation]).interceptor()],
        },
      }),
    );
  }
  return new WorkerSet(main, quotaWorkers, limits);
}
