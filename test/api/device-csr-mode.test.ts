/**
 * The device's choice of certificate mode is durable (issue 16, item 6): a device-csr plant keeps
 * it after a failed provision, so a re-provision without the option, a backfill, or a provision
 * started past the service never gives it a key made here; a switch of mode is explicit and said.
 * And a provision in one mode never silently joins a running one of the other mode; a device
 * that sends its CSR again gets the same certificate. Real stack:
 * Temporal dev server with a worker, moto, PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCipher } from '../../src/crypto/encryption.js';
import { csrFor, generateDeviceKey } from '../../src/iot/device-keys.js';
import { thingNameFor } from '../../src/iot/naming.js';
import type { PlantStatus } from '../../src/service/solar-iot.js';
import { provisionWorkflowId } from '../../src/workflows/contract.js';
import { deviceCsr } from '../support/device-csr.js';
import { TestStack } from '../support/product-stack.js';

let stack: TestStack;

/** The plant whose certificate step waits until the test releases it (a race for a key). */
let holdCertificateOf: string | undefined;
let releaseCertificate: (() => void) | undefined;

beforeAll(async () => {
  stack = await TestStack.start({
    mode: 'aws',
    overrides: {
      async createCertificateFromDeviceCsr(input) {
        if (input.plantId === holdCertificateOf) {
          await new Promise<void>((resolve) => {
            releaseCertificate = resolve;
          });
        }
        return stack.realActivities().createCertificateFromDeviceCsr(input);
      },
    },
  });
  await stack.serveApi();
});

afterAll(async () => {
  releaseCertificate?.();
  await stack?.close();
});

const request = <T = Record<string, unknown>>(method: string, path: string, json?: unknown) =>
  stack.api<T>(method, path, { json });

type ErrorBody = { error: { code: string; message: string } };

const statusOf = async (plantId: string) => (await stack.plantRow(plantId))?.iotStatus;

async function untilStatus(plantId: string, ...statuses: string[]) {
  return stack.until(async () => statuses.includes((await statusOf(plantId)) ?? '') && statusOf(plantId));
}

/** Keys this product holds for the plant: none may exist for a device-csr plant. */
async function storedKeys(plantId: string): Promise<number> {
  const { rows } = await stack.database.pool.query(
    'select count(*)::int as n from certificates where plant_id = $1 and encrypted_private_key is not null',
    [plantId],
  );
  return (rows[0] as { n: number }).n;
}

/** A device-csr plant whose provision timed out waiting for its CSR: status failed. */
async function timedOutDevicePlant(name: string): Promise<string> {
  const created = await request<PlantStatus>('POST', '/plants', {
    name,
    certificateMode: 'device-csr',
    csrTimeout: '1s',
  });
  expect(created.status).toBe(202);
  const plantId = created.body.plant.id;
  await untilStatus(plantId, 'failed');
  expect((await stack.plantRow(plantId))?.lastError).toMatch(/No CSR arrived/);
  // The run records the failure before it closes: a start of the same id meanwhile is refused.
  const run = stack.temporal.workflow.getHandle(provisionWorkflowId(plantId));
  await stack.until(async () => (await run.describe()).status.name !== 'RUNNING');
  return plantId;
}

describe('a device-csr plant keeps its certificate mode', () => {
  it('is stored with the plant and shown', async () => {
    const created = await request<PlantStatus>('POST', '/plants', {
      name: 'Mode shown',
      certificateMode: 'device-csr',
      csrTimeout: '1s',
    });
    expect(created.body.plant).toMatchObject({ certificateMode: 'device-csr' });
    const server = await request<PlantStatus>('POST', '/plants', { name: 'Server mode shown' });
    expect(server.body.plant).toMatchObject({ certificateMode: 'server' });
  });

  it('a re-provision without the option after a CSR timeout waits for the CSR again, and makes no key', async () => {
    const plantId = await timedOutDevicePlant('Re-provisioned device plant');
    const again = await request(`POST`, `/plants/${plantId}/provision`, {});
    expect(again.status).toBe(202);
    expect(await untilStatus(plantId, 'awaiting-csr', 'active')).toBe('awaiting-csr');
    const device = await deviceCsr(`CN=${thingNameFor(plantId)}`);
    const issued = await request('POST', `/plants/${plantId}/csr`, { csr: device.csrPem });
    expect(issued.status).toBe(200);
    expect(await storedKeys(plantId)).toBe(0);
  });

  it('the backfill leaves it alone instead of making its key here', async () => {
    const plantId = await timedOutDevicePlant('Backfilled device plant');
    const listed = await stack.realActivities().listPlantsToBackfill({ afterId: null, limit: 1000 });
    expect(listed.map((p) => p.id)).not.toContain(plantId);
    const counted = await stack.realActivities().countPlantsToBackfill({ afterId: null });
    expect(counted).toBe(listed.length);
  });

  it('a provision started past the service without the option makes no key for it either', async () => {
    const plantId = await timedOutDevicePlant('Started directly');
    const handle = await stack.temporal.workflow.start('provisionPlant', {
      taskQueue: stack.taskQueue,
      workflowId: provisionWorkflowId(plantId),
      args: [{ plantId, plantName: 'Started directly' }],
    });
    await expect(handle.result()).rejects.toThrow();
    expect(await storedKeys(plantId)).toBe(0);
    expect((await stack.plantRow(plantId))?.lastError).toMatch(/device-csr/);
  });

  it('switching to a key made here takes an explicit certificateMode, and the answer says so', async () => {
    const plantId = await timedOutDevicePlant('Switched to server');
    const switched = await request<{ runId: string | null; certificateModeChanged?: unknown }>(
      'POST',
      `/plants/${plantId}/provision`,
      { certificateMode: 'server' },
    );
    expect(switched.status).toBe(202);
    expect(switched.body.certificateModeChanged).toEqual({ from: 'device-csr', to: 'server' });
    const run = stack.temporal.workflow.getHandle(provisionWorkflowId(plantId), switched.body.runId ?? '');
    await run.result();
    expect(await statusOf(plantId)).toBe('active');
    expect((await stack.plantRow(plantId))?.certificateMode).toBe('server');
    expect(await storedKeys(plantId)).toBe(1);
  });
});

describe('a provision in one mode never joins a running one of the other mode', () => {
  it('refuses a server-key provision while the device-csr provision waits for its CSR (409)', async () => {
    const created = await request<PlantStatus>('POST', '/plants', {
      name: 'Waiting device plant',
      certificateMode: 'device-csr',
    });
    const plantId = created.body.plant.id;
    await untilStatus(plantId, 'awaiting-csr');
    const joined = await request<ErrorBody>('POST', `/plants/${plantId}/provision`, {
      certificateMode: 'server',
    });
    expect(joined.status).toBe(409);
    expect(joined.body.error.code).toBe('certificate_mode_conflict');
    expect(joined.body.error.message).toMatch(/device-csr/);
    expect((await stack.plantRow(plantId))?.certificateMode).toBe('device-csr');
    // The same mode again attaches to the waiting provision, as before.
    expect((await request('POST', `/plants/${plantId}/provision`, {})).status).toBe(202);
    await request('DELETE', `/plants/${plantId}`);
  });

  it('refuses a device-csr provision while a server-key provision of the plant runs (409)', async () => {
    const plantId = `mode-race-${Date.now().toString(36)}`;
    await stack.database.pool.query(
      "insert into plants (id, name, iot_status) values ($1, 'Server plant', 'pending')",
      [plantId],
    );
    // A server-key provision that stays running: started (as the backfill starts one, no mode) on a queue no worker polls.
    const running = await stack.temporal.workflow.start('provisionPlant', {
      taskQueue: `${stack.taskQueue}-nobody`,
      workflowId: provisionWorkflowId(plantId),
      args: [{ plantId, plantName: 'Server plant' }],
    });
    const joined = await request<ErrorBody>('POST', `/plants/${plantId}/provision`, {
      certificateMode: 'device-csr',
    });
    expect(joined.status).toBe(409);
    expect(joined.body.error.code).toBe('certificate_mode_conflict');
    expect(joined.body.error.message).toMatch(/server/);
    await running.terminate('test done');
  });
});

describe('a device sending its CSR again (its answer was lost)', () => {
  it('gets the same certificate for the same key, at once or after the plant is active; another key is 409', async () => {
    const created = await request<PlantStatus>('POST', '/plants', {
      name: 'Retrying device',
      certificateMode: 'device-csr',
    });
    const plantId = created.body.plant.id;
    await untilStatus(plantId, 'awaiting-csr');
    const device = await deviceCsr(`CN=${thingNameFor(plantId)}`);
    type Issued = { certificateId: string; certificatePem: string };
    // Two sends racing, as a device that timed out and sent again while the first still ran.
    const [first, second] = await Promise.all([
      request<Issued>('POST', `/plants/${plantId}/csr`, { csr: device.csrPem }),
      request<Issued>('POST', `/plants/${plantId}/csr`, { csr: device.csrPem }),
    ]);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(second.body.certificateId).toBe(first.body.certificateId);
    const later = await request<Issued>('POST', `/plants/${plantId}/csr`, { csr: device.csrPem });
    expect(later.status).toBe(200);
    expect(later.body).toMatchObject({
      certificateId: first.body.certificateId,
      certificatePem: first.body.certificatePem,
    });
    const other = await request<ErrorBody>('POST', `/plants/${plantId}/csr`, {
      csr: (await deviceCsr(`CN=${thingNameFor(plantId)}`)).csrPem,
    });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('csr_already_accepted');
  });
});

describe("one device key pair is one plant's", () => {
  /** A device-csr plant waiting for its CSR. */
  async function waitingPlant(name: string): Promise<string> {
    const created = await request<PlantStatus>('POST', '/plants', { name, certificateMode: 'device-csr' });
    const plantId = created.body.plant.id;
    await untilStatus(plantId, 'awaiting-csr');
    return plantId;
  }

  it("refuses another plant's CSR of a key a plant's certificate has (409), which then keeps waiting; the plant's own resend still works", async () => {
    const [first, second] = await Promise.all([waitingPlant('Key owner'), waitingPlant('Key borrower')]);
    // AWS certifies the same key (even the same CSR) as often as asked: the refusal is ours.
    const { privateKeyPem } = generateDeviceKey();
    const mine = await csrFor(privateKeyPem, `CN=${thingNameFor(first)}`);
    const issued = await request<{ certificateId: string }>('POST', `/plants/${first}/csr`, { csr: mine });
    expect(issued.status).toBe(200);
    const borrowed = await request<ErrorBody>('POST', `/plants/${second}/csr`, {
      csr: await csrFor(privateKeyPem, `CN=${thingNameFor(second)}`),
    });
    expect(borrowed.status).toBe(409);
    expect(borrowed.body.error.code).toBe('csr_key_in_use');
    expect(borrowed.body.error.message).toContain(first);
    expect(await statusOf(second)).toBe('awaiting-csr');
    // The owner's resend after a lost answer: its certificate, as before.
    const resent = await request<{ certificateId: string }>('POST', `/plants/${first}/csr`, { csr: mine });
    expect(resent.status).toBe(200);
    expect(resent.body.certificateId).toBe(issued.body.certificateId);
    // The other plant's device with a key of its own is certified.
    const own = await deviceCsr(`CN=${thingNameFor(second)}`);
    expect((await request('POST', `/plants/${second}/csr`, { csr: own.csrPem })).status).toBe(200);
  });

  it('two plants sent one key at the same moment: one is certified, the other refused (409) in the worker and rolled back', async () => {
    const [held, first] = await Promise.all([
      waitingPlant('Key race, held'),
      waitingPlant('Key race, first'),
    ]);
    const { privateKeyPem } = generateDeviceKey();
    holdCertificateOf = held;
    // Past the service's check (no plant has the key yet), its certificate step waits.
    const late = request<ErrorBody>('POST', `/plants/${held}/csr`, {
      csr: await csrFor(privateKeyPem, `CN=${thingNameFor(held)}`),
    });
    await stack.until(async () => releaseCertificate);
    const won = await request('POST', `/plants/${first}/csr`, {
      csr: await csrFor(privateKeyPem, `CN=${thingNameFor(first)}`),
    });
    expect(won.status).toBe(200);
    releaseCertificate?.();
    const refused = await late;
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('csr_key_in_use');
    expect(refused.body.error.message).toContain(first);
    expect(refused.body.error.message).toMatch(/rolled back/);
    expect(await statusOf(held)).toBe('failed');
  });

  it("refuses a CSR of the key made here for another plant's certificate (one taken from its bundle)", async () => {
    const created = await request<PlantStatus>('POST', '/plants', { name: 'Server key plant' });
    const serverPlant = created.body.plant.id;
    await untilStatus(serverPlant, 'active');
    const { rows } = await stack.database.pool.query(
      'select encrypted_private_key from certificates where plant_id = $1 and destroyed_at is null',
      [serverPlant],
    );
    const vault = createCipher({ currentKey: stack.config.encryption.currentKey ?? '' });
    const bundleKey = await vault.decrypt(
      (rows[0] as { encrypted_private_key: string }).encrypted_private_key,
    );
    const device = await waitingPlant('Bundle key reused');
    const refused = await request<ErrorBody>('POST', `/plants/${device}/csr`, {
      csr: await csrFor(bundleKey, `CN=${thingNameFor(device)}`),
    });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('csr_key_in_use');
    expect(refused.body.error.message).toContain(serverPlant);
    await request('DELETE', `/plants/${device}`);
  });
});
