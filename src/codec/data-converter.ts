/**
 * The one way workers and clients get their DataConverter, so nothing talks to Temporal without
 * the codec: `createTemporalClient(config)` for clients, `createDataConverter(codec)` for
 * `Worker.create` / `bundleWorkflowCode` / test environments.
 */
import { fileURLToPath } from 'node:url';
import { Client, type ClientInterceptors, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { Config } from '../config/index.js';
import { SCHEDULED_WORKFLOW_IDS } from '../schedules/scheduled-workflow-ids.js';
import { type EncryptionKeys, type LoadedCodecKeys, loadCodecKeys } from './keys.js';
import { EncryptionCodec, type EncryptionCodecOptions } from './payload-codec.js';
import {
  type PayloadCodecSettings,
  readPayloadCodecSettings,
  readWorkerCodecSettings,
  type WorkerCodecSettings,
} from './settings.js';

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
 * The codec with the configured keys (TEMPORAL_CODEC_KEYS), or keys derived from the encryption
 * keys when none are configured. Throws ConfigError (one line per problem) when neither gives a
 * usable key.
 */
export async function payloadCodec(
  settings: PayloadCodecSettings,
  encryption: EncryptionKeys,
  options: EncryptionCodecOptions = {},
): Promise<LoadedCodec> {
  const loaded = await loadCodecKeys(settings.keys, encryption);
  const codec = new EncryptionCodec(loaded.keys, options);
  return { ...loaded, codec, dataConverter: createDataConverter(codec) };
}

/** payloadCodec with the settings read from `env`. */
export async function loadPayloadCodec(
  env: Record<string, string | undefined>,
  encryption: EncryptionKeys,
  options: EncryptionCodecOptions = {},
): Promise<LoadedCodec> {
  return payloadCodec(readPayloadCodecSettings(env), encryption, options);
}

/**
 * The worker's codec: as payloadCodec, and it refuses payloads that are not encrypted unless
 * TEMPORAL_ALLOW_PLAIN_PAYLOADS=true, payloads bound to another workflow than the one receiving
 * them (copied from a history), and payloads bound to none unless TEMPORAL_ALLOW_UNBOUND_PAYLOADS
 * =true. A refused workflow input fails the workflow task before any workflow code runs
 * (WorkflowTaskFailed in the history, the message in the worker log; the server retries the
 * task, so the workflow waits until it is terminated or the worker allows it).
 */
export async function workerPayloadCodec(
  settings: WorkerCodecSettings,
  encryption: EncryptionKeys,
): Promise<LoadedCodec & { allowPlain: boolean; allowUnbound: boolean }> {
  const { allowPlain, allowUnbound } = settings;
  const loaded = await payloadCodec(settings, encryption, {
    refusePlain: !allowPlain,
    enforceBinding: true,
    allowUnbound,
    scheduledWorkflowIds: SCHEDULED_WORKFLOW_IDS,
  });
  return { ...loaded, allowPlain, allowUnbound };
}

/** workerPayloadCodec with the settings read from `env`. */
export async function loadWorkerPayloadCodec(
  env: Record<string, string | undefined>,
  encryption: EncryptionKeys,
): Promise<LoadedCodec & { allowPlain: boolean; allowUnbound: boolean }> {
  return workerPayloadCodec(readWorkerCodecSettings(env), encryption);
}

export interface TemporalClientHandle {
  client: Client;
  codec: EncryptionCodec;
  close(): Promise<void>;
}

/**
 * A Temporal client of the configured server and namespace, with the payload codec of `codec`
 * (default: read from `env`, itself process.env by default).
 */
export async function createTemporalClient(
  config: Config,
  options: {
    codec?: PayloadCodecSettings;
    env?: Record<string, string | undefined>;
    lazy?: boolean;
    /** The tracing interceptors (src/tracing), when the process traces. */
    interceptors?: ClientInterceptors | undefined;
  } = {},
): Promise<TemporalClientHandle> {
  const settings = options.codec ?? readPayloadCodecSettings(options.env ?? process.env);
  const { codec, dataConverter } = await payloadCodec(settings, config.encryption);
  const connection = options.lazy
    ? Connection.lazy(config.temporal.connectionOptions)
    : await Connection.connect(config.temporal.connectionOptions);
  const client = new Client({
    connection,
    namespace: config.temporal.namespace,
    dataConverter,
    ...(options.interceptors ? { interceptors: options.interceptors } : {}),
  });
  return { client, codec, close: () => connection.close() };
}
