import {
  DeleteCertificateCommand,
  DeletePolicyCommand,
  DescribeThingCommand,
  DetachPolicyCommand,
  DetachThingPrincipalCommand,
  GetTopicRuleCommand,
  ListCertificatesCommand,
  ReplaceTopicRuleCommand,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { plantRuleNameFor, policyNameFor, SHARED_POLICY_NAME, thingNameFor } from '../../src/iot/naming.js';
import { plantRuleSql } from '../../src/iot/topic-rule.js';
import {
  buildDriftReport,
  confirmRemoval,
  type DriftReport,
  ensureReconcileSchedule,
  plantIdOfPolicy,
  plantIdOfRule,
  plantIdOfThing,
  RECONCILE_SCHEDULE_ID,
  type ReconcileResult,
} from '../../src/reconcile/index.js';
import type { reconcile } from '../../src/workflows/reconcile.js';
import { ran, tsx } from '../support/child.js';
import { resetMoto } from '../support/moto.js';
import { plantId, RECONCILE_KEY, ReconcileHarness } from '../support/reconcile-harness.js';
import { createDevServerEnv } from '../support/temporal.js';

let env: TestWorkflowEnvironment;
let h: ReconcileHarness;

beforeAll(async () => {
  // The dev server, not the time-skipping one: nothing here waits on timers, and the Java test
  // server stalled (expired workflow tasks, then no progress) under this many concurrent workflows.
  env = await createDevServerEnv();
  h = new ReconcileHarness(env);
});

afterAll(async () => {
  await h?.close();
  await env?.teardown();
});

beforeEach(async () => {
  await resetMoto();
  await h.resetDatabase();
  await h.createQueue();
});

/** A report reduced to what a test can state exactly. */
function summary(report: DriftReport) {
  return {
    orphans: report.orphans.map((o) => `${o.kind} ${o.name} ${o.removable ? 'removable' : 'kept'}`).sort(),
    missing: report.missing.map((m) => `${m.kind} ${m.name}`).sort(),
    unattached: report.unattached.map((u) => `${u.certificateId} ${u.from}`).sort(),
    inFlight: report.inFlight.map((p) => p.plantId).sort(),
    drift: report.drift,
  };
}

describe('naming', () => {
  it('maps our names back to plant ids, and nothing else', () => {
    for (const id of ['a-b', 'a_b', 'A_1-0_', '6f1c1f0e-5d7b-4d8e-9a63-1f2a3b4c5d6e']) {
      expect(plantIdOfThing(thingNameFor(id))).toBe(id);
      expect(plantIdOfPolicy(policyNameFor(id))).toBe(id);
      expect(plantIdOfRule(plantRuleNameFor(id))).toBe(id);
    }
    for (const name of [
      'weather-station',
      'solar-plant-',
      'solar-plant-a/b',
      'solar_plant_rule_a_2b',
      'solar_plant_telemetry',
    ]) {
      expect(plantIdOfThing(name) ?? plantIdOfRule(name) ?? plantIdOfPolicy(name)).toBeNull();
    }
  });
});

describe('reconcile', () => {
  it('reports drift made by hand, removes only what our naming and records prove ours, then finds none of it', async () => {
    const [A, B, D, E, G, C, H, J, K, L] = ['A', 'B', 'D', 'E', 'G', 'C', 'H', 'J', 'K', 'L'].map(plantId);
    if (!A || !B || !D || !E || !G || !C || !H || !J || !K || !L) throw new Error('unreachable');
    const foreign = await h.createForeignResources();
    const out = await h.withWorker({}, async (taskQueue) => {
      const [a, b, d, e] = await Promise.all([A, B, D, E].map((id) => h.provision(id, taskQueue)));
      if (!a || !b || !d || !e) throw new Error('provisioning failed');
      expect(summary((await buildDriftReport({ ...h, db: h.db })).report).drift).toBe(0);

      // B: marked deprovisioned in our database while its AWS resources stayed.
      await h.setStatus(B, 'deprovisioned');
      // D: its certificate lost both attachments.
      await h.iot.send(
        new DetachThingPrincipalCommand({ thingName: d.thingName, principal: d.certificateArn }),
      );
      await h.iot.send(new DetachPolicyCommand({ policyName: d.policyName, target: d.certificateArn }));
      // E: its policy deleted in the console.
      await h.iot.send(new DetachPolicyCommand({ policyName: e.policyName, target: e.certificateArn }));
      await h.iot.send(new DeletePolicyCommand({ policyName: e.policyName }));
      // G: a certificate issued for a stored key whose answer never came back; the plant failed.
      await h.addPlant(G, 'failed');
      const g = await h.certificateFromStoredKey(G);
      // C: a thing under our naming, but no record of the plant (another deployment, say).
      await h.createThing(C);
      // H: a policy under our naming with a document we never wrote.
      await h.addPlant(H, 'deprovisioned');
      await h.createPolicy(
        H,
        JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'iot:*', Resource: '*' }],
        }),
      );
      // J: a key still stored for a certificate that is gone.
      await h.addPlant(J, 'deprovisioned');
      const staleRequest = await h.staleKey(J);
      // K: a per-plant rule left behind.
      await h.addPlant(K, 'deprovisioned');
      await h.createRule(plantRuleNameFor(K), plantRuleSql(K));
      // L: mid-provision: not judged.
      await h.addPlant(L, 'provisioning');
      await h.createThing(L);

      const { report } = await buildDriftReport({ ...h, db: h.db, temporal: env.client });
      expect(summary(report)).toEqual({
        orphans: [
          `certificate ${b.certificateId} removable`,
          `certificate ${g.certificateId} removable`,
          `policy ${policyNameFor(B)} removable`,
          `policy ${policyNameFor(H)} kept`,
          `rule ${plantRuleNameFor(K)} removable`,
          `stored-key ${staleRequest} removable`,
          `thing ${thingNameFor(B)} removable`,
          `thing ${thingNameFor(C)} kept`,
        ].sort(),
        missing: [`policy ${policyNameFor(E)}`],
        unattached: [`${d.certificateId} policy`, `${d.certificateId} thing`],
        inFlight: [L],
        drift: 11,
      });
      const proofOf = (name: string) => report.orphans.find((o) => o.name === name)?.proof;
      expect(proofOf(b.certificateId)).toBe('certificate id in our certificates table');
      expect(proofOf(g.certificateId)).toBe(`issued for our stored key (request ${g.requestId})`);
      expect(proofOf(thingNameFor(C))).toMatch(/naming only/);
      expect(proofOf(policyNameFor(H))).toMatch(/document is not the one we create/);
      expect(JSON.stringify(report)).not.toContain(foreign.certificateId);
      expect(JSON.stringify(report)).not.toContain('weather');

      const removal = await env.client.workflow.execute<typeof reconcile>('reconcile', {
        taskQueue,
        workflowId: `reconcile-${B}`,
        args: [{ remove: true }],
      });
      const again = await env.client.workflow.execute<typeof reconcile>('reconcile', {
        taskQueue,
        workflowId: `reconcile-again-${B}`,
        args: [{ remove: true }],
      });
      return { removal, again, a, b, g, staleRequest };
    });
    const { removal, again, a, b, g, staleRequest } = out;
    expect(removal.failed).toEqual([]);
    expect(removal.skipped).toEqual([]);
    expect(removal.removed.sort()).toEqual(
      [
        `certificate ${b.certificateId}`,
        `certificate ${g.certificateId}`,
        `policy ${policyNameFor(B)}`,
        `rule ${plantRuleNameFor(K)}`,
        `stored key ${staleRequest}`,
        `thing ${thingNameFor(B)}`,
      ].sort(),
    );
    expect(summary(removal.after as DriftReport)).toEqual({
      orphans: [`policy ${policyNameFor(H)} kept`, `thing ${thingNameFor(C)} kept`],
      missing: [`policy ${policyNameFor(E)}`],
      unattached: expect.any(Array),
      inFlight: [L],
      drift: 5,
    });
    expect(again.removed).toEqual([]);
    expect(again.after?.drift).toBe(5);

    // What was removed is gone, keys included; what was not ours or not proven is still there.
    expect((await h.certificateRow(g.requestId))?.encryptedPrivateKey).toBeNull();
    expect((await h.certificateRow(staleRequest))?.status).toBe('destroyed');
    const { certificates = [] } = await h.iot.send(new ListCertificatesCommand({}));
    expect(certificates.map((c) => c.certificateId).sort()).not.toContain(g.certificateId);
    expect(certificates).toHaveLength(4); // A, D, E and the foreign one
    await expect(h.iot.send(new DescribeThingCommand({ thingName: thingNameFor(B) }))).rejects.toThrow(
      /not/i,
    );
    for (const thingName of [a.thingName, thingNameFor(C), thingNameFor(L), 'weather-station-1']) {
      await h.iot.send(new DescribeThingCommand({ thingName }));
    }
  }, 600_000); // provisions and removes ten plants for real: minutes on a loaded 2-core machine

  it('leaves a plant alone while an operation of it runs, and re-checks just before removing', async () => {
    const M = plantId('M');
    await h.addPlant(M, 'deprovisioned');
    await h.createThing(M);
    // A provision of M that no worker serves: it stays RUNNING.
    const handle = await env.client.workflow.start('provisionPlant', {
      taskQueue: `nobody-${M}`,
      workflowId: `provision-plant-${M}`,
      args: [{ plantId: M, plantName: 'M' }],
    });
    try {
      const withTemporal = await buildDriftReport({ ...h, db: h.db, temporal: env.client });
      expect(summary(withTemporal.report)).toMatchObject({ orphans: [], inFlight: [M], drift: 0 });
      expect(withTemporal.plan).toEqual([]);
      // Without Temporal the report sees the orphan; the removal's last check still refuses.
      const blind = await buildDriftReport({ ...h, db: h.db });
      expect(summary(blind.report).orphans).toEqual([`thing ${thingNameFor(M)} removable`]);
      const group = blind.plan[0];
      if (!group) throw new Error('expected a removal group');
      expect(await confirmRemoval({ db: h.db, temporal: env.client }, group)).toEqual({
        confirmed: false,
        reason: `workflow provision-plant-${M} is running`,
      });
      await h.setStatus(M, 'failed');
      expect((await confirmRemoval({ db: h.db, temporal: env.client }, group)).reason).toMatch(
        /status changed from deprovisioned to failed/,
      );
    } finally {
      await handle.terminate();
    }
    expect(
      await confirmRemoval({ db: h.db, temporal: env.client }, { plantId: M, plantStatus: 'failed' }),
    ).toMatchObject({
      confirmed: true,
    });
  });

  it('never reports the shared policy as an orphan, and checks that active plants hold it', async () => {
    const [S, T] = [plantId('S'), plantId('T')];
    h.settings = { ...h.settings, policyMode: 'shared' };
    try {
      const [s, t] = await h.withWorker({}, (taskQueue) =>
        Promise.all([h.provision(S, taskQueue), h.provision(T, taskQueue)]),
      );
      expect(s.policyName).toBe(SHARED_POLICY_NAME);
      const clean = await buildDriftReport({ ...h, db: h.db });
      expect(summary(clean.report)).toMatchObject({ orphans: [], missing: [], unattached: [], drift: 0 });

      // Detached by hand from one plant's certificate: reported for that plant only.
      await h.iot.send(new DetachPolicyCommand({ policyName: SHARED_POLICY_NAME, target: s.certificateArn }));
      const detached = await buildDriftReport({ ...h, db: h.db });
      expect(summary(detached.report)).toMatchObject({
        orphans: [],
        unattached: [`${s.certificateId} policy`],
        drift: 1,
      });

      // Gone from AWS: missing for the plants that name it, never an orphan.
      await h.iot.send(new DetachPolicyCommand({ policyName: SHARED_POLICY_NAME, target: t.certificateArn }));
      await h.iot.send(new DeletePolicyCommand({ policyName: SHARED_POLICY_NAME }));
      const gone = await buildDriftReport({ ...h, db: h.db });
      expect(summary(gone.report)).toMatchObject({
        orphans: [],
        missing: [`policy ${SHARED_POLICY_NAME}`, `policy ${SHARED_POLICY_NAME}`],
      });
    } finally {
      h.settings = { ...h.settings, policyMode: 'per-plant' };
    }
  });

  it('reports a missing shared rule and an inactive certificate of an active plant', async () => {
    const N = plantId('N');
    const n = await h.withWorker({}, (taskQueue) => h.provision(N, taskQueue));
    await h.iot.send(new UpdateCertificateCommand({ certificateId: n.certificateId, newStatus: 'INACTIVE' }));
    await resetRules();
    const { report } = await buildDriftReport({ ...h, db: h.db });
    expect(summary(report)).toMatchObject({
      missing: [`certificate ${n.certificateId}`, 'shared-rule solar_plant_telemetry'],
      drift: 2,
    });
    expect(report.missing.find((m) => m.kind === 'certificate')?.reason).toBe('INACTIVE in AWS');
    // Deleted outright: missing too.
    await h.iot.send(
      new DetachThingPrincipalCommand({ thingName: n.thingName, principal: n.certificateArn }),
    );
    await h.iot.send(new DetachPolicyCommand({ policyName: n.policyName, target: n.certificateArn }));
    await h.iot.send(new DeleteCertificateCommand({ certificateId: n.certificateId }));
    const after = await buildDriftReport({ ...h, db: h.db });
    expect(after.report.missing.find((m) => m.kind === 'certificate')).toMatchObject({
      name: n.certificateId,
      reason: 'not in AWS',
    });
  });
});

describe("reconcile: the rules' error action", () => {
  it('reports a rule without the error action to the dead-letter queue, shared or per plant, as drift', async () => {
    const [P, Q] = [plantId('P'), plantId('Q')];
    await h.withWorker({}, (taskQueue) => h.provision(P, taskQueue));
    h.settings = { ...h.settings, topicRuleMode: 'per-plant' };
    let ruleOfQ: string | undefined;
    try {
      ruleOfQ = (await h.withWorker({}, (taskQueue) => h.provision(Q, taskQueue))).ruleName;
    } finally {
      h.settings = { ...h.settings, topicRuleMode: 'shared' };
    }
    if (!ruleOfQ) throw new Error('per-plant provisioning made no rule');
    expect(summary((await buildDriftReport({ ...h, db: h.db })).report).drift).toBe(0);

    // As releases before the error action left them: the rule without it.
    for (const ruleName of ['solar_plant_telemetry', ruleOfQ]) {
      const { rule } = await h.iot.send(new GetTopicRuleCommand({ ruleName }));
      await h.iot.send(
        new ReplaceTopicRuleCommand({
          ruleName,
          topicRulePayload: {
            sql: rule?.sql,
            actions: rule?.actions,
            awsIotSqlVersion: rule?.awsIotSqlVersion,
          },
        }),
      );
    }
    const { report } = await buildDriftReport({ ...h, db: h.db });
    expect(summary(report)).toMatchObject({
      orphans: [],
      missing: [`error-action ${ruleOfQ}`, 'error-action solar_plant_telemetry'],
      drift: 2,
    });
    expect(report.missing.find((m) => m.name === ruleOfQ)).toMatchObject({
      plantId: Q,
      reason: expect.stringContaining(`${h.settings.sqsQueueUrl}-dlq`),
    });
  });
});

async function resetRules() {
  const { DeleteTopicRuleCommand } = await import('@aws-sdk/client-iot');
  await h.iot.send(new DeleteTopicRuleCommand({ ruleName: 'solar_plant_telemetry' }));
}

const runCli = (args: string[], extra: Record<string, string> = {}) =>
  ran(tsx(['src/cli/main.ts', ...args]), {
    env: { ...process.env, ENCRYPTION_KEY: RECONCILE_KEY, LOG_LEVEL: 'silent', ...extra },
  });

describe('solar-iot reconcile', () => {
  it('reports (exit 1), removes with --remove (exit 0), and refuses unknown arguments (exit 2)', async () => {
    const P = plantId('P');
    await h.addPlant(P, 'deprovisioned');
    await h.createThing(P);
    const staleRequest = await h.staleKey(P);

    const report = await runCli(['--json', 'reconcile']);
    expect(report.stderr).toBe('');
    expect(report.code).toBe(1);
    const parsed = JSON.parse(report.stdout) as ReconcileResult;
    expect(summary(parsed.report).orphans).toEqual([
      `stored-key ${staleRequest} removable`,
      `thing ${thingNameFor(P)} removable`,
    ]);

    const text = await runCli(['reconcile']);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`orphan thing ${thingNameFor(P)} (plant ${P}, deprovisioned)`);
    expect(text.stdout).toContain('run with --remove to delete the 2 orphan(s) proven ours');

    const removed = await runCli(['reconcile', '--remove']);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toMatch(/^removed: .+$/m);
    expect(
      removed.stdout
        .match(/^removed: (.+)$/m)?.[1]
        ?.split(', ')
        .sort(),
    ).toEqual([`stored key ${staleRequest}`, `thing ${thingNameFor(P)}`].sort());
    expect(removed.stdout).toMatch(/after removal .*\ndrift: 0/);
    await expect(h.iot.send(new DescribeThingCommand({ thingName: thingNameFor(P) }))).rejects.toThrow();

    const wrong = await runCli(['reconcile', '--delete-everything']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("unknown option '--delete-everything'");

    // The check itself failing (AWS unreachable) is exit 3, not drift.
    const unreachable = await runCli(['reconcile'], { AWS_ENDPOINT_URL: 'http://127.0.0.1:1' });
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toContain('reconciliation failed');
  });
});

describe('ensureReconcileSchedule', () => {
  it('creates the schedule once and brings it to new options afterwards', async () => {
    const dev = await createDevServerEnv();
    try {
      const first = await ensureReconcileSchedule(dev.client, { every: '1h', taskQueue: 'reconcile-test' });
      const second = await ensureReconcileSchedule(dev.client, {
        every: '15m',
        remove: true,
        taskQueue: 'reconcile-test',
      });
      expect(first).toEqual({ scheduleId: RECONCILE_SCHEDULE_ID, created: true });
      expect(second).toEqual({ scheduleId: RECONCILE_SCHEDULE_ID, created: false });
      const described = await dev.client.schedule.getHandle(RECONCILE_SCHEDULE_ID).describe();
      expect(described.spec.intervals).toMatchObject([{ every: 15 * 60_000 }]);
      expect(described.policies.overlap).toBe(ScheduleOverlapPolicy.SKIP);
      expect(described.action).toMatchObject({
        type: 'startWorkflow',
        workflowType: 'reconcile',
        args: [{ remove: true }],
      });
    } finally {
      await dev.client.schedule
        .getHandle(RECONCILE_SCHEDULE_ID)
        .delete()
        .catch(() => undefined);
      await dev.teardown();
    }
  });
});
