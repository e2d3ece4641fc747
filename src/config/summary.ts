import { loadConfig } from './load.js';
import type { Config } from './types.js';

/** A log-safe view of the configuration (no keys, no passwords), e.g. for the start-up banner. */
export function summarizeConfig(config: Config): Record<string, unknown> {
  const dbUrl = config.databaseUrl ? new URL(config.databaseUrl) : undefined;
  if (dbUrl?.password) dbUrl.password = '***';
  return {
    iotMode: config.iot.mode,
    awsRegion: config.aws.region,
    awsEndpointUrl: config.aws.endpointUrl ?? '(real AWS)',
    iotEndpoint: config.aws.iotEndpoint ?? '(not set)',
    sqsQueueUrl: config.aws.sqsQueueUrl ?? '(not set)',
    deadLetterQueueUrl: config.aws.deadLetterQueueUrl ?? '(not set)',
    certificateMode: config.iot.certificateMode,
    topicRuleMode: config.iot.topicRuleMode,
    policyMode: config.iot.policyMode,
    encryptionKeys: config.encryption.currentKey
      ? `current + ${config.encryption.previousKeys.length} previous`
      : '(none)',
    databaseUrl: dbUrl?.toString() ?? '(embedded)',
    port: config.port,
    temporalAddress: config.temporal.address,
    temporalNamespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    logLevel: config.logLevel,
  };
}

let cached: Config | undefined;

/** `loadConfig(process.env)`, once per process, for the library's default cipher (src/crypto/encryption.ts); prefer injection. */
export function getConfig(): Config {
  cached ??= loadConfig(process.env);
  return cached;
}
