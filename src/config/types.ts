/** The shared configuration every process reads (src/config/load.ts), as a type. */
import type { ClientConnectConfig } from '@temporalio/envconfig';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const CERTIFICATE_MODES = ['csr', 'create-keys'] as const;
export type CertificateMode = (typeof CERTIFICATE_MODES)[number];

export const TOPIC_RULE_MODES = ['shared', 'per-plant'] as const;
export type TopicRuleMode = (typeof TOPIC_RULE_MODES)[number];

export const POLICY_MODES = ['shared', 'per-plant'] as const;
export type PolicyMode = (typeof POLICY_MODES)[number];

/** `aws`: real AWS (or an emulator via AWS_ENDPOINT_URL); `mock`: fake resources, no AWS calls. */
export type IotMode = 'aws' | 'mock' | 'disabled';

export const MIN_ENCRYPTION_KEY_LENGTH = 32;

/** Keys are kept out of JSON.stringify / util.inspect / pino output (see `hideSecrets`). */
export interface EncryptionConfig {
  /** ENCRYPTION_KEY: encrypts new values; undefined only when IoT is disabled or mocked. */
  readonly currentKey: string | undefined;
  /** ENCRYPTION_KEYS_PREVIOUS: accepted for decryption only, during a key rotation. */
  readonly previousKeys: readonly string[];
}

export interface Config {
  readonly aws: {
    readonly region: string;
    /** ATS data endpoint (`xxx-ats.iot.<region>.amazonaws.com`), used by the IoT data-plane client. */
    readonly iotEndpoint: string | undefined;
    /** IAM role the topic rule assumes to send to SQS. */
    readonly iotRoleArn: string | undefined;
    readonly sqsQueueUrl: string | undefined;
    /** Whether the queue URL names a FIFO queue (an IoT rule cannot target one; the consumer can). */
    readonly sqsQueueIsFifo: boolean;
    /**
     * AWS_SQS_DEAD_LETTER_QUEUE_URL, default the telemetry queue's name with `-dlq`: the telemetry
     * rule's error action sends each delivery that failed there. Undefined without a (standard) queue.
     */
    readonly deadLetterQueueUrl: string | undefined;
    /** Emulator endpoint (moto) for every AWS client; undefined = real AWS. */
    readonly endpointUrl: string | undefined;
  };
  readonly iot: {
    readonly useAwsIot: boolean;
    readonly useMockData: boolean;
    /** Derived: mock wins over aws; `disabled` = graceful degradation, plants get no IoT identity. */
    readonly mode: IotMode;
    readonly certificateMode: CertificateMode;
    readonly topicRuleMode: TopicRuleMode;
    readonly policyMode: PolicyMode;
  };
  readonly encryption: EncryptionConfig;
  readonly logLevel: LogLevel;
  /** undefined: nothing configured (the local stack then starts embedded PostgreSQL). */
  readonly databaseUrl: string | undefined;
  readonly port: number;
  readonly temporal: {
    readonly taskQueue: string;
    readonly namespace: string;
    readonly address: string;
    /** True when TEMPORAL_ADDRESS or a Temporal config-file profile named a server. */
    readonly addressConfigured: boolean;
    /** From @temporalio/envconfig, address and namespace filled in; may hold an API key or TLS key. */
    readonly connectionOptions: ClientConnectConfig['connectionOptions'] & { address: string };
  };
}
