/**
 * `npm run bench:bulk`: N plants through backfillPlants on the local stack, behind the fault
 * layer's token buckets at the default AWS IoT quotas (SOLAR_IOT_FAULTS `quota=aws-iot`: over the
 * limit a call gets ThrottlingException). The worker set (createWorkers: quota queues at
 * SOLAR_IOT_QUOTA_UTILIZATION of each quota) runs in this process; its RSS is sampled every
 * second. Reports plants/s against the quota-bound maximum (the slowest quota a plant spends:
 * CreatePolicy 10/s with a policy per plant, AttachPolicy 15/s with the shared policy) and the
 * calls the buckets refused. Environment: BENCH_BULK_PLANTS (default 2000), BENCH_CONCURRENCY
 * (default 50, the backfill maximum), BENCH_QUOTA_SCALE (scales the emulated quotas and the
 * worker limits together), POLICY_MODE (shared, the default, or per-plant).
 */
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { FaultInjector, parseFaultSpec } from '../src/faults/index.js';
import { ACTIVITY_QUOTAS, DEFAULT_QUOTAS } from '../src/quotas/classes.js';
import { readQuotaSettings, readQuotaUtilization } from '../src/quotas/settings.js';
import { plants } from '../src/db/schema.js';
import { buildWorkflowBundle } from '../src/worker/bundle.js';
import { createWorkers } from '../src/worker/workers.js';
import type { BackfillResult } from '../src/workflows/backfill-contract.js';
import {
  cpuReport,
  cpuSnapshot,
  int,
  log,
  percentile,
  productWiring,
  report,
  startBenchStack,
} from './stack.js';

const N = int('BENCH_BULK_PLANTS', 2000);
const CONCURRENCY = int('BENCH_CONCURRENCY', 50);
/** Scales the emulated AWS quotas AND the worker limits together (e.g. 0.2 on a small machine). */
const SCALE = Number(process.env.BENCH_QUOTA_SCALE ?? '1');
if (!(SCALE > 0 && SCALE <= 1)) throw new Error('BENCH_QUOTA_SCALE must be a number in (0, 1]');
const bundlePath = `${process.env.TMPDIR ?? '/tmp'}/solar-iot-bench-bundle-${process.pid}.js`;

async function main() {
  const stack = await startBenchStack();
  const faults = new FaultInjector(
    parseFaultSpec(
      SCALE === 1
        ? 'quota=aws-iot'
        : Object.entries(DEFAULT_QUOTAS)
            .map(([op, n]) => `quota:${op}=${n * SCALE}/s`)
            .join(';'),
    ),
  );
  const w = await productWiring(stack, faults);
  try {
    await buildWorkflowBundle(bundlePath);
    const quotas = Object.fromEntries(
      Object.entries(readQuotaSettings()).map(([op, n]) => [op, n * SCALE]),
    ) as ReturnType<typeof readQuotaSettings>;
    // Provisioning spends one call of each quota-bound operation per plant; with the shared
    // policy, CreatePolicy is spent once for the whole run, not per plant.
    const policyMode = process.env.POLICY_MODE === 'per-plant' ? 'per-plant' : 'shared';
    const provisionOps = [
      'createThing',
      ...(policyMode === 'per-plant' ? ['createPolicy'] : []),
      'attachPolicy',
      'attachThingPrincipal',
    ].map((a) => ACTIVITY_QUOTAS[a] as keyof typeof DEFAULT_QUOTAS);
    const boundOp = provisionOps.reduce((a, b) => (quotas[b] < quotas[a] ? b : a));
    const bound = quotas[boundOp];

    const batch = Array.from({ length: N }, (_, i) => ({
      id: randomUUID(),
      name: `Bulk ${i}`,
      iotStatus: 'pending' as const,
    }));
    for (let i = 0; i < batch.length; i += 500) await w.database.db.insert(plants).values(batch.slice(i, i + 500));
    log(`${N} plants inserted`);

    const taskQueue = `bench-bulk-${randomUUID()}`;
    const workers = await createWorkers({
      connection: w.nativeConnection,
      taskQueue,
      workflowBundle: { codePath: bundlePath },
      dataConverter: w.dataConverter,
      activities: w.activities,
      quotas,
      utilization: readQuotaUtilization(),
    });
    const limits = workers.limits ?? quotas;
    const rss: number[] = [];
    const sampler = setInterval(() => rss.push(process.memoryUsage().rss / 2 ** 20), 1000);
    let result: BackfillResult | undefined;
    const cpuBefore = cpuSnapshot();
    const t0 = performance.now();
    const progress = setInterval(() => {
      const s = faults.snapshot();
      log(`${((performance.now() - t0) / 1000).toFixed(0)}s: calls ${s.totals.calls}, throttled ${s.totals.quota}, ${boundOp} ${s.calls[boundOp] ?? 0}`);
    }, 10_000);
    await workers.runUntil(async () => {
      result = await w.temporal.workflow.execute('backfillPlants', {
        taskQueue,
        workflowId: `bench-backfill-${randomUUID()}`,
        args: [{ concurrency: CONCURRENCY, pageSize: 1000 }],
      });
    });
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = cpuReport(cpuBefore, elapsed);
    clearInterval(sampler);
    clearInterval(progress);
    const stats = faults.snapshot();
    const rate = (result?.done ?? 0) / elapsed;
    // A finite run also gets the bucket's first second of burst for free.
    const steady = rss.slice(Math.floor(rss.length * 0.2)).sort((a, b) => a - b);
    const throttledByOp = Object.entries(stats.injected)
      .filter(([, k]) => k.quota)
      .map(([op, k]) => `${op} ${k.quota}`)
      .join(', ');
    await report(
      `\`npm run bench:bulk\` (${N} plants, POLICY_MODE=${policyMode}, backfill concurrency ${CONCURRENCY}${process.env.BENCH_EAGER_ACTIVITIES === '1' ? ', eager activities on' : ''}, token buckets at ${SCALE === 1 ? 'the default quotas' : `${SCALE} x the default quotas`})`,
      ['plants', 'done', 'failed', 'seconds', 'plants/s', 'quota-bound max/s', 'fraction', 'throttled calls', 'worker RSS MiB p50 / max'],
      [
        [
          N,
          result?.done ?? 0,
          result?.failed ?? 0,
          elapsed.toFixed(1),
          rate.toFixed(2),
          `${bound} (${boundOp})`,
          (rate / bound).toFixed(3),
          stats.totals.quota,
          `${percentile(steady, 50).toFixed(0)} / ${(steady.at(-1) ?? 0).toFixed(0)}`,
        ],
      ],
      [
        `Throttled by operation: ${throttledByOp || 'none'}. AWS calls: ${stats.totals.calls}, ${(stats.totals.calls / N).toFixed(2)} per plant (${Object.entries(stats.calls)
          .map(([op, n]) => `${op} ${n}`)
          .join(', ')}).`,
        cpu,
        `Worker limits (maxTaskQueueActivitiesPerSecond = quota x ${readQuotaUtilization()}): ${Object.entries(limits)
          .map(([op, n]) => `${op} ${n}`)
          .join(', ')}. RSS: the one process running the worker set (and this benchmark's client), sampled each second after the first 20% of the run.`,
      ],
    );
  } finally {
    await rm(bundlePath, { force: true });
    await rm(bundlePath.replace(/\.js$/, '.json'), { force: true });
    await w.close();
    await stack.stop();
  }
}

await main();
