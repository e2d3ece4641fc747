/**
 * The service for the processes that call it (API, CLI, the library's default instance): its
 * database, Temporal client (with the payload codec) and AWS clients from the configuration, the
 * IoT mode decided once and its warning logged once.
 */
import { Client, type ClientInterceptors, Connection } from '@temporalio/client';
import { createTemporalClient } from '../codec/data-converter.js';
import type { PayloadCodecSettings } from '../codec/settings.js';
import { type Config, ConfigError, checkAwsCredentials, type IotMode } from '../config/index.js';
import { createDb } from '../db/client.js';
import type { ValidationSettings } from '../ingest/settings.js';
import { type AwsClientsOptions, createAwsClients } from '../iot/clients.js';
import type { Logger } from '../logging/index.js';
import { createSolarIot, type SolarIot, type SolarIotDeps } from '../service/solar-iot.js';
import { requireDatabaseUrl } from './config.js';

export interface IotModeDecision {
  mode: IotMode;
  /** Set when the configuration asks for AWS but it cannot be used. */
  degradedReason: string | null;
}

/** `aws` only when credentials resolve (no call to AWS); otherwise `disabled`, with the reason. */
export async function resolveIotMode(
  config: Config,
  checkCredentials: typeof checkAwsCredentials = checkAwsCredentials,
): Promise<IotModeDecision> {
  if (config.iot.mode !== 'aws') return { mode: config.iot.mode, degradedReason: null };
  const check = await checkCredentials(config);
  return check.ok
    ? { mode: 'aws', degradedReason: null }
    : { mode: 'disabled', degradedReason: check.problem };
}

export interface OpenedSolarIot {
  solarIot: SolarIot;
  /** Releases the database pool, the Temporal connection and the AWS clients. */
  close(): Promise<void>;
}

export interface OpenOptions {
  logger?: Logger;
  /** Overrides for tests (task queue, mock stores, timeouts). */
  overrides?: Partial<Omit<SolarIotDeps, 'config' | 'temporal' | 'db' | 'aws'>>;
  checkCredentials?: typeof checkAwsCredentials;
  /** The payload keys (loadClientConfig); default: TEMPORAL_CODEC_KEYS of `env`. */
  codec?: PayloadCodecSettings;
  /** Where TEMPORAL_CODEC_KEYS is read when `codec` is not given (default process.env). */
  env?: Record<string, string | undefined>;
  /** Options of the AWS clients (an interceptor, in tests and the local stack only). */
  aws?: AwsClientsOptions;
  /** CERTIFICATE_MAX_AGE_DAYS (readCertificateAgeSettings): the certificate-age report's default. */
  certificateMaxAgeDays?: number;
  /** INGEST_MAX_BODY_BYTES, INGEST_MAX_FUTURE_SECONDS (loadValidationSettings): quarantine replays. */
  ingestValidation?: ValidationSettings;
  /** Interceptors of the Temporal client: the trace context into the workflows (src/tracing). */
  temporalInterceptors?: ClientInterceptors | undefined;
}

/** Logged once per process at start-up, so an operator sees why plants stay without IoT. */
export function logModeWarning(logger: Logger | undefined, decision: IotModeDecision): void {
  if (!logger) return;
  if (decision.mode === 'mock') {
    logger.warn(
      { iotMode: 'mock' },
      'MOCK MODE (USE_MOCK_DATA=true): no AWS call is made; plants get fake solar-plant-mock-* resources',
    );
  } else if (decision.mode === 'disabled') {
    logger.warn(
      { iotMode: 'disabled', reason: decision.degradedReason ?? 'USE_AWS_IOT=false' },
      `AWS IoT is disabled (${decision.degradedReason ?? 'USE_AWS_IOT=false'}): new plants are recorded with IoT status "disabled" and no workflow starts; enable IoT and run \`solar-iot backfill\` to provision them`,
    );
  }
}

/**
 * The client encrypts payloads with the worker's codec (src/codec), or the worker could not read
 * what we start and we could not read its answers. Lazy: the API comes up (and /readyz says why
 * it is not ready) while Temporal is still starting.
 */
async function temporalClient(config: Config, decision: IotModeDecision, options: OpenOptions) {
  try {
    const handle = await createTemporalClient(config, {
      codec: options.codec,
      env: options.env,
      lazy: true,
      interceptors: options.temporalInterceptors,
    });
    return { temporal: handle.client, closeTemporal: handle.close };
  } catch (error) {
    // With IoT disabled no workflow is started or read, and no key may be configured at all.
    if (!(error instanceof ConfigError) || decision.mode !== 'disabled') throw error;
    const connection = Connection.lazy(config.temporal.connectionOptions);
    return {
      temporal: new Client({ connection, namespace: config.temporal.namespace }),
      closeTemporal: () => connection.close(),
    };
  }
}

export async function openSolarIot(config: Config, options: OpenOptions = {}): Promise<OpenedSolarIot> {
  const database = createDb(requireDatabaseUrl(config));
  const decision = await resolveIotMode(config, options.checkCredentials);
  logModeWarning(options.logger, decision);
  const aws = decision.mode === 'aws' ? createAwsClients(config, options.aws) : undefined;
  const { temporal, closeTemporal } = await temporalClient(config, decision, options);
  const solarIot = createSolarIot({
    certificateMaxAgeDays: options.certificateMaxAgeDays,
    ingestValidation: options.ingestValidation,
    ...options.overrides,
    config,
    temporal,
    db: database.db,
    aws,
    degradedReason: decision.degradedReason,
  });
  return {
    solarIot,
    async close() {
      await closeTemporal().catch(() => undefined);
      await database.close();
      aws?.destroy();
    },
  };
}
