/**
 * The codec key report (reencrypt-keys) exists to find running workflows still encrypted with a
 * key about to go. It must list them even when their memo was encrypted with a key this process
 * no longer holds: client.workflow.list() decoded each memo and threw "not configured".
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDataConverter } from '../../src/codec/data-converter.js';
import { codecKeyUsage } from '../../src/codec/key-usage.js';
import { deriveCodecKeys } from '../../src/codec/keys.js';
import { EncryptionCodec } from '../../src/codec/payload-codec.js';
import { createDevServerEnv, uniqueTaskQueue } from '../support/temporal.js';

const keysOf = (secret: string) => deriveCodecKeys({ currentKey: secret, previousKeys: [] });
let starter: TestWorkflowEnvironment;
let reader: TestWorkflowEnvironment;
beforeAll(async () => {
  starter = await createDevServerEnv({
    dataConverter: createDataConverter(new EncryptionCodec(await keysOf('c'.repeat(64)))),
  });
  reader = await createDevServerEnv({
    dataConverter: createDataConverter(new EncryptionCodec(await keysOf('d'.repeat(64)))),
  });
});
afterAll(async () => {
  await starter?.teardown();
  await reader?.teardown();
});

it('reports a running workflow whose memo is encrypted with a key it does not hold, under that key', async () => {
  const [retired] = await keysOf('c'.repeat(64));
  const workflowId = `foreign-memo-${randomUUID()}`;
  const handle = await starter.client.workflow.start('provisionPlant', {
    taskQueue: uniqueTaskQueue('foreign-memo'),
    workflowId,
    args: [],
    memo: { certificateMode: 'server' },
  });
  try {
    const report = await codecKeyUsage(reader.client);
    const usage = report.usage.find((u) => u.keyId === retired?.id);
    expect(usage?.workflows).toContain(workflowId);
  } finally {
    await handle.terminate('test over');
  }
});
