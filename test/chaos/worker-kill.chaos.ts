/**
 * SIGKILL of the worker during every step of provisioning and of deprovisioning.
 *
 * One plant per step, each held inside its step at the moment of the kill:
 * - AWS steps: the fault middleware delays that plant's call AFTER AWS has carried it out
 *   (`Op@name=delay-after`), the hardest case: the work is done, the answer never arrives;
 * - database steps: the test holds a row lock on the plant, so the step's UPDATE waits;
 * - coordination steps: a deprovision (or provision) of the same plant is itself held, so the
 *   other operation waits for it;
 * - describe-endpoint: every DescribeEndpoint is delayed 20 s and that plant starts last.
 * The `status` query shows each plant in its step; the worker is killed once for all of them and
 * restarted without faults. Every workflow must complete, each interrupted activity must show a
 * retry in the history (proof that the kill hit that step), every plant must end with exactly one
 * certificate or nothing, and reconciliation must find zero drift.
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plants } from '../../src/db/schema.js';
import { plantRuleNameFor, policyNameFor, thingNameFor } from '../../src/iot/naming.js';
import { startDeprovisioning, startProvisioning } from '../../src/service/workflow-starters.js';
import { deprovisionWorkflowId, provisionWorkflowId } from '../../src/workflows/contract.js';
import { expectConsistent, lastAttempt, statusOf } from '../support/chaos-checks.js';
import { ChaosStack, waitFor } from '../support/chaos-stack.js';

let stack: ChaosStack;

beforeAll(async () => {
  stack = await ChaosStack.start('worker-kill');
}, 300_000);

afterAll(async () => {
  await stack?.stop();
});

const HOLD = 'delay-after:600000';

interface Target {
  plantId: string;
  operation: 'provision' | 'deprovision';
  /** Step name in the status query (prefix). */
  step: string;
  /** The activity the kill interrupts: its retry must show in the history. */
  activity: string;
}

describe('worker SIGKILL at every step', () => {
  it('completes every provision and deprovision with one certificate per plant and zero drift', async () => {
    const id = () => randomUUID();
    const P = Array.from({ length: 10 }, id);
    const Q = Array.from({ length: 8 }, id);
    const [P1, P2, P3, P4, P5, P6, P7, P8, P9, P10] = P as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const [Q1, Q2, Q3, Q4, Q5, Q6, Q7, Q8] = Q as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];

    const targets: Target[] = [
      {
        plantId: P1,
        operation: 'provision',
        step: 'wait-for-deprovision',
        activity: 'waitForDeprovisioning',
      },
      { plantId: P2, operation: 'provision', step: 'record-start', activity: 'beginProvisioning' },
      { plantId: P3, operation: 'provision', step: 'create-thing', activity: 'createThing' },
      { plantId: P4, operation: 'provision', step: 'create-certificate', activity: 'createCertificate' },
      { plantId: P5, operation: 'provision', step: 'create-policy', activity: 'createPolicy' },
      { plantId: P6, operation: 'provision', step: 'attach-policy', activity: 'attachPolicy' },
      { plantId: P7, operation: 'provision', step: 'attach-certificate', activity: 'attachThingPrincipal' },
      { plantId: P8, operation: 'provision', step: 'create-rule', activity: 'ensureTelemetryRoute' },
      { plantId: P9, operation: 'provision', step: 'describe-endpoint', activity: 'getDataEndpoint' },
      { plantId: P10, operation: 'provision', step: 'record-provisioned', activity: 'recordProvisioned' },
      { plantId: Q1, operation: 'deprovision', step: 'stop-provisioning', activity: 'stopProvisioning' },
      { plantId: Q2, operation: 'deprovision', step: 'record-start', activity: 'beginDeprovisioning' },
      { plantId: Q3, operation: 'deprovision', step: 'list-principals', activity: 'listThingPrincipals' },
      { plantId: Q4, operation: 'deprovision', step: 'delete-rule', activity: 'removeTelemetryRoute' },
      { plantId: Q5, operation: 'deprovision', step: 'release-certificate', activity: 'detachPolicy' },
      { plantId: Q6, operation: 'deprovision', step: 'delete-thing', activity: 'deleteThing' },
      { plantId: Q7, operation: 'deprovision', step: 'delete-policy', activity: 'deletePolicy' },
      {
        plantId: Q8,
        operation: 'deprovision',
        step: 'record-deprovisioned',
        activity: 'recordDeprovisioned',
      },
    ];
    const faults = [
      'seed=1',
      `ListThingPrincipals@${thingNameFor(P1)}=${HOLD}`, // P1's deprovision holds P1's provision
      `CreateThing@${thingNameFor(P3)}=${HOLD}`,
      `CreateCertificateFromCsr@${thingNameFor(P4)}=${HOLD}`, // the CSR subject names the thing
      `CreatePolicy@${policyNameFor(P5)}=${HOLD}`,
      `AttachPolicy@${policyNameFor(P6)}=${HOLD}`,
      `AttachThingPrincipal@${thingNameFor(P7)}=${HOLD}`,
      `CreateTopicRule@${plantRuleNameFor(P8)}=${HOLD}`,
      'DescribeEndpoint=delay:20000',
      `CreateThing@${thingNameFor(Q1)}=${HOLD}`, // Q1's provision holds Q1's deprovision
      `ListThingPrincipals@${thingNameFor(Q3)}=${HOLD}`,
      `DeleteTopicRule@${plantRuleNameFor(Q4)}=${HOLD}`,
      `DetachPolicy@${policyNameFor(Q5)}=${HOLD}`,
      `DeleteThing@${thingNameFor(Q6)}=${HOLD}`,
      `DeletePolicy@${policyNameFor(Q7)}=${HOLD}`,
      `DeletePolicy@${policyNameFor(Q8)}=delay-after:15000`,
    ].join(';');

    const client = await stack.client();
    // Per-plant rule and policy: the steps above hold their CreateTopicRule and policy calls.
    const worker = await stack.startWorker({
      faults,
      env: { TOPIC_RULE_MODE: 'per-plant', POLICY_MODE: 'per-plant' },
    });
    const provision = (plantId: string) =>
      startProvisioning(client, { plantId, plantName: `Plant ${plantId.slice(0, 8)}` });
    const deprovision = (plantId: string) => startDeprovisioning(client, { plantId });
    const stepOf = async (workflowId: string) =>
      (await statusOf(client, workflowId))?.currentStep ?? undefined;
    const reach = (workflowId: string, step: string) =>
      waitFor(
        `${workflowId} to reach ${step}`,
        async () => (await stepOf(workflowId))?.startsWith(step),
        180_000,
      );

    // Plants to deprovision, provisioned first (the faults above do not touch their provisioning).
    await Promise.all([Q2, Q3, Q4, Q5, Q6, Q7, Q8].map(async (q) => (await provision(q)).result()));
    await stack.database.db.insert(plants).values({ id: P2, name: 'P2' });
    const locks = [await stack.lockPlantRow(P2), await stack.lockPlantRow(Q2)];

    const handles: WorkflowHandle[] = [];
    handles.push(await deprovision(P1));
    await reach(deprovisionWorkflowId(P1), 'list-principals');
    for (const p of [P1, P2, P3, P4, P5, P6, P7, P8, P10]) handles.push(await provision(p));
    const q1Provision = await provision(Q1);
    await reach(provisionWorkflowId(Q1), 'create-thing');
    for (const q of Q) handles.push(await deprovision(q));

    // P10 and Q8 pass through a held step; lock their row meanwhile, so the next step waits.
    await reach(provisionWorkflowId(P10), 'describe-endpoint');
    locks.push(await stack.lockPlantRow(P10));
    await reach(deprovisionWorkflowId(Q8), 'delete-policy');
    locks.push(await stack.lockPlantRow(Q8));

    const workflowIdOf = (t: Target) =>
      t.operation === 'provision' ? provisionWorkflowId(t.plantId) : deprovisionWorkflowId(t.plantId);
    for (const t of targets.filter((t) => t.plantId !== P9)) await reach(workflowIdOf(t), t.step);
    // Last: P9 stays in describe-endpoint for 20 s from its arrival.
    handles.push(await provision(P9));
    await reach(provisionWorkflowId(P9), 'describe-endpoint');
    const atKill = await Promise.all(targets.map(async (t) => `${t.step}: ${await stepOf(workflowIdOf(t))}`));

    await worker.kill();
    // Every target in its step when the kill lands (a diff names any that was not).
    expect(atKill.filter((line) => !line.split(': ')[1]?.startsWith(line.split(': ')[0] ?? '-'))).toEqual([]);
    for (const lock of locks) await lock.release();
    const restarted = await stack.startWorker({
      env: { TOPIC_RULE_MODE: 'per-plant', POLICY_MODE: 'per-plant' },
    });

    const outcomes = await Promise.allSettled(handles.map((h) => h.result()));
    const failures = outcomes.flatMap((o, i) =>
      o.status === 'rejected' ? [`${handles[i]?.workflowId}: ${o.reason}`] : [],
    );
    expect(failures).toEqual([]);
    // Q1's provision was cancelled by its deprovision and rolled back.
    await expect(q1Provision.result()).rejects.toThrow();

    // Each plant's step was really interrupted: its activity ran again after the kill.
    const attempts = await Promise.all(
      targets.map(
        async (t) =>
          `${t.operation} ${t.step}: ${(await lastAttempt(client, workflowIdOf(t), t.activity)) >= 2 ? 'retried' : 'NOT retried'}`,
      ),
    );
    expect(attempts).toEqual(targets.map((t) => `${t.operation} ${t.step}: retried`));

    await expectConsistent(stack, { active: P, gone: Q, perPlantRules: true });
    await restarted.stop();
  });
});
