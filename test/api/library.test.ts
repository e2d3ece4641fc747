/**
 * The library API (src/client.ts) against the real stack: Temporal dev server with a worker
 * running the real activities, moto for AWS IoT and its data plane, PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import { CreateTopicRuleCommand, DescribeThingCommand, GetTopicRuleCommand } from '@aws-sdk/client-iot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConflictError,
  decryptData,
  encryptData,
  generateEncryptionKey,
  InvalidInputError,
  NotFoundError,
  PlantNotFoundError,
  provisionWorkflowId,
  ShadowVersionConflictError,
} from '../../src/client.js';
import { plants } from '../../src/db/schema.js';
import { plantRuleNameFor, thingNameFor } from '../../src/iot/naming.js';
import { plantRuleSql } from '../../src/iot/topic-rule.js';
import { TestStack } from '../support/product-stack.js';

let stack: TestStack;
/** Released by the test that holds a deprovision in its list-principals step. */
let releaseDeprovision: (() => void) | undefined;
let holdDeprovisionOf: string | undefined;

beforeAll(async () => {
  stack = await TestStack.start({
    mode: 'aws',
    overrides: {
      async listThingPrincipals(input) {
        if (input.thingName === thingNameFor(holdDeprovisionOf ?? '-')) {
          await new Promise<void>((resolve) => {
            releaseDeprovision = resolve;
          });
        }
        return stackActivities().listThingPrincipals(input);
      },
    },
  });
});

function stackActivities() {
  return stack.realActivities();
}

afterAll(async () => {
  releaseDeprovision?.();
  await stack?.close();
});

async function provisioned(name = 'Library plant') {
  const plantId = randomUUID();
  const outcome = await stack.solarIot.provisionPlantIoT(plantId, name, { wait: true });
  return { plantId, outcome };
}

describe('provisionPlantIoT / getPlantIoTStatus / deprovisionPlantIoT', () => {
  it('provisions a new plant in AWS and records it active, waiting when asked', async () => {
    const plantId = randomUUID();
    const outcome = await stack.solarIot.provisionPlantIoT(plantId, 'Rooftop A', { wait: true });
    expect(outcome.iotMode).toBe('aws');
    expect(outcome.iotStatus).toBe('active');
    expect(outcome.workflowId).toBe(provisionWorkflowId(plantId));
    expect(outcome.resources?.thingName).toBe(thingNameFor(plantId));
    expect(outcome.resources?.endpoint).toBe('test-ats.iot.us-east-1.amazonaws.com');
    // Also at the top level, where the seed's callers read them.
    const {
      resources,
      iotMode,
      iotStatus,
      workflowId,
      runId,
      plantId: _,
      certificateMode,
      ...topLevel
    } = outcome;
    expect(topLevel).toEqual(resources);
    expect(certificateMode).toBe('server');

    const thing = await stack.aws?.iot.send(new DescribeThingCommand({ thingName: thingNameFor(plantId) }));
    expect(thing?.attributes?.plantId).toBe(plantId);

    const status = await stack.solarIot.getPlantIoTStatus(plantId);
    expect(status.plant).toMatchObject({
      id: plantId,
      name: 'Rooftop A',
      iotStatus: 'active',
      thingName: thingNameFor(plantId),
      certificateId: outcome.resources?.certificateId,
      lastError: null,
    });
    expect(status.operation).toMatchObject({
      kind: 'provision',
      state: 'completed',
      workflowId: provisionWorkflowId(plantId),
    });
  });

  it('returns as soon as the workflow is started when not asked to wait', async () => {
    const plantId = randomUUID();
    const outcome = await stack.solarIot.provisionPlantIoT(plantId, 'No wait');
    expect(outcome.resources).toBeUndefined();
    expect(outcome.workflowId).toBe(provisionWorkflowId(plantId));
    // The record exists at once; the workflow finishes on its own.
    expect((await stack.plantRow(plantId))?.name).toBe('No wait');
    const row = await stack.until(async () => {
      const r = await stack.plantRow(plantId);
      return r?.iotStatus === 'active' ? r : undefined;
    });
    expect(row.thingName).toBe(thingNameFor(plantId));
  });

  it('refuses bad input before anything starts', async () => {
    await expect(stack.solarIot.provisionPlantIoT('bad/id', 'x')).rejects.toBeInstanceOf(InvalidInputError);
    await expect(stack.solarIot.provisionPlantIoT(randomUUID(), '   ')).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    // Unknown plant without a name: nothing to create it from.
    await expect(stack.solarIot.provisionPlantIoT(randomUUID())).rejects.toThrow(/give its name/);
    await expect(stack.solarIot.getPlantIoTStatus(randomUUID())).rejects.toBeInstanceOf(PlantNotFoundError);
    await expect(stack.solarIot.deprovisionPlantIoT(randomUUID())).rejects.toBeInstanceOf(PlantNotFoundError);
  });

  it('deprovisions, accepting the seed-style resource hints, and keeps the record as deprovisioned', async () => {
    const { plantId, outcome } = await provisioned();
    const result = await stack.solarIot.deprovisionPlantIoT(plantId, {
      wait: true,
      iotThingName: outcome.resources?.thingName ?? null,
      iotRuleName: 'solar_plant_rule_ignored',
    });
    expect(result.iotStatus).toBe('deprovisioned');
    expect(result.result?.removed).toContain(`thing ${thingNameFor(plantId)}`);
    await expect(
      stack.aws?.iot.send(new DescribeThingCommand({ thingName: thingNameFor(plantId) })),
    ).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
    const status = await stack.solarIot.getPlantIoTStatus(plantId);
    expect(status.plant.iotStatus).toBe('deprovisioned');
    expect(status.plant.thingName).toBeNull();
    expect(status.operation).toMatchObject({ kind: 'deprovision', state: 'completed' });
  });

  it('shows the running step, and refuses to provision a plant while it is being deprovisioned', async () => {
    const { plantId } = await provisioned();
    holdDeprovisionOf = plantId;
    await stack.solarIot.deprovisionPlantIoT(plantId);
    const running = await stack.until(async () => {
      const s = await stack.solarIot.getPlantIoTStatus(plantId);
      return s.operation?.currentStep === 'list-principals' ? s : undefined;
    });
    expect(running.operation).toMatchObject({ kind: 'deprovision', state: 'running' });
    expect(running.operation?.stepsDone).toEqual(['stop-provisioning', 'stop-rotation', 'record-start']);
    expect(running.plant.iotStatus).toBe('deprovisioning');

    const refused = stack.solarIot.provisionPlantIoT(plantId, 'again');
    await expect(refused).rejects.toBeInstanceOf(ConflictError);
    await expect(refused).rejects.toMatchObject({ code: 'operation_conflict' });

    releaseDeprovision?.();
    holdDeprovisionOf = undefined;
    const row = await stack.until(async () => {
      const r = await stack.plantRow(plantId);
      return r?.iotStatus === 'deprovisioned' ? r : undefined;
    });
    expect(row.deprovisionedAt).not.toBeNull();
  });
});

describe('thing shadows', () => {
  it('round-trips desired state on classic and named shadows, with version conflicts as typed errors', async () => {
    const { plantId } = await provisioned('Shadow plant');
    await expect(stack.solarIot.getThingShadow(plantId)).rejects.toMatchObject({ code: 'shadow_not_found' });

    const first = await stack.solarIot.updateThingShadow(plantId, { powerLimit: 1000, mode: 'auto' });
    expect(first.version).toBe(1);
    expect(first.state.desired).toEqual({ powerLimit: 1000, mode: 'auto' });
    const second = await stack.solarIot.updateThingShadow(plantId, { powerLimit: 800 }, { version: 1 });
    expect(second.version).toBe(2);

    const read = await stack.solarIot.getThingShadow(plantId);
    expect(read.thingName).toBe(thingNameFor(plantId));
    expect(read.shadowName).toBeNull();
    expect(read.version).toBe(2);
    expect(read.state.desired).toEqual({ powerLimit: 800, mode: 'auto' });

    // A writer that read version 1 loses: nothing is applied.
    const stale = stack.solarIot.updateThingShadow(plantId, { powerLimit: 1 }, { version: 1 });
    await expect(stale).rejects.toBeInstanceOf(ShadowVersionConflictError);
    await expect(stale).rejects.toMatchObject({ code: 'version_conflict', kind: 'conflict' });
    expect((await stack.solarIot.getThingShadow(plantId)).state.desired).toMatchObject({ powerLimit: 800 });

    // A named shadow is separate from the classic one.
    const named = await stack.solarIot.updateThingShadow(plantId, { tilt: 30 }, { shadowName: 'tracker' });
    expect(named.shadowName).toBe('tracker');
    expect(named.version).toBe(1);
    expect((await stack.solarIot.getThingShadow(plantId, { shadowName: 'tracker' })).state.desired).toEqual({
      tilt: 30,
    });
    expect((await stack.solarIot.getThingShadow(plantId)).version).toBe(2);
  });

  it('refuses shadows of unknown or unprovisioned plants and bad input', async () => {
    await expect(stack.solarIot.getThingShadow(randomUUID())).rejects.toBeInstanceOf(PlantNotFoundError);
    const plantId = randomUUID();
    await stack.database.db.insert(plants).values({ id: plantId, name: 'failed one', iotStatus: 'failed' });
    await expect(stack.solarIot.getThingShadow(plantId)).rejects.toMatchObject({ code: 'not_provisioned' });
    await expect(stack.solarIot.getThingShadow(plantId, { shadowName: 'bad name!' })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    await expect(stack.solarIot.updateThingShadow(plantId, [] as never)).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    await expect(stack.solarIot.updateThingShadow(plantId, { big: 'x'.repeat(9000) })).rejects.toThrow(
      /at most 8192/,
    );
  });
});

describe('thing shadows by thing name (the seed passes it)', () => {
  it('reads and writes the shadow of the plant whose thing it is', async () => {
    const { plantId } = await provisioned('Seed shadow plant');
    const written = await stack.solarIot.updateThingShadow(thingNameFor(plantId), { powerLimit: 1000 });
    expect(written).toMatchObject({ plantId, thingName: thingNameFor(plantId), version: 1 });
    const read = await stack.solarIot.getThingShadow(thingNameFor(plantId));
    expect(read).toMatchObject({ plantId, state: { desired: { powerLimit: 1000 } } });
    // The same shadow as by plant id.
    expect((await stack.solarIot.getThingShadow(plantId)).version).toBe(1);
    await expect(stack.solarIot.getThingShadow(thingNameFor(randomUUID()))).rejects.toBeInstanceOf(
      PlantNotFoundError,
    );
  });

  it("refuses a key that is one plant's id and another's thing name, rather than guess", async () => {
    const { plantId } = await provisioned('Shadowed by an id');
    await stack.database.db
      .insert(plants)
      .values({ id: thingNameFor(plantId), name: 'id like a thing name', iotStatus: 'failed' });
    const both = stack.solarIot.getThingShadow(thingNameFor(plantId));
    await expect(both).rejects.toBeInstanceOf(ConflictError);
    await expect(both).rejects.toMatchObject({ code: 'ambiguous_plant' });
    await expect(both).rejects.toThrow(new RegExp(`thing name of plant ${plantId}`));
    await expect(stack.solarIot.updateThingShadow(thingNameFor(plantId), { a: 1 })).rejects.toMatchObject({
      code: 'ambiguous_plant',
    });
  });
});

describe('publishCommand', () => {
  it('publishes the command to solar/{plantId}/commands/{command} through the data plane', async () => {
    const { plantId } = await provisioned('Command plant');
    const seen: { path: string; body: string; status: number | undefined }[] = [];
    stack.aws?.iotData.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { path?: string; body?: Uint8Array | string };
        const result = await next(args);
        seen.push({
          path: decodeURIComponent(request.path ?? ''),
          body: Buffer.from(request.body ?? '').toString('utf8'),
          status: (result.response as { statusCode?: number }).statusCode,
        });
        return result;
      },
      { step: 'finalizeRequest', name: 'recordPublish', override: true },
    );
    const outcome = await stack.solarIot.publishCommand(plantId, 'restart', { delaySeconds: 5 }, { qos: 0 });
    expect(outcome.topic).toBe(`solar/${plantId}/commands/restart`);

    const sent = seen.find((s) => s.path.endsWith(`/topics/solar/${plantId}/commands/restart`));
    expect(sent?.status).toBe(200); // moto accepted it
    expect(JSON.parse(sent?.body ?? '{}')).toMatchObject({
      commandId: outcome.commandId,
      command: 'restart',
      params: { delaySeconds: 5 },
    });

    await expect(stack.solarIot.publishCommand(plantId, 'bad/topic')).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    await expect(stack.solarIot.publishCommand(plantId, 'x', {}, { qos: 2 as never })).rejects.toThrow(
      /QoS 2/,
    );
    await expect(stack.solarIot.publishCommand(randomUUID(), 'restart')).rejects.toBeInstanceOf(
      PlantNotFoundError,
    );
  });
});

describe('createDataIngestionRule / updateRule', () => {
  it('creates the per-plant rule, accepts an identical second call, and updates SQL only when valid', async () => {
    const plantId = randomUUID();
    const created = await stack.solarIot.createDataIngestionRule(plantId);
    expect(created).toMatchObject({ ruleName: plantRuleNameFor(plantId), created: true });
    expect((await stack.solarIot.createDataIngestionRule(plantId)).created).toBe(false);

    const ruleName = plantRuleNameFor(plantId);
    const sql = "SELECT * FROM 'solar/+/data' WHERE temperature > 50";
    const updated = await stack.solarIot.updateRule(ruleName, plantId, { sql });
    expect(updated.sql).toBe(sql);
    const inAws = await stack.aws?.iot.send(new GetTopicRuleCommand({ ruleName }));
    expect(inAws?.rule?.sql).toBe(sql);
    expect(inAws?.rule?.actions?.[0]?.sqs?.queueUrl).toBe(stack.config.aws.sqsQueueUrl);
    expect(inAws?.rule?.errorAction?.sqs?.queueUrl).toBe(`${stack.config.aws.sqsQueueUrl}-dlq`);

    // Refused before AWS: the rule in AWS keeps the last good SQL.
    for (const bad of [
      "SELECT * FROM 'other/+/data'",
      `SELECT * FROM 'solar/${randomUUID()}/data'`,
      "SELECT * FROM 'solar/+/data'; DROP",
      'DELETE FROM plants',
      "SELECT * FROM 'solar/#'",
    ]) {
      await expect(stack.solarIot.updateRule(ruleName, plantId, { sql: bad })).rejects.toMatchObject({
        code: 'invalid_rule_sql',
      });
    }
    expect((await stack.aws?.iot.send(new GetTopicRuleCommand({ ruleName })))?.rule?.sql).toBe(sql);

    await expect(
      stack.solarIot.updateRule('solar_plant_rule_missing', plantId, { sql }),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(stack.solarIot.updateRule('bad-name', plantId, { sql })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
  });

  it('gives a rule made before the error action existed the dead-letter queue, on create and on update', async () => {
    const [first, second] = [randomUUID(), randomUUID()];
    const deadLetterQueueUrl = `${stack.config.aws.sqsQueueUrl}-dlq`;
    for (const plantId of [first, second]) {
      await stack.aws?.iot.send(
        new CreateTopicRuleCommand({
          ruleName: plantRuleNameFor(plantId),
          topicRulePayload: {
            sql: plantRuleSql(plantId),
            actions: [
              {
                sqs: {
                  queueUrl: stack.config.aws.sqsQueueUrl,
                  roleArn: stack.config.aws.iotRoleArn,
                  useBase64: false,
                },
              },
            ],
          },
        }),
      );
    }
    const errorQueueOf = async (plantId: string) =>
      (await stack.aws?.iot.send(new GetTopicRuleCommand({ ruleName: plantRuleNameFor(plantId) })))?.rule
        ?.errorAction?.sqs?.queueUrl;
    expect(await errorQueueOf(first)).toBeUndefined();
    expect((await stack.solarIot.createDataIngestionRule(first)).created).toBe(false);
    expect(await errorQueueOf(first)).toBe(deadLetterQueueUrl);
    await stack.solarIot.updateRule(plantRuleNameFor(second), second, { description: 'renamed' });
    expect(await errorQueueOf(second)).toBe(deadLetterQueueUrl);
  });
});

describe('encryption re-exports', () => {
  it('generates keys and round-trips data with an explicit key and with ENCRYPTION_KEY', async () => {
    const key = generateEncryptionKey();
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(generateEncryptionKey()).not.toBe(key);
    const sealed = await encryptData('sensitive-data', key);
    expect(sealed).not.toContain('sensitive-data');
    expect(await decryptData(sealed, key)).toBe('sensitive-data');
    await expect(decryptData(sealed, generateEncryptionKey())).rejects.toThrow();
    expect(await stack.solarIot.decryptData(await stack.solarIot.encryptData('with config key'))).toBe(
      'with config key',
    );
  });
});
