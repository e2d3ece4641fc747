/**
 * The seed's top-level functions (`import { provisionPlantIoT } from 'solar-iot'`) as a plant
 * service uses them: a separate Node process configured only by its environment, on the lazily
 * created default instance, with this file's worker serving the task queue.
 */
import { randomUUID } from 'node:crypto';
import { DescribeThingCommand } from '@aws-sdk/client-iot';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { thingNameFor } from '../../src/iot/naming.js';
import { ran, tsx } from '../support/child.js';
import { TestStack } from '../support/product-stack.js';
import { storeReadings } from '../support/telemetry.js';

const SCRIPT = `
import {
  closeSolarIot, decryptData, encryptData, getLatestTelemetry, getPlantIoTStatus, getTelemetry,
  getThingShadow, isAwsIotEnabled,
  PlantNotFoundError, provisionPlantIoT, publishCommand, updateThingShadow,
} from './src/client.ts';
const plantId = process.env.PLANT_ID;
const enabled = isAwsIotEnabled();
const provisioned = await provisionPlantIoT(plantId, 'Seed-style plant', { wait: true });
await updateThingShadow(plantId, { powerLimit: 1000, mode: 'auto' });
const shadow = await getThingShadow(plantId);
const command = await publishCommand(plantId, 'restart');
const status = await getPlantIoTStatus(plantId);
const sealed = await encryptData('sensitive-data');
const telemetry = await getTelemetry(plantId, { from: '2024-06-21T12:00:00Z', to: '2024-06-21T13:00:00Z', bucket: '1h' });
const latest = await getLatestTelemetry(plantId);
let notFound = null;
try { await getPlantIoTStatus('missing-' + plantId); } catch (e) { notFound = e instanceof PlantNotFoundError ? e.code : String(e); }
console.log(JSON.stringify({
  enabled, thingName: provisioned.resources.thingName, desired: shadow.state.desired,
  topic: command.topic, iotStatus: status.plant.iotStatus, roundTrip: await decryptData(sealed), notFound,
  telemetry: telemetry.series, latest: latest.devices.map((d) => d.metrics),
}));
await closeSolarIot();
`;

/**
 * The seed README's examples, in their own code shape (`./modules/aws-iot/index.js` is
 * `./src/client.ts`; `prisma` is an in-memory stand-in for the seed's plant table): awaited,
 * provisionPlantIoT returns the resources at the top level, the shadow calls take the thing name,
 * and deprovisionPlantIoT has finished when it returns.
 */
const SEED_README_SCRIPT = `
import {
  closeSolarIot, createDataIngestionRule, deprovisionPlantIoT, getThingShadow, isAwsIotEnabled,
  provisionPlantIoT, updateRule, updateThingShadow,
} from './src/client.ts';
const [plantId, plantName, ...existing] = process.env.PLANT_IDS.split(',');
const plantRows = existing.map((id, i) => ({ id, name: 'Existing plant ' + i, iotThingName: null }));
const prisma = { plant: {
  findMany: async ({ where }) => plantRows.filter((p) => p.iotThingName === where.iotThingName),
  update: async ({ where, data }) => Object.assign(plantRows.find((p) => p.id === where.id), data),
} };
const out = { migrationErrors: [] };

// Basic Integration: when creating a plant
if (isAwsIotEnabled()) {
  const iotResources = await provisionPlantIoT(plantId, plantName);
  // Store iotResources in database
  out.iotResources = iotResources;
}

// Working with Thing Shadows
await updateThingShadow('solar-plant-' + plantId, {
  powerLimit: 1000,
  mode: 'auto',
});
const shadow = await getThingShadow('solar-plant-' + plantId);
out.reported = shadow.state.reported ?? null;
out.desired = shadow.state.desired;

// Custom IoT Rules
const ruleName = 'custom_rule_' + plantId.replaceAll('-', '_');
await createDataIngestionRule(plantId, ruleName, 'Custom rule description');
await updateRule(ruleName, plantId, {
  sql: "SELECT * FROM 'solar/+/data' WHERE temperature > 50",
});

// Migration Guide: existing plants without IoT
async function migrateExistingPlants() {
  const plants = await prisma.plant.findMany({
    where: { iotThingName: null }
  });

  for (const plant of plants) {
    try {
      const iotResources = await provisionPlantIoT(plant.id, plant.name);
      await prisma.plant.update({
        where: { id: plant.id },
        data: {
          iotThingName: iotResources.thingName,
          iotCertificateId: iotResources.certificateId,
          iotCertificateArn: iotResources.certificateArn,
          iotPolicyName: iotResources.policyName,
        }
      });
    } catch (error) {
      out.migrationErrors.push(plant.id + ': ' + error.message);
    }
  }
}
await migrateExistingPlants();
out.migrated = plantRows;

// When deleting a plant (the last one migrated, from the seed's own row)
const plant = plantRows.at(-1);
await deprovisionPlantIoT(plant.id, {
  iotThingName: plant.iotThingName,
  iotCertificateId: plant.iotCertificateId,
  iotCertificateArn: plant.iotCertificateArn,
  iotPolicyName: plant.iotPolicyName,
  iotRuleName: 'solar_plant_rule_...',
});
console.log(JSON.stringify(out));
await closeSolarIot();
`;

/** The seed's migration loop where AWS IoT is off: each plant fails loudly, none stores undefined. */
const SEED_MIGRATION_DISABLED_SCRIPT = `
import { closeSolarIot, provisionPlantIoT } from './src/client.ts';
const plantRows = process.env.PLANT_IDS.split(',').map((id) => ({ id, name: 'Offline ' + id, iotThingName: null }));
const errors = [];
for (const plant of plantRows) {
  try {
    const iotResources = await provisionPlantIoT(plant.id, plant.name);
    Object.assign(plant, { iotThingName: iotResources.thingName, iotCertificateId: iotResources.certificateId });
  } catch (error) {
    errors.push({ id: plant.id, code: error.code, message: error.message });
  }
}
console.log(JSON.stringify({ plantRows, errors }));
await closeSolarIot();
`;

let stack: TestStack;
beforeAll(async () => {
  stack = await TestStack.start({ mode: 'aws' });
});
afterAll(async () => stack?.close());

/** Runs a script as a plant service would: its own Node process, configured by its environment. */
async function runScript(script: string, env: Record<string, string | undefined>) {
  // Exiting on its own also proves closeSolarIot() released every connection.
  const { code, stdout, stderr } = await ran(tsx(['--input-type=module', '-e', script]), {
    env: { ...stack.env, LOG_LEVEL: 'warn', ...env },
  });
  expect(code, stderr).toBe(0);
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
}

it('provisions, sets a shadow and sends a command from a script using only the environment', async () => {
  const plantId = randomUUID();
  await storeReadings(stack.database.pool, plantId, [
    { deviceId: 'inverter-01', timestamp: '2024-06-21T12:30:00Z', metrics: { power_ac: 4200 } },
  ]);
  expect(await runScript(SCRIPT, { PLANT_ID: plantId })).toEqual({
    enabled: true,
    thingName: thingNameFor(plantId),
    desired: { powerLimit: 1000, mode: 'auto' },
    topic: `solar/${plantId}/commands/restart`,
    iotStatus: 'active',
    roundTrip: 'sensitive-data',
    notFound: 'plant_not_found',
    telemetry: [
      {
        deviceId: 'inverter-01',
        metric: 'power_ac',
        points: [
          { start: '2024-06-21T12:00:00.000Z', avg: 4200, min: 4200, max: 4200, last: 4200, count: 1 },
        ],
      },
    ],
    latest: [[{ metric: 'power_ac', value: 4200, timestamp: '2024-06-21T12:30:00.000Z' }]],
  });
  expect((await stack.plantRow(plantId))?.iotStatus).toBe('active');
});

it("runs the seed README's examples as written: resources at the top level, shadows by thing name, deprovision done when awaited", async () => {
  const [plantId, ...existing] = [randomUUID(), randomUUID(), randomUUID()];
  const result = await runScript(SEED_README_SCRIPT, {
    PLANT_IDS: [plantId, 'Seed README plant', ...existing].join(','),
    AWS_IOT_ROLE_ARN: 'arn:aws:iam::123456789012:role/IoTToSQSRole',
  });
  const row = await stack.plantRow(plantId);
  expect(row?.iotStatus).toBe('active');
  expect(result.iotResources).toMatchObject({
    thingName: thingNameFor(plantId),
    thingArn: row?.thingArn,
    certificateId: row?.certificateId,
    certificateArn: row?.certificateArn,
    policyName: row?.policyName,
  });
  expect(result.iotResources.certificateId).toMatch(/^[0-9a-f]{64}$/);
  expect(result.desired).toEqual({ powerLimit: 1000, mode: 'auto' });
  expect(result.reported).toBeNull(); // no device has reported yet
  expect(result.migrationErrors).toEqual([]);
  const [kept, removed] = existing as [string, string];
  const keptRow = await stack.plantRow(kept);
  expect(keptRow?.iotStatus).toBe('active');
  expect(result.migrated).toEqual([
    {
      id: kept,
      name: 'Existing plant 0',
      iotThingName: thingNameFor(kept),
      iotCertificateId: keptRow?.certificateId,
      iotCertificateArn: keptRow?.certificateArn,
      iotPolicyName: keptRow?.policyName,
    },
    expect.objectContaining({ id: removed, iotThingName: thingNameFor(removed) }),
  ]);
  // Awaited, the deprovision has finished: the thing is gone and the record says so.
  expect((await stack.plantRow(removed))?.iotStatus).toBe('deprovisioned');
  await expect(
    stack.aws?.iot.send(new DescribeThingCommand({ thingName: thingNameFor(removed) })),
  ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
});

it("fails the seed's migration loop plant by plant where AWS IoT is off, instead of storing undefined", async () => {
  const ids = [randomUUID(), randomUUID()];
  const { plantRows, errors } = await runScript(SEED_MIGRATION_DISABLED_SCRIPT, {
    PLANT_IDS: ids.join(','),
    USE_AWS_IOT: 'false',
  });
  expect(plantRows.map((p: { iotThingName: unknown }) => p.iotThingName)).toEqual([null, null]);
  expect(errors).toEqual(
    ids.map((id) => ({
      id,
      code: 'iot_disabled',
      message: expect.stringMatching(/AWS IoT is disabled.*backfill/),
    })),
  );
  // Recorded, so the backfill provisions them once AWS IoT is on.
  for (const id of ids) expect((await stack.plantRow(id))?.iotStatus).toBe('disabled');
});
