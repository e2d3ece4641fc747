/**
 * Each process's configuration: the shared variables (src/config) and the sections of the
 * features that process runs, read together so one start-up names every wrong variable (one
 * ConfigError, one line each), and frozen.
 *
 * A process reads only its own sections, so a secret is required, and present, only where it is
 * used: ENCRYPTION_KEY in the worker (it opens stored device keys), API_TOKEN in the API,
 * CODEC_SERVER_TOKEN in the codec server; the API and the consumer run without ENCRYPTION_KEY.
 */
import { isIP } from 'node:net';
import { API_METRICS_PORT, type ApiSettings, readApiSettings } from '../api/settings.js';
import {
  type CodecServerSettings,
  type PayloadCodecSettings,
  readCodecServerSettings,
  readPayloadCodecSettings,
  readWorkerCodecSettings,
  type WorkerCodecSettings,
} from '../codec/settings.js';
import {
  type Config,
  ConfigError,
  ConfigProblems,
  deepFreeze,
  type EncryptionConfig,
  type Env,
  loadConfig,
  readAll,
} from '../config/index.js';
import { loadPartitionSettings, type PartitionSettings } from '../ingest/partition-maintainer.js';
import {
  type IngestSettings,
  loadIngestSettings,
  loadValidationSettings,
  type ValidationSettings,
} from '../ingest/settings.js';
import { loadSilentPlantsSettings, type SilentPlantsSettings } from '../ingest/silent-plants.js';
import { readMetricsHost, readMetricsPort } from '../metrics/serve.js';
import { type QuotaSettings, readQuotaSettings, readQuotaUtilization } from '../quotas/settings.js';
import {
  type CertificateAgeSettings,
  type RotationSettings,
  readCertificateAgeSettings,
  readRotationSettings,
} from '../rotation/settings.js';
import { readTracingSettings, type TracingSettings } from '../tracing/settings.js';

export interface WorkerConfig {
  readonly core: Config;
  /** DATABASE_URL, required. */
  readonly databaseUrl: string;
  /** ENCRYPTION_KEY, required: the worker creates and reads device private keys. */
  readonly encryptionKey: string;
  readonly codec: WorkerCodecSettings;
  readonly rotation: RotationSettings;
  readonly quotas: QuotaSettings;
  /** SOLAR_IOT_QUOTA_UTILIZATION. */
  readonly utilization: number;
  readonly metrics: WorkerMetricsSettings;
  /** OTEL_EXPORTER_OTLP_ENDPOINT: traces on; undefined: off. */
  readonly tracing: TracingSettings | undefined;
}

/**
 * The worker's two Prometheus endpoints, on one host: its own counters (prom-client) and the
 * Temporal SDK's (the Rust core's exporter, which serves on a port of its own). Port 0: none.
 */
export interface WorkerMetricsSettings {
  /** WORKER_METRICS_HOST, default 127.0.0.1. */
  readonly host: string;
  /** WORKER_METRICS_PORT, default 9465: solar_iot_* workflow, AWS call and plant metrics. */
  readonly port: number;
  /** WORKER_METRICS_TEMPORAL_PORT, default 9466: the SDK's temporal_* worker metrics. */
  readonly temporalPort: number;
}

export const WORKER_METRICS_PORT = 9465;
export const WORKER_METRICS_TEMPORAL_PORT = 9466;

function readWorkerMetricsSettings(env: Env): WorkerMetricsSettings {
  const [host, port, temporalPort] = readAll([
    () => readMetricsHost('WORKER_METRICS_HOST', env.WORKER_METRICS_HOST),
    () => readMetricsPort('WORKER_METRICS_PORT', env.WORKER_METRICS_PORT, WORKER_METRICS_PORT),
    () =>
      readMetricsPort(
        'WORKER_METRICS_TEMPORAL_PORT',
        env.WORKER_METRICS_TEMPORAL_PORT,
        WORKER_METRICS_TEMPORAL_PORT,
      ),
  ] as const);
  if (port !== 0 && port === temporalPort) {
    throw new ConfigError([
      `WORKER_METRICS_TEMPORAL_PORT: ${temporalPort} is also WORKER_METRICS_PORT; the Temporal SDK serves its metrics on a port of its own. Fix: give them two ports (defaults ${WORKER_METRICS_PORT} and ${WORKER_METRICS_TEMPORAL_PORT})`,
    ]);
  }
  // The Rust core's exporter takes a socket address: a name such as localhost fails Runtime.install.
  if (temporalPort !== 0 && isIP(host) === 0) {
    throw new ConfigError([
      `WORKER_METRICS_HOST: ${JSON.stringify(host)} is not an IP address, and the Temporal SDK's exporter (WORKER_METRICS_TEMPORAL_PORT) binds to one only. Fix: use 127.0.0.1 (default), ::1, 0.0.0.0 or ::, or set WORKER_METRICS_TEMPORAL_PORT=0`,
    ]);
  }
  return { host, port, temporalPort };
}

export function loadWorkerConfig(env: Env = process.env): WorkerConfig {
  const [core, codec, rotation, quotas, utilization, metrics, tracing] = readAll([
    () => loadConfig(env),
    () => readWorkerCodecSettings(env),
    () => readRotationSettings(env),
    () => readQuotaSettings(env),
    () => readQuotaUtilization(env),
    () => readWorkerMetricsSettings(env),
    () => readTracingSettings(env),
  ] as const);
  return deepFreeze({
    core,
    ...required(core),
    codec,
    rotation,
    quotas,
    utilization,
    metrics,
    tracing,
  });
}

/** DATABASE_URL and ENCRYPTION_KEY, which loadConfig leaves optional for the other processes. */
function required(core: Config): { databaseUrl: string; encryptionKey: string } {
  const { databaseUrl } = core;
  const { currentKey } = core.encryption;
  const lines: string[] = [];
  if (!databaseUrl) {
    lines.push(
      'DATABASE_URL: is not set. Fix: set it to a postgres:// URL, or run `npm start` which starts an embedded PostgreSQL',
    );
  }
  if (!currentKey) lines.push('ENCRYPTION_KEY: is not set. Fix: set it to at least 32 random characters');
  if (lines.length > 0) throw new ConfigError(lines);
  return { databaseUrl: databaseUrl as string, encryptionKey: currentKey as string };
}

/** The configuration of a process that calls the service (API, CLI): no ENCRYPTION_KEY needed. */
export interface ClientConfig {
  readonly core: Config;
  readonly codec: PayloadCodecSettings;
  /** CERTIFICATE_MAX_AGE_DAYS, the default of the certificate-age report. */
  readonly certificates: CertificateAgeSettings;
}

export function loadClientConfig(env: Env = process.env): ClientConfig {
  const [core, codec, certificates] = readAll([
    () => loadConfig(env, { requireEncryptionKey: false }),
    () => readPayloadCodecSettings(env),
    () => readCertificateAgeSettings(env),
  ] as const);
  return deepFreeze({ core, codec, certificates });
}

export interface ApiConfig extends ClientConfig {
  readonly api: ApiSettings;
  /** OTEL_EXPORTER_OTLP_ENDPOINT: traces on; undefined: off. */
  readonly tracing: TracingSettings | undefined;
  /** The consumer's INGEST_MAX_BODY_BYTES and INGEST_MAX_FUTURE_SECONDS: quarantine replays validate with them. */
  readonly ingestValidation: ValidationSettings;
}

export function loadApiConfig(env: Env = process.env): ApiConfig {
  const [client, api, tracing, ingestValidation] = readAll([
    () => loadClientConfig(env),
    () => readApiSettings(env),
    () => readTracingSettings(env),
    () => loadValidationSettings(env),
  ] as const);
  // Else the metrics endpoint, bound first, made the API's own listen fail as "already in use".
  if (api.metrics.port !== 0 && api.metrics.port === client.core.port) {
    throw new ConfigError([
      `API_METRICS_PORT: ${api.metrics.port} is also PORT, the API's port. Fix: give the metrics a port of their own (default ${API_METRICS_PORT}), or 0 for no metrics endpoint`,
    ]);
  }
  return deepFreeze({ ...client, api, tracing, ingestValidation });
}

export interface IngestConfig {
  readonly core: Config;
  /** AWS_SQS_QUEUE_URL, required. */
  readonly queueUrl: string;
  /** AWS_SQS_DEAD_LETTER_QUEUE_URL (default `<queue>-dlq`), for its gauge; none beside a FIFO queue. */
  readonly deadLetterQueueUrl: string | undefined;
  /** DATABASE_URL, required. */
  readonly databaseUrl: string;
  readonly ingest: IngestSettings;
  readonly partitions: PartitionSettings;
  readonly silence: SilentPlantsSettings;
  /** CERTIFICATE_MAX_AGE_DAYS, for the certificates_aging gauge. */
  readonly certificates: CertificateAgeSettings;
  /** METRICS_HOST: the metrics are not for everyone who reaches the machine (default 127.0.0.1). */
  readonly metricsHost: string;
}

/** The consumer never touches a private key: it runs without ENCRYPTION_KEY. */
export function loadIngestConfig(env: Env = process.env): IngestConfig {
  const problems = new ConfigProblems();
  const core = problems.read(() => loadConfig(env, { requireEncryptionKey: false }));
  const ingest = problems.read(() => loadIngestSettings(env));
  const partitions = problems.read(() => loadPartitionSettings(env));
  const silence = problems.read(() => loadSilentPlantsSettings(env));
  const certificates = problems.read(() => readCertificateAgeSettings(env));
  if (core && !core.aws.sqsQueueUrl) {
    problems.add(
      'AWS_SQS_QUEUE_URL: not set. Fix: set it to the telemetry queue URL (`aws sqs get-queue-url`)',
    );
  }
  if (core && !core.databaseUrl) {
    problems.add('DATABASE_URL: not set. Fix: set it to postgres://USER:PASSWORD@HOST:5432/DATABASE');
  }
  const metricsHost = problems.read(() => readMetricsHost('METRICS_HOST', env.METRICS_HOST));
  problems.throwIfAny();
  return deepFreeze({
    core: core as Config,
    queueUrl: core?.aws.sqsQueueUrl as string,
    deadLetterQueueUrl: core?.aws.deadLetterQueueUrl,
    databaseUrl: core?.databaseUrl as string,
    ingest: ingest as IngestSettings,
    partitions: partitions as PartitionSettings,
    silence: silence as SilentPlantsSettings,
    certificates: certificates as CertificateAgeSettings,
    metricsHost: metricsHost as string,
  });
}

/** DATABASE_URL of `config`, or the ConfigError that says how to set it. */
export function requireDatabaseUrl(config: Config): string {
  if (!config.databaseUrl) {
    throw new ConfigError([
      {
        variable: 'DATABASE_URL',
        problem: 'is not set',
        fix: 'set it to a postgres:// URL, or run `npm start`, which starts an embedded PostgreSQL and sets it',
      },
    ]);
  }
  return config.databaseUrl;
}

/** A tool that starts or reads workflows (rotate): the shared variables and the payload keys. */
export interface TemporalToolConfig {
  readonly core: Config;
  readonly codec: PayloadCodecSettings;
}

export function loadTemporalToolConfig(env: Env = process.env): TemporalToolConfig {
  // No stored key is opened: TEMPORAL_CODEC_KEYS suffice (ENCRYPTION_KEY only to derive them).
  const [core, codec] = readAll([
    () => loadConfig(env, { requireEncryptionKey: false }),
    () => readPayloadCodecSettings(env),
  ] as const);
  return deepFreeze({ core, codec });
}

/** The rotation schedule tool: as loadTemporalToolConfig, and the ROTATION_* settings. */
export interface RotationScheduleConfig extends TemporalToolConfig {
  readonly rotation: RotationSettings;
}

export function loadRotationScheduleConfig(env: Env = process.env): RotationScheduleConfig {
  const [tool, rotation] = readAll([
    () => loadTemporalToolConfig(env),
    () => readRotationSettings(env),
  ] as const);
  return deepFreeze({ ...tool, rotation });
}

/**
 * A tool that opens stored keys in PostgreSQL (reconciliation, export, re-encryption): DATABASE_URL
 * and ENCRYPTION_KEY are required; `fixes` says, per tool, which key and database to give it.
 */
export interface KeyToolConfig {
  readonly core: Config;
  readonly databaseUrl: string;
  readonly encryptionKey: string;
}

export interface KeyToolFixes {
  /** The whole line when ENCRYPTION_KEY is not set. */
  readonly encryptionKey: string;
  /** The whole line when DATABASE_URL is not set. */
  readonly databaseUrl: string;
}

export function loadKeyToolConfig(fixes: KeyToolFixes, env: Env = process.env): KeyToolConfig {
  const core = loadConfig(env);
  const lines: string[] = [];
  if (!core.encryption.currentKey) lines.push(fixes.encryptionKey);
  if (!core.databaseUrl) lines.push(fixes.databaseUrl);
  if (lines.length > 0) throw new ConfigError(lines);
  return deepFreeze({
    core,
    databaseUrl: core.databaseUrl as string,
    encryptionKey: core.encryption.currentKey as string,
  });
}

/**
 * The codec server: its own variables and TEMPORAL_CODEC_KEYS; only when those keys are not set,
 * the encryption keys they are derived from (so in production it runs without ENCRYPTION_KEY).
 */
export interface CodecServerConfig {
  readonly server: CodecServerSettings;
  readonly codec: PayloadCodecSettings;
  readonly encryption: EncryptionConfig;
}

export function loadCodecServerConfig(env: Env = process.env): CodecServerConfig {
  const problems = new ConfigProblems();
  const server = problems.read(() => readCodecServerSettings(env));
  let keysSet = true;
  const codec = problems.read(() => {
    const settings = readPayloadCodecSettings(env);
    keysSet = settings.keys !== undefined;
    return settings;
  });
  const encryption = keysSet
    ? { currentKey: undefined, previousKeys: [] }
    : problems.read(() => loadConfig(env).encryption);
  problems.throwIfAny();
  return deepFreeze({
    server: server as CodecServerSettings,
    codec: codec as PayloadCodecSettings,
    encryption: encryption as EncryptionConfig,
  });
}
