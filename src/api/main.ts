/**
 * The HTTP API process: `tsx src/api/main.ts` (spawned by `npm start`). Configuration from the
 * environment (src/config plus API_TOKEN, API_HOST, API_ALLOWED_HOSTS); exits 2 with one line per
 * wrong variable, and refuses a non-loopback API_HOST without API_TOKEN.
 */
import { fileURLToPath } from 'node:url';
import { loadApiConfig } from '../app/config.js';
import { openSolarIot } from '../app/service.js';
import { ConfigError, summarizeConfig } from '../config/index.js';
import type { AwsClientsOptions } from '../iot/clients.js';
import { createLogger } from '../logging/index.js';
import { serveMetrics } from '../metrics/serve.js';
import { startTracing } from '../tracing/index.js';
import { redactUrl } from '../tracing/settings.js';
import { ApiMetrics } from './metrics.js';
import { buildServer } from './server.js';

/** `aws.interceptor` is for tests and the local stack (tools/faults/run.ts); production passes nothing. */
export async function runApi(
  env: Record<string, string | undefined> = process.env,
  aws: AwsClientsOptions = {},
): Promise<void> {
  // No route decrypts a stored private key: the API runs without ENCRYPTION_KEY (npm start gives
  // it only TEMPORAL_CODEC_KEYS for workflow payloads).
  const {
    core: config,
    api: settings,
    codec,
    certificates,
    tracing: traces,
    ingestValidation,
  } = loadApiConfig(env);
  const logger = createLogger({ level: config.logLevel, base: { service: 'api' } });
  logger.info(
    { config: summarizeConfig(config), auth: settings.token ? 'API_TOKEN' : 'none' },
    'starting API',
  );
  if (!settings.token) {
    logger.warn(
      { host: settings.host },
      'API_TOKEN is unset: every process and user on this machine can call the API (set API_TOKEN; `npm start` does)',
    );
  }
  const metrics = new ApiMetrics({ defaultMetrics: true });
  const tracing = await startTracing(traces, { role: 'api', logger });
  if (traces) logger.info({ endpoint: redactUrl(traces.endpoint) }, 'OpenTelemetry traces on');
  const opened = await openSolarIot(config, {
    logger,
    codec,
    aws: { ...aws, metrics: metrics.aws, tracing: tracing?.aws },
    temporalInterceptors: tracing?.client,
    certificateMaxAgeDays: certificates.maxAgeDays,
    ingestValidation,
  });
  const { solarIot } = opened;
  const close = async () => {
    await opened.close();
    await tracing?.shutdown();
  };
  const { app } = buildServer({ solarIot, settings, logger, metrics, tracing: tracing?.http });
  const endpoint =
    settings.metrics.port > 0
      ? await serveMetrics(metrics, settings.metrics.port, settings.metrics.host, 'API_METRICS_PORT').catch(
          async (error: unknown) => {
            await close();
            throw error;
          },
        )
      : undefined;
  if (endpoint)
    logger.info(
      { url: `http://${settings.metrics.host}:${endpoint.port}/metrics` },
      'metrics endpoint listening',
    );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping API');
    await app.close();
    await endpoint?.close();
    await close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));

  try {
    await app.listen({ port: config.port, host: settings.host });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    await app.close();
    await endpoint?.close();
    await close();
    throw new ConfigError([
      `PORT: ${config.port} on ${settings.host} is already in use (another API instance?). Fix: stop the other process or set PORT to a free port`,
    ]);
  }
  logger.info({ url: `http://${settings.host}:${config.port}`, iotMode: solarIot.iotMode }, 'API listening');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    await runApi();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    console.error(error);
    process.exit(1);
  }
}
