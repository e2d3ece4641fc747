/**
 * `npm run bench:round-trips`: what one workflow step costs in CPU, by kind, on the local stack.
 * The same workflow runs STEPS no-op steps as normal activities (a task-queue round trip and a
 * workflow task each) and as local activities (a marker in the workflow task), N workflows at a
 * time, both in this process against the same dev server; CPU by process comes from /proc. The
 * difference between the two, per step, is what a round trip costs the worker and the server.
 * Environment: BENCH_WORKFLOWS (default 300), BENCH_STEPS (default 8), BENCH_CONCURRENCY (50).
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { cpuOfProcessTree, int, log, report, startBenchStack } from './stack.js';

const N = int('BENCH_WORKFLOWS', 300);
const STEPS = int('BENCH_STEPS', 8);
const CONCURRENCY = int('BENCH_CONCURRENCY', 50);

async function main() {
  const stack = await startBenchStack();
  const nativeConnection = await NativeConnection.connect({ address: stack.temporalAddress });
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const client = new Client({ connection });
  const taskQueue = `round-trips-${randomUUID()}`;
  const worker = await Worker.create({
    connection: nativeConnection,
    taskQueue,
    workflowsPath: fileURLToPath(new URL('./round-trips/workflows.ts', import.meta.url)),
    activities: { noop: async (i: number) => i },
  });
  const rows: (string | number)[][] = [];
  const perStep: Record<string, Map<string, number>> = {};
  try {
    await worker.runUntil(async () => {
      // Warm-up: bundle loaded, caches filled, both kinds once.
      for (const kind of ['activity', 'local'] as const) {
        await client.workflow.execute('steps', { taskQueue, workflowId: randomUUID(), args: [STEPS, kind] });
      }
      for (const kind of ['activity', 'local', 'activity', 'local'] as const) {
        const before = cpuOfProcessTree();
        const t0 = performance.now();
        let next = 0;
        await Promise.all(
          Array.from({ length: CONCURRENCY }, async () => {
            while (next < N) {
              next += 1;
              await client.workflow.execute('steps', { taskQueue, workflowId: randomUUID(), args: [STEPS, kind] });
            }
          }),
        );
        const seconds = (performance.now() - t0) / 1000;
        const after = cpuOfProcessTree();
        const used = new Map([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)]));
        const ms = (k: string) => ((1000 * (used.get(k) ?? 0)) / N).toFixed(1);
        const total = [...used.values()].reduce((a, b) => a + b, 0);
        perStep[kind] = used;
        rows.push([kind, N, STEPS, seconds.toFixed(1), (N / seconds).toFixed(1), ms('node (worker + bench client)'), ms('temporal dev server'), ((1000 * total) / N).toFixed(1)]);
        log(`${kind}: ${rows.at(-1)?.join(' | ')}`);
      }
    });
  } finally {
    await connection.close();
    await nativeConnection.close();
    await stack.stop();
  }
  const cpuMs = (kind: string, k: string) => Number(rows.filter((r) => r[0] === kind).map((r) => r[k === 'node' ? 5 : 6])[1]);
  const roundTripMs = (k: string) => ((cpuMs('activity', k) - cpuMs('local', k)) / STEPS).toFixed(2);
  await report(
    `\`npm run bench:round-trips\` (${N} workflows of ${STEPS} no-op steps, ${CONCURRENCY} at a time; each kind run twice, alternating)`,
    ['steps as', 'workflows', 'steps each', 'seconds', 'workflows/s', 'node CPU ms / workflow', 'Temporal CPU ms / workflow', 'total CPU ms / workflow'],
    rows,
    [
      `One step as a normal activity instead of a local one costs (second runs): node ${roundTripMs('node')} ms, Temporal dev server ${roundTripMs('temporal dev server')} ms of CPU.`,
    ],
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
