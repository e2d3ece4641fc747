import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { iotSettingsFrom } from './activities/deps.js';
import { createActivities } from './activities/index.js';
import { loadWorkerPayloadCodec } from './codec/data-converter.js';
import { type Config, ConfigError, loadConfig, summarizeConfig } from './config/index.js';
import { createCipher } from './crypto/encryption.js';
import { createDb } from './db/client.js';
import { type AwsClientsOptions, createAwsClients } from './iot/clients.js';
import { createLogger } from './logging/index.js';
import { installTemporalLogger } from './logging/temporal.js';
import { createMockActivities } from './mock/activities.js';
import { readQuotaSettings, readQuotaUtilization } from './quotas/settings.js';
import { ensureRotationSchedule } from './rotation/schedule.js';
import { readRotationSettings } from './rotation/settings.js';
import { resolveWorkflowCode } from './worker/bundle.js';
import { createWorkers } from './worker/workers.js';

/** Workflow sources, bundled at start-up unless `npm run build:workflows` prebuilt them. */
export { workflowsPath } from './worker/bundle.js';

/**
 * Runs the worker on the configured task queue until SIGINT/SIGTERM, then drains: in-flight
 * activities get `shutdownGraceTime` to finish before the process exits. `aws.interceptor` is for
 * tests and the local stack (tools/faults/run.ts); production passes nothing.
 */
export async function runWorker(config: Config, aws: AwsClientsOptions = {}): Promise<void> {
  const logger = createLogger({ level: config.logLevel });
  installTemporalLogger(logger);
  logger.info({ config: summarizeConfig(config) }, 'starting worker');

  const clients = createAwsClients(config, aws);
  const database = createDb(requireDatabaseUrl(config));
  const { currentKey, previousKeys } = config.encryption;
  if (!currentKey)
    throw new ConfigError([
      { variable: 'ENCRYPTION_KEY', problem: 'is not set', fix: 'set it to at least 32 random characters' },
    ]);
  const vault = createCipher({ currentKey, previousKeys });
  // Every payload this worker writes to Temporal is encrypted; its clients must use the same keys.
  const { dataConverter, codec, source, allowPlain, allowUnbound, warning } = await loadWorkerPayloadCodec(
    process.env,
    config.encryption,
  );
  logger.info(
    {
      payloadKeyId: codec.currentKeyId,
      payloadKeySource: source,
      plainPayloads: allowPlain ? 'allowed' : 'refused',
      unboundPayloads: allowUnbound ? 'allowed' : 'refused',
    },
    'payload encryption on',
  );
  if (warning) logger.warn(warning);
  if (allowPlain)
    logger.warn(
      'TEMPORAL_ALLOW_PLAIN_PAYLOADS=true: workflows started without the payload codec run; unset it once the migration is done',
    );
  if (allowUnbound)
    logger.warn(
      'TEMPORAL_ALLOW_UNBOUND_PAYLOADS=true: encrypted payloads not bound to their workflow run, so one copied from any history written before the binding can start another workflow; unset it once the workflows started before the upgrade are closed',
    );
  const rotation = readRotationSettings();
  const quotas = readQuotaSettings();
  const utilization = readQuotaUtilization();
  const workflowCode = await resolveWorkflowCode();
  if (workflowCode.reason) logger.info({ reason: workflowCode.reason }, 'bundling workflows at start');

  const connectionOptions = config.temporal.connectionOptions;
  const clientConnection = await Connection.connect(connectionOptions);
  const temporal = new Client({
    connection: clientConnection,
    namespace: config.temporal.namespace,
    dataConverter,
  });
  const connection = await NativeConnection.connect(connectionOptions);
  try {
    const worker = await createWorkers({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      ...workflowCode,
      quotas,
      utilization,
      dataConverter,
      // Mock mode (USE_MOCK_DATA): the seed's fake resources, and an IoT client that refuses every call.
      activities:
        config.iot.mode === 'mock'
          ? createMockActivities({ db: database.db, temporal })
          : createActivities({
              iot: clients.iot,
              db: database.db,
              vault,
              temporal,
              settings: iotSettingsFrom(config),
            }),
      options: { shutdownGraceTime: '30s' },
    });
    if (rotation.scheduleEnabled) {
      // Idempotent; a failure (e.g. no permission on schedules) must not stop the worker.
      await ensureRotationSchedule(temporal, { ...rotation, taskQueue: config.temporal.taskQueue })
        .then((r) => logger.info({ ...r, every: rotation.every }, 'certificate rotation schedule ready'))
        .catch((err: unknown) =>
          logger.warn({ err }, 'certificate rotation schedule not set; run tsx src/rotation/schedule.ts'),
        );
    }
    logger.info(
      {
        taskQueue: config.temporal.taskQueue,
        address: config.temporal.address,
        quotaQueueLimits: worker.limits,
        workflows: workflowCode.source,
      },
      'worker polling',
    );
    await worker.run();
    logger.info('worker stopped');
  } finally {
    await connection.close();
    await clientConnection.close();
    await database.close();
    clients.destroy();
  }
}

function requireDatabaseUrl(config: Config): string {
  if (!config.databaseUrl) {
    throw new ConfigError([
      {
        variable: 'DATABASE_URL',
        problem: 'is not set',
        fix: 'set it to a postgres:// URL, or run `npm start` which starts an embedded PostgreSQL',
      },
    ]);
  }
  return config.databaseUrl;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    await runWorker(loadConfig());
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
}
