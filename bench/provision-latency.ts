/**
 * `npm run bench:provision`: one plant at a time, local stack (moto, PostgreSQL, Temporal dev
 * server). (t) provisionPlant through Temporal, worker set from createWorkers in this process;
 * (d) the same activities (same AWS and database calls, same order) called directly in a loop on
 * the same moto. Ratio t/d = the cost of durability. The last workflow's history splits its time
 * into activity queueing (schedule -> start), activity execution (start -> complete) and the rest
 * (workflow tasks and round trips). Environment: BENCH_PLANTS (default 20).
 */
import { randomUUID } from 'node:crypto';
import protoModule from '@temporalio/proto';
import { buildWorkflowBundle } from '../src/worker/bundle.js';
import { createWorkers } from '../src/worker/workers.js';
import { provisionWorkflowId } from '../src/workflows/contract.js';
import { int, log, percentile, productWiring, report, startBenchStack } from './stack.js';

const PLANTS = int('BENCH_PLANTS', 20);
const WARMUP = 2;
const bundlePath = `${process.env.TMPDIR ?? '/tmp'}/solar-iot-bench-bundle-${process.pid}.js`;

const ms = (t?: { seconds?: unknown; nanos?: number | null } | null) =>
  t ? Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : 0;

async function main() {
  const stack = await startBenchStack();
  const w = await productWiring(stack);
  try {
    await buildWorkflowBundle(bundlePath);
    const taskQueue = `bench-${randomUUID()}`;
    const workers = await createWorkers({
      connection: w.nativeConnection,
      taskQueue,
      workflowBundle: { codePath: bundlePath },
      dataConverter: w.dataConverter,
      activities: w.activities,
    });
    const temporal: number[] = [];
    let lastWorkflowId = '';
    await workers.runUntil(async () => {
      for (let i = 0; i < WARMUP + PLANTS; i++) {
        const plantId = randomUUID();
        lastWorkflowId = provisionWorkflowId(plantId);
        const t0 = performance.now();
        await w.temporal.workflow.execute('provisionPlant', {
          taskQueue,
          workflowId: lastWorkflowId,
          args: [{ plantId, plantName: `Bench ${i}` }],
        });
        if (i >= WARMUP) temporal.push(performance.now() - t0);
      }
    });
    log(`through Temporal: ${PLANTS} plants`);

    // Where the time of one provision goes, from its history.
    const history = await w.temporal.workflow.getHandle(lastWorkflowId).fetchHistory();
    const events = history.events ?? [];
    const E = protoModule.temporal.api.enums.v1.EventType;
    const scheduled = new Map<number, number>();
    const started = new Map<number, number>();
    let queued = 0;
    let running = 0;
    let activities = 0;
    let workflowTasks = 0;
    let localActivities = 0;
    for (const e of events) {
      const at = ms(e.eventTime);
      if (e.eventType === E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) scheduled.set(Number(e.eventId), at);
      if (e.eventType === E.EVENT_TYPE_ACTIVITY_TASK_STARTED) {
        const s = Number(e.activityTaskStartedEventAttributes?.scheduledEventId);
        started.set(s, at);
        queued += at - (scheduled.get(s) ?? at);
      }
      if (e.eventType === E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) {
        const s = Number(e.activityTaskCompletedEventAttributes?.scheduledEventId);
        running += at - (started.get(s) ?? at);
        activities += 1;
      }
      if (e.eventType === E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) workflowTasks += 1;
      if (e.markerRecordedEventAttributes?.markerName === 'core_local_activity') localActivities += 1;
    }
    const total = ms(events.at(-1)?.eventTime) - ms(events[0]?.eventTime);

    const direct: number[] = [];
    const a = w.activities;
    for (let i = 0; i < WARMUP + PLANTS; i++) {
      const plantId = randomUUID();
      const requestId = `direct-${plantId}`;
      const t0 = performance.now();
      await a.beginProvisioning({ plantId, plantName: `Direct ${i}` });
      // The workflow's steps (POLICY_MODE as configured: the shared policy by default).
      const policy = await a.plantPolicy({ plantId });
      const thing = await a.createThing({ plantId });
      const cert = await a.createCertificate({ plantId, requestId });
      const { policyName } = policy.shared ? policy : await a.createPolicy({ plantId });
      await a.attachPolicy({ policyName, certificateArn: cert.certificateArn });
      await a.attachThingPrincipal({ thingName: thing.thingName, certificateArn: cert.certificateArn });
      await a.ensureTelemetryRoute({ plantId });
      const endpoint = await a.getDataEndpoint();
      await a.recordProvisioned({ plantId, resources: { ...thing, ...cert, policyName, endpoint } });
      if (i >= WARMUP) direct.push(performance.now() - t0);
    }
    log(`direct: ${PLANTS} plants`);

    temporal.sort((x, y) => x - y);
    direct.sort((x, y) => x - y);
    const f = (n: number) => n.toFixed(0);
    const [t50, t95, d50, d95] = [
      percentile(temporal, 50),
      percentile(temporal, 95),
      percentile(direct, 50),
      percentile(direct, 95),
    ];
    await report(
      `\`npm run bench:provision\` (single plant, ${PLANTS} plants after ${WARMUP} warm-up)`,
      ['path', 'p50 ms', 'p95 ms', 'mean ms'],
      [
        ['(t) provisionPlant through Temporal', f(t50), f(t95), f(temporal.reduce((s, x) => s + x, 0) / PLANTS)],
        ['(d) same activities, direct loop', f(d50), f(d95), f(direct.reduce((s, x) => s + x, 0) / PLANTS)],
        ['ratio t/d', (t50 / d50).toFixed(2), (t95 / d95).toFixed(2), ''],
      ],
      [
        `One provision's history (${events.length} events, ${workflowTasks} workflow tasks, ${activities} activities + ${localActivities} local): ` +
          `${f(total)} ms first to last event; activities queued (schedule->start) ${f(queued)} ms, ` +
          `executing (start->complete) ${f(running)} ms, the rest (workflow tasks, dispatch round trips) ${f(total - queued - running)} ms.`,
      ],
    );
  } finally {
    await w.close();
    await stack.stop();
  }
}

await main();
