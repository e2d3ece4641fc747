/**
 * Stored keys: re-encryption under a new ENCRYPTION_KEY (batches, row locks, interruption,
 * resumption, the command's output), tampering, and the credential hand-over's refusals. Runs
 * in a database of its own, so re-encrypting "every row" touches no other test's data.
 */
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { eq } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Cipher, createCipher, DecryptionError } from '../../src/crypto/encryption.js';
import { createDb, type DbHandle } from '../../src/db/client.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { certificates, plants } from '../../src/db/schema.js';
import { PLANT_ID_ATTRIBUTE } from '../../src/iot/naming.js';
import { policyDocumentFor, sharedPolicyDocument } from '../../src/iot/policy-document.js';
import { BUNDLE_FILES, ExportError, exportDeviceBundle } from '../../src/secrets/export-credentials.js';
import { reencryptStoredKeys } from '../../src/secrets/reencrypt-keys.js';
import { ran, tsx } from '../support/child.js';
import { dropDatabaseWhenClosed } from '../support/drop-database.js';
import { policiesAllow, resourceArn } from '../support/iot-policy.js';
import { insertActivePlant } from '../support/secrets.js';

const OLD_KEY = randomBytes(32).toString('hex');
const NEW_KEY = randomBytes(32).toString('hex');
const OTHER_KEY = randomBytes(32).toString('hex');
const oldCipher = createCipher({ currentKey: OLD_KEY });
const rotating = createCipher({ currentKey: NEW_KEY, previousKeys: [OLD_KEY] });
const newOnly = createCipher({ currentKey: NEW_KEY });

let adminUrl: URL;
let databaseUrl: string;
let database: DbHandle;
let workDir: string;
const dbName = `secrets_${randomBytes(6).toString('hex')}`;

beforeAll(async () => {
  adminUrl = new URL(inject('stack').DATABASE_URL);
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const url = new URL(adminUrl.toString());
  url.pathname = `/${dbName}`;
  databaseUrl = url.toString();
  await migrateDatabase(databaseUrl);
  database = createDb(databaseUrl);
  workDir = await mkdtemp(join(tmpdir(), 'solar-iot-stored-keys-'));
});

afterAll(async () => {
  await database?.close();
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  await dropDatabaseWhenClosed(admin, dbName);
  await admin.end();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

interface Seeded {
  requestId: string;
  key: string;
  pem: string | null;
}

async function seed(n: number, cipher: Cipher, prefix: string): Promise<Seeded[]> {
  const rows: Seeded[] = [];
  for (let i = 0; i < n; i++) {
    const key = `-----BEGIN PRIVATE KEY-----\n${randomBytes(48).toString('base64')}\n-----END PRIVATE KEY-----\n`;
    const pem =
      i % 3 === 2
        ? null
        : `-----BEGIN CERTIFICATE-----\n${randomBytes(48).toString('base64')}\n-----END CERTIFICATE-----\n`;
    const requestId = `${prefix}-${i}`;
    await database.db.insert(certificates).values({
      requestId,
      plantId: `plant-${prefix}`,
      encryptedPrivateKey: await cipher.encrypt(key),
      encryptedCertificatePem: pem === null ? null : await cipher.encrypt(pem),
    });
    rows.push({ requestId, key, pem });
  }
  return rows;
}

async function rowOf(requestId: string) {
  const [row] = await database.db.select().from(certificates).where(eq(certificates.requestId, requestId));
  return row;
}

async function cli(script: string, args: string[], env: Record<string, string>) {
  const { code, output } = await ran(tsx([script, ...args]), {
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl, USE_AWS_IOT: 'false', ...env },
  });
  return { code, out: output };
}

describe('re-encryption of stored keys', () => {
  it('re-encrypts in batches, skips locked rows, resumes after an interruption, and prints counts', async () => {
    const seeded = await seed(10, oldCipher, 'rot');
    await database.db
      .insert(certificates)
      .values({ requestId: 'rot-destroyed', plantId: 'plant-rot', status: 'destroyed' });
    const current = await seed(1, rotating, 'already-new');
    const newFp = await rotating.currentKeyFingerprint();
    const oldFp = await oldCipher.currentKeyFingerprint();

    const env = { ENCRYPTION_KEY: NEW_KEY, ENCRYPTION_KEYS_PREVIOUS: OLD_KEY };
    const dry = await cli('src/cli/main.ts', ['reencrypt-keys', '--dry-run'], env);
    expect(dry.code).toBe(0);
    expect(dry.out).toContain(`current key ${newFp}; previous keys: ${oldFp}`);
    expect(dry.out).toContain('rows under an old key at start: 10 (dry run: nothing changed)');

    // Interrupted after one batch of 3: committed work stays, the rest is left for later.
    const first = await reencryptStoredKeys({
      db: database.db,
      cipher: rotating,
      batchSize: 3,
      maxBatches: 1,
    });
    expect(first).toMatchObject({
      found: 10,
      rowsReencrypted: 3,
      batches: 1,
      remaining: 7,
      interrupted: true,
    });

    // A row locked by someone else (an activity writing it) is skipped, not waited for.
    const locker = new pg.Client({ connectionString: databaseUrl });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('SELECT id FROM certificates WHERE request_id = $1 FOR UPDATE', [
      seeded[9]?.requestId,
    ]);
    const batches: number[] = [];
    const second = await reencryptStoredKeys({
      db: database.db,
      cipher: rotating,
      batchSize: 3,
      onBatch: (b) => batches.push(b.rows),
    });
    expect(second).toMatchObject({
      found: 7,
      rowsReencrypted: 6,
      remaining: 1,
      failures: [],
      interrupted: false,
    });
    expect(batches).toEqual([3, 3]);
    await locker.query('ROLLBACK');
    await locker.end();

    const last = await cli('src/cli/main.ts', ['reencrypt-keys', '--batch-size', '3'], env);
    expect(last.code).toBe(0);
    expect(last.out).toContain('batch 1: 1 rows re-encrypted (2 values)');
    expect(last.out).toContain(
      'done: 1 rows (2 values) re-encrypted in 1 batches, 0 rows failed, 0 remaining',
    );

    for (const s of [...seeded, ...current]) {
      const row = await rowOf(s.requestId);
      expect(row?.encryptedPrivateKey?.startsWith(`v2:${newFp}:`)).toBe(true);
      expect(await newOnly.decrypt(row?.encryptedPrivateKey ?? '')).toBe(s.key);
      if (s.pem === null) expect(row?.encryptedCertificatePem).toBeNull();
      else expect(await newOnly.decrypt(row?.encryptedCertificatePem ?? '')).toBe(s.pem);
    }
    expect(await rowOf('rot-destroyed')).toMatchObject({
      encryptedPrivateKey: null,
      encryptedCertificatePem: null,
    });
    for (const s of seeded) {
      expect(dry.out + last.out).not.toContain(s.key.split('\n')[1]);
    }
    expect((await reencryptStoredKeys({ db: database.db, cipher: rotating })).found).toBe(0);
  });

  it('reports tampered and unknown-key rows by id and key, leaves them untouched, and exits 1', async () => {
    const [good] = await seed(1, oldCipher, 'good');
    const [tampered] = await seed(1, oldCipher, 'tampered');
    const [foreign] = await seed(1, createCipher({ currentKey: OTHER_KEY }), 'foreign');
    const before = await rowOf(tampered?.requestId ?? '');
    const envelope = before?.encryptedPrivateKey ?? '';
    const flipped = `${envelope.slice(0, -6)}${envelope.slice(-6, -5) === 'A' ? 'B' : 'A'}${envelope.slice(-5)}`;
    await database.db
      .update(certificates)
      .set({ encryptedPrivateKey: flipped })
      .where(eq(certificates.requestId, tampered?.requestId ?? ''));
    const otherFp = await createCipher({ currentKey: OTHER_KEY }).currentKeyFingerprint();

    const { code, out } = await cli('src/cli/main.ts', ['reencrypt-keys'], {
      ENCRYPTION_KEY: NEW_KEY,
      ENCRYPTION_KEYS_PREVIOUS: OLD_KEY,
    });
    expect(code).toBe(1);
    const tamperedRow = await rowOf(tampered?.requestId ?? '');
    expect(out).toMatch(
      new RegExp(
        `failed: row ${tamperedRow?.id} \\(request ${tampered?.requestId}\\) encrypted_private_key: AUTHENTICATION_FAILED`,
      ),
    );
    expect(out).toMatch(
      new RegExp(
        `failed: row \\d+ \\(request ${foreign?.requestId}\\) encrypted_private_key: KEY_NOT_FOUND: encrypted with key ${otherFp}`,
      ),
    );
    expect(out).toContain('1 rows (2 values) re-encrypted');
    expect(out).toContain('2 rows failed, 2 remaining');
    // Untouched, row by row (a half-rotated row would be worse): the tampered one keeps its bad value.
    expect(tamperedRow?.encryptedPrivateKey).toBe(flipped);
    expect((await rowOf(foreign?.requestId ?? ''))?.encryptedPrivateKey?.includes(otherFp)).toBe(true);
    expect(await newOnly.decrypt((await rowOf(good?.requestId ?? ''))?.encryptedPrivateKey ?? '')).toBe(
      good?.key,
    );
    expect(out).not.toContain(good?.key.split('\n')[1]);
    await database.db.delete(certificates).where(eq(certificates.plantId, 'plant-tampered'));
    await database.db.delete(certificates).where(eq(certificates.plantId, 'plant-foreign'));
  });

  it('migrates v1 values under the current key to v2, and leaves v2 values alone', async () => {
    const legacy = createCipher({ currentKey: NEW_KEY, writeVersion: 1 });
    const v1Rows = await seed(3, legacy, 'v1-current');
    const v2Rows = await seed(1, newOnly, 'v2-current');
    const fp = await newOnly.currentKeyFingerprint();
    const before = await rowOf(v2Rows[0]?.requestId ?? '');
    for (const s of v1Rows) {
      expect((await rowOf(s.requestId))?.encryptedPrivateKey?.startsWith(`v1:${fp}:`)).toBe(true);
    }

    const report = await reencryptStoredKeys({ db: database.db, cipher: newOnly });
    expect(report).toMatchObject({
      found: 3,
      rowsReencrypted: 3,
      valuesReencrypted: 5,
      remaining: 0,
      failures: [],
    });
    for (const s of v1Rows) {
      const row = await rowOf(s.requestId);
      expect(row?.encryptedPrivateKey?.startsWith(`v2:${fp}:`)).toBe(true);
      expect(await newOnly.decrypt(row?.encryptedPrivateKey ?? '')).toBe(s.key);
      if (s.pem === null) expect(row?.encryptedCertificatePem).toBeNull();
      else {
        expect(row?.encryptedCertificatePem?.startsWith(`v2:${fp}:`)).toBe(true);
        expect(await newOnly.decrypt(row?.encryptedCertificatePem ?? '')).toBe(s.pem);
      }
    }
    expect(await rowOf(v2Rows[0]?.requestId ?? '')).toEqual(before);
    expect((await reencryptStoredKeys({ db: database.db, cipher: newOnly })).found).toBe(0);
    await database.db.delete(certificates).where(eq(certificates.plantId, 'plant-v1-current'));
    await database.db.delete(certificates).where(eq(certificates.plantId, 'plant-v2-current'));
  });

  it('refuses to start without a valid ENCRYPTION_KEY, naming the variable', async () => {
    const { code, out } = await cli('src/cli/main.ts', ['reencrypt-keys'], { ENCRYPTION_KEY: 'short' });
    expect(code).toBe(2);
    expect(out.trim().split('\n')).toEqual([
      expect.stringMatching(/^error: ENCRYPTION_KEY: \(value hidden, 5 characters\)/),
    ]);
  });
});

describe('credential hand-over', () => {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

  async function keyAndCertificate(): Promise<{ key: string; certificate: string }> {
    const keys = (await webcrypto.subtle.generateKey(alg, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomBytes(8).toString('hex'),
      name: 'CN=solar-plant-test',
      notBefore: new Date(),
      notAfter: new Date(Date.now() + 86_400_000),
      keys,
      signingAlgorithm: alg,
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
    const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)?.join('\n')}\n-----END PRIVATE KEY-----\n`;
    return { key, certificate: cert.toString('pem') };
  }

  async function activePlant(cipher: Cipher, material?: { key: string; certificate: string }) {
    const { key, certificate } = material ?? (await keyAndCertificate());
    const ids = await insertActivePlant(database.db, 'Hand-over plant', {
      encryptedPrivateKey: await cipher.encrypt(key),
      encryptedCertificatePem: await cipher.encrypt(certificate),
    });
    return { ...ids, key, certificate };
  }

  const exportTo = (plantId: string, directory: string, vault: Cipher = newOnly) =>
    exportDeviceBundle({
      db: database.db,
      vault,
      plantId,
      directory,
      endpoint: 'abc-ats.iot.us-east-1.amazonaws.com',
    });

  it('writes 0600 files into a 0700 directory, records exported_at and returns no key material', async () => {
    const plant = await activePlant(newOnly);
    const directory = join(workDir, 'ok', 'bundle');
    const result = await exportTo(plant.plantId, directory);
    expect(result.files).toEqual(Object.values(BUNDLE_FILES));
    expect(JSON.stringify(result)).not.toContain(plant.key.split('\n')[1]);
    expect((await stat(directory)).mode & 0o777).toBe(0o700);
    for (const f of await readdir(directory))
      expect((await stat(join(directory, f))).mode & 0o777).toBe(0o600);
    const [row] = await database.db
      .select()
      .from(certificates)
      .where(eq(certificates.certificateId, plant.certificateId));
    expect(row?.exportedAt).toEqual(result.exportedAt);
  });

  it("device.json lists the device's topics, its shadow's included, each granted by both policy modes", async () => {
    const plant = await activePlant(newOnly);
    const directory = join(workDir, 'topics', 'bundle');
    await exportTo(plant.plantId, directory);
    const device = JSON.parse(await readFile(join(directory, BUNDLE_FILES.device), 'utf8'));
    const thing = `solar-plant-${plant.plantId}`;
    const shadow = `$aws/things/${thing}/shadow`;
    // The classic shadow's topics (AWS IoT developer guide, device-shadow-mqtt).
    expect(device.topics).toEqual({
      publishTelemetry: `solar/${plant.plantId}/data`,
      subscribeCommands: `solar/${plant.plantId}/commands/#`,
      publishShadow: ['get', 'update', 'delete'].map((op) => `${shadow}/${op}`),
      subscribeShadow: [
        ...['get', 'update', 'delete'].flatMap((op) => [
          `${shadow}/${op}/accepted`,
          `${shadow}/${op}/rejected`,
        ]),
        `${shadow}/update/delta`,
        `${shadow}/update/documents`,
      ],
    });
    const context = {
      clientId: thing,
      thing: { thingName: thing, attributes: { [PLANT_ID_ATTRIBUTE]: plant.plantId } },
    };
    for (const policy of [policyDocumentFor(plant.plantId), sharedPolicyDocument()]) {
      const allows = (action: string, kind: 'topic' | 'topicfilter', name: string) =>
        policiesAllow([policy], action, resourceArn(kind, name), context);
      for (const topic of [device.topics.publishTelemetry, ...device.topics.publishShadow])
        expect(allows('iot:Publish', 'topic', topic), topic).toBe(true);
      for (const topic of device.topics.subscribeShadow) {
        expect(allows('iot:Subscribe', 'topicfilter', topic), topic).toBe(true);
        expect(allows('iot:Receive', 'topic', topic), topic).toBe(true);
      }
      const commands = device.topics.subscribeCommands as string;
      expect(allows('iot:Subscribe', 'topicfilter', commands), commands).toBe(true);
      expect(allows('iot:Receive', 'topic', commands.replace('#', 'restart')), commands).toBe(true);
    }
  });

  it('never writes over anything: a non-empty directory is refused', async () => {
    const plant = await activePlant(newOnly);
    const directory = join(workDir, 'busy');
    await mkdir(directory, { recursive: true });
    await writeFile(join(directory, BUNDLE_FILES.privateKey), 'someone else’s file');
    await expect(exportTo(plant.plantId, directory)).rejects.toThrow(/is not empty/);
  });

  it('fails on a tampered or unknown-key stored key before touching the disk, naming the key', async () => {
    const plant = await activePlant(newOnly);
    const [row] = await database.db
      .select()
      .from(certificates)
      .where(eq(certificates.plantId, plant.plantId));
    const envelope = row?.encryptedPrivateKey ?? '';
    const tampered = `${envelope.slice(0, 30)}${envelope[30] === 'A' ? 'B' : 'A'}${envelope.slice(31)}`;
    await database.db
      .update(certificates)
      .set({ encryptedPrivateKey: tampered })
      .where(eq(certificates.plantId, plant.plantId));
    const fp = await newOnly.currentKeyFingerprint();
    const directory = join(workDir, 'tampered');
    const error = await exportTo(plant.plantId, directory).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DecryptionError);
    expect(error).toMatchObject({ code: 'AUTHENTICATION_FAILED', keyFingerprint: fp });
    expect((error as Error).message).toContain(fp);
    expect(existsSync(directory)).toBe(false);

    const foreign = await activePlant(createCipher({ currentKey: OTHER_KEY }));
    const unknown = await exportTo(foreign.plantId, join(workDir, 'foreign')).catch((e: unknown) => e);
    expect(unknown).toMatchObject({ code: 'KEY_NOT_FOUND' });
    const [after] = await database.db
      .select()
      .from(certificates)
      .where(eq(certificates.plantId, plant.plantId));
    expect(after?.exportedAt).toBeNull();
  });

  it('refuses a key that is not the certificate’s, and a plant without an active identity', async () => {
    const a = await keyAndCertificate();
    const b = await keyAndCertificate();
    const mixed = await activePlant(newOnly, { key: a.key, certificate: b.certificate });
    await expect(exportTo(mixed.plantId, join(workDir, 'mixed'))).rejects.toThrow(
      /does not match its certificate/,
    );

    const plant = await activePlant(newOnly);
    await database.db.update(plants).set({ iotStatus: 'deprovisioned' }).where(eq(plants.id, plant.plantId));
    const error = await exportTo(plant.plantId, join(workDir, 'gone')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExportError);
    expect((error as Error).message).toMatch(/no active IoT identity \(status deprovisioned\)/);
  });
});
