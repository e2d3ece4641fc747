/**
 * What the worker runs on, from its configuration: AWS clients, the database, the key vault, the
 * payload codec, a Temporal client with that codec (activities start and signal workflows) and
 * the activities of the configured IoT mode.
 */
import { Client, type ClientInterceptors, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { iotSettingsFrom } from '../activities/deps.js';
import { createActivities } from '../activities/index.js';
import { type LoadedCodec, workerPayloadCodec } from '../codec/data-converter.js';
import { createCipher } from '../crypto/encryption.js';
import { createDb, type Db } from '../db/client.js';
import { type AwsClientsOptions, createAwsClients } from '../iot/clients.js';
import { createMockActivities } from '../mock/activities.js';
import type { WorkerConfig } from './config.js';

export interface WorkerRuntime {
  temporal: Client;
  dataConverter: DataConverter;
  codec: LoadedCodec & { allowPlain: boolean; allowUnbound: boolean };
  activities: ReturnType<typeof createActivities>;
  /** The worker's database (the plant gauges read it). */
  db: Db;
  /** Closes the Temporal client connection, the database pool and the AWS clients. */
  close(): Promise<void>;
}

export async function openWorkerRuntime(
  config: WorkerConfig,
  /** `temporalInterceptors`: the tracing interceptors (src/tracing), when the worker traces. */
  options: { aws?: AwsClientsOptions; temporalInterceptors?: ClientInterceptors | undefined } = {},
): Promise<WorkerRuntime> {
  const { core } = config;
  // Every payload this worker writes to Temporal is encrypted; its clients must use the same keys.
  // First: a key that cannot be derived stops the start before anything is opened.
  const codec = await workerPayloadCodec(config.codec, core.encryption);
  const aws = createAwsClients(core, options.aws);
  const database = createDb(config.databaseUrl);
  const vault = createCipher({
    currentKey: config.encryptionKey,
    previousKeys: core.encryption.previousKeys,
  });
  const connection = await Connection.connect(core.temporal.connectionOptions);
  const temporal = new Client({
    connection,
    namespace: core.temporal.namespace,
    dataConverter: codec.dataConverter,
    ...(options.temporalInterceptors ? { interceptors: options.temporalInterceptors } : {}),
  });
  const activities =
    // Mock mode (USE_MOCK_DATA): fake resources in the database, and an IoT client that refuses every call.
    core.iot.mode === 'mock'
      ? createMockActivities({ db: database.db, temporal })
      : createActivities({
          iot: aws.iot,
          db: database.db,
          vault,
          temporal,
          settings: iotSettingsFrom(core),
        });
  return {
    temporal,
    dataConverter: codec.dataConverter,
    codec,
    activities,
    db: database.db,
    async close() {
      await connection.close();
      await database.close();
      aws.destroy();
    },
  };
}
