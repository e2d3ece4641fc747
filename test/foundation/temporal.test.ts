/**
 * Temporal foundation, on real servers: the Java time-skipping test server skips 30 days in
 * seconds, and the dev server keeps a completed workflow findable through the client.
 */

import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDevServerEnv,
  createTimeSkippingEnv,
  testWorkflowsPath,
  uniqueTaskQueue,
} from '../support/temporal.js';
import { runWorkers } from '../support/worker.js';
import type { greet, sleeper, tagged } from '../support/workflows/index.js';

const THIRTY_DAYS_MS = 30 * 24 * 60 * 60 * 1000;

describe('time-skipping test server', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await createTimeSkippingEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('runs a workflow that sleeps 30 days in a few seconds', async () => {
    const taskQueue = uniqueTaskQueue('time-skipping');
    const worker = {
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: testWorkflowsPath,
      activities: {},
    };
    const started = Date.now();
    const elapsedInWorkflow = await runWorkers(worker, () =>
      env.client.workflow.execute<typeof sleeper>('sleeper', {
        taskQueue,
        workflowId: `sleeper-${taskQueue}`,
        args: [THIRTY_DAYS_MS],
      }),
    );
    expect(elapsedInWorkflow).toBeGreaterThanOrEqual(THIRTY_DAYS_MS);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('has the PlantId and IotStatus search attributes registered', async () => {
    const taskQueue = uniqueTaskQueue('time-skipping-sa');
    const worker = {
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: testWorkflowsPath,
      activities: {},
    };
    const result = await runWorkers(worker, () =>
      env.client.workflow.execute<typeof tagged>('tagged', {
        taskQueue,
        workflowId: `tagged-${taskQueue}`,
        args: ['plant-1'],
      }),
    );
    expect(result).toBe('plant-1');
  });
});

describe('dev server', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await createDevServerEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('finds a completed workflow again through the client', async () => {
    const taskQueue = uniqueTaskQueue('dev-server');
    const workflowId = `greet-${taskQueue}`;
    const worker = {
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: testWorkflowsPath,
      activities: {},
    };
    const result = await runWorkers(worker, () =>
      env.client.workflow.execute<typeof greet>('greet', { taskQueue, workflowId, args: ['plant'] }),
    );
    expect(result).toBe('hello, plant');

    // After the worker is gone: a fresh handle by id only.
    const description = await env.client.workflow.getHandle(workflowId).describe();
    expect(description.status.name).toBe('COMPLETED');
    expect(description.workflowId).toBe(workflowId);
    expect(description.taskQueue).toBe(taskQueue);
    expect(await env.client.workflow.getHandle(workflowId).result()).toBe('hello, plant');
  });

  it('has the PlantId and IotStatus search attributes registered', async () => {
    const response = await env.client.connection.operatorService.listSearchAttributes({
      namespace: 'default',
    });
    expect(Object.keys(response.customAttributes)).toEqual(expect.arrayContaining(['PlantId', 'IotStatus']));
  });
});
