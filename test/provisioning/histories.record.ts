/**
 * Records the histories test/provisioning/replay.test.ts replays: a provision, a rolled-back
 * provision and a deprovision, run on the time-skipping server against moto. Not part of
 * `npm test`; run it after an intended, versioned workflow change (patched()):
 *   npm run record:histories
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { deprovisionWorkflowId, provisionWorkflowId } from '../../src/workflows/contract.js';
import { resetMoto } from '../support/moto.js';
import { newPlantId, ProvisioningHarness } from '../support/provisioning-harness.js';
import { createTimeSkippingEnv } from '../support/temporal.js';

const historiesDir = fileURLToPath(new URL('./histories/', import.meta.url));

describe('recording histories', () => {
  let env: TestWorkflowEnvironment;
  let h: ProvisioningHarness;
  beforeAll(async () => {
    env = await createTimeSkippingEnv();
    h = new ProvisioningHarness(env);
    // The product default (POLICY_MODE=shared): the histories take the patched('shared-policy') path.
    h.settings = { ...h.settings, policyMode: 'shared' };
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
