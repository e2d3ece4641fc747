/**
 * The worker's own metrics (issue 18, item 1), in-process against the time-skipping server, moto
 * and PostgreSQL: the workflow interceptor's sink counts provisions by outcome (rollbacks that
 * left resources apart, replays never), the SDK middleware counts AWS calls by outcome (injected
 * throttling included), and the plant gauges read PostgreSQL.
 */
import { DescribeThingCommand, IoTClient } from '@aws-sdk/client-iot';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { eq } from 'drizzle-orm';
import { Registry } from 'prom-client';
import { beforeAll, describe, expect, it } from 'vitest';
import { plants } from '../../src/db/schema.js';
import { AwsCallMetrics } from '../../src/iot/aws-call-metrics.js';
import { WorkerMetrics } from '../../src/worker/metrics.js';
import { countPlants } from '../../src/worker/plant-gauges.js';
import { provisionWorkflowId } from '../../src/workflows/contract.js';
import { FaultInjector } from '../../tools/faults/index.js';
import { awsClientConfig } from '../support/moto.js';
import { newPlantId } from '../support/provisioning-harness.js';
import { useProvisioningHarness } from '../support/use-provisioning-harness.js';
import { type ActivityOverrides, runWorkers } from '../support/worker.js';

const t = useProvisioningHarness();
let metrics: WorkerMetrics;

beforeAll(() => {
  metrics = new WorkerMetrics();
  // As src/worker.ts does through createAwsClients: the counters on the activities' IoT client.
  metrics.aws.install(t.h.iot);
});

/** Current value of one series of `name` (0 when absent). */
async function value(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const want = Object.entries(labels);
  return values
    .filter((v) => !('metricName' in v) || v.metricName === name)
    .filter((v) => want.every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val))
    .reduce((sum, v) => sum + v.value, 0);
}

const finished = (outcome: string) =>
  value(metrics.registry, 'solar_iot_workflows_finished_total', { workflow: 'provisionPlant', outcome });
const started = () =>
  value(metrics.registry, 'solar_iot_workflows_started_total', { workflow: 'provisionPlant' });

async function provision(overrides: ActivityOverrides, workerOptions = {}): Promise<unknown> {
  const plantId = newPlantId();
  return runWorkers(
    {
      connection: t.env.nativeConnection,
      activities: { ...t.h.realActivities(), ...overrides },
      metrics,
      workerOptions,
    },
    (taskQueue) =>
      t.env.client.workflow.execute('provisionPlant', {
        taskQueue,
        workflowId: provisionWorkflowId(plantId),
        args: [{ plantId, plantName: 'Metrics plant' }],
      }),
  ).catch((e: unknown) => e);
}

const permanently = (what: string) => async () => {
  throw ApplicationFailure.nonRetryable(`${what} refused (injected)`, 'InvalidRequestException');
};

describe('workflow counters (the interceptor sink)', () => {
  it('counts a provision started and completed once, even when every activation is a replay', async () => {
    const [s0, c0] = [await started(), await finished('completed')];
    const s0AwsCreateThing = await value(metrics.registry, 'solar_iot_aws_calls_total', {
      service: 'IoT',
      operation: 'CreateThing',
      outcome: 'success',
    });
    // No workflow cache: each activation replays the whole history before its new work.
    const result = await provision({}, { maxCachedWorkflows: 0 });
    expect(result).not.toBeInstanceOf(Error);
    expect(await started()).toBe(s0 + 1);
    expect(await finished('completed')).toBe(c0 + 1);
    expect(
      await value(metrics.registry, 'solar_iot_aws_calls_total', {
        service: 'IoT',
        operation: 'CreateThing',
        outcome: 'success',
      }),
    ).toBe(s0AwsCreateThing + 1);
  });

  it('counts a provision that failed and removed everything as rolled_back', async () => {
    const [rolledBack, incomplete] = [await finished('rolled_back'), await finished('rollback_incomplete')];
    const error = await provision({ attachPolicy: permanently('AttachPolicy') });
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(await finished('rolled_back')).toBe(rolledBack + 1);
    expect(await finished('rollback_incomplete')).toBe(incomplete);
  });

  it('counts a provision whose rollback left resources as rollback_incomplete', async () => {
    const [rolledBack, incomplete] = [await finished('rolled_back'), await finished('rollback_incomplete')];
    const error = await provision({
      attachPolicy: permanently('AttachPolicy'),
      deleteThing: permanently('DeleteThing'),
    });
    expect((error as WorkflowFailedError).cause?.message).toContain('Rollback could NOT remove');
    expect(await finished('rollback_incomplete')).toBe(incomplete + 1);
    expect(await finished('rolled_back')).toBe(rolledBack);
  });
});

describe('workflow counters: a workflow task that fails is not a finished workflow', () => {
  it('counts no failure while a bug fails the workflow task (the run is retried, not ended)', async () => {
    const failedBackfills = () =>
      value(metrics.registry, 'solar_iot_workflows_finished_total', {
        workflow: 'backfillPlants',
        outcome: 'failed',
      });
    const before = await failedBackfills();
    const workflowId = `metrics-task-failure-${newPlantId()}`;
    await runWorkers(
      { connection: t.env.nativeConnection, activities: t.h.realActivities(), metrics },
      async (taskQueue) => {
        // null is not the default input (a default parameter replaces only undefined): reading
        // input.concurrency throws a TypeError, which fails the workflow task, not the workflow.
        const handle = await t.env.client.workflow.start('backfillPlants', {
          taskQueue,
          workflowId,
          args: [null],
        });
        try {
          for (;;) {
            const { events } = await handle.fetchHistory();
            if (events?.some((e) => e.workflowTaskFailedEventAttributes)) break;
            await new Promise((r) => setTimeout(r, 100));
          }
          expect((await handle.describe()).status.name).toBe('RUNNING');
        } finally {
          await handle.terminate('test done');
        }
      },
    );
    expect(await failedBackfills()).toBe(before);
  });
});

describe('AWS call counters (the SDK middleware)', () => {
  it('counts success, throttling (an injected ThrottlingException) and client errors per operation', async () => {
    const registry = new Registry();
    const calls = new AwsCallMetrics(registry);
    const iot = new IoTClient({ ...awsClientConfig(), maxAttempts: 1 });
    calls.install(iot);
    new FaultInjector('DescribeThing@throttled-thing=1:throttling').install(iot);
    try {
      for (const thingName of ['throttled-thing', 'missing-thing'])
        await iot.send(new DescribeThingCommand({ thingName })).catch(() => undefined);
    } finally {
      iot.destroy();
    }
    const describe = (outcome: string) =>
      value(registry, 'solar_iot_aws_calls_total', { service: 'IoT', operation: 'DescribeThing', outcome });
    expect(await describe('throttled')).toBe(1);
    expect(await describe('client_error')).toBe(1); // ResourceNotFoundException, 404
    expect(await describe('success')).toBe(0);
  });
});

describe('plant gauges (PostgreSQL)', () => {
  it('count plants per IoT status and the age of the oldest provision in progress', async () => {
    await countPlants(t.h.database.db, metrics);
    const before = await value(metrics.registry, 'solar_iot_plants', { iot_status: 'provisioning' });
    const plantId = newPlantId();
    const tenMinutesAgo = new Date(Date.now() - 600_000);
    await t.h.database.db
      .insert(plants)
      .values({ id: plantId, name: 'Stuck', iotStatus: 'provisioning', updatedAt: tenMinutesAgo });
    try {
      await countPlants(t.h.database.db, metrics);
      expect(await value(metrics.registry, 'solar_iot_plants', { iot_status: 'provisioning' })).toBe(
        before + 1,
      );
      const oldest = await value(metrics.registry, 'solar_iot_plants_oldest_in_status_seconds', {
        iot_status: 'provisioning',
      });
      expect(oldest).toBeGreaterThanOrEqual(600);
    } finally {
      await t.h.database.db.delete(plants).where(eq(plants.id, plantId));
    }
  });
});
