/**
 * The search for a certificate whose CreateCertificateFromCsr answer was lost, at fleet scale:
 * many other certificates issued at about the same time, and transient faults on the reads the
 * search makes. Activities are called directly (no Temporal) against the real moto and
 * PostgreSQL, with the faults of tools/faults installed on their IoT client.
 */
import { randomUUID } from 'node:crypto';
import {
  CreateKeysAndCertificateCommand,
  DescribeCertificateCommand,
  IoTClient,
  ListCertificatesCommand,
} from '@aws-sdk/client-iot';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { certificateActivities } from '../../src/activities/certificates.js';
import { createCipher } from '../../src/crypto/encryption.js';
import { createDb } from '../../src/db/client.js';
import { certificates } from '../../src/db/schema.js';
import { FaultInjector } from '../../tools/faults/index.js';
import { awsClientConfig, resetMoto } from '../support/moto.js';
import { testSettings } from '../support/provisioning-harness.js';

const database = createDb(process.env.DATABASE_URL ?? '');
const vault = createCipher({ currentKey: process.env.ENCRYPTION_KEY ?? '' });
const plain = new IoTClient({ ...awsClientConfig(), maxAttempts: 1 });
const clients: IoTClient[] = [];

/** Certificate activities whose IoT client goes through a fault injector with `spec` (tools/faults syntax). */
function activitiesWithFaults(spec: string): {
  activities: ReturnType<typeof certificateActivities>;
  faults: FaultInjector;
} {
  const iot = new IoTClient({ ...awsClientConfig(), maxAttempts: 1 });
  clients.push(iot);
  const faults = new FaultInjector(spec);
  faults.install(iot);
  return {
    activities: certificateActivities({ iot, db: database.db, vault, settings: testSettings() }),
    faults,
  };
}

/** Certificates of other plants, issued just now (moto makes a key for each: in batches). */
async function otherCertificates(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 10) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(10, count - i) }, () =>
        plain.send(new CreateKeysAndCertificateCommand({ setAsActive: true })),
      ),
    );
    ids.push(...batch.map((c) => c.certificateId ?? ''));
  }
  return ids;
}

/** A request whose CreateCertificateFromCsr reached AWS but whose answer was lost. */
async function lostRequest(): Promise<{ plantId: string; requestId: string }> {
  const plantId = randomUUID();
  const requestId = `provision-plant-${plantId}/${randomUUID()}`;
  const { activities, faults } = activitiesWithFaults('CreateCertificateFromCsr=1:lost-response#1');
  await expect(activities.createCertificate({ plantId, requestId })).rejects.toThrow(/injected/);
  expect(faults.snapshot().injected).toEqual({ CreateCertificateFromCsr: { 'lost-response': 1 } });
  return { plantId, requestId };
}

async function issuedFor(certificateId: string): Promise<string> {
  const { certificateDescription } = await plain.send(new DescribeCertificateCommand({ certificateId }));
  return certificateDescription?.certificatePem ?? '';
}

beforeEach(async () => {
  await resetMoto();
  await database.pool.query('TRUNCATE certificates');
});

afterAll(async () => {
  for (const c of [plain, ...clients]) c.destroy();
  await database.close();
});

describe('lost certificate search', () => {
  it('finds the certificate among 40 others issued meanwhile while 25% of its reads fail', async () => {
    await otherCertificates(20);
    const { plantId, requestId } = await lostRequest();
    await otherCertificates(20);
    // moto lists oldest first, so ours sits among the others: about 21 reads before it.
    const { activities, faults } = activitiesWithFaults(
      'seed=3; ListCertificates|DescribeCertificate=0.25:throttling,500,503,timeout,reset,lost-response',
    );

    const found = await activities.findCertificate({ requestId });

    const injected = faults.snapshot().injected.DescribeCertificate ?? {};
    expect(Object.values(injected).reduce((a, b) => a + (b ?? 0), 0)).toBeGreaterThan(0);
    expect(found).not.toBeNull();
    const pem = await issuedFor(found?.certificateId ?? '');
    expect(pem).toContain('BEGIN CERTIFICATE');
    // moto ignores the CSR's key and keeps its subject: ours by the request marker, recorded.
    const rows = await database.db.select().from(certificates);
    expect(rows.find((r) => r.requestId === requestId)).toMatchObject({
      plantId,
      certificateId: found?.certificateId,
      status: 'active',
    });

    // The retry of createCertificate returns the same certificate and does not ask AWS again.
    const again = await activities.createCertificate({ plantId, requestId });
    expect(again).toEqual(found);
    expect(faults.snapshot().calls.CreateCertificateFromCsr).toBeUndefined();
  });

  it('a retry of createCertificate finds the lost certificate under the same faults, without a second one', async () => {
    await otherCertificates(30);
    const { plantId, requestId } = await lostRequest();
    const { activities, faults } = activitiesWithFaults(
      'seed=11; DescribeCertificate=0.25:throttling,500,503,timeout,reset,lost-response',
    );

    const retried = await activities.createCertificate({ plantId, requestId });

    expect(faults.snapshot().calls.CreateCertificateFromCsr).toBeUndefined();
    expect(Object.keys(faults.snapshot().injected.DescribeCertificate ?? {})).not.toEqual([]);
    const rows = await database.db.select().from(certificates);
    expect(rows.find((r) => r.requestId === requestId)?.certificateId).toBe(retried.certificateId);
    // No second certificate: the 30 others and the one issued for the lost request.
    const { certificates: listed = [] } = await plain.send(new ListCertificatesCommand({}));
    expect(listed).toHaveLength(31);
    expect(await issuedFor(retried.certificateId)).toContain('BEGIN CERTIFICATE');
  });

  it('reads only certificates not recorded for another request', async () => {
    const others = await otherCertificates(30);
    // As under concurrent provisioning: the other certificates were recorded by their own requests.
    await database.db.insert(certificates).values(
      others.map((certificateId) => ({
        requestId: `provision-plant-${randomUUID()}/run`,
        plantId: randomUUID(),
        certificateId,
        certificateArn: `arn:aws:iot:us-east-1:123456789012:cert/${certificateId}`,
        status: 'active' as const,
      })),
    );
    const { requestId } = await lostRequest();
    const { activities, faults } = activitiesWithFaults('seed=1');

    const found = await activities.findCertificate({ requestId });

    expect(found).not.toBeNull();
    expect(others).not.toContain(found?.certificateId);
    expect(faults.snapshot().calls.DescribeCertificate).toBe(1);
  });

  it('gives up on a read that keeps failing, with the AWS error (the activity retries later)', async () => {
    await otherCertificates(3);
    const { requestId } = await lostRequest();
    const { activities, faults } = activitiesWithFaults('DescribeCertificate=1:503');

    const error = await activities.findCertificate({ requestId }).catch((e: unknown) => e);

    expect(error).toMatchObject({ type: 'ServiceUnavailableException', nonRetryable: false });
    // Bounded: a handful of attempts of the first read, not an endless loop.
    const calls = faults.snapshot().calls.DescribeCertificate ?? 0;
    expect(calls).toBeGreaterThan(1);
    expect(calls).toBeLessThanOrEqual(10);
  });
});
