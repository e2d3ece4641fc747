/**
 * The one way tests run workers in-process: the product's createWorkers (the main worker plus
 * one quota worker per AWS quota class, as src/worker.ts runs them) on a test's Temporal
 * connection, on a fresh task queue unless one is given.
 *
 *   await runWorkers({ connection: env.nativeConnection, activities }, async (taskQueue) => ...);
 *
 * With a data converter the bundle carries the encrypting failure converter, as the product's
 * worker builds it when the codec is on; without one, the plain bundle.
 */
import type { DataConverter } from '@temporalio/common';
import {
  bundleWorkflowCode,
  type NativeConnection,
  type WorkerOptions,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import type { Activities } from '../../src/activities/index.js';
import { failureConverterPath } from '../../src/codec/data-converter.js';
import type { WorkerTracing } from '../../src/tracing/index.js';
import { type BundleKind, workflowInterceptorModulesOf } from '../../src/worker/bundle.js';
import type { WorkerMetrics } from '../../src/worker/metrics.js';
import { createWorkers, type WorkerSet } from '../../src/worker/workers.js';
import { workflowsPath } from '../../src/worker.js';
import { uniqueTaskQueue } from './temporal.js';

/** Real activities with some replaced, to inject a fault in one of them. */
export type ActivityOverrides = Partial<{ [K in keyof Activities]: Activities[K] }>;

const quietLogger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

const bundles = new Map<string, Promise<WorkflowBundleWithSourceMap>>();
/**
 * The product's workflows, bundled once per test file (bundling takes seconds); `traced`: with
 * OpenTelemetry's workflow interceptors, as a worker that traces runs them (src/worker/bundle.ts).
 */
export function workflowBundle(
  kind: 'plain' | 'encrypted-failures',
  interceptors: BundleKind = 'plain',
): Promise<WorkflowBundleWithSourceMap> {
  const key = `${kind} ${interceptors}`;
  let bundle = bundles.get(key);
  if (!bundle) {
    bundle = bundleWorkflowCode({
      workflowsPath,
      workflowInterceptorModules: workflowInterceptorModulesOf(interceptors),
      ...(kind === 'encrypted-failures' ? { failureConverterPath } : {}),
      logger: quietLogger,
    });
    bundles.set(key, bundle);
  }
  return bundle;
}

export interface TestWorkerOptions {
  connection: NativeConnection;
  activities: object;
  /** The worker's data converter (the codec); none: Temporal's default converter. */
  dataConverter?: DataConverter | undefined;
  /** Default: a queue of its own (`<prefix>-...`), so workers of different tests never share tasks. */
  taskQueue?: string | undefined;
  /** Default: the product's workflows; tests of Temporal itself give test/support/workflows. */
  workflowsPath?: string | undefined;
  /** The worker's metrics registry, as src/worker.ts gives it; none: the counts are dropped. */
  metrics?: WorkerMetrics | undefined;
  /** More options of the main worker (e.g. maxCachedWorkflows: 0, every activation a replay). */
  workerOptions?: Partial<WorkerOptions> | undefined;
  /** Traces, as src/worker.ts gives them when it traces (with the traced bundle). */
  tracing?: WorkerTracing | undefined;
}

/** Creates the workers (not yet running): for tests that start and stop them around their steps. */
export async function createTestWorkers(
  options: TestWorkerOptions,
): Promise<{ taskQueue: string; workers: WorkerSet }> {
  const taskQueue = options.taskQueue ?? uniqueTaskQueue('test');
  const workers = await createWorkers({
    connection: options.connection,
    taskQueue,
    activities: options.activities,
    dataConverter: options.dataConverter,
    metrics: options.metrics,
    tracing: options.tracing,
    ...(options.workerOptions ? { options: options.workerOptions } : {}),
    ...(options.workflowsPath
      ? { workflowsPath: options.workflowsPath }
      : {
          workflowBundle: await workflowBundle(
            options.dataConverter ? 'encrypted-failures' : 'plain',
            options.tracing ? 'traced' : 'plain',
          ),
        }),
  });
  return { taskQueue, workers };
}

/** Runs the workers until `body` settles, then shuts them down and waits for them. */
export async function runWorkers<T>(
  options: TestWorkerOptions,
  body: (taskQueue: string) => Promise<T>,
): Promise<T> {
  const { taskQueue, workers } = await createTestWorkers(options);
  return workers.runUntil(body(taskQueue));
}
