/**
 * The worker runs only workflows whose payloads our codec encrypted: anyone who reaches Temporal
 * can start `deprovisionPlant` with a plain client, and that must not touch AWS. The worker's
 * codec comes from the function src/worker.ts uses (loadWorkerPayloadCodec), with the worker's
 * default environment (TEMPORAL_ALLOW_PLAIN_PAYLOADS unset).
 */

import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { DataConverter, Payload } from '@temporalio/common';
import { defaultPayloadConverter } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { describe, expect, inject, it } from 'vitest';
import { startProvisioning } from '../../src/client.js';
import { createDataConverter, loadWorkerPayloadCodec } from '../../src/codec/data-converter.js';
import type { EncryptionCodec } from '../../src/codec/payload-codec.js';
import { readAllowPlainPayloads } from '../../src/codec/settings.js';
import { installTemporalLogger } from '../../src/logging/temporal.js';
import { deprovisionWorkflowId } from '../../src/workflows/contract.js';
import { newPlantId, ProvisioningHarness } from '../support/provisioning-harness.js';
import { memoryLogger, testCodec } from '../support/secrets.js';
import { createTimeSkippingEnv, uniqueTaskQueue } from '../support/temporal.js';
import { useProvisioningHarness } from '../support/use-provisioning-harness.js';
import { runWorkers } from '../support/worker.js';

let codec: EncryptionCodec;
let logs: ReturnType<typeof memoryLogger>;

const t = useProvisioningHarness({
  server: async () => {
    logs = memoryLogger();
    installTemporalLogger(logs.logger);
    codec = await testCodec();
    return createTimeSkippingEnv({ dataConverter: createDataConverter(codec) });
  },
  harness: (env: TestWorkflowEnvironment) => new ProvisioningHarness(env, createDataConverter(codec)),
});

/** The worker's data converter, as src/worker.ts loads it from `env`. */
async function workerDataConverter(env: Record<string, string> = {}): Promise<DataConverter> {
  const key = inject('stack').ENCRYPTION_KEY;
  return (await loadWorkerPayloadCodec(env, { currentKey: key, previousKeys: [] })).dataConverter;
}

/** A worker with the real activities and this data converter (not the harness client's). */
function withWorker<T>(dataConverter: DataConverter, body: (taskQueue: string) => Promise<T>) {
  return runWorkers(
    {
      connection: t.env.nativeConnection,
      taskQueue: uniqueTaskQueue('plain'),
      dataConverter,
      activities: t.h.realActivities(),
    },
    body,
  );
}

/**
 * Waits until the run's first workflow task fails (its message) or the run ends (undefined: the
 * worker ran it). A refused task is retried by the server, so the run stays RUNNING meanwhile.
 */
async function refusal(handle: WorkflowHandle): Promise<string | undefined> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const message = await workflowTaskFailure(handle);
    if (message) return message;
    if ((await handle.describe()).status.name !== 'RUNNING') return undefined;
    await new Promise((r) => setTimeout(r, 200));
  }
  return undefined;
}

/** The first WorkflowTaskFailed of a run, its (encrypted) failure decoded with the codec. */
async function workflowTaskFailure(handle: WorkflowHandle): Promise<string | undefined> {
  const { events } = await handle.fetchHistory();
  const failed = events?.find((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes;
  const failure = failed?.failure;
  if (!failure) return undefined;
  const encoded = failure.encodedAttributes as Payload | null | undefined;
  if (!encoded) return failure.message ?? '';
  const [decoded] = await codec.decode([encoded]);
  return (defaultPayloadConverter.fromPayload(decoded as Payload) as { message: string }).message;
}

describe('plain payloads', () => {
  it('a plain client cannot deprovision: the task fails naming the setting, and every AWS resource stays', async () => {
    const plantId = newPlantId();
    const dataConverter = await workerDataConverter();
    await withWorker(dataConverter, async (taskQueue) => {
      await (
        await startProvisioning(t.env.client, { plantId, plantName: `Plain ${plantId}` }, { taskQueue })
      ).result();
      const before = await t.h.awsInventory();
      expect(before.things.length).toBeGreaterThan(0);

      const handle = await t.h.rawClient().workflow.start('deprovisionPlant', {
        taskQueue,
        workflowId: deprovisionWorkflowId(plantId),
        args: [{ plantId }],
      });
      let message: string | undefined;
      const deadline = Date.now() + 60_000;
      while (!message && Date.now() < deadline) {
        message = await workflowTaskFailure(handle);
        // Without the refusal the deprovision simply runs to its end.
        if ((await handle.describe()).status.name !== 'RUNNING') break;
        if (!message) await new Promise((r) => setTimeout(r, 200));
      }
      expect(message).toMatch(/not encrypted by the solar-iot codec.*TEMPORAL_ALLOW_PLAIN_PAYLOADS=true/);
      // The worker says so in its log too (the SDK logs every failed activation).
      const logged = () => logs.lines.some((l) => /"level":"error".*TEMPORAL_ALLOW_PLAIN_PAYLOADS/.test(l));
      while (!logged() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(logged()).toBe(true);
      const described = await handle.describe();
      expect(described.status.name).toBe('RUNNING');
      await handle.terminate('test: refused plain deprovision');

      expect(await t.h.awsInventory()).toEqual(before);
      expect((await t.h.plantRow(plantId))?.iotStatus).toBe('active');
    });
  });

  it('an encrypted payload copied from another workflow is refused: deprovisionPlant with provision-plant-X input bytes touches nothing', async () => {
    const plantId = newPlantId();
    const dataConverter = await workerDataConverter();
    await withWorker(dataConverter, async (taskQueue) => {
      const provision = await startProvisioning(
        t.env.client,
        { plantId, plantName: `Copied ${plantId}` },
        { taskQueue },
      );
      await provision.result();
      const before = await t.h.awsInventory();
      expect(before.things.length).toBeGreaterThan(0);

      // What anyone who reads histories (no key) can do: take the encrypted `{plantId}` input of
      // provision-plant-X as stored, and start deprovisionPlant with exactly those bytes.
      const raw = t.h.rawClient();
      const { events } = await raw.workflow.getHandle(provision.workflowId).fetchHistory();
      const copied = events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
      expect(copied.map((p) => Buffer.from(p.metadata?.encoding ?? []).toString())).toEqual([
        'binary/encrypted',
      ]);
      const workflowId = deprovisionWorkflowId(plantId);
      await raw.workflowService.startWorkflowExecution({
        namespace: t.env.namespace ?? 'default',
        workflowId,
        workflowType: { name: 'deprovisionPlant' },
        taskQueue: { name: taskQueue },
        input: { payloads: copied },
        identity: 'attacker without the codec key',
        requestId: randomUUID(),
      });
      const handle = raw.workflow.getHandle(workflowId);
      const message = await refusal(handle);
      expect(message).toMatch(
        new RegExp(`encrypted for workflow "${provision.workflowId}".*not for workflow "${workflowId}"`),
      );
      expect((await handle.describe()).status.name).toBe('RUNNING');
      await handle.terminate('test: refused copied payload');

      expect(await t.h.awsInventory()).toEqual(before);
      expect((await t.h.plantRow(plantId))?.iotStatus).toBe('active');
    });
  });

  it('runs plain payloads only with TEMPORAL_ALLOW_PLAIN_PAYLOADS=true, validated like every setting', async () => {
    expect(readAllowPlainPayloads({})).toBe(false);
    expect(readAllowPlainPayloads({ TEMPORAL_ALLOW_PLAIN_PAYLOADS: 'false' })).toBe(false);
    expect(() => readAllowPlainPayloads({ TEMPORAL_ALLOW_PLAIN_PAYLOADS: 'yes' })).toThrow(
      /^TEMPORAL_ALLOW_PLAIN_PAYLOADS: "yes" is neither true nor false\. Fix: /,
    );
    const plantId = newPlantId();
    const dataConverter = await workerDataConverter({ TEMPORAL_ALLOW_PLAIN_PAYLOADS: 'true' });
    await withWorker(dataConverter, async (taskQueue) => {
      await (
        await startProvisioning(t.env.client, { plantId, plantName: `Plain ${plantId}` }, { taskQueue })
      ).result();
      const plain = await t.h.rawClient().workflow.start('deprovisionPlant', {
        taskQueue,
        workflowId: deprovisionWorkflowId(plantId),
        args: [{ plantId }],
      });
      // Its result is encrypted by the worker: read through the client with the codec.
      await t.env.client.workflow.getHandle(plain.workflowId).result();
      expect((await t.h.awsInventory()).things).toEqual([]);
    });
  });
});
