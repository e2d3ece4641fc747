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
 *
 * BENCH_WORKER_PROCESSES=N (default 1): with N > 1 the worker set runs in N child processes
 * (bench/fleet/worker.ts; same task queue, quotas and utilization, each with its own StartPacer,
 * as a production fleet) and the quotas are account-wide: every process sends its AWS calls
 * through one proxy in front of moto (tools/faults/quota-proxy.ts) whose token buckets they all
 * share, instead of the in-process fault layer. BENCH_QUOTA_PROXY=1 takes that path with N = 1
 * too (one child process behind the proxy), for comparison.
 */
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { AWS_IOT_QUOTAS, FaultInjector, type FaultStats, parseFaultSpec } from '../tools/faults/index.js';
import { ACTIVITY_QUOTAS, DEFAULT_QUOTAS } from '../src/quotas/classes.js';
import { quotaQueueLimits, readQuotaSettings, readQuotaUtilization } from '../src/quotas/settings.js';
import { plants } from '../src/db/schema.js';
import { buildWorkflowBundle } from '../src/worker/bundle.js';
import { createWorkers } from '../src/worker/workers.js';
import type { BackfillResult } from '../src/workflows/backfill-contract.js';
import { type FleetResult, startFleet } from './fleet/fleet.js';
import { type QuotaProxy, startQuotaProxy } from '../tools/faults/quota-proxy.js';
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
/** Worker processes; more than one (or BENCH_QUOTA_PROXY=1) puts the quotas in a shared proxy. */
const PROCESSES = int('BENCH_WORKER_PROCESSES', 1);
const FLEET = PROCESSES > 1 || process.env.BENCH_QUOTA_PROXY === '1';
const bundlePath = `${process.env.TMPDIR ?? '/tmp'}/solar-iot-bench-bundle-${process.pid}.js`;

async function main() {
  const stack = await startBenchStack();
  let proxy: QuotaProxy | undefined;
  let faults: FaultInjector | undefined;
  let proxyStarted = 0;
  if (FLEET) {
    // Account-wide buckets: the same quotas as the fault layer's, shared by every process.
    proxy = await startQuotaProxy({
      upstream: stack.awsEndpoint,
      quotas: Object.fromEntries(Object.entries(AWS_IOT_QUOTAS).map(([op, n]) => [op, n * SCALE])),
    }).catch(async (error: unknown) => {
      await stack.stop();
      throw error;
    });
    proxyStarted = performance.now();
    log(`quota proxy at ${proxy.endpoint} in front of moto ${stack.awsEndpoint}; ${PROCESSES} worker process(es)`);
  } else {
    faults = new FaultInjector(
      parseFaultSpec(
        SCALE === 1
          ? 'quota=aws-iot'
          : Object.entries(DEFAULT_QUOTAS)
              .map(([op, n]) => `quota:${op}=${n * SCALE}/s`)
              .join(';'),
      ),
    );
  }
  const snapshot = (): FaultStats =>
    proxy ? proxy.snapshot() : (faults as FaultInjector).snapshot();
  const w = await productWiring(stack, faults);
  let fleet: Awaited<ReturnType<typeof startFleet>> | undefined;
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
    const workers = FLEET
      ? undefined
      : await createWorkers({
          connection: w.nativeConnection,
          taskQueue,
          workflowBundle: { codePath: bundlePath },
          dataConverter: w.dataConverter,
          activities: w.activities,
          quotas,
          utilization: readQuotaUtilization(),
        });
    if (FLEET && proxy) {
      fleet = await startFleet(PROCESSES, {
        databaseUrl: stack.databaseUrl,
        awsEndpoint: proxy.endpoint,
        temporalAddress: stack.temporalAddress,
        encryptionKey: stack.encryptionKey,
        taskQueue,
        bundlePath,
        quotas,
        utilization: readQuotaUtilization(),
      });
      log(`${PROCESSES} worker process(es) running: pids ${fleet.pids.join(', ')}`);
    }
    const limits = workers?.limits ?? quotaQueueLimits(quotas, readQuotaUtilization());
    const rss: number[] = [];
    const sampler = setInterval(() => rss.push(process.memoryUsage().rss / 2 ** 20), 1000);
    let result: BackfillResult | undefined;
    fleet?.markStart();
    const proxyT0 = (performance.now() - proxyStarted) / 1000;
    const benchCpuBefore = process.cpuUsage();
    const cpuBefore = cpuSnapshot();
    const t0 = performance.now();
    const progress = setInterval(() => {
      const s = snapshot();
      log(`${((performance.now() - t0) / 1000).toFixed(0)}s: calls ${s.totals.calls}, throttled ${s.totals.quota}, ${boundOp} ${s.calls[boundOp] ?? 0}`);
    }, 10_000);
    const backfill = async () => {
      result = await w.temporal.workflow.execute('backfillPlants', {
        taskQueue,
        workflowId: `bench-backfill-${randomUUID()}`,
        args: [{ concurrency: CONCURRENCY, pageSize: 1000 }],
      });
    };
    let cpu: string;
    let elapsed: number;
    let fleetResults: FleetResult[] = [];
    let benchCpu = 0;
    if (workers) {
      await workers.runUntil(backfill);
      elapsed = (performance.now() - t0) / 1000;
      cpu = cpuReport(cpuBefore, elapsed);
    } else {
      await backfill();
      elapsed = (performance.now() - t0) / 1000;
      // Before the fleet stops: its processes are still in this process's tree.
      cpu = cpuReport(cpuBefore, elapsed);
      const used = process.cpuUsage(benchCpuBefore);
      benchCpu = (used.user + used.system) / 1e6;
      fleetResults = (await fleet?.stop()) ?? [];
    }
    clearInterval(sampler);
    clearInterval(progress);
    const stats = snapshot();
    const rate = (result?.done ?? 0) / elapsed;
    // A finite run also gets the bucket's first second of burst for free.
    const steady = rss.slice(Math.floor(rss.length * 0.2)).sort((a, b) => a - b);
    const throttledByOp = Object.entries(stats.injected)
      .filter(([, k]) => k.quota)
      .map(([op, k]) => `${op} ${k.quota}`)
      .join(', ');
    const steadyOf = (samples: number[]) =>
      samples.slice(Math.floor(samples.length * 0.2)).sort((a, b) => a - b);
    const rssCell = FLEET
      ? fleetResults
          .map((f) => {
            const s = steadyOf(f.rssMiB);
            return `${percentile(s, 50).toFixed(0)} / ${(s.at(-1) ?? 0).toFixed(0)}`;
          })
          .join(', ')
      : `${percentile(steady, 50).toFixed(0)} / ${(steady.at(-1) ?? 0).toFixed(0)}`;
    const proxyStats = proxy?.snapshot();
    const fleetNotes = proxyStats
      ? [
          `${PROCESSES} worker process${PROCESSES === 1 ? '' : 'es'} (pids ${fleetResults.map((f) => f.pid).join(', ')}), each running createWorkers() with its own StartPacer; every AWS call went through one quota proxy (tools/faults/quota-proxy.ts) whose token buckets (one second of quota, full at the start) all processes share. CPU by worker process: ${fleetResults.map((f) => `${f.cpuSeconds.toFixed(1)} s`).join(', ')} (${(fleetResults.reduce((a, f) => a + f.cpuSeconds, 0) / Math.max(1, result?.done ?? 0)).toFixed(3)} CPU-s a plant together); the bench process (Temporal client + quota proxy) ${benchCpu.toFixed(1)} s.`,
          `Most calls of one operation that reached the proxy within any 1 s (refused ones included; bucket = one second of quota): ${Object.entries(proxyStats.peakPerSecond)
            .filter(([op]) => op in AWS_IOT_QUOTAS)
            .map(([op, n]) => `${op} ${n} (quota ${(AWS_IOT_QUOTAS[op] ?? 0) * SCALE})`)
            .join(', ')}. Forwarded without a quota: ${Object.entries(proxyStats.other)
            .map(([k, n]) => `${k} ${n}`)
            .join(', ') || 'nothing'}.${Object.keys(proxyStats.refusedAt).length ? ` Refused at (seconds since the proxy started; the measured run began at ${proxyT0.toFixed(1)} s): ${Object.entries(
            proxyStats.refusedAt,
          )
            .map(([op, t]) => `${op} ${t.slice(0, 20).join(', ')}${t.length > 20 ? ', ...' : ''}`)
            .join('; ')}.` : ''}`,
        ]
      : [];
    await report(
      `\`npm run bench:bulk\` (${N} plants, POLICY_MODE=${policyMode}, backfill concurrency ${CONCURRENCY}${process.env.BENCH_EAGER_ACTIVITIES === '1' ? ', eager activities on' : ''}, ${FLEET ? `${PROCESSES} worker process${PROCESSES === 1 ? '' : 'es'}, account-wide token buckets in a shared quota proxy` : 'token buckets'} at ${SCALE === 1 ? 'the default quotas' : `${SCALE} x the default quotas`})`,
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
          rssCell,
        ],
      ],
      [
        `Throttled by operation: ${throttledByOp || 'none'}. AWS calls: ${stats.totals.calls}, ${(stats.totals.calls / N).toFixed(2)} per plant (${Object.entries(stats.calls)
          .map(([op, n]) => `${op} ${n}`)
          .join(', ')}).`,
        cpu,
        ...fleetNotes,
        `Worker limits (maxTaskQueueActivitiesPerSecond = quota x ${readQuotaUtilization()}): ${Object.entries(limits)
          .map(([op, n]) => `${op} ${n}`)
          .join(', ')}. ${FLEET ? 'RSS: each worker process, sampled each second after the first 20% of its samples.' : "RSS: the one process running the worker set (and this benchmark's client), sampled each second after the first 20% of the run."}`,
      ],
    );
  } finally {
    fleet?.kill();
    await proxy?.close();
    await rm(bundlePath, { force: true });
    await rm(bundlePath.replace(/\.js$/, '.json'), { force: true });
    await w.close();
    await stack.stop();
  }
}

await main();
