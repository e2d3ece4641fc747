/**
 * Reconciliation asks Temporal only whether an operation runs on a plant. That answer must not
 * depend on decoding the run's memo: a run started under payload keys this process does not hold
 * (another deployment's, a retired key) still tells its status. Before, describe() decoded the
 * memo (the provision's certificate mode) and reconcile failed with "not configured" key errors.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDataConverter } from '../../src/codec/data-converter.js';
import { deriveCodecKeys } from '../../src/codec/keys.js';
import { EncryptionCodec } from '../../src/codec/payload-codec.js';
import { runningOperation } from '../../src/reconcile/operations.js';
import { provisionWorkflowId } from '../../src/workflows/contract.js';
import { createDevServerEnv, uniqueTaskQueue } from '../support/temporal.js';

const envWithKey = async (secret: string) =>
  createDevServerEnv({
    dataConverter: createDataConverter(
      new EncryptionCodec(await deriveCodecKeys({ currentKey: secret, previousKeys: [] })),
    ),
  });

let starter: TestWorkflowEnvironment;
let reader: TestWorkflowEnvironment;
beforeAll(async () => {
  starter = await envWithKey('a'.repeat(64));
  reader = await envWithKey('b'.repeat(64));
});
afterAll(async () => {
  await starter?.teardown();
  await reader?.teardown();
});

it('tells a running provision whose memo was encrypted with a key it does not hold', async () => {
  const plantId = `foreign-${randomUUID()}`;
  const handle = await starter.client.workflow.start('provisionPlant', {
    // No worker polls this queue: the run stays RUNNING.
    taskQueue: uniqueTaskQueue('foreign-key'),
    workflowId: provisionWorkflowId(plantId),
    args: [],
    memo: { certificateMode: 'server' },
  });
  try {
    expect(await runningOperation(reader.client, plantId)).toBe(provisionWorkflowId(plantId));
    expect(await runningOperation(reader.client, `none-${randomUUID()}`)).toBeNull();
  } finally {
    await handle.terminate('test over');
  }
  expect(await runningOperation(reader.client, plantId)).toBeNull();
});
