/**
 * The seed's promised modes, end to end: mock mode (same workflows, no AWS call), graceful
 * degradation (IoT off or no AWS credentials: plants recorded `disabled`, one warning, no
 * workflow), and switching IoT on later, after which a backfill provisions those plants.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListThingsCommand } from '@aws-sdk/client-iot';
import { WorkflowNotFoundError } from '@temporalio/client';
import { inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSolarIot } from '../../src/app/service.js';
import { loadConfig } from '../../src/config/index.js';
import { plants as plantsTable } from '../../src/db/schema.js';
import { createAwsClients } from '../../src/iot/clients.js';
import { thingNameFor } from '../../src/iot/naming.js';
import { mockCommandPublisher } from '../../src/service/commands.js';
import { ConflictError, ShadowVersionConflictError } from '../../src/service/errors.js';
import { provisionWorkflowId } from '../../src/workflows/contract.js';
import { freePort } from '../../tools/stack/processes.js';
import { type Started, started, tsx } from '../support/child.js';
import { envFor, memoryLogger, TestStack } from '../support/product-stack.js';

const MODES_API_TOKEN = 'modes-test-api-token-0123456789';

async function awsThingNames(): Promise<string[]> {
  const aws = createAwsClients(loadConfig(await envFor('aws', 'unused')));
  try {
    const { things } = await aws.iot.send(new ListThingsCommand({}));
    return (things ?? []).map((t) => t.thingName ?? '');
  } finally {
    aws.destroy();
  }
}

describe('mock mode (USE_MOCK_DATA=true)', () => {
  let stack: TestStack;
  const commands = mockCommandPublisher();

  beforeAll(async () => {
    stack = await TestStack.start({ mode: 'mock', solarIot: { mock: { commands } } });
  });
  afterAll(async () => stack?.close());

  it('runs the real workflows with deterministic mock resources and makes no AWS call', async () => {
    expect(stack.solarIot.iotMode).toBe('mock');
    expect(stack.solarIot.isAwsIotEnabled()).toBe(true);
    const created = await stack.solarIot.createPlant({ name: 'Mock plant' });
    const plantId = created.plant.id;
    expect(created.iotMode).toBe('mock');
    expect(created.operation?.workflowId).toBe(provisionWorkflowId(plantId));

    const outcome = await stack.solarIot.provisionPlantIoT(plantId, undefined, { wait: true });
    expect(outcome.resources).toEqual({
      thingName: `solar-plant-mock-${plantId}`,
      thingArn: `arn:aws:iot:mock:000000000000:thing/solar-plant-mock-${plantId}`,
      certificateId: `mock-certificate-${plantId}`,
      certificateArn: `arn:aws:iot:mock:000000000000:cert/mock-certificate-${plantId}`,
      policyName: `solar-plant-${plantId}-policy`,
      endpoint: 'mock-ats.iot.mock.amazonaws.com',
    });
    const status = await stack.solarIot.getPlantIoTStatus(plantId);
    expect(status.plant).toMatchObject({ iotStatus: 'active', thingName: `solar-plant-mock-${plantId}` });

    // Shadows and commands work without AWS, with the same conflict semantics.
    const v1 = await stack.solarIot.updateThingShadow(plantId, { mode: 'auto', limit: 5 });
    expect(v1.version).toBe(1);
    await stack.solarIot.updateThingShadow(plantId, { limit: null }, { version: 1 });
    expect((await stack.solarIot.getThingShadow(plantId)).state.desired).toEqual({ mode: 'auto' });
    // By its mock thing name too, as the seed's callers address shadows.
    expect((await stack.solarIot.getThingShadow(`solar-plant-mock-${plantId}`)).version).toBe(2);
    await expect(
      stack.solarIot.updateThingShadow(plantId, { limit: 1 }, { version: 1 }),
    ).rejects.toBeInstanceOf(ShadowVersionConflictError);
    const sent = await stack.solarIot.publishCommand(plantId, 'restart');
    expect(commands.sent.at(-1)).toMatchObject({ topic: `solar/${plantId}/commands/restart`, qos: 1 });
    expect(JSON.parse(commands.sent.at(-1)?.payload ?? '{}').commandId).toBe(sent.commandId);

    const removed = await stack.solarIot.deprovisionPlantIoT(plantId, { wait: true });
    expect(removed.iotStatus).toBe('deprovisioned');
    expect((await stack.plantRow(plantId))?.iotStatus).toBe('deprovisioned');

    const inAws = await awsThingNames();
    expect(inAws).not.toContain(`solar-plant-mock-${plantId}`);
    expect(inAws).not.toContain(thingNameFor(plantId));
  });

  it('says so once in the logs at start-up', async () => {
    const { logger, lines } = memoryLogger();
    const opened = await openSolarIot(loadConfig(stack.env), { logger });
    await opened.close();
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]?.msg)).toMatch(/MOCK MODE/);
  });
});

describe('graceful degradation', () => {
  it('with USE_AWS_IOT=false: plants are disabled, one warning, no workflow, nothing fails', async () => {
    const { logger, lines } = memoryLogger();
    const env = await envFor('disabled', 'unused-queue');
    const opened = await openSolarIot(loadConfig(env), { logger });
    try {
      const iot = opened.solarIot;
      expect(iot.iotMode).toBe('disabled');
      expect(iot.isAwsIotEnabled()).toBe(false);
      const plants = await Promise.all([1, 2, 3].map((n) => iot.createPlant({ name: `Offline ${n}` })));
      for (const p of plants) {
        expect(p.plant.iotStatus).toBe('disabled');
        expect(p.operation).toBeNull();
      }
      const first = plants[0]?.plant.id ?? '';
      // The seed's call still "works": it records the plant and starts nothing.
      const outcome = await iot.provisionPlantIoT(first, 'Offline 1');
      expect(outcome).toMatchObject({ iotStatus: 'disabled', workflowId: null });
      const stack = await TestStack.start({ mode: 'disabled' });
      try {
        await expect(
          stack.temporal.workflow.getHandle(provisionWorkflowId(first)).describe(),
        ).rejects.toBeInstanceOf(WorkflowNotFoundError);
      } finally {
        await stack.close();
      }
      await expect(iot.getThingShadow(first)).rejects.toMatchObject({ code: 'iot_disabled' });
      await expect(iot.startBackfill()).rejects.toBeInstanceOf(ConflictError);
      // Never provisioned: deleting just records it.
      expect((await iot.deprovisionPlantIoT(first)).iotStatus).toBe('deprovisioned');

      const warnings = lines.filter((l) => l.level === 'warn');
      expect(warnings).toHaveLength(1);
      expect(String(warnings[0]?.msg)).toMatch(/AWS IoT is disabled \(USE_AWS_IOT=false\)/);
    } finally {
      await opened.close();
    }
  });

  describe('without AWS credentials (the API process started by `tsx src/api/main.ts`)', () => {
    let child: Started | undefined;
    let home: string;
    let base: string;

    beforeAll(async () => {
      home = await mkdtemp(join(tmpdir(), 'solar-iot-nocreds-'));
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      const env = await envFor('aws', 'no-creds-queue', {
        PORT: String(port),
        LOG_LEVEL: 'info',
        API_TOKEN: MODES_API_TOKEN,
      });
      for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'])
        delete env[key];
      Object.assign(env, {
        HOME: home,
        AWS_CONFIG_FILE: join(home, 'none'),
        AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'),
        AWS_EC2_METADATA_DISABLED: 'true',
      });
      child = started(tsx(['src/api/main.ts']), { env });
      await child.waitFor(/"msg":"API listening"/);
    });

    afterAll(async () => {
      await child?.stop();
      await rm(home, { recursive: true, force: true });
    });

    it('comes up disabled with one warning, and creates plants as disabled', async () => {
      const health = (await (await fetch(`${base}/healthz`)).json()) as { iotMode: string };
      expect(health.iotMode).toBe('disabled');
      const res = await fetch(`${base}/plants`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${MODES_API_TOKEN}` },
        body: JSON.stringify({ name: 'No creds plant' }),
      });
      expect(res.status).toBe(202);
      const body = (await res.json()) as { plant: { iotStatus: string }; operation: unknown };
      expect(body.plant.iotStatus).toBe('disabled');
      expect(body.operation).toBeNull();

      const warnings = (child?.output() ?? '')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: string; msg: string })
        .filter((l) => l.level === 'warn');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.msg).toMatch(/AWS IoT is disabled \(no AWS credentials found/);
    });

    it('stops cleanly on SIGTERM', async () => {
      expect(await child?.stop()).toBe(0);
    });
  });
});

describe('switching IoT on later', () => {
  it('backfill provisions the plants created while IoT was disabled, in AWS', async () => {
    const offline = await TestStack.start({ mode: 'disabled' });
    const ids: string[] = [];
    try {
      // Files run one at a time: plants left behind by earlier files must not join this backfill.
      await offline.database.db
        .delete(plantsTable)
        .where(inArray(plantsTable.iotStatus, ['disabled', 'pending', 'failed']));
      for (const n of [1, 2, 3])
        ids.push(
          (await offline.solarIot.createPlant({ name: `Later ${n}`, id: `later-${randomUUID()}` })).plant.id,
        );
    } finally {
      await offline.close();
    }
    const online = await TestStack.start({ mode: 'aws' });
    try {
      const { workflowId } = await online.solarIot.startBackfill({
        workflowId: `backfill-${randomUUID()}`,
        concurrency: 2,
      });
      const result = await online.solarIot.waitForBackfill(workflowId);
      expect(result.finished).toBe(true);
      for (const id of ids) {
        const row = await online.plantRow(id);
        expect(row?.iotStatus).toBe('active');
        expect(row?.thingName).toBe(thingNameFor(id));
      }
      const inAws = await awsThingNames();
      for (const id of ids) expect(inAws).toContain(thingNameFor(id));
    } finally {
      await online.close();
    }
  });
});
