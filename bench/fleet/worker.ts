/**
 * One worker process of a benchmark fleet (bench/bulk.ts with BENCH_WORKER_PROCESSES=N forks N of
 * these): the worker set of `createWorkers()` (main worker plus one quota worker per class, each
 * with its own StartPacer, as in production) on the bench stack, with the activities that
 * `productWiring` builds, its AWS endpoint pointed at the account-wide quota proxy. The parent
 * sends the configuration in FLEET_WORKER (JSON) and `stop` over IPC; this process answers
 * `ready` once its workers are created and `done` with its RSS samples after they stopped.
 */
import { createWorkers } from '../../src/worker/workers.js';
import type { QuotaSettings } from '../../src/quotas/settings.js';
import { productWiring } from '../stack.js';

export interface FleetWorkerConfig {
  index: number;
  databaseUrl: string;
  /** The quota proxy. */
  awsEndpoint: string;
  temporalAddress: string;
  encryptionKey: string;
  taskQueue: string;
  bundlePath: string;
  quotas: QuotaSettings;
  utilization: number;
}

export type FleetWorkerMessage =
  | { type: 'ready'; pid: number }
  | { type: 'done'; pid: number; rssMiB: number[] }
  | { type: 'failed'; pid: number; error: string };

const send = (m: FleetWorkerMessage) =>
  new Promise<void>((resolve) => {
    if (!process.send) resolve();
    else process.send(m, undefined, {}, () => resolve());
  });

async function main() {
  const config = JSON.parse(process.env.FLEET_WORKER ?? '') as FleetWorkerConfig;
  const w = await productWiring({
    databaseUrl: config.databaseUrl,
    awsEndpoint: config.awsEndpoint,
    temporalAddress: config.temporalAddress,
    encryptionKey: config.encryptionKey,
    stop: async () => undefined,
  });
  try {
    const workers = await createWorkers({
      connection: w.nativeConnection,
      taskQueue: config.taskQueue,
      workflowBundle: { codePath: config.bundlePath },
      dataConverter: w.dataConverter,
      activities: w.activities,
      quotas: config.quotas,
      utilization: config.utilization,
    });
    const rssMiB: number[] = [];
    const sampler = setInterval(() => rssMiB.push(process.memoryUsage().rss / 2 ** 20), 1000);
    const stop = () => workers.shutdown();
    process.on('message', (m) => {
      if ((m as { type?: string })?.type === 'stop') stop();
    });
    process.on('disconnect', stop);
    const running = workers.run();
    await send({ type: 'ready', pid: process.pid });
    await running;
    clearInterval(sampler);
    await send({ type: 'done', pid: process.pid, rssMiB });
  } finally {
    await w.close();
  }
}

main().then(
  () => process.exit(0),
  async (error: unknown) => {
    process.stderr.write(`[fleet-worker] ${String((error as Error)?.stack ?? error)}\n`);
    await send({ type: 'failed', pid: process.pid, error: String((error as Error)?.stack ?? error) });
    process.exit(1);
  },
);
