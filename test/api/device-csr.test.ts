/**
 * Certificate mode device-csr through the HTTP API, the library and the CLI (issue 16, item 6),
 * on the real stack: Temporal dev server with a worker, moto, PostgreSQL. The device's key is
 * made here in the test, as on a device, and never given to the product.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeThingCommand } from '@aws-sdk/client-iot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/program.js';
import { createCipher } from '../../src/crypto/encryption.js';
import { publicKeyFingerprintOfCertificate } from '../../src/iot/device-keys.js';
import { thingNameFor } from '../../src/iot/naming.js';
import { BUNDLE_FILES, exportDeviceBundle } from '../../src/secrets/export-credentials.js';
import type { PlantStatus } from '../../src/service/solar-iot.js';
import { IotStatusSearchAttribute, provisionWorkflowId } from '../../src/workflows/contract.js';
import { deviceCsr } from '../support/device-csr.js';
import { TestStack } from '../support/product-stack.js';

let stack: TestStack;
/** The API as `npm start` serves it; the CLI reaches it through the same variables. */
let apiEnv: Record<string, string>;
let workDir: string;

beforeAll(async () => {
  stack = await TestStack.start({ mode: 'aws' });
  apiEnv = await stack.serveApi();
  workDir = await mkdtemp(join(tmpdir(), 'solar-iot-device-csr-'));
});

afterAll(async () => {
  await stack?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

interface Answer<T> {
  status: number;
  body: T;
}

function request<T = Record<string, unknown>>(
  method: string,
  path: string,
  options: { json?: unknown; pem?: string; contentType?: string; token?: string | null } = {},
): Promise<Answer<T>> {
  const contentType =
    options.contentType ?? (options.pem !== undefined ? 'application/x-pem-file' : undefined);
  return stack.api<T>(method, path, {
    json: options.json,
    body: options.pem,
    contentType,
    token: options.token,
  });
}

type ErrorAnswer = Answer<{ error: { code: string; message: string } }>;

async function createDevicePlant(name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const created = await request<PlantStatus>('POST', '/plants', {
    json: { name, certificateMode: 'device-csr', ...extra },
  });
  expect(created.status).toBe(202);
  return created.body.plant.id;
}

/** GET /plants/{id} until its provision waits for the CSR (the test timeout bounds it). */
async function untilAwaitingCsr(plantId: string): Promise<PlantStatus> {
  return stack.until(async () => {
    const { body } = await request<PlantStatus>('GET', `/plants/${plantId}`);
    return body.operation?.currentStep === 'await-csr' && body.plant.iotStatus === 'awaiting-csr'
      ? body
      : undefined;
  });
}

interface Issued {
  plantId: string;
  thingName: string;
  certificateId: string;
  certificatePem: string;
  endpoint: string;
  privateKey: string;
}

describe('POST /plants/{id}/csr', () => {
  it('a plant created in device-csr mode waits for its CSR, then answers it with the certificate of the device key', async () => {
    const plantId = await createDevicePlant('Device-key plant');
    const thingName = thingNameFor(plantId);
    const waiting = await untilAwaitingCsr(plantId);
    expect(waiting.plant.iotStatus).toBe('awaiting-csr');
    expect(waiting.plant.thingName).toBeNull();
    const described = await stack.temporal.workflow.getHandle(provisionWorkflowId(plantId)).describe();
    expect(described.typedSearchAttributes.get(IotStatusSearchAttribute)).toBe('awaiting-csr');
    expect((await stack.aws?.iot.send(new DescribeThingCommand({ thingName })))?.thingName).toBe(thingName);

    const device = await deviceCsr(`CN=${thingName}`);
    const anonymous: ErrorAnswer = await request('POST', `/plants/${plantId}/csr`, {
      pem: device.csrPem,
      token: null,
    });
    expect(anonymous.status).toBe(401);

    const issued = await request<Issued>('POST', `/plants/${plantId}/csr`, { pem: device.csrPem });
    expect(issued.status).toBe(200);
    expect(issued.body).toMatchObject({
      plantId,
      thingName,
      endpoint: 'test-ats.iot.us-east-1.amazonaws.com',
    });
    expect(issued.body.privateKey).toMatch(/held by the device/);
    expect(publicKeyFingerprintOfCertificate(issued.body.certificatePem)).toBe(device.publicKey);
    const active = await request<PlantStatus>('GET', `/plants/${plantId}`);
    expect(active.body.plant).toMatchObject({
      iotStatus: 'active',
      certificateId: issued.body.certificateId,
    });

    const again: ErrorAnswer = await request('POST', `/plants/${plantId}/csr`, {
      pem: (await deviceCsr(`CN=${thingName}`)).csrPem,
    });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('csr_already_accepted');
    expect(again.body.error.message).toMatch(new RegExp(`certificate ${issued.body.certificateId}`));

    // The installer's bundle: the certificate, no key, and it says where the key is.
    const directory = join(workDir, 'bundle');
    const exported = await exportDeviceBundle({
      db: stack.database.db,
      vault: createCipher({ currentKey: stack.config.encryption.currentKey ?? '' }),
      plantId,
      directory,
      endpoint: 'test-ats.iot.us-east-1.amazonaws.com',
    });
    expect(exported.privateKeyIncluded).toBe(false);
    expect((await readdir(directory)).sort()).toEqual(
      [BUNDLE_FILES.certificate, BUNDLE_FILES.rootCa, BUNDLE_FILES.device].sort(),
    );
    expect(await readFile(join(directory, BUNDLE_FILES.certificate), 'utf8')).toBe(
      issued.body.certificatePem,
    );
    const deviceJson = JSON.parse(await readFile(join(directory, BUNDLE_FILES.device), 'utf8'));
    expect(deviceJson.files.privateKey).toBeNull();
    expect(deviceJson.privateKey).toMatch(/held by the device.*never/);
  });

  it('answers a bad CSR with 400 and what is wrong, and keeps waiting for a good one (JSON body too)', async () => {
    const plantId = await createDevicePlant('Bad CSR plant');
    const thingName = thingNameFor(plantId);
    await untilAwaitingCsr(plantId);
    const refusals: [string, string, RegExp][] = [
      [
        'weak key',
        (await deviceCsr(`CN=${thingName}`, { key: 'rsa-1024' })).csrPem,
        /1024 bits.*at least 2048/,
      ],
      [
        'bad signature',
        (await deviceCsr(`CN=${thingName}`, { badSignature: true })).csrPem,
        /signature does not verify/,
      ],
      ['garbage', 'not a CSR at all', /not a PEM certificate request/],
      ['other plant', (await deviceCsr('CN=solar-plant-someone-else')).csrPem, /must be solar-plant-/],
    ];
    for (const [what, pem, reason] of refusals) {
      const answer: ErrorAnswer = await request('POST', `/plants/${plantId}/csr`, { pem });
      expect(answer.status, what).toBe(400);
      expect(answer.body.error.code, what).toBe('invalid_csr');
      expect(answer.body.error.message, what).toMatch(reason);
    }
    const huge: ErrorAnswer = await request('POST', `/plants/${plantId}/csr`, { pem: 'A'.repeat(20_000) });
    expect(huge.body.error).toMatchObject({ code: 'csr_too_large' });
    expect(huge.status).toBe(400);
    const noBody: ErrorAnswer = await request('POST', `/plants/${plantId}/csr`, { json: {} });
    expect(noBody.status).toBe(400);

    expect((await untilAwaitingCsr(plantId)).plant.iotStatus).toBe('awaiting-csr');
    const device = await deviceCsr(`CN=${thingName}`, { key: 'rsa-2048' });
    const issued = await request<Issued>('POST', `/plants/${plantId}/csr`, { json: { csr: device.csrPem } });
    expect(issued.status).toBe(200);
    expect(publicKeyFingerprintOfCertificate(issued.body.certificatePem)).toBe(device.publicKey);
  });

  it('refuses a CSR for a plant that makes its own key (409) or does not exist (404)', async () => {
    const created = await request<PlantStatus>('POST', '/plants', { json: { name: 'Server-key plant' } });
    const plantId = created.body.plant.id;
    await stack.until(async () => (await stack.plantRow(plantId))?.iotStatus === 'active');
    const pem = (await deviceCsr(`CN=${thingNameFor(plantId)}`)).csrPem;
    const answer: ErrorAnswer = await request('POST', `/plants/${plantId}/csr`, { pem });
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe('csr_not_expected');
    const unknown: ErrorAnswer = await request('POST', '/plants/no-such-plant/csr', { pem });
    expect(unknown.status).toBe(404);
    const badTimeout: ErrorAnswer = await request('POST', '/plants', {
      json: { name: 'x', certificateMode: 'device-csr', csrTimeout: 'forever' },
    });
    expect(badTimeout.status).toBe(400);
    expect(badTimeout.body.error.message).toMatch(/csrTimeout/);
  });

  it('a deprovision while the plant waits for its CSR leaves nothing in AWS', async () => {
    const plantId = await createDevicePlant('Deprovisioned while waiting');
    const thingName = thingNameFor(plantId);
    await untilAwaitingCsr(plantId);
    expect((await request('DELETE', `/plants/${plantId}`)).status).toBe(202);
    await stack.until(async () => (await stack.plantRow(plantId))?.iotStatus === 'deprovisioned');
    await expect(stack.aws?.iot.send(new DescribeThingCommand({ thingName }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
    const late: ErrorAnswer = await request('POST', `/plants/${plantId}/csr`, {
      pem: (await deviceCsr(`CN=${thingName}`)).csrPem,
    });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('csr_not_expected');
  });
});

describe('the library and the CLI', () => {
  async function cli(argv: string[]) {
    let stdout = '';
    let stderr = '';
    const code = await run(argv, {
      stdout: { write: (s: string) => (stdout += s), isTTY: false },
      stderr: { write: (s: string) => (stderr += s), isTTY: false },
      env: { ...stack.env, ...apiEnv },
    });
    return { code, stdout, stderr };
  }

  it('provisionPlantIoT with certificateMode and csrTimeout, then submitDeviceCsr', async () => {
    const plantId = `lib-${Date.now().toString(36)}`;
    await stack.solarIot.provisionPlantIoT(plantId, 'Library device plant', {
      certificateMode: 'device-csr',
      csrTimeout: '2d',
    });
    await untilAwaitingCsr(plantId);
    // The status is written by an activity; the wait's timer starts at the workflow task after it.
    let timers: number[] = [];
    for (let i = 0; i < 100 && timers.length === 0; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      const history = await stack.temporal.workflow.getHandle(provisionWorkflowId(plantId)).fetchHistory();
      timers = (history.events ?? [])
        .map((e) => e.timerStartedEventAttributes?.startToFireTimeout?.seconds)
        .filter(Boolean)
        .map(Number);
    }
    expect(timers).toEqual([2 * 86_400]);
    const device = await deviceCsr(`CN=${thingNameFor(plantId)}`, { key: 'ec-p384' });
    const issued = await stack.solarIot.submitDeviceCsr(plantId, device.csrPem);
    expect(publicKeyFingerprintOfCertificate(issued.certificatePem ?? '')).toBe(device.publicKey);
  });

  it('solar-iot plants create --device-csr, then solar-iot csr <plant> <file> prints the certificate', async () => {
    const created = await cli(['--json', 'plants', 'create', 'CLI device plant', '--device-csr']);
    expect(created.code, created.stderr).toBe(0);
    const plantId = (JSON.parse(created.stdout) as PlantStatus).plant.id;
    await untilAwaitingCsr(plantId);
    const device = await deviceCsr(`CN=${thingNameFor(plantId)}`);
    const file = join(workDir, `${plantId}.csr`);
    await writeFile(file, device.csrPem);
    const bad = join(workDir, `${plantId}-bad.csr`);
    await writeFile(bad, (await deviceCsr(`CN=${thingNameFor(plantId)}`, { key: 'rsa-1024' })).csrPem);
    const refused = await cli(['csr', plantId, bad]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/at least 2048/);
    const issued = await cli(['csr', plantId, file]);
    expect(issued.code, issued.stderr).toBe(0);
    expect(issued.stdout).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(publicKeyFingerprintOfCertificate(issued.stdout)).toBe(device.publicKey);
  });
});
