/**
 * The one way workers and clients get their DataConverter, so nothing talks to Temporal without
 * the codec: `createTemporalClient(config)` for clients, `createDataConverter(codec)` for
 * `Worker.create` / `bundleWorkflowCode` / test environments.
 */
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { Config } from '../config/index.js';
import { SCHEDULED_WORKFLOW_IDS } from '../schedules/scheduled-workflow-ids.js';
import { type EncryptionKeys, type LoadedCodecKeys, loadCodecKeys } from './keys.js';
import { EncryptionCodec, type EncryptionCodecOptions } from './payload-codec.js';
import { readAllowPlainPayloads, readAllowUnboundPayloads } from './settings.js';

/** Failure converter that puts messages and stack traces into (encrypted) payloads. */
export const failureConverterPath = fileURLToPath(new URL('./failure-converter.cjs', import.meta.url));

export function createDataConverter(codec: EncryptionCodec): DataConverter {
  return { payloadCodecs: [codec], failureConverterPath };
}

export interface LoadedCodec extends LoadedCodecKeys {
  codec: EncryptionCodec;
  dataConverter: DataConverter;
}

/**
 * The codec from the environment (TEMPORAL_CODEC_KEYS) or derived from the encryption keys.
 * Throws ConfigError (one line per problem) when neither gives a usable key.
 */
export async function loadPayloadCodec(
  env: Record<string, string | undefined>,
  encryption: EncryptionKeys,
  options: EncryptionCodecOptions = {},
): Promise<LoadedCodec> {
  const loaded = await loadCodecKeys(env, encryption);
  const codec = new EncryptionCodec(loaded.keys, options);
  return { ...loaded, codec, dataConverter: createDataConverter(codec) };
}

/**
 * The worker's codec: as loadPayloadCodec, and it refuses payloads that are not encrypted unless
 * TEMPORAL_ALLOW_PLAIN_PAYLOADS=true, payloads bound to another workflow than the one receiving
 * them (copied from a history), and payloads bound to none unless TEMPORAL_ALLOW_UNBOUND_PAYLOADS
 * =true. A refused workflow input fails the workflow task before any workflow code runs
 * (WorkflowTaskFailed in the history, the message in the worker log; the server retries the
 * task, so the workflow waits until it is terminated or the worker allows it).
 */
export async function loadWorkerPayloadCodec(
  env: Record<string, string | undefined>,
  encryption: EncryptionKeys,
): Promise<LoadedCodec & { allowPlain: boolean; allowUnbound: boolean }> {
  const allowPlain = readAllowPlainPayloads(env);
  const allowUnbound = readAllowUnboundPayloads(env);
  const loaded = await loadPayloadCodec(env, encryption, {
    refusePlain: !allowPlain,
    enforceBinding: true,
    allowUnbound,
    scheduledWorkflowIds: SCHEDULED_WORKFLOW_IDS,
  });
  return { ...loaded, allowPlain, allowUnbound };
}

export interface TemporalClientHandle {
  client: Client;
  codec: EncryptionCodec;
  close(): Promise<void>;
}

/** A Temporal client of the configured server and namespace, with the payload codec. */
export async function createTemporalClient(
  config: Config,
  options: { env?: Record<string, string | undefined>; lazy?: boolean } = {},
): Promise<TemporalClientHandle> {
  const { codec, dataConverter } = await loadPayloadCodec(options.env ?? process.env, config.encryption);
  const connection = options.lazy
    ? Connection.lazy(config.temporal.connectionOptions)
    : await Connection.connect(config.temporal.connectionOptions);
  const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter });
  return { client, codec, close: () => connection.close() };
}
