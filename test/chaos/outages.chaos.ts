/**
 * Outages of the servers the worker depends on, mid-provision and mid-deprovision:
 *
 * - AWS (moto) unavailable for 30 s. moto keeps its state only in memory, so killing it would be
 *   "AWS forgot every resource", which AWS never does. The outage is SIGSTOP/SIGCONT instead: the
 *   port stays open, requests hang (the IoT client has no request timeout of its own, so each
 *   activity attempt ends at its 30 s start-to-close timeout and is retried), and every request
 *   still queued is served when moto resumes, including those of attempts already given up.
 * - Temporal dev server restarted (killed, 10 s down, started on the same SQLite file): workflows
 *   resume from their history; the worker and clients reconnect by themselves.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDeprovisioning, startProvisioning } from '../../src/service/workflow-starters.js';
import { provisionWorkflowId } from '../../src/workflows/contract.js';
import { expectConsistent, statusOf } from '../support/chaos-checks.js';
import { ChaosStack, type WorkerProcess, waitFor } from '../support/chaos-stack.js';

let stack: ChaosStack;
let worker: WorkerProcess;

beforeAll(async () => {
  stack = await ChaosStack.start('outages');
  worker = await stack.startWorker();
}, 300_000);

afterAll(async () => {
  await stack?.stop();
});

afterEach(async () => {
  // Every scenario starts from an empty AWS and database, and a fresh worker: one that outlived
  // the reset would trust its last check of the shared policy and rule, which the reset deleted
  // (AWS never forgets everything at once; this is the test's doing).
  await worker.stop();
  await stack.reset();
  worker = await stack.startWorker();
});

const PLANTS = 10;
const TO_DEPROVISION = 5;

/** A workflow's result, asked again while the Temporal server is unreachable. */
async function resultOf(handle: WorkflowHandle): Promise<unknown> {
  for (;;) {
    try {
      return await handle.result();
    } catch (error) {
      const name = (error as Error).name;
      if (name === 'WorkflowFailedError' || name === 'WorkflowNotFoundError') throw error;
      await sleep(1000); // connection refused / unavailable: the server is restarting
    }
  }
}

/**
 * Starts provisioning of fresh plants and deprovisioning of provisioned ones, waits until some
 * work is done and some is left, runs `outage`, and checks that everything completes.
 */
async function survive(outage: (client: Client) => Promise<void>) {
  const client = await stack.client();
  const ids = () => Array.from({ length: PLANTS }, () => randomUUID());
  const stay = ids();
  const leave = ids().slice(0, TO_DEPROVISION);
  await Promise.all(
    leave.map(async (plantId) =>
      (await startProvisioning(client, { plantId, plantName: 'leaving' })).result(),
    ),
  );

  const handles = [
    ...(await Promise.all(
      stay.map((plantId) => startProvisioning(client, { plantId, plantName: 'staying' })),
    )),
    ...(await Promise.all(leave.map((plantId) => startDeprovisioning(client, { plantId })))),
  ];
  // Mid-flight: at least one plant past its first AWS step, and not all of them done.
  await waitFor(
    'the first provisions to create their things',
    async () => {
      const steps = await Promise.all(stay.map((p) => statusOf(client, provisionWorkflowId(p))));
      const started = steps.filter((s) => s?.stepsDone.includes('create-thing')).length;
      return started >= 1 && steps.some((s) => s?.iotStatus !== 'active');
    },
    120_000,
    100,
  );

  await outage(client);

  const outcomes = await Promise.allSettled(handles.map(resultOf));
  const failures = outcomes.flatMap((o, i) =>
    o.status === 'rejected' ? [`${handles[i]?.workflowId}: ${o.reason}`] : [],
  );
  expect(failures).toEqual([]);
  await expectConsistent(stack, { active: stay, gone: leave });
  return { stay, leave };
}

describe('outages', () => {
  it('AWS unavailable for 30 s (moto SIGSTOP): every workflow waits and completes, nothing leaks', async () => {
    let closedDuringOutage = -1;
    await survive(async (client) => {
      stack.pauseMoto();
      try {
        await sleep(30_000);
        // Nothing gave up while AWS was away.
        const list = client.workflow.list({
          query: 'ExecutionStatus != "Running" AND ExecutionStatus != "Completed"',
        });
        closedDuringOutage = 0;
        for await (const _ of list) closedDuringOutage += 1;
      } finally {
        stack.resumeMoto();
      }
    });
    expect(closedDuringOutage).toBe(0);
  });

  it('Temporal dev server killed and restarted: workflows resume from their history', async () => {
    await survive(async () => {
      await stack.restartTemporal({ signal: 'SIGKILL', downMs: 10_000 });
    });
    expect(worker.running).toBe(true); // the same worker process reconnected
  });

  /**
   * What the 30 s outage above can produce, made deterministic: the first CreateCertificateFromCsr
   * of a plant is held 40 s before it reaches AWS (a request stuck in the network), so its
   * activity attempt times out at 30 s and the retry searches for a lost certificate, finds none,
   * and asks for one; then the held request lands too.
   */
  it('a certificate request that reaches AWS after its retry leaves one certificate, recorded', async () => {
    await worker.stop();
    const plantId = randomUUID();
    const late = await stack.startWorker({ faults: `CreateCertificateFromCsr@${plantId}=delay:40000#1` });
    try {
      const client = await stack.client();
      const started = Date.now();
      const resources = await (await startProvisioning(client, { plantId, plantName: 'late' })).result();
      // Let the held request land (40 s after the first attempt) and its attempt finish.
      await sleep(Math.max(0, started + 55_000 - Date.now()));
      const [row] = await stack.database.pool
        .query('SELECT certificate_id FROM certificates WHERE plant_id = $1', [plantId])
        .then((r) => r.rows as { certificate_id: string }[]);
      expect(row?.certificate_id).toBe(resources.certificateId);
      await expectConsistent(stack, { active: [plantId], gone: [] });
    } finally {
      await late.stop();
      worker = await stack.startWorker();
    }
  });
});
