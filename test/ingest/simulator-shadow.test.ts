/**
 * The simulator behaves like a device with its shadow (issue 16, item 3), end to end: a plant
 * provisioned through the HTTP API (worker, moto; production's defaults: CSR certificate, shared
 * policy), its bundle written by export-credentials, `npm run simulate -- --transport mqtt` as a
 * real process on the TLS test broker, which evaluates the policy moto holds and hosts the shadow
 * service (test/support/shadow-service.ts). The product reaches AWS through that service's HTTP
 * front, so its UpdateThingShadow becomes a delta on the broker, and its GetThingShadow reads what
 * the device reported into moto.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IoTClient } from '@aws-sdk/client-iot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCipher } from '../../src/crypto/encryption.js';
import { thingNameFor } from '../../src/iot/naming.js';
import { exportDeviceBundle } from '../../src/secrets/export-credentials.js';
import { awsClientConfig } from '../support/moto.js';
import { TestCa, TlsBroker } from '../support/mqtt.js';
import { TestStack } from '../support/product-stack.js';
import { ShadowService } from '../support/shadow-service.js';

let service: ShadowService;
let stack: TestStack;
let broker: TlsBroker;
let iot: IoTClient;
let workDir: string;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  service = await ShadowService.start(awsClientConfig());
  stack = await TestStack.start({ mode: 'aws', env: { AWS_ENDPOINT_URL: service.endpoint } });
  await stack.serveApi();
  const caFile = process.env.MOTO_IOT_CA_FILE;
  if (!caFile) throw new Error('MOTO_IOT_CA_FILE is not set: this test needs the moto of the global setup');
  const serverCa = await TestCa.create();
  iot = new IoTClient(awsClientConfig());
  broker = (await TlsBroker.start(serverCa, [await readFile(caFile, 'utf8')])).usePoliciesFrom(iot);
  await service.serve(broker);
  workDir = await mkdtemp(join(tmpdir(), 'solar-iot-simulator-shadow-'));
  await writeFile(join(workDir, 'broker-ca.pem'), serverCa.certificatePem);
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await broker?.close();
  await stack?.close();
  await service?.close();
  iot?.destroy();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function api<T = Record<string, unknown>>(method: string, path: string, body?: unknown) {
  const res = await fetch(stack.apiEnv.SOLAR_IOT_API_URL + path, {
    method,
    headers: {
      authorization: `Bearer ${stack.apiEnv.SOLAR_IOT_API_TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

interface Shadow {
  version: number;
  state: { desired?: Record<string, unknown>; reported?: Record<string, unknown>; delta?: unknown };
}

/**
 * The simulator as `npm run simulate` runs it (package.json: `tsx src/ingest/simulate.ts`; tsx
 * itself, as npm ends on a Ctrl-C without waiting for the script), with its output collected, in
 * a process group of its own that the test's cleanup can end whole.
 */
function simulate(args: string[]) {
  const child: ChildProcess = spawn(
    join('node_modules', '.bin', 'tsx'),
    ['src/ingest/simulate.ts', ...args],
    {
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  );
  const signal = (name: NodeJS.Signals) => process.kill(-(child.pid as number), name);
  const out = { stdout: '', stderr: '' };
  child.stdout?.on('data', (d) => {
    out.stdout += String(d);
  });
  child.stderr?.on('data', (d) => {
    out.stderr += String(d);
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  closers.push(async () => {
    try {
      signal('SIGKILL');
    } catch {
      // ESRCH: the group has already ended.
    }
    await exited;
  });
  return { child, out, exited, signal };
}

describe('simulate --transport mqtt with its shadow', () => {
  it('applies the desired state the API set before and while it runs, and reports it: GET /plants/{id}/shadow then shows reported = desired', async () => {
    const created = await api<{ plant: { id: string } }>('POST', '/plants', { name: 'Shadowed' });
    const plantId = created.body.plant.id;
    await stack.until(async () => (await stack.plantRow(plantId))?.iotStatus === 'active');
    const thingName = thingNameFor(plantId);
    const prefix = `$aws/things/${thingName}/shadow`;

    // Set before the device connects: it finds this with shadow/get at connect.
    const first = await api<Shadow>('PATCH', `/plants/${plantId}/shadow`, {
      desired: { powerLimit: 800, mode: 'eco' },
    });
    expect(first).toMatchObject({ status: 200, body: { version: 1 } });

    const bundle = join(workDir, plantId);
    await exportDeviceBundle({
      db: stack.database.db,
      vault: createCipher({ currentKey: stack.config.encryption.currentKey ?? '' }),
      plantId,
      directory: bundle,
      endpoint: '127.0.0.1',
    });
    const sim = simulate([
      '--transport',
      'mqtt',
      '--credentials',
      bundle,
      '--mqtt-endpoint',
      `127.0.0.1:${broker.port}`,
      '--ca',
      join(workDir, 'broker-ca.pem'),
      '--devices',
      '1',
      '--rate',
      '2',
    ]);
    /** The shadow through the API, once `done` holds (or the simulator died: its output says why). */
    const shadowWhen = (done: (s: Shadow) => boolean) =>
      stack.until(async () => {
        if (sim.child.exitCode !== null)
          throw new Error(`simulate exited ${sim.child.exitCode}: ${sim.out.stderr}`);
        const { status, body } = await api<Shadow>('GET', `/plants/${plantId}/shadow`);
        return status === 200 && done(body) ? body : undefined;
      });

    const synced = await shadowWhen((s) => s.state.reported !== undefined);
    expect(synced.state).toEqual({
      desired: { powerLimit: 800, mode: 'eco' },
      reported: { powerLimit: 800, mode: 'eco' },
    });

    // Written while it runs: reaches it as a delta through the broker, and comes back reported.
    const second = await api<Shadow>('PATCH', `/plants/${plantId}/shadow`, {
      desired: { powerLimit: 500 },
      version: synced.version,
    });
    expect(second.status).toBe(200);
    const after = await shadowWhen((s) => s.state.reported?.powerLimit === 500);
    expect(after.state).toEqual({
      desired: { powerLimit: 500, mode: 'eco' },
      reported: { powerLimit: 500, mode: 'eco' },
    });
    expect(service.published).toContainEqual({
      topic: `${prefix}/update/delta`,
      payload: expect.objectContaining({ state: { powerLimit: 500 }, version: second.body.version }),
    });

    // As a device: its shadow requests on its own thing's topics, within the shared policy.
    const requests = broker.received
      .filter((r) => r.clientId === thingName && r.topic.startsWith('$aws/'))
      .map((r) => ({ topic: r.topic, body: r.payload ? JSON.parse(r.payload) : {} }));
    expect(requests.map((r) => r.topic)).toEqual([`${prefix}/get`, `${prefix}/update`, `${prefix}/update`]);
    expect(requests[1]?.body).toMatchObject({ state: { reported: { powerLimit: 800, mode: 'eco' } } });
    expect(requests[2]?.body).toMatchObject({ state: { reported: { powerLimit: 500 } } });
    expect(broker.denied.filter((d) => d.clientId === thingName)).toEqual([]);
    // Telemetry on the same connection, alongside.
    await stack.until(async () => broker.received.some((r) => r.topic === `solar/${plantId}/data`));

    // Ctrl-C: tsx hands it to the simulator, which stops sending, disconnects and prints its summary.
    sim.child.kill('SIGINT');
    expect(await sim.exited).toBe(0);
    const summary = JSON.parse(sim.out.stdout.trim().split('\n').pop() ?? '{}');
    expect(summary).toMatchObject({ transport: 'mqtt', shadowReports: 2 });
  });
});
