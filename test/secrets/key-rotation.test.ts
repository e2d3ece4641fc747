/**
 * The at-rest key (ENCRYPTION_KEY) rotates as the README says, down to dropping the old key, while
 * a certificate rotation started before it waits in its grace period: after the rotation, the
 * stack (keys as `npm start` hands them to its processes, src/codec/local.ts) still queries and
 * completes that workflow, because the codec keys live on their own.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { type DataConverter, defaultPayloadConverter, type Payload } from '@temporalio/common';
import { afterAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities/index.js';
import { startProvisioning } from '../../src/client.js';
import { loadPayloadCodec, loadWorkerPayloadCodec } from '../../src/codec/data-converter.js';
import { deriveCodecKeys, type EncryptionKeys } from '../../src/codec/keys.js';
import { stackCodecKeys } from '../../src/codec/local.js';
import { EncryptionCodec } from '../../src/codec/payload-codec.js';
import { createCipher } from '../../src/crypto/encryption.js';
import { startRotation } from '../../src/rotation/client.js';
import { endGracePeriodSignal, rotationStatusQuery } from '../../src/rotation/contract.js';
import { codecKeyLines, reencryptStoredKeys } from '../../src/secrets/reencrypt-keys.js';
import { newPlantId, ProvisioningHarness } from '../support/provisioning-harness.js';
import { createDevServerEnv, uniqueTaskQueue } from '../support/temporal.js';
import { useProvisioningHarness } from '../support/use-provisioning-harness.js';
import { runWorkers } from '../support/worker.js';

const OLD_KEY = randomBytes(32).toString('hex');
const NEW_KEY = randomBytes(32).toString('hex');
let dataDir: string;
const TASK_QUEUE = uniqueTaskQueue('key-rotation');

/** What `npm start` gives its processes for these at-rest keys (same data folder every time). */
async function stackEnv(encryption: EncryptionKeys): Promise<Record<string, string>> {
  const keys = await stackCodecKeys({
    env: {},
    file: join(dataDir, 'codec.keys'),
    encryption,
    hasHistories: false,
  });
  return { TEMPORAL_CODEC_KEYS: keys.value };
}

let clientConverter: DataConverter;
const t = useProvisioningHarness({
  server: async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'solar-iot-rotation-'));
    const env = await stackEnv({ currentKey: OLD_KEY, previousKeys: [] });
    clientConverter = (await loadPayloadCodec(env, { currentKey: OLD_KEY, previousKeys: [] })).dataConverter;
    // The dev server: the tool lists open workflows (the time-skipping server has no visibility).
    return createDevServerEnv({ dataConverter: clientConverter });
  },
  harness: (env) => new ProvisioningHarness(env, clientConverter),
});

afterAll(async () => {
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** The worker of a stack started with these at-rest keys, running until `body` settles. */
async function asWorker<T>(encryption: EncryptionKeys, body: (taskQueue: string) => Promise<T>): Promise<T> {
  const env = await stackEnv(encryption);
  const { dataConverter } = await loadWorkerPayloadCodec(env, encryption);
  return runWorkers(
    {
      connection: t.env.nativeConnection,
      taskQueue: TASK_QUEUE,
      dataConverter,
      activities: createActivities({
        iot: t.h.iot,
        db: t.h.database.db,
        vault: createCipher({
          currentKey: encryption.currentKey ?? '',
          previousKeys: [...encryption.previousKeys],
        }),
        temporal: t.env.client as Client,
        settings: t.h.settings,
      }),
    },
    body,
  );
}

describe('ENCRYPTION_KEY rotation with a workflow open across it', () => {
  it('a rotation started before is queried and completed after the old key was dropped', async () => {
    const plantId = newPlantId();
    const old = { currentKey: OLD_KEY, previousKeys: [] };
    const workflowId = await asWorker(old, async (taskQueue) => {
      await (
        await startProvisioning(t.env.client, { plantId, plantName: `Rotating ${plantId}` }, { taskQueue })
      ).result();
      const rotation = await startRotation(t.env.client, { plantId, gracePeriod: '30d' }, { taskQueue });
      const deadline = Date.now() + 60_000;
      while ((await rotation.query(rotationStatusQuery)).phase !== 'grace-period') {
        if (Date.now() > deadline) throw new Error('no grace period');
        await new Promise((r) => setTimeout(r, 100));
      }
      return rotation.workflowId;
    });

    // README: new key current, old key previous; re-encrypt; drop the old key.
    const during = { currentKey: NEW_KEY, previousKeys: [OLD_KEY] };
    const rotating = createCipher(during);
    // The tool says what still needs which key: with the stack's keys, the open rotation's
    // payloads are under the stack's own codec key, not under anything ENCRYPTION_KEY gives.
    const stackKeyId = (await stackEnv(during)).TEMPORAL_CODEC_KEYS?.split(':')[0] ?? '';
    const lines = await codecKeyLines({
      env: await stackEnv(during),
      encryption: during,
      client: t.h.rawClient(),
    });
    expect(lines[0]).toMatch(/independent of ENCRYPTION_KEY/);
    expect(lines.find((l) => l.startsWith(`codec key ${stackKeyId}:`))).toContain(workflowId);
    // Derived keys (TEMPORAL_CODEC_KEYS unset) tie the two: the tool names the old key's codec key.
    const oldFp = await createCipher({ currentKey: OLD_KEY }).currentKeyFingerprint();
    expect((await codecKeyLines({ env: {}, encryption: during })).join('\n')).toContain(
      `codec key ek-${oldFp} is derived from the previous ENCRYPTION_KEY ${oldFp}`,
    );
    await reencryptStoredKeys({ db: t.h.database.db, cipher: rotating });
    const newFp = await rotating.currentKeyFingerprint();
    for (const row of await t.h.certificateRows(plantId)) {
      if (row.encryptedPrivateKey) expect(row.encryptedPrivateKey.startsWith(`v2:${newFp}:`)).toBe(true);
    }

    // The stack restarted with the new key only still reads the open workflow's input.
    const newOnly = { currentKey: NEW_KEY, previousKeys: [] };
    const { codec } = await loadWorkerPayloadCodec(await stackEnv(newOnly), newOnly);
    const { events } = await t.env.client.workflow.getHandle(workflowId).fetchHistory();
    const input = events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
    expect(input.length).toBe(1);
    await codec.decode(input);

    const result = await asWorker(newOnly, async () => {
      const handle = t.env.client.workflow.getHandle(workflowId);
      expect((await handle.query(rotationStatusQuery)).phase).toBe('grace-period');
      await handle.signal(endGracePeriodSignal);
      return handle.result();
    });
    expect(result).toMatchObject({ plantId });
    expect((await stat(join(dataDir, 'codec.keys'))).mode & 0o777).toBe(0o600);
  });
});

describe('codec keys of the local stack', () => {
  it('are generated once (0600), kept across ENCRYPTION_KEY changes, and keep the derived keys of an existing data folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'solar-iot-codec-keys-'));
    try {
      const old = { currentKey: OLD_KEY, previousKeys: [] };
      const fresh = await stackCodecKeys({
        env: {},
        file: join(dir, 'a.keys'),
        encryption: old,
        hasHistories: false,
      });
      expect(fresh.value.split(',')).toHaveLength(1);
      expect(fresh.value).toMatch(/^c-\d{8}-[0-9a-f]{6}:/);
      const again = await stackCodecKeys({
        env: {},
        file: join(dir, 'a.keys'),
        encryption: { currentKey: NEW_KEY, previousKeys: [] },
        hasHistories: true,
      });
      expect(again).toEqual({ value: fresh.value, source: join(dir, 'a.keys') });

      // A data folder with histories written under the derived key: that key stays, decrypt-only.
      const upgraded = await stackCodecKeys({
        env: {},
        file: join(dir, 'b.keys'),
        encryption: old,
        hasHistories: true,
      });
      const [derived] = await deriveCodecKeys(old);
      const ids = upgraded.value.split(',').map((e) => e.slice(0, e.indexOf(':')));
      expect(ids).toEqual([expect.stringMatching(/^c-/), derived?.id]);
      const written = await new EncryptionCodec(derived ? [derived] : []).encode([
        defaultPayloadConverter.toPayload('before'),
      ]);
      const codec = (await loadPayloadCodec({ TEMPORAL_CODEC_KEYS: upgraded.value }, old)).codec;
      expect(defaultPayloadConverter.fromPayload((await codec.decode(written))[0] as Payload)).toBe('before');
      expect(codec.currentKeyId).toBe(ids[0]);
      expect((await stat(join(dir, 'b.keys'))).mode & 0o777).toBe(0o600);

      await writeFile(join(dir, 'broken.keys'), 'nonsense');
      await expect(
        stackCodecKeys({ env: {}, file: join(dir, 'broken.keys'), encryption: old, hasHistories: false }),
      ).rejects.toThrow(/broken\.keys: TEMPORAL_CODEC_KEYS: entry 1 of 1/);
      // TEMPORAL_CODEC_KEYS (production) wins over the file.
      const configured = `prod:${randomBytes(32).toString('base64')}`;
      expect(
        await stackCodecKeys({
          env: { TEMPORAL_CODEC_KEYS: configured },
          file: join(dir, 'a.keys'),
          encryption: old,
          hasHistories: false,
        }),
      ).toEqual({ value: configured, source: 'TEMPORAL_CODEC_KEYS' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
