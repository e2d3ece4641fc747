/**
 * A Schedule's runs get the id `<action workflow id>-<timestamp>` from the server, while the
 * schedule's stored input was encrypted for the action workflow id: the worker's codec (which
 * refuses payloads bound to another workflow) must still run them. On the dev server, whose
 * scheduler appends the timestamp (a time-skipping server has no schedules). And the key tool's
 * report of open workflows still carrying unbound payloads (it needs visibility: dev server too).
 */
import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { describe, expect, inject, it } from 'vitest';
import { createDataConverter, loadWorkerPayloadCodec } from '../../src/codec/data-converter.js';
import { codecKeyUsage } from '../../src/codec/key-usage.js';
import type { EncryptionCodec } from '../../src/codec/payload-codec.js';
import { ensureRotationSchedule, ROTATION_RUN_WORKFLOW_ID } from '../../src/rotation/schedule.js';
import { ProvisioningHarness } from '../support/provisioning-harness.js';
import { testCodec } from '../support/secrets.js';
import { createDevServerEnv } from '../support/temporal.js';
import { useProvisioningHarness } from '../support/use-provisioning-harness.js';
import { runWorkers } from '../support/worker.js';

let codec: EncryptionCodec;
const t = useProvisioningHarness({
  server: async () => {
    codec = await testCodec();
    return createDevServerEnv({ dataConverter: createDataConverter(codec) });
  },
  harness: (env) => new ProvisioningHarness(env, createDataConverter(codec)),
});

describe('payload binding and schedules', () => {
  it("runs a schedule's run <id>-<RFC 3339> under the worker's codec, its input bound to <id>", async () => {
    const key = inject('stack').ENCRYPTION_KEY;
    const { dataConverter } = await loadWorkerPayloadCodec({}, { currentKey: key, previousKeys: [] });
    const taskQueue = `binding-schedule-${randomUUID()}`;
    const scheduleId = `binding-schedule-${randomUUID()}`;
    const worker = {
      connection: t.env.nativeConnection,
      taskQueue,
      dataConverter,
      activities: t.h.realActivities(),
    };
    await runWorkers(worker, async () => {
      await ensureRotationSchedule(t.env.client, {
        every: '1d',
        maxAgeDays: 365,
        maxRotations: 1,
        gracePeriod: '7d',
        taskQueue,
        scheduleId,
      });
      const schedule = t.env.client.schedule.getHandle(scheduleId);
      try {
        await schedule.trigger();
        let workflowId: string | undefined;
        const deadline = Date.now() + 60_000;
        while (!workflowId && Date.now() < deadline) {
          workflowId = (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId;
          if (!workflowId) await new Promise((r) => setTimeout(r, 200));
        }
        expect(workflowId).toMatch(
          new RegExp(`^${ROTATION_RUN_WORKFLOW_ID}-\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`),
        );
        // Refused, the run would stay RUNNING on failing workflow tasks; it completes instead.
        const handle = t.env.client.workflow.getHandle(workflowId as string);
        let failedTask: unknown;
        let status = 'RUNNING';
        while (!failedTask && status === 'RUNNING' && Date.now() < deadline) {
          const { events } = await handle.fetchHistory();
          failedTask = events?.find(
            (e) => e.workflowTaskFailedEventAttributes,
          )?.workflowTaskFailedEventAttributes;
          status = (await handle.describe()).status.name;
          if (status === 'RUNNING') await new Promise((r) => setTimeout(r, 200));
        }
        expect(failedTask).toBeUndefined();
        expect(status).toBe('COMPLETED');
        expect(await handle.result()).toBeDefined();
      } finally {
        await schedule.delete();
      }
    });
  });

  it('the key tool lists open workflows whose payloads are not bound (what still needs TEMPORAL_ALLOW_UNBOUND_PAYLOADS)', async () => {
    // A client as before the binding: its codec encrypts without a serialization context.
    const unboundClient = new Client({
      connection: t.env.connection,
      namespace: t.env.namespace ?? 'default',
      dataConverter: {
        ...createDataConverter(codec),
        payloadCodecs: [
          { encode: (p: Payload[]) => codec.encode(p), decode: (p: Payload[]) => codec.decode(p) },
        ],
      },
    });
    const taskQueue = `no-worker-${randomUUID()}`;
    const old = await unboundClient.workflow.start('rotateExpiringCertificates', {
      taskQueue,
      workflowId: `unbound-${randomUUID()}`,
      args: [{ maxAgeDays: 365, maxRotations: 1, gracePeriod: '7d' }],
    });
    const current = await t.env.client.workflow.start('rotateExpiringCertificates', {
      taskQueue,
      workflowId: `bound-${randomUUID()}`,
      args: [{ maxAgeDays: 365, maxRotations: 1, gracePeriod: '7d' }],
    });
    try {
      let report = await codecKeyUsage(t.env.client);
      const deadline = Date.now() + 30_000;
      // Visibility lists a new workflow a moment after its start.
      while (Date.now() < deadline && !report.usage.some((u) => u.workflows.includes(current.workflowId))) {
        await new Promise((r) => setTimeout(r, 200));
        report = await codecKeyUsage(t.env.client);
      }
      expect(report.usage.find((u) => u.keyId === codec.currentKeyId)?.workflows).toEqual(
        expect.arrayContaining([old.workflowId, current.workflowId]),
      );
      expect(report.unbound.workflows).toContain(old.workflowId);
      expect(report.unbound.workflows).not.toContain(current.workflowId);
    } finally {
      await old.terminate('test');
      await current.terminate('test');
    }
  });
});
