/**
 * Replays stored histories of real provisioning runs against the current workflow code. A change
 * that would break workflows already running in production (non-determinism) fails here first.
 *
 * The histories in ./histories were recorded from runs on the time-skipping server against moto.
 * After an intended, versioned change (patched()), record them again with:
 *   RECORD_HISTORIES=1 npx vitest run test/provisioning/replay.test.ts
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deprovisionWorkflowId, provisionWorkflowId } from '../../src/workflows/contract.js';
import { resetMoto } from '../support/moto.js';
import { newPlantId, ProvisioningHarness, workflowBundle } from '../support/provisioning-harness.js';
import { createTimeSkippingEnv } from '../support/temporal.js';

const historiesDir = fileURLToPath(new URL('./histories/', import.meta.url));
const recording = process.env.RECORD_HISTORIES === '1';

describe.runIf(recording)('recording histories', () => {
  let env: TestWorkflowEnvironment;
  let h: ProvisioningHarness;
  beforeAll(async () => {
    env = await createTimeSkippingEnv();
    h = new ProvisioningHarness(env);
    await h.registerSearchAttributes();
    await resetMoto();
    await h.createQueue();
  });
  afterAll(async () => {
    await h?.close();
    await env?.teardown();
  });

  it('records a provision, a failed provision and a deprovision', async () => {
    mkdirSync(historiesDir, { recursive: true });
    const save = async (name: string, workflowId: string) => {
      const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
      writeFileSync(`${historiesDir}${name}.json`, historyToJSON(history));
    };
    const plantId = newPlantId();
    const failing = newPlantId();
    await h.withWorker({}, async (taskQueue) => {
      await env.client.workflow.execute('provisionPlant', {
        taskQueue,
        workflowId: provisionWorkflowId(plantId),
        args: [{ plantId, plantName: 'Recorded' }],
      });
      await env.client.workflow.execute('deprovisionPlant', {
        taskQueue,
        workflowId: deprovisionWorkflowId(plantId),
        args: [{ plantId }],
      });
    });
    await h
      .withWorker(
        {
          attachPolicy: async () => {
            throw ApplicationFailure.nonRetryable('recorded failure', 'InvalidRequestException');
          },
        },
        (taskQueue) =>
          env.client.workflow.execute('provisionPlant', {
            taskQueue,
            workflowId: provisionWorkflowId(failing),
            args: [{ plantId: failing, plantName: 'Recorded failure' }],
          }),
      )
      .catch(() => undefined);
    await save('provision-plant', provisionWorkflowId(plantId));
    await save('deprovision-plant', deprovisionWorkflowId(plantId));
    await save('provision-plant-rolled-back', provisionWorkflowId(failing));
  });
});

describe('replaying stored histories', () => {
  it('replays every stored history without non-determinism', async () => {
    const files = readdirSync(historiesDir).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    const histories = files.map((file) => ({
      workflowId: file.replace(/\.json$/, ''),
      history: JSON.parse(readFileSync(`${historiesDir}${file}`, 'utf8')),
    }));
    const results = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
      results.push(result);
    }
    expect(results.map((r) => [r.workflowId, r.error?.message ?? null])).toEqual(
      histories.map((h) => [h.workflowId, null]),
    );
  });
});
