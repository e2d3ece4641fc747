/**
 * `tsx src/ingest/main.ts`: the ingestion consumer as a process (`npm start` spawns it beside the
 * worker, with the same environment).
 *
 * Environment: AWS_SQS_QUEUE_URL and DATABASE_URL (required), AWS_REGION, AWS_ENDPOINT_URL,
 * LOG_LEVEL (see src/config), the INGEST_* / METRICS_PORT settings of ./settings.ts, the
 * retention and partition settings of ./partition-maintainer.ts, the silent-plants gauge's of
 * ./silent-plants.ts, and METRICS_HOST (default 127.0.0.1: the metrics are not for everyone who
 * reaches the machine).
 * SIGTERM or SIGINT: graceful stop (see IngestConsumer.stop); exit code 0 when everything received
 * was committed and deleted, 1 when the database stayed down past the shutdown deadline (those
 * messages are left in SQS, nothing is lost), 2 on bad configuration.
 */

import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ConfigError, loadConfig } from '../config/index.js';
import { type AwsClientsOptions, createAwsClients } from '../iot/clients.js';
import { createLogger, serializeError } from '../logging/index.js';
import { IngestConsumer } from './consumer.js';
import { IngestMetrics, serveMetrics } from './metrics.js';
import { loadPartitionSettings, startPartitionMaintainer } from './partition-maintainer.js';
import { loadIngestSettings } from './settings.js';
import { loadSilentPlantsSettings, startSilentPlantsMonitor } from './silent-plants.js';

function configuration() {
  const problems: string[] = [];
  // Every group is read even when one before it is wrong: one start-up names every wrong variable.
  const read = <T>(load: () => T): T | undefined => {
    try {
      return load();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(err.message);
      return undefined;
    }
  };
  // The consumer never touches a private key: it runs without ENCRYPTION_KEY.
  const config = read(() => loadConfig(process.env, { requireEncryptionKey: false }));
  const settings = read(() => loadIngestSettings(process.env));
  const partitions = read(() => loadPartitionSettings(process.env));
  const silence = read(() => loadSilentPlantsSettings(process.env));
  if (config && !config.aws.sqsQueueUrl) {
    problems.push(
      'AWS_SQS_QUEUE_URL: not set. Fix: set it to the telemetry queue URL (`aws sqs get-queue-url`)',
    );
  }
  if (config && !config.databaseUrl) {
    problems.push('DATABASE_URL: not set. Fix: set it to postgres://USER:PASSWORD@HOST:5432/DATABASE');
  }
  const metricsHost = process.env.METRICS_HOST?.trim() || '127.0.0.1';
  if (!/^[A-Za-z0-9.:-]+$/.test(metricsHost)) {
    problems.push(
      `METRICS_HOST: ${JSON.stringify(metricsHost.slice(0, 80))} is not a host name or IP address. Fix: use 127.0.0.1 (default), 0.0.0.0 (all interfaces, e.g. in a container) or ::`,
    );
  }
  if (!config || !settings || !partitions || !silence || problems.length > 0) {
    process.stderr.write(`ingest: invalid configuration\n${problems.join('\n')}\n`);
    process.exit(2);
  }
  return {
    config,
    settings,
    partitions,
    silence,
    metricsHost,
    queueUrl: config.aws.sqsQueueUrl as string,
    databaseUrl: config.databaseUrl as string,
  };
}

/**
 * Runs the consumer until SIGTERM/SIGINT. `awsOptions.interceptor` is for tests and the local
 * stack (tools/faults/run.ts); production passes nothing.
 */
export async function runIngest(awsOptions: AwsClientsOptions = {}): Promise<void> {
  const { config, settings, partitions, silence, metricsHost, queueUrl, databaseUrl } = configuration();
  const logger = createLogger({ level: config.logLevel, base: { service: 'ingest' } });
  const aws = createAwsClients(config, awsOptions);
  // Its own small pool (not src/db/client's): one writer uses one connection at a time; the
  // application name lets an operator find the consumer in pg_stat_activity.
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: 4,
    connectionTimeoutMillis: 10_000,
    application_name: 'solar-iot-ingest',
  });
  pool.on('error', (err) => logger.warn({ err: serializeError(err) }, 'idle database connection lost'));
  const metrics = new IngestMetrics({ defaultMetrics: true });
  const endpoint =
    settings.metricsPort > 0 ? await serveMetrics(metrics, settings.metricsPort, metricsHost) : undefined;
  if (endpoint)
    logger.info({ url: `http://${metricsHost}:${endpoint.port}/metrics` }, 'metrics endpoint listening');

  const consumer = new IngestConsumer({ sqs: aws.sqs, queueUrl, pool, settings, logger, metrics });
  consumer.start();
  const maintainer = startPartitionMaintainer(databaseUrl, partitions, logger);
  const silentPlants = startSilentPlantsMonitor(pool, metrics, silence, logger);

  let stopping = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'already stopping: finishing in-flight batches');
      return;
    }
    stopping = true;
    logger.info({ signal }, 'stopping: no new receives, committing and deleting in-flight batches');
    let code = 0;
    try {
      const { uncommitted } = await consumer.stop();
      if (uncommitted > 0) code = 1;
    } catch (err) {
      logger.error({ err: serializeError(err) }, 'error while stopping');
      code = 1;
    }
    await maintainer.stop();
    await silentPlants.stop();
    await endpoint?.close();
    await pool.end();
    aws.destroy();
    logger.flush();
    process.exit(code);
  };
  process.on('SIGTERM', (s) => void shutdown(s));
  process.on('SIGINT', (s) => void shutdown(s));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runIngest().catch((err: unknown) => {
    process.stderr.write(`ingest: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
