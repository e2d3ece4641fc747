/**
 * Proof that no private key or PEM leaks: a full provision, certificate rotation (grace period
 * skipped on the time-skipping server) and deprovision with the payload codec on, two credential
 * hand-overs in between; then every log line, every workflow history as the server stores it,
 * and every PostgreSQL table are searched for the keys and certificates actually issued.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import {
  DescribeCertificateCommand,
  ListCertificatesCommand,
  ListThingPrincipalsCommand,
} from '@aws-sdk/client-iot';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeprovisioning, startProvisioning } from '../../src/client.js';
import { createDataConverter } from '../../src/codec/data-converter.js';
import { ENCODING, type EncryptionCodec, KEY_ID_METADATA } from '../../src/codec/payload-codec.js';
import { thingNameFor } from '../../src/iot/naming.js';
import { installTemporalLogger } from '../../src/logging/temporal.js';
import { startRotation } from '../../src/rotation/client.js';
import { rotateCertificateWorkflowId, rotationStatusQuery } from '../../src/rotation/contract.js';
import { AMAZON_ROOT_CA_1_PEM, AMAZON_ROOT_CA_1_SHA256 } from '../../src/secrets/amazon-root-ca.js';
import { BUNDLE_FILES, exportCommand } from '../../src/secrets/export-credentials.js';
import { deprovisionWorkflowId, provisionWorkflowId } from '../../src/workflows/contract.js';
import { workflowPatches } from '../../src/workflows/patches.js';
import { newPlantId, ProvisioningHarness } from '../support/provisioning-harness.js';
import {
  allTablesText,
  findNeedles,
  memoryLogger,
  meta,
  rawHistory,
  secretNeedles,
  testCodec,
  toPayload,
} from '../support/secrets.js';
import { createTimeSkippingEnv } from '../support/temporal.js';
import { useProvisioningHarness } from '../support/use-provisioning-harness.js';

const ENDPOINT = 'test-ats.iot.us-east-1.amazonaws.com';
let codec: EncryptionCodec;
let logs: ReturnType<typeof memoryLogger>;
let workDir: string;

const t = useProvisioningHarness({
  server: async () => {
    // Before anything creates the Temporal Runtime: SDK, workflow, activity and Core logs all land here.
    logs = memoryLogger();
    installTemporalLogger(logs.logger, { coreLevel: 'DEBUG' });
    codec = await testCodec();
    return createTimeSkippingEnv({ dataConverter: createDataConverter(codec) });
  },
  harness: (env) => new ProvisioningHarness(env, createDataConverter(codec)),
});

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'solar-iot-secrets-'));
});

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function principals(thingName: string): Promise<string[]> {
  return (await t.h.iot.send(new ListThingPrincipalsCommand({ thingName }))).principals ?? [];
}

async function certificateStatus(certificateId: string): Promise<string | undefined> {
  const d = await t.h.iot.send(new DescribeCertificateCommand({ certificateId }));
  return d.certificateDescription?.status;
}

async function readBundle(dir: string) {
  const read = (name: string) => readFile(join(dir, name), 'utf8');
  return {
    files: (await readdir(dir)).sort(),
    dirMode: (await stat(dir)).mode & 0o777,
    modes: await Promise.all(
      Object.values(BUNDLE_FILES).map(async (f) => (await stat(join(dir, f))).mode & 0o777),
    ),
    key: await read(BUNDLE_FILES.privateKey),
    certificate: await read(BUNDLE_FILES.certificate),
    rootCa: await read(BUNDLE_FILES.rootCa),
    device: JSON.parse(await read(BUNDLE_FILES.device)) as Record<string, unknown>,
  };
}

describe('secrets never leak', () => {
  it('provision, hand-over, rotation and deprovision leave no key or PEM in logs, histories or tables', async () => {
    const plantId = newPlantId();
    const plantName = `Sunny Acres ${randomUUID()}`;
    const thingName = thingNameFor(plantId);
    const output: string[] = [];
    const pems: string[] = [];
    const exportCredentials = async ([plantId, directory]: string[]) => {
      await exportCommand(
        { plantId: plantId ?? '', directory: directory ?? '', endpoint: ENDPOINT, checkKeyMatches: false },
        { db: t.h.database.db, vault: t.h.vault, endpoint: async () => undefined },
        (l) => output.push(l),
      );
      return 0;
    };

    const { first, second, rotated } = await t.h.withWorker({}, async (taskQueue) => {
      const provisioned = await (
        await startProvisioning(t.env.client, { plantId, plantName }, { taskQueue })
      ).result();

      const dir1 = join(workDir, 'bundle-1');
      expect(await exportCredentials([plantId, dir1, '--endpoint', ENDPOINT, '--emulator-certificate'])).toBe(
        0,
      );
      const first = await readBundle(dir1);
      pems.push(first.key, first.certificate);

      const rotation = await startRotation(t.env.client, { plantId }, { taskQueue });
      await until(
        async () => (await rotation.query(rotationStatusQuery)).phase === 'grace-period',
        'the grace period',
      );
      const during = await rotation.query(rotationStatusQuery);
      // Both certificates work during the grace period; the plant already names the new one.
      const both = await principals(thingName);
      expect(both).toHaveLength(2);
      for (const arn of both)
        expect(await certificateStatus(arn.slice(arn.lastIndexOf('/') + 1))).toBe('ACTIVE');
      expect((await t.h.plantRow(plantId))?.certificateId).toBe(during.certificateId);

      const dir2 = join(workDir, 'bundle-2');
      expect(await exportCredentials([plantId, dir2, '--endpoint', ENDPOINT, '--emulator-certificate'])).toBe(
        0,
      );
      const second = await readBundle(dir2);
      pems.push(second.key, second.certificate);
      // What was handed over is the new certificate as AWS issued it, and the key stored for it.
      const stored = (await t.h.certificateRows(plantId)).find(
        (r) => r.certificateId === during.certificateId,
      );
      expect(second.key).toBe(await t.h.vault.decrypt(stored?.encryptedPrivateKey ?? ''));
      const issued = await t.h.iot.send(
        new DescribeCertificateCommand({ certificateId: during.certificateId ?? '' }),
      );
      expect(second.certificate).toBe(issued.certificateDescription?.certificatePem);
      expect(stored?.exportedAt).toBeInstanceOf(Date);

      await t.env.sleep('7d'); // the durable timer, skipped
      const rotated = await rotation.result();
      expect(rotated).toMatchObject({ plantId, previousCertificateId: provisioned.certificateId });

      // Exactly one active certificate on the thing: the new one. The old one is gone, its key destroyed.
      expect(await principals(thingName)).toEqual([rotated.certificateArn]);
      expect(await certificateStatus(rotated.certificateId)).toBe('ACTIVE');
      const inAws = (await t.h.iot.send(new ListCertificatesCommand({}))).certificates?.map(
        (c) => c.certificateId,
      );
      expect(inAws).toEqual([rotated.certificateId]);
      const rows = await t.h.certificateRows(plantId);
      expect(rows.find((r) => r.certificateId === provisioned.certificateId)).toMatchObject({
        status: 'destroyed',
        encryptedPrivateKey: null,
        encryptedCertificatePem: null,
      });
      expect(rows.find((r) => r.certificateId === rotated.certificateId)).toMatchObject({ status: 'active' });
      expect((await t.h.plantRow(plantId))?.certificateId).toBe(rotated.certificateId);

      // The database half-way (live keys stored) is searched as well as at the end.
      const midway = await allTablesText(t.h.database.pool);
      expect(findNeedles(midway.text, secretNeedles(pems))).toEqual([]);
      expect(midway.text).toContain('"encrypted_private_key":"v2:');

      await (await startDeprovisioning(t.env.client, { plantId }, { taskQueue })).result();
      return { first, second, rotated };
    });

    // The bundles: what the installer gets, and nothing wider than 0600/0700.
    for (const bundle of [first, second]) {
      expect(bundle.files).toEqual(Object.values(BUNDLE_FILES).sort());
      expect(bundle.dirMode).toBe(0o700);
      expect(bundle.modes).toEqual([0o600, 0o600, 0o600, 0o600]);
      expect(bundle.key).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
      expect(bundle.certificate).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
      expect(bundle.rootCa).toBe(AMAZON_ROOT_CA_1_PEM);
      expect(bundle.device).toMatchObject({
        clientId: thingName,
        thingName,
        endpoint: ENDPOINT,
        port: 8883,
        topics: {
          publishTelemetry: `solar/${plantId}/data`,
          subscribeCommands: `solar/${plantId}/commands/#`,
        },
      });
    }
    expect(first.device.certificateId).not.toBe(second.device.certificateId);
    expect(second.device.certificateId).toBe(rotated.certificateId);
    const exported = (await t.h.certificateRows(plantId)).filter((r) => r.exportedAt !== null);
    expect(exported).toHaveLength(2);

    const needles = secretNeedles(pems);
    expect(needles.length).toBeGreaterThan(20);

    // (a) every log line: pino and the Temporal runtime (SDK, workflows, activities, Core).
    expect(logs.lines.some((l) => l.includes('"component":"temporal"'))).toBe(true);
    expect(findNeedles(logs.lines.join('\n'), needles)).toEqual([]);
    expect(findNeedles(output.join('\n'), needles)).toEqual([]);

    // (b) the histories as the server stores them: only ciphertext; and decrypted, no secret either.
    const raw = t.h.rawClient();
    const ids = [
      provisionWorkflowId(plantId),
      rotateCertificateWorkflowId(plantId),
      deprovisionWorkflowId(plantId),
    ];
    let decodedText = '';
    for (const id of ids) {
      const history = await rawHistory(raw.workflow.getHandle(id));
      // Patch markers (patched()) are written by the SDK core, not through the data converter: they
      // may only ever hold a registered patch id (src/workflows/patches.ts).
      const patches = history.payloads.filter((p) => p.path.includes('patch-data'));
      for (const { payload } of patches) {
        const marker = JSON.parse(Buffer.from(toPayload(payload).data ?? []).toString('utf8'));
        expect(marker).toEqual({ id: marker.id, deprecated: false });
        expect(Object.keys(workflowPatches)).toContain(marker.id);
      }
      // Local activity markers: core writes their bookkeeping (`details.data`: sequence, attempt,
      // activity id and type, times) as plain JSON; their result goes through the codec like
      // every payload. The bookkeeping is pinned down here.
      const isLocalActivityData = (path: string) =>
        /markerRecordedEventAttributes\.details\.data\./.test(path);
      for (const { payload } of history.payloads.filter((p) => isLocalActivityData(p.path))) {
        const marker = JSON.parse(Buffer.from(toPayload(payload).data ?? []).toString('utf8'));
        for (const key of Object.keys(marker)) {
          expect([
            'seq',
            'attempt',
            'activity_id',
            'activity_type',
            'complete_time',
            'backoff',
            'original_schedule_time',
          ]).toContain(key);
        }
        expect(['plantPolicy', 'getDataEndpoint']).toContain(marker.activity_type);
      }
      const data = history.payloads.filter(
        (p) =>
          !p.path.includes('searchAttributes') &&
          !p.path.includes('patch-data') &&
          !isLocalActivityData(p.path),
      );
      expect(data.length, id).toBeGreaterThan(5);
      for (const { path, payload } of data) {
        expect(meta(payload, 'encoding'), `${id} ${path}`).toBe(ENCODING);
        expect(meta(payload, KEY_ID_METADATA), `${id} ${path}`).toBe(codec.currentKeyId);
      }
      expect(history.text).not.toContain(plantName);
      expect(history.text).not.toContain(plantName.slice(-36)); // the uuid part alone
      expect(findNeedles(history.text, needles)).toEqual([]);
      const decoded = await codec.decode(data.map((p) => toPayload(p.payload)));
      decodedText += decoded.map((p) => Buffer.from(p.data ?? []).toString('utf8')).join('\n');
    }
    expect(decodedText).toContain(plantName); // the search below does look at real content
    expect(decodedText).toContain(rotated.certificateId);
    expect(findNeedles(decodedText, needles)).toEqual([]);

    // (c) every table of the database, after the deprovision.
    const db = await allTablesText(t.h.database.pool);
    expect(db.tables).toEqual(expect.arrayContaining(['public.plants', 'public.certificates']));
    expect(db.text).toContain(plantId);
    expect(findNeedles(db.text, needles)).toEqual([]);
  });

  it('encrypts failure messages and stack traces; a client with the codec still reads them', async () => {
    const plantId = newPlantId();
    const marker = `marker-${randomUUID()}`;
    const error = await t.h
      .withWorker(
        {
          createPolicy: async () => {
            throw ApplicationFailure.nonRetryable(`policy refused (${marker})`, 'InjectedFailure');
          },
        },
        async (taskQueue) =>
          (await startProvisioning(t.env.client, { plantId, plantName: 'Failing' }, { taskQueue })).result(),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((error as WorkflowFailedError).cause?.message).toContain(marker);

    const history = await rawHistory(t.h.rawClient().workflow.getHandle(provisionWorkflowId(plantId)));
    expect(history.json).toContain('Encoded failure');
    expect(history.text).not.toContain(marker);
    const decoded = await codec.decode(
      history.payloads.filter((p) => !p.path.includes('searchAttributes')).map((p) => toPayload(p.payload)),
    );
    expect(decoded.map((p) => Buffer.from(p.data ?? []).toString()).join('\n')).toContain(marker);
  });

  it('embeds Amazon Root CA 1 byte for byte', () => {
    const ours = new X509Certificate(AMAZON_ROOT_CA_1_PEM);
    const nodes = rootCertificates
      .map((pem) => new X509Certificate(pem))
      .find((c) => /CN=Amazon Root CA 1$/m.test(c.subject));
    expect(nodes).toBeDefined();
    expect(ours.raw.equals(nodes?.raw ?? Buffer.alloc(0))).toBe(true);
    expect(ours.fingerprint256).toBe(AMAZON_ROOT_CA_1_SHA256);
    expect(ours.verify(ours.publicKey)).toBe(true);
  });
});
