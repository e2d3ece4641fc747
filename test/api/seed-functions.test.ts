/**
 * The seed's top-level functions (`import { provisionPlantIoT } from 'solar-iot'`) as a plant
 * service uses them: a separate Node process configured only by its environment, on the lazily
 * created default instance, with this file's worker serving the task queue.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { thingNameFor } from '../../src/iot/naming.js';
import { TestStack } from '../support/product-stack.js';
import { storeReadings } from '../support/telemetry.js';

const repoRoot = new URL('../../', import.meta.url).pathname;

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

let stack: TestStack;
beforeAll(async () => {
  stack = await TestStack.start({ mode: 'aws' });
});
afterAll(async () => stack?.close());

it('provisions, sets a shadow and sends a command from a script using only the environment', async () => {
  const plantId = randomUUID();
  await storeReadings(stack.database.pool, plantId, [
    { deviceId: 'inverter-01', timestamp: '2024-06-21T12:30:00Z', metrics: { power_ac: 4200 } },
  ]);
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], {
        cwd: repoRoot,
        env: { ...stack.env, PLANT_ID: plantId, LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => {
        out += String(d);
      });
      child.stderr.on('data', (d) => {
        err += String(d);
      });
      // Exiting on its own also proves closeSolarIot() released every connection.
      child.once('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
    },
  );
  expect(code, stderr).toBe(0);
  const lastLine = stdout.trim().split('\n').at(-1) ?? '{}';
  expect(JSON.parse(lastLine)).toEqual({
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
