/**
 * `tsx src/ingest/main.ts`: the ingestion consumer as a process (`npm start` spawns it beside the
 * worker, with the same environment).
 *
 * Environment: AWS_SQS_QUEUE_URL and DATABASE_URL (required), AWS_REGION, AWS_ENDPOINT_URL,
 * LOG_LEVEL (see src/config), the INGEST_* / METRICS_PORT settings of ./settings.ts, the
 * retention and partition settings of ./partition-maintainer.ts, the silent-plants gauge's of
 * ./silent-plants.ts, CERTIFICATE_MAX_AGE_DAYS of the certificates_aging gauge (./certificate-aging.ts),
 * AWS_SQS_DEAD_LETTER_QUEUE_URL of the ingest_dead_letter_messages gauge (./dead-letters.ts),
 * and METRICS_HOST (default 127.0.0.1: the metrics are not for everyone who
 * reaches the machine).
 * SIGTERM or SIGINT: graceful stop (see IngestConsumer.stop); exit code 0 when everything received
 * was committed and deleted, 1 when the database stayed down past the shutdown deadline (those
 * messages are left in SQS, nothing is lost), 2 on bad configuration.
 */

import { fileURLToPath } from 'node:url';
import { openAwsClients } from '../app/clients.js';
import { type IngestConfig, loadIngestConfig } from '../app/config.js';
import { ConfigError } from '../config/index.js';
import type { AwsClientsOptions } from '../iot/clients.js';
import { createLogger, serializeError } from '../logging/index.js';
import { startAgingCertificatesMonitor } from './certificate-aging.js';
import { IngestConsumer } from './consumer.js';
import { startDeadLetterMonitor } from './dead-letters.js';
import { IngestMetrics, serveMetrics } from './metrics.js';
import { startPartitionMaintainer } from './partition-maintainer.js';
import { openIngestPool } from './pool.js';
import { startSilentPlantsMonitor } from './silent-plants.js';

function configuration(): IngestConfig {
  try {
    return loadIngestConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`ingest: invalid configuration\n${err.message}\n`);
    process.exit(2);
  }
}

/**
 * Runs the consumer until SIGTERM/SIGINT. `awsOptions.interceptor` is for tests and the local
 * stack (tools/faults/run.ts); production passes nothing.
 */
export async function runIngest(awsOptions: AwsClientsOptions = {}): Promise<void> {
  const {
    core: config,
    ingest: settings,
    partitions,
    silence,
    certificates,
    metricsHost,
    queueUrl,
    deadLetterQueueUrl,
    databaseUrl,
  } = configuration();
  const logger = createLogger({ level: config.logLevel, base: { service: 'ingest' } });
  const aws = openAwsClients(config, awsOptions);
  // Its own small pool (not src/db/client's), every wait on the database bounded (./pool.ts).
  const pool = openIngestPool(databaseUrl, settings, (err) =>
    logger.warn({ err: serializeError(err) }, 'idle database connection lost'),
  );
  const metrics = new IngestMetrics({ defaultMetrics: true });
  const endpoint =
    settings.metricsPort > 0 ? await serveMetrics(metrics, settings.metricsPort, metricsHost) : undefined;
  if (endpoint)
    logger.info({ url: `http://${metricsHost}:${endpoint.port}/metrics` }, 'metrics endpoint listening');

  const consumer = new IngestConsumer({ sqs: aws.sqs, queueUrl, pool, settings, logger, metrics });
  consumer.start();
  const maintainer = startPartitionMaintainer(databaseUrl, partitions, logger);
  const silentPlants = startSilentPlantsMonitor(pool, metrics, silence, logger);
  const agingCertificates = startAgingCertificatesMonitor(pool, metrics, certificates, logger);
  const deadLetters = deadLetterQueueUrl
    ? startDeadLetterMonitor(aws.sqs, deadLetterQueueUrl, metrics, logger)
    : undefined;

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
    await agingCertificates.stop();
    await deadLetters?.stop();
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
