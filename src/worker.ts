import { fileURLToPath } from 'node:url';
import { NativeConnection } from '@temporalio/worker';
import { loadWorkerConfig, type WorkerConfig } from './app/config.js';
import { openWorkerRuntime, type WorkerRuntime } from './app/worker.js';
import { ConfigError, summarizeConfig } from './config/index.js';
import type { AwsClientsOptions } from './iot/clients.js';
import { createLogger, type Logger } from './logging/index.js';
import { installTemporalLogger } from './logging/temporal.js';
import { serveMetrics } from './metrics/serve.js';
import { startTracing } from './tracing/index.js';
import { redactUrl } from './tracing/settings.js';
import { resolveWorkflowCode } from './worker/bundle.js';
import { WorkerMetrics } from './worker/metrics.js';
import { startPlantGauges } from './worker/plant-gauges.js';
import { createWorkers } from './worker/workers.js';

/** Workflow sources, bundled at start-up unless `npm run build:workflows` prebuilt them. */
export { workflowsPath } from './worker/bundle.js';

/**
 * Runs the worker on the configured task queue until SIGINT/SIGTERM, then drains: in-flight
 * activities get `shutdownGraceTime` to finish before the process exits. `aws.interceptor` is for
 * tests and the local stack (tools/faults/run.ts); production passes nothing.
 */
export async function runWorker(config: WorkerConfig, aws: AwsClientsOptions = {}): Promise<void> {
  const { core, rotation } = config;
  const logger = createLogger({ level: core.logLevel });
  installRuntime(logger, config.metrics);
  logger.info({ config: summarizeConfig(core) }, 'starting worker');

  const tracing = await startTracing(config.tracing, { role: 'worker', logger });
  if (config.tracing)
    logger.info({ endpoint: redactUrl(config.tracing.endpoint) }, 'OpenTelemetry traces on');
  const metrics = new WorkerMetrics({ defaultMetrics: true });
  const runtime = await openWorkerRuntime(config, {
    aws: { ...aws, metrics: metrics.aws, tracing: tracing?.aws },
    temporalInterceptors: tracing?.client,
  });
  const { host, port } = config.metrics;
  const endpoint = port > 0 ? await serveMetrics(metrics, port, host, 'WORKER_METRICS_PORT') : undefined;
  if (endpoint)
    logger.info({ url: `http://${hostPort(host, endpoint.port)}/metrics` }, 'metrics endpoint listening');
  const plantGauges = startPlantGauges(runtime.db, metrics, logger);
  logCodec(logger, runtime.codec);
  // A worker that traces runs the bundle with OpenTelemetry's workflow interceptors.
  const workflowCode = await resolveWorkflowCode(tracing ? 'traced' : 'plain');
  if (workflowCode.reason) logger.info({ reason: workflowCode.reason }, 'bundling workflows at start');

  const connection = await NativeConnection.connect(core.temporal.connectionOptions);
  try {
    const worker = await createWorkers({
      connection,
      namespace: core.temporal.namespace,
      taskQueue: core.temporal.taskQueue,
      ...workflowCode,
      quotas: config.quotas,
      utilization: config.utilization,
      dataConverter: runtime.dataConverter,
      activities: runtime.activities,
      metrics,
      tracing: tracing?.worker,
      options: { shutdownGraceTime: '30s' },
    });
    // The Schedule is a deploy step (`solar-iot setup temporal`, which npm start runs), not every
    // worker's: two workers of different versions starting at once would each write their own.
    logger.info(
      { rotationSchedule: rotation.scheduleEnabled ? 'on' : 'off' },
      'the certificate rotation schedule follows ROTATION_SCHEDULE once `solar-iot setup temporal` ran with it',
    );
    logger.info(
      {
        taskQueue: core.temporal.taskQueue,
        address: core.temporal.address,
        quotaQueueLimits: worker.limits,
        workflows: workflowCode.source,
      },
      'worker polling',
    );
    await worker.run();
    logger.info('worker stopped');
  } finally {
    await plantGauges.stop();
    await endpoint?.close();
    await connection.close();
    await runtime.close();
    await tracing?.shutdown();
  }
}

/** `host:port`, with an IPv6 host in brackets. */
const hostPort = (host: string, port: number) =>
  host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;

/**
 * The Temporal Runtime, with the SDK's Prometheus exporter unless WORKER_METRICS_TEMPORAL_PORT
 * is 0. It is the Rust core's own HTTP server, so it gets a port of its own beside ours: joining
 * the two would mean proxying one through the other, one more hop that can fail a scrape.
 */
function installRuntime(logger: Logger, metrics: WorkerConfig['metrics']): void {
  const { host, temporalPort } = metrics;
  const bindAddress = hostPort(host, temporalPort);
  try {
    installTemporalLogger(logger, temporalPort > 0 ? { prometheus: { bindAddress } } : {});
  } catch (error) {
    if (!/address already in use/i.test(String(error))) throw error;
    throw new ConfigError([
      `WORKER_METRICS_TEMPORAL_PORT: ${temporalPort} on ${host} is already in use (another worker on this machine?). Fix: stop it, or set WORKER_METRICS_TEMPORAL_PORT to a free port (0: no Temporal SDK metrics endpoint)`,
    ]);
  }
  if (temporalPort > 0)
    logger.info({ url: `http://${bindAddress}/metrics` }, 'Temporal SDK metrics endpoint listening');
}

/** Which payload keys are used and which unprotected payloads are let through, with the risks. */
function logCodec(logger: Logger, codec: WorkerRuntime['codec']): void {
  const { allowPlain, allowUnbound, warning } = codec;
  logger.info(
    {
      payloadKeyId: codec.codec.currentKeyId,
      payloadKeySource: codec.source,
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
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    await runWorker(loadWorkerConfig());
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
}
