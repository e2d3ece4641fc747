import { ListCertificatesCommand, ListThingPrincipalsCommand } from '@aws-sdk/client-iot';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProvisioning } from '../../src/client.js';
import { createDataConverter } from '../../src/codec/data-converter.js';
import { ENCODING, type EncryptionCodec } from '../../src/codec/payload-codec.js';
import { ConfigError } from '../../src/config/index.js';
import { certificates } from '../../src/db/schema.js';
import { thingNameFor } from '../../src/iot/naming.js';
import { startRotation } from '../../src/rotation/client.js';
import {
  endGracePeriodSignal,
  type RotateCertificateResult,
  type RotateExpiringResult,
  rotateCertificateWorkflowId,
  rotationStatusQuery,
} from '../../src/rotation/contract.js';
import { ensureRotationSchedule, syncRotationSchedule } from '../../src/rotation/schedule.js';
import { readRotationSettings } from '../../src/rotation/settings.js';
import type { PlantIotResources } from '../../src/workflows/contract.js';
import { newPlantId, ProvisioningHarness } from '../support/provisioning-harness.js';
import { testCodec } from '../support/secrets.js';
import { createDevServerEnv, createTimeSkippingEnv, installTestRuntime } from '../support/temporal.js';
import { useProvisioningHarness } from '../support/use-provisioning-harness.js';

let codec: EncryptionCodec;
const t = useProvisioningHarness({
  server: async () => {
    installTestRuntime();
    codec = await testCodec();
    return createTimeSkippingEnv({ dataConverter: createDataConverter(codec) });
  },
  harness: (env) => new ProvisioningHarness(env, createDataConverter(codec)),
});

async function provision(plantId: string, taskQueue: string): Promise<PlantIotResources> {
  return (
    await startProvisioning(
      t.env.client,
      { plantId, plantName: `Plant ${plantId.slice(0, 8)}` },
      { taskQueue },
    )
  ).result();
}

async function principals(plantId: string): Promise<string[]> {
  return (
    (await t.h.iot.send(new ListThingPrincipalsCommand({ thingName: thingNameFor(plantId) }))).principals ??
    []
  );
}

async function certificatesInAws(): Promise<{ id: string; status: string | undefined }[]> {
  const { certificates: list } = await t.h.iot.send(new ListCertificatesCommand({}));
  return (list ?? []).map((c) => ({ id: c.certificateId ?? '', status: c.status }));
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function setActivatedDaysAgo(certificateId: string, days: number) {
  await t.h.database.db
    .update(certificates)
    .set({ activatedAt: new Date(Date.now() - days * 24 * 3600 * 1000) })
    .where(eq(certificates.certificateId, certificateId));
}

describe('rotateCertificate', () => {
  it('removes the new certificate when a step before the switch fails, keeping the old one working', async () => {
    const plantId = newPlantId();
    const error = await t.h.withWorker(
      {
        attachThingPrincipal: async (args) => {
          // The provision's own attach works; the rotation's fails for good.
          if ((await t.h.plantRow(plantId))?.iotStatus === 'active') {
            throw ApplicationFailure.nonRetryable(
              'AttachThingPrincipal refused (injected)',
              'InvalidRequestException',
            );
          }
          return t.h.realActivities().attachThingPrincipal(args);
        },
      },
      async (taskQueue) => {
        const provisioned = await provision(plantId, taskQueue);
        const failed = await (await startRotation(t.env.client, { plantId }, { taskQueue }))
          .result()
          .catch((e: unknown) => e);
        return { provisioned, failed };
      },
    );
    expect(error.failed).toBeInstanceOf(WorkflowFailedError);
    expect((error.failed as WorkflowFailedError).cause).toMatchObject({
      type: 'RotationFailed',
      nonRetryable: true,
    });
    expect((error.failed as WorkflowFailedError).cause?.message).toMatch(/new certificate was removed/);

    expect(await principals(plantId)).toEqual([error.provisioned.certificateArn]);
    expect(await certificatesInAws()).toEqual([{ id: error.provisioned.certificateId, status: 'ACTIVE' }]);
    expect((await t.h.plantRow(plantId))?.certificateId).toBe(error.provisioned.certificateId);
    const rows = await t.h.certificateRows(plantId);
    expect(rows).toHaveLength(2);
    expect(rows.find((r) => r.certificateId !== error.provisioned.certificateId)).toMatchObject({
      status: 'destroyed',
      encryptedPrivateKey: null,
    });
  });

  it('ends the grace period early on the endGracePeriod signal', async () => {
    const plantId = newPlantId();
    const { provisioned, result } = await t.h.withWorker({}, async (taskQueue) => {
      const provisioned = await provision(plantId, taskQueue);
      const handle = await startRotation(t.env.client, { plantId, gracePeriod: '30d' }, { taskQueue });
      await until(
        async () => (await handle.query(rotationStatusQuery)).phase === 'grace-period',
        'the grace period',
      );
      const status = await handle.query(rotationStatusQuery);
      expect(Date.parse(status.graceEndsAt ?? '') - Date.now()).toBeGreaterThan(29 * 24 * 3600 * 1000);
      // A second start while it runs attaches to the same rotation instead of starting another.
      const again = await startRotation(t.env.client, { plantId }, { taskQueue });
      expect(again.firstExecutionRunId).toBe(handle.firstExecutionRunId);
      await handle.signal(endGracePeriodSignal);
      return { provisioned, result: (await handle.result()) as RotateCertificateResult };
    });
    expect(result.previousCertificateId).toBe(provisioned.certificateId);
    expect(await principals(plantId)).toEqual([result.certificateArn]);
    expect(await certificatesInAws()).toEqual([{ id: result.certificateId, status: 'ACTIVE' }]);
  });

  it('refuses a plant that is not active, and bad input, before any AWS call', async () => {
    const plantId = newPlantId();
    // A client without time skipping: while a result is awaited, the time-skipping server jumps
    // to the next deadline whenever it sees nothing running, and it did so with beginRotation
    // scheduled but not yet picked up (10 virtual years: "Workflow execution timed out").
    const client = new Client({
      connection: t.env.connection,
      namespace: t.env.namespace ?? 'default',
      dataConverter: createDataConverter(codec),
    });
    const errors = await t.h.withWorker({}, async (taskQueue) =>
      Promise.all(
        [
          { plantId },
          { plantId: 'bad/id' },
          { plantId: newPlantId(), gracePeriod: 'soon' },
          { plantId: newPlantId(), gracePeriod: '400d' },
        ].map((input, i) =>
          client.workflow
            .execute('rotateCertificate', {
              taskQueue,
              workflowId: `rotate-bad-${i}-${plantId}`,
              args: [input],
            })
            .catch((e: unknown) => e),
        ),
      ),
    );
    expect((errors[0] as WorkflowFailedError).cause?.cause).toMatchObject({ type: 'PlantNotActive' });
    for (const e of errors.slice(1))
      expect((e as WorkflowFailedError).cause).toMatchObject({ type: 'InvalidInput' });
    expect(await certificatesInAws()).toEqual([]);
  });

  it('records the switch only on the certificate the rotation started from', async () => {
    const real = t.h.realActivities();
    const plantId = newPlantId();
    const provisioned = await t.h.withWorker({}, (taskQueue) => provision(plantId, taskQueue));
    const other = {
      certificateId: 'c'.repeat(64),
      certificateArn: 'arn:aws:iot:us-east-1:123456789012:cert/x',
    };
    await expect(
      real.recordRotated({ plantId, previousCertificateId: 'not-the-current-one', certificate: other }),
    ).rejects.toMatchObject({ type: 'PlantChanged', nonRetryable: true });
    await real.recordRotated({
      plantId,
      previousCertificateId: provisioned.certificateId,
      certificate: other,
    });
    // A retry after a lost answer finds the switch done.
    await real.recordRotated({
      plantId,
      previousCertificateId: provisioned.certificateId,
      certificate: other,
    });
    expect((await t.h.plantRow(plantId))?.certificateId).toBe(other.certificateId);
  });
});

/**
 * On the Temporal dev server (real clock, short grace period): the Java time-skipping server never
 * releases the time-skipping lock a child takes when it completes after its parent closed (an
 * abandoned child), so time stops there for every later test.
 */
describe('rotateExpiringCertificates', () => {
  let dev: TestWorkflowEnvironment;
  let d: ProvisioningHarness;

  beforeAll(async () => {
    dev = await createDevServerEnv({ dataConverter: createDataConverter(codec) });
    d = new ProvisioningHarness(dev, createDataConverter(codec));
    d.settings = t.h.settings;
  });

  afterAll(async () => {
    await d?.close();
    await dev?.teardown();
  });

  it('rotates only certificates older than the limit, oldest first, a bounded number per run', async () => {
    d.settings = t.h.settings; // the queue created for this test
    const ids = [newPlantId(), newPlantId(), newPlantId()];
    await d.withWorker({}, async (taskQueue) => {
      const provisioned: PlantIotResources[] = [];
      for (const id of ids) {
        const handle = await startProvisioning(
          dev.client,
          { plantId: id, plantName: `Plant ${id.slice(0, 8)}` },
          { taskQueue },
        );
        provisioned.push(await handle.result());
      }
      const [a, b, c] = provisioned as [PlantIotResources, PlantIotResources, PlantIotResources];
      await setActivatedDaysAgo(a.certificateId, 500);
      await setActivatedDaysAgo(b.certificateId, 400);
      await setActivatedDaysAgo(c.certificateId, 300);

      const run = (maxRotations: number) =>
        dev.client.workflow.execute('rotateExpiringCertificates', {
          taskQueue,
          workflowId: `rotate-expiring-test-${newPlantId()}`,
          args: [{ maxAgeDays: 365, maxRotations, gracePeriod: '1s' }],
        }) as Promise<RotateExpiringResult>;
      const rotationOf = (plantId: string) =>
        dev.client.workflow
          .getHandle(rotateCertificateWorkflowId(plantId))
          .result() as Promise<RotateCertificateResult>;

      const first = await run(1);
      expect(first.started).toEqual([ids[0]]);
      expect((await rotationOf(ids[0] as string)).previousCertificateId).toBe(a.certificateId);

      const second = await run(5);
      expect(second.started).toEqual([ids[1]]); // a is renewed, c is young
      expect((await rotationOf(ids[1] as string)).previousCertificateId).toBe(b.certificateId);

      expect((await run(5)).started).toEqual([]);
      for (const [i, id] of ids.entries()) {
        expect(await principals(id)).toHaveLength(1);
        const current = (await t.h.plantRow(id))?.certificateId;
        if (i < 2) expect(current).not.toBe(provisioned[i]?.certificateId);
        else expect(current).toBe(c.certificateId);
      }
    });
  });
});

describe('rotation Schedule', () => {
  it('is created once and updated in place, its arguments stored encrypted', async () => {
    const dev = await createDevServerEnv({ dataConverter: createDataConverter(codec) });
    const scheduleId = `rotate-expiring-test-${newPlantId()}`;
    try {
      const settings = { every: '1d', maxAgeDays: 365, maxRotations: 20, gracePeriod: '7d' } as const;
      expect(await ensureRotationSchedule(dev.client, { ...settings, taskQueue: 'q', scheduleId })).toEqual({
        scheduleId,
        created: true,
      });
      expect(
        await ensureRotationSchedule(dev.client, {
          ...settings,
          maxRotations: 5,
          taskQueue: 'q',
          scheduleId,
        }),
      ).toEqual({ scheduleId, created: false });

      const description = await dev.client.schedule.getHandle(scheduleId).describe();
      expect(description.action).toMatchObject({
        type: 'startWorkflow',
        workflowType: 'rotateExpiringCertificates',
        taskQueue: 'q',
        args: [{ maxAgeDays: 365, maxRotations: 5, gracePeriod: '7d' }],
      });
      expect(description.spec.intervals).toMatchObject([{ every: 86_400_000 }]);

      const raw = await dev.connection.workflowService.describeSchedule({ namespace: 'default', scheduleId });
      const [payload] = raw.schedule?.action?.startWorkflow?.input?.payloads ?? [];
      expect(Buffer.from(payload?.metadata?.encoding ?? []).toString()).toBe(ENCODING);
    } finally {
      await dev.client.schedule
        .getHandle(scheduleId)
        .delete()
        .catch(() => undefined);
      await dev.teardown();
    }
  });

  it('is off by default: with the default settings the start-up removes a Schedule left by an earlier release and creates none', async () => {
    const dev = await createDevServerEnv({ dataConverter: createDataConverter(codec) });
    const scheduleId = `rotate-expiring-test-${newPlantId()}`;
    const exists = () =>
      dev.client.schedule
        .getHandle(scheduleId)
        .describe()
        .then(
          () => true,
          () => false,
        );
    try {
      const defaults = readRotationSettings({});
      expect(defaults.scheduleEnabled).toBe(false);
      // An earlier release created it by default.
      await ensureRotationSchedule(dev.client, { ...defaults, taskQueue: 'q', scheduleId });
      expect(await syncRotationSchedule(dev.client, { ...defaults, taskQueue: 'q', scheduleId })).toEqual({
        scheduleId,
        state: 'removed',
      });
      expect(await exists()).toBe(false);
      expect(await syncRotationSchedule(dev.client, { ...defaults, taskQueue: 'q', scheduleId })).toEqual({
        scheduleId,
        state: 'absent',
      });
      expect(await exists()).toBe(false);

      const on = readRotationSettings({ ROTATION_SCHEDULE: 'on' });
      expect(await syncRotationSchedule(dev.client, { ...on, taskQueue: 'q', scheduleId })).toEqual({
        scheduleId,
        state: 'created',
      });
      expect(await syncRotationSchedule(dev.client, { ...on, taskQueue: 'q', scheduleId })).toEqual({
        scheduleId,
        state: 'updated',
      });
      expect(await exists()).toBe(true);
    } finally {
      await dev.client.schedule
        .getHandle(scheduleId)
        .delete()
        .catch(() => undefined);
      await dev.teardown();
    }
  });

  it('reads its settings from the environment, one line per wrong variable', () => {
    expect(readRotationSettings({})).toEqual({
      scheduleEnabled: false,
      every: '1d',
      maxAgeDays: 365,
      maxRotations: 20,
      gracePeriod: '7d',
    });
    expect(readRotationSettings({ ROTATION_SCHEDULE: 'on' }).scheduleEnabled).toBe(true);
    expect(readRotationSettings({ ROTATION_SCHEDULE: 'off', ROTATION_GRACE_PERIOD: '36h' })).toMatchObject({
      scheduleEnabled: false,
      gracePeriod: '36h',
    });
    let error: unknown;
    try {
      readRotationSettings({
        ROTATION_EVERY: 'often',
        CERTIFICATE_MAX_AGE_DAYS: '0',
        ROTATION_MAX_PER_RUN: '1e3',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message.split('\n')).toEqual([
      expect.stringMatching(/^ROTATION_EVERY: /),
      expect.stringMatching(/^CERTIFICATE_MAX_AGE_DAYS: /),
      expect.stringMatching(/^ROTATION_MAX_PER_RUN: /),
    ]);
  });
});
