/**
 * Records the histories test/provisioning/replay.test.ts replays, one per workflow shape (see
 * recordedShapes there), run on the time-skipping server against moto and PostgreSQL. Not part
 * of `npm test`; run it after a change to workflow code (src/workflows/patches.ts says when such
 * a change needs patched() instead):
 *   npm run record:histories
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import proto from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toActivityFailure } from '../../src/iot/aws-errors.js';
import { thingNameFor } from '../../src/iot/naming.js';
import { rotateCertificateWorkflowId } from '../../src/rotation/contract.js';
import {
  deprovisionWorkflowId,
  provisionWorkflowId,
  statusQuery,
  submitCsrUpdate,
} from '../../src/workflows/contract.js';
import { deviceCsr } from '../support/device-csr.js';
import { resetMoto } from '../support/moto.js';
import { newPlantId, ProvisioningHarness } from '../support/provisioning-harness.js';
import { createDevServerEnv, createTimeSkippingEnv } from '../support/temporal.js';
import type { ActivityOverrides } from '../support/worker.js';
import { type RecordedShape, recordedShapes } from './recorded-shapes.js';

const { EventType } = proto.temporal.api.enums.v1;
const historiesDir = fileURLToPath(new URL('./histories/', import.meta.url));
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('recording histories', () => {
  let env: TestWorkflowEnvironment;
  let h: ProvisioningHarness;
  beforeAll(async () => {
    env = await createTimeSkippingEnv();
    h = new ProvisioningHarness(env);
    await resetMoto();
    await h.createQueue();
  });
  afterAll(async () => {
    await h?.close();
    await env?.teardown();
  });

  const rejectAttachPolicy: ActivityOverrides = {
    attachPolicy: async () => {
      throw ApplicationFailure.nonRetryable('recorded failure', 'InvalidRequestException');
    },
  };

  const provision = (taskQueue: string, plantId: string, plantName: string) =>
    env.client.workflow.execute('provisionPlant', {
      taskQueue,
      workflowId: provisionWorkflowId(plantId),
      args: [{ plantId, plantName }],
    });

  const deprovision = (taskQueue: string, plantId: string) =>
    env.client.workflow.execute('deprovisionPlant', {
      taskQueue,
      workflowId: deprovisionWorkflowId(plantId),
      args: [{ plantId }],
    });

  /** A provision, a rolled-back provision and a deprovision in one POLICY_MODE. */
  async function recordPolicyMode(policyMode: 'shared' | 'per-plant', suffix: '' | '-per-plant-policy') {
    h.settings = { ...h.settings, policyMode };
    const plantId = newPlantId();
    const failing = newPlantId();
    await h.withWorker({}, async (taskQueue) => {
      await provision(taskQueue, plantId, 'Recorded');
      await deprovision(taskQueue, plantId);
    });
    await h
      .withWorker(rejectAttachPolicy, (taskQueue) => provision(taskQueue, failing, 'Recorded failure'))
      .catch(() => undefined);
    await save(`provision-plant${suffix}`, provisionWorkflowId(plantId));
    await save(`deprovision-plant${suffix}`, deprovisionWorkflowId(plantId));
    await save(
      `provision-plant-rolled-back${suffix}`,
      provisionWorkflowId(failing),
      EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    );
  }

  async function save(
    name: RecordedShape,
    workflowId: string,
    ending = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    client = env.client,
  ) {
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    expect(history.events?.at(-1)?.eventType, name).toBe(ending);
    writeFileSync(`${historiesDir}${name}.json`, historyToJSON(history));
  }

  it('records every shape the replay test expects', async () => {
    mkdirSync(historiesDir, { recursive: true });
    for (const file of readdirSync(historiesDir).filter((f) => f.endsWith('.json'))) {
      rmSync(`${historiesDir}${file}`);
    }

    // The product default first (POLICY_MODE=shared), then the plant's own policy (createPolicy,
    // deletePolicy in rollback and deprovision).
    await recordPolicyMode('shared', '');
    await recordPolicyMode('per-plant', '-per-plant-policy');
    h.settings = { ...h.settings, policyMode: 'shared' };

    // Cancelled while a step fails an attempt (as a deprovision cancels a provision): the step
    // ends with its own error, the provision rolls back and records the outcome outside the
    // cancelled scope. On the dev server, as test/provisioning/cancel-during-failure.test.ts:
    // the time-skipping server does not end this race as a real server does.
    const devEnv = await createDevServerEnv();
    const dev = new ProvisioningHarness(devEnv);
    dev.settings = h.settings;
    const cancelled = newPlantId();
    let attempts = 0;
    let failAttempt: () => void = () => {};
    const cancelReachedStep = new Promise<void>((resolve) => {
      failAttempt = resolve;
    });
    await dev
      .withWorker(
        {
          ensureTelemetryRoute: async () => {
            attempts += 1;
            await cancelReachedStep;
            throw toActivityFailure(
              'CreateTopicRule',
              Object.assign(new Error('Service unavailable (recorded)'), {
                name: 'ServiceUnavailableException',
                $metadata: { httpStatusCode: 503 },
              }),
            );
          },
        },
        async (taskQueue) => {
          const handle = await devEnv.client.workflow.start('provisionPlant', {
            taskQueue,
            workflowId: provisionWorkflowId(cancelled),
            args: [{ plantId: cancelled, plantName: 'Recorded cancel' }],
          });
          for (let i = 0; i < 600 && attempts === 0; i++) await pause(100);
          await handle.cancel();
          for (let i = 0; i < 300; i++) {
            const history = await handle.fetchHistory();
            if (history.events?.some((e) => e.activityTaskCancelRequestedEventAttributes)) break;
            await pause(100);
          }
          failAttempt();
          return handle.result();
        },
      )
      .catch(() => undefined);
    try {
      await save(
        'provision-plant-cancelled',
        provisionWorkflowId(cancelled),
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        devEnv.client,
      );
    } finally {
      await dev.close();
      await devEnv.teardown();
    }

    // A rotation through its grace period (a durable timer) to the old certificate's removal.
    const rotated = newPlantId();
    await h.withWorker({}, async (taskQueue) => {
      await provision(taskQueue, rotated, 'Recorded rotation');
      await env.client.workflow.execute('rotateCertificate', {
        taskQueue,
        workflowId: rotateCertificateWorkflowId(rotated),
        args: [{ plantId: rotated, gracePeriod: '1h' }],
      });
    });
    await save('rotate-certificate', rotateCertificateWorkflowId(rotated));

    // Certificate mode device-csr: the wait for the CSR (a timer and the submitCsr update), then
    // the certificate from it; and a wait that times out and rolls the thing back.
    const deviceKeyed = newPlantId();
    const timedOut = newPlantId();
    await h.withWorker({}, async (taskQueue) => {
      const start = (plantId: string, extra: object) =>
        env.client.workflow.start('provisionPlant', {
          taskQueue,
          workflowId: provisionWorkflowId(plantId),
          args: [{ plantId, plantName: 'Recorded device CSR', certificateMode: 'device-csr', ...extra }],
        });
      const handle = await start(deviceKeyed, {});
      while ((await handle.query(statusQuery)).iotStatus !== 'awaiting-csr') await pause(50);
      const { csrPem } = await deviceCsr(`CN=${thingNameFor(deviceKeyed)}`);
      await handle.executeUpdate(submitCsrUpdate, { args: [{ csrPem }] });
      await handle.result();
      await (await start(timedOut, { csrTimeoutMs: 86_400_000 })).result().catch(() => undefined);
    });
    await save('provision-plant-device-csr', provisionWorkflowId(deviceKeyed));
    await save(
      'provision-plant-device-csr-timed-out',
      provisionWorkflowId(timedOut),
      EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    );

    const written = readdirSync(historiesDir).filter((f) => f.endsWith('.json'));
    expect(written.map((f) => f.replace(/\.json$/, '')).sort()).toEqual([...recordedShapes].sort());
  });
});
