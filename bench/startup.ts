/**
 * `npm run bench:startup`: worker start-up, from createWorkers() to the first provisionPlant
 * workflow task answered (a provision of a plant whose row is already active: one workflow task,
 * two activities), with the workflow bundle prebuilt (`npm run build:workflows`, what
 * `npm run worker` loads when it matches the sources) against bundling at start (workflowsPath).
 * Alternating runs in one process. Environment: BENCH_STARTS (default 3 per mode).
 */
import { randomUUID } from 'node:crypto';
import { workflowsPath } from '../src/worker/bundle.js';
import { buildWorkflowBundle } from '../src/worker/bundle.js';
import { createWorkers } from '../src/worker/workers.js';
import { int, log, percentile, productWiring, report, startBenchStack } from './stack.js';

const STARTS = int('BENCH_STARTS', 3);
const bundlePath = `${process.env.TMPDIR ?? '/tmp'}/solar-iot-bench-bundle-${process.pid}.js`;

async function main() {
  const stack = await startBenchStack();
  const w = await productWiring(stack);
  try {
    const b0 = performance.now();
    const { bytes } = await buildWorkflowBundle(bundlePath);
    const buildMs = performance.now() - b0;
    const times: Record<'prebuilt' | 'bundle-at-start', { create: number[]; firstTask: number[] }> = {
      prebuilt: { create: [], firstTask: [] },
      'bundle-at-start': { create: [], firstTask: [] },
    };
    for (let i = 0; i < STARTS; i++) {
      for (const mode of ['prebuilt', 'bundle-at-start'] as const) {
        const taskQueue = `bench-start-${randomUUID()}`;
        const t0 = performance.now();
        const workers = await createWorkers({
          connection: w.nativeConnection,
          taskQueue,
          ...(mode === 'prebuilt' ? { workflowBundle: { codePath: bundlePath } } : { workflowsPath }),
          dataConverter: w.dataConverter,
          activities: w.activities,
        });
        const created = performance.now() - t0;
        await workers.runUntil(async () => {
          const plantId = randomUUID();
          await w.temporal.workflow.execute('provisionPlant', {
            taskQueue,
            workflowId: `bench-start-${plantId}`,
            args: [{ plantId, plantName: 'start-up' }],
          });
        });
        times[mode].create.push(created);
        times[mode].firstTask.push(performance.now() - t0);
        log(`${mode} #${i + 1}: created ${created.toFixed(0)} ms`);
      }
    }
    const row = (mode: keyof typeof times) => {
      const c = [...times[mode].create].sort((a, b) => a - b);
      const f = [...times[mode].firstTask].sort((a, b) => a - b);
      return [mode, STARTS, percentile(c, 50).toFixed(0), percentile(f, 50).toFixed(0)];
    };
    const pre = percentile([...times.prebuilt.create].sort((a, b) => a - b), 50);
    const at = percentile([...times['bundle-at-start'].create].sort((a, b) => a - b), 50);
    await report(
      '`npm run bench:startup` (worker start-up, prebuilt bundle vs bundling at start)',
      ['workflow code', 'starts', 'createWorkers median ms', 'to first provision done, median ms'],
      [row('prebuilt'), row('bundle-at-start')],
      [
        `Building the bundle once (npm run build:workflows): ${buildMs.toFixed(0)} ms, ${(bytes / 1024).toFixed(0)} KiB. Prebuilt starts ${(at / pre).toFixed(1)}x faster (createWorkers median).`,
        'The first provision here is of a new plant, so it includes one full provision (about 10 activities).',
      ],
    );
  } finally {
    await w.close();
    await stack.stop();
  }
}

await main();
