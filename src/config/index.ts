/**
 * Configuration: every environment variable is parsed and validated here, once, at start-up.
 *
 * `loadConfig()` either returns a typed, frozen `Config` or throws a `ConfigError` whose message
 * has one line per wrong variable: its name, what is wrong with the value, and how to fix it.
 * Secret values (ENCRYPTION_KEY, passwords in URLs, Temporal API keys) are never echoed.
 *
 * AWS credentials are NOT configured here: the AWS SDK resolves them through its default
 * provider chain (environment, SSO, shared config, container/instance roles).
 */
import { inspect } from 'node:util';
import { type ClientConnectConfig, loadClientConnectConfig } from '@temporalio/envconfig';
import { z } from 'zod';

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

export interface ConfigIssue {
  readonly variable: string;
  readonly problem: string;
  readonly fix: string;
}

/** Thrown by `loadConfig`; `message` has exactly one line per wrong variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map((i) => `${i.variable}: ${i.problem}. Fix: ${i.fix}`).join('\n'));
    this.issues = issues;
  }
}

type Env = Record<string, string | undefined>;

const GENERATE_KEY_HINT = `node -e "console.log(require('node:crypto').randomBytes(32).toString('hex'))"`;

/** Values people paste from examples; refused even though they are long enough. */
const PLACEHOLDER_KEYS = new Set([
  'your-32-character-encryption-key-here',
  'change-me-to-a-random-string-of-32-chars',
  'changeme-changeme-changeme-changeme',
]);

const SECRET_VARIABLES = new Set([
  'ENCRYPTION_KEY',
  'ENCRYPTION_KEYS_PREVIOUS',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS_CLIENT_KEY_DATA',
  'TEMPORAL_CODEC_AUTH',
  'TEMPORAL_CODEC_KEYS',
  'CODEC_SERVER_TOKEN',
  'API_TOKEN',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
]);

/** Shows a rejected value in an error line without revealing secrets or URL passwords. */
function show(variable: string, raw: string): string {
  if (SECRET_VARIABLES.has(variable)) return `(value hidden, ${raw.length} characters)`;
  let text = raw;
  try {
    const url = new URL(raw);
    if (url.password) {
      url.password = '***';
      text = url.toString();
    }
  } catch {
    // not a URL: shown as is, but never a credential-looking user:pass@ fragment
    text = raw.replace(/\/\/([^/@:\s]+):([^/@\s]+)@/, '//$1:***@');
  }
  if (text.length > 120) text = `${text.slice(0, 117)}...`;
  return JSON.stringify(text);
}

// ---------------------------------------------------------------------------------------------
// One zod schema per variable. Input: the trimmed string, or undefined when unset or empty.
// ---------------------------------------------------------------------------------------------

const boolean = (def: boolean) =>
  z
    .string()
    .toLowerCase()
    .pipe(z.enum(['true', 'false', '1', '0'], { error: 'is not a boolean (accepted: true, false, 1, 0)' }))
    .transform((v) => v === 'true' || v === '1')
    .default(def);

const httpUrl = (what: string) =>
  z.string().refine(
    (v) => {
      try {
        const u = new URL(v);
        return u.protocol === 'https:' || u.protocol === 'http:';
      } catch {
        return false;
      }
    },
    { error: `is not an http(s) URL${what}` },
  );

const AWS_REGION_RE = /^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/;
const ATS_HOST_RE = /^[a-z0-9]+-ats\.iot\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/;
const HOSTNAME_RE =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:\d{1,5})?$/;
const ROLE_ARN_RE = /^arn:aws(-cn|-us-gov|-iso|-iso-b)?:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

interface VarSpec {
  schema: z.ZodType<unknown, string | undefined>;
  fix: string;
}

const SPECS = {
  AWS_REGION: {
    schema: z.string().regex(AWS_REGION_RE, { error: 'is not an AWS region code' }).default('us-east-1'),
    fix: 'use a region code such as us-east-1 or eu-west-1 (or unset it for us-east-1)',
  },
  AWS_IOT_ENDPOINT: {
    schema: z
      .string()
      .refine((v) => !v.includes('://'), { error: 'must be a bare host name, not a URL' })
      .transform((v) => v.toLowerCase())
      .refine((v) => HOSTNAME_RE.test(v), { error: 'is not a host name' })
      .refine((v) => !/\.iot\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/.test(v) || ATS_HOST_RE.test(v), {
        error: 'is a legacy (VeriSign) endpoint, not the ATS endpoint',
      })
      .optional(),
    fix: 'copy the host from `aws iot describe-endpoint --endpoint-type iot:Data-ATS` (xxx-ats.iot.<region>.amazonaws.com), without https://',
  },
  AWS_IOT_ROLE_ARN: {
    schema: z.string().regex(ROLE_ARN_RE, { error: 'is not an IAM role ARN' }).optional(),
    fix: 'use the ARN of the role the IoT rule assumes, e.g. arn:aws:iam::123456789012:role/IoTToSQSRole',
  },
  AWS_SQS_QUEUE_URL: {
    schema: httpUrl('').optional(),
    fix: 'use the queue URL shown by `aws sqs get-queue-url`, e.g. https://sqs.us-east-1.amazonaws.com/123456789012/solar-plant-data',
  },
  AWS_ENDPOINT_URL: {
    schema: httpUrl('').optional(),
    fix: 'unset it for real AWS, or point it at the emulator, e.g. http://127.0.0.1:5000',
  },
  ENCRYPTION_KEY: {
    schema: z
      .string()
      .refine((v) => v.length >= MIN_ENCRYPTION_KEY_LENGTH, {
        error: `is shorter than ${MIN_ENCRYPTION_KEY_LENGTH} characters`,
      })
      .refine((v) => !PLACEHOLDER_KEYS.has(v), { error: 'is the placeholder from the documentation' })
      .refine((v) => new Set(v).size >= 8, { error: 'has fewer than 8 distinct characters' })
      .optional(),
    fix: `set it to at least ${MIN_ENCRYPTION_KEY_LENGTH} random characters; generate one with ${GENERATE_KEY_HINT}`,
  },
  ENCRYPTION_KEYS_PREVIOUS: {
    schema: z
      .string()
      .transform((v) => v.split(',').map((k) => k.trim()))
      .superRefine((keys, ctx) => {
        keys.forEach((k, i) => {
          if (k.length < MIN_ENCRYPTION_KEY_LENGTH) {
            ctx.addIssue({
              code: 'custom',
              message: `entry ${i + 1} of ${keys.length} is ${k.length === 0 ? 'empty' : `shorter than ${MIN_ENCRYPTION_KEY_LENGTH} characters`}`,
            });
          }
        });
      })
      .transform((keys) => [...new Set(keys)])
      .default([]),
    fix: `list the old keys separated by commas (no empty entries), each at least ${MIN_ENCRYPTION_KEY_LENGTH} characters, or unset it`,
  },
  USE_AWS_IOT: {
    schema: boolean(true),
    fix: 'set USE_AWS_IOT=true to provision plants in AWS IoT, or USE_AWS_IOT=false to disable it',
  },
  USE_MOCK_DATA: {
    schema: boolean(false),
    fix: 'set USE_MOCK_DATA=true for fake IoT resources without AWS, or USE_MOCK_DATA=false',
  },
  LOG_LEVEL: {
    schema: z
      .string()
      .toLowerCase()
      .pipe(z.enum(LOG_LEVELS, { error: 'is not a log level' }))
      .default('info'),
    fix: `use one of ${LOG_LEVELS.join(', ')}`,
  },
  DATABASE_URL: {
    schema: z
      .string()
      .refine(
        (v) => {
          try {
            const u = new URL(v);
            return (u.protocol === 'postgres:' || u.protocol === 'postgresql:') && u.hostname !== '';
          } catch {
            return false;
          }
        },
        { error: 'is not a PostgreSQL URL' },
      )
      .optional(),
    fix: 'use postgres://USER:PASSWORD@HOST:5432/DATABASE (percent-encode special characters in the password), or unset it to use the embedded PostgreSQL',
  },
  PORT: {
    schema: z
      .string()
      .regex(/^\d+$/, { error: 'is not a whole number' })
      .transform(Number)
      .pipe(z.number().int().min(1, { error: 'is out of range' }).max(65535, { error: 'is out of range' }))
      .default(3000),
    fix: 'use a TCP port between 1 and 65535 (default 3000)',
  },
  TEMPORAL_TASK_QUEUE: {
    schema: z
      .string()
      .regex(/^[^\s]{1,200}$/, { error: 'contains whitespace or is longer than 200 characters' })
      .default('solar-iot'),
    fix: 'use a name without spaces, e.g. solar-iot (the default)',
  },
  CERTIFICATE_MODE: {
    schema: z.enum(CERTIFICATE_MODES, { error: 'is not a certificate mode' }).default('csr'),
    fix: 'use csr (key generated and stored encrypted before AWS signs it; default) or create-keys (CreateKeysAndCertificate)',
  },
  TOPIC_RULE_MODE: {
    schema: z.enum(TOPIC_RULE_MODES, { error: 'is not a topic rule mode' }).default('shared'),
    fix: 'use shared (one rule on solar/+/data; default) or per-plant (one rule per plant, limited to 1000 per account)',
  },
  POLICY_MODE: {
    schema: z.enum(POLICY_MODES, { error: 'is not a policy mode' }).default('shared'),
    fix: 'use shared (one policy with thing policy variables for every plant; default) or per-plant (one policy per plant, as the seed did)',
  },
  TEMPORAL_ADDRESS: {
    schema: z
      .string()
      .refine((v) => !v.includes('://'), { error: 'must be host:port, not a URL' })
      .refine((v) => /^[^\s/]+:\d{1,5}$/.test(v), { error: 'is not host:port' })
      .optional(),
    fix: 'use host:port, e.g. localhost:7233 or my-ns.a1b2c.tmprl.cloud:7233, or unset it to use the local dev server',
  },
  TEMPORAL_TLS: {
    schema: boolean(false).optional(),
    fix: 'set TEMPORAL_TLS=true or TEMPORAL_TLS=false',
  },
} satisfies Record<string, VarSpec>;

type Specs = typeof SPECS;
type Parsed = { [K in keyof Specs]: z.output<Specs[K]['schema']> };

/** The environment with every value trimmed and empty strings treated as unset (`FOO=` in a .env). */
function cleanEnv(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    const t = v.trim();
    if (t !== '') out[k] = t;
  }
  return out;
}

export interface LoadConfigOptions {
  /**
   * false: ENCRYPTION_KEY may be unset although AWS IoT is on, for processes that never touch a
   * stored private key (API, ingestion): they run without it (least privilege). Default true.
   */
  readonly requireEncryptionKey?: boolean;
}

/**
 * Parses and validates the environment. Throws `ConfigError` listing every wrong variable.
 * Pure: reads only `env` (and the Temporal config file it points at, if any).
 */
export function loadConfig(env: Env = process.env, options: LoadConfigOptions = {}): Config {
  const clean = cleanEnv(env);
  const issues: ConfigIssue[] = [];
  const parsed: Record<string, unknown> = {};

  for (const [variable, spec] of Object.entries(SPECS) as [string, VarSpec][]) {
    const raw = clean[variable];
    const result = spec.schema.safeParse(raw);
    if (result.success) {
      parsed[variable] = result.data;
    } else {
      const problem = [...new Set(result.error.issues.map((i) => i.message))].join('; ') || 'is invalid';
      issues.push({ variable, problem: `${show(variable, raw ?? '')} ${problem}`, fix: spec.fix });
    }
  }
  const p = parsed as Partial<Parsed>;
  const bad = new Set(issues.map((i) => i.variable));

  const useAwsIot = p.USE_AWS_IOT ?? true;
  const useMockData = p.USE_MOCK_DATA ?? false;
  const mode: IotMode = useMockData ? 'mock' : useAwsIot ? 'aws' : 'disabled';

  // ENCRYPTION_KEY is required only when real private keys are created and stored.
  if (!bad.has('ENCRYPTION_KEY') && p.ENCRYPTION_KEY === undefined) {
    if (mode === 'aws' && options.requireEncryptionKey !== false) {
      issues.push({
        variable: 'ENCRYPTION_KEY',
        problem:
          'is not set, but AWS IoT is enabled (USE_AWS_IOT=true, USE_MOCK_DATA=false) and device private keys are stored encrypted with it',
        fix: `set it to at least ${MIN_ENCRYPTION_KEY_LENGTH} random characters (generate one with ${GENERATE_KEY_HINT}), or set USE_AWS_IOT=false or USE_MOCK_DATA=true`,
      });
    } else if ((p.ENCRYPTION_KEYS_PREVIOUS?.length ?? 0) > 0) {
      issues.push({
        variable: 'ENCRYPTION_KEY',
        problem:
          'is not set, but ENCRYPTION_KEYS_PREVIOUS is: previous keys only make sense next to a current key',
        fix: 'set ENCRYPTION_KEY to the new key, or unset ENCRYPTION_KEYS_PREVIOUS',
      });
    }
  }

  // The ATS endpoint names its region: a mismatch means things and data plane in different regions.
  const region = p.AWS_REGION ?? 'us-east-1';
  const endpointRegion = p.AWS_IOT_ENDPOINT ? ATS_HOST_RE.exec(p.AWS_IOT_ENDPOINT)?.[1] : undefined;
  if (endpointRegion && !bad.has('AWS_REGION') && endpointRegion !== region) {
    issues.push({
      variable: 'AWS_IOT_ENDPOINT',
      problem: `${show('AWS_IOT_ENDPOINT', p.AWS_IOT_ENDPOINT ?? '')} is in region ${endpointRegion} but AWS_REGION is ${region}`,
      fix: `use the ATS endpoint of ${region} (aws iot describe-endpoint --endpoint-type iot:Data-ATS --region ${region}) or set AWS_REGION=${endpointRegion}`,
    });
  }
  const queueRegion = p.AWS_SQS_QUEUE_URL
    ? /^sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(new URL(p.AWS_SQS_QUEUE_URL).hostname)?.[1]
    : undefined;
  if (queueRegion && !bad.has('AWS_REGION') && queueRegion !== region) {
    issues.push({
      variable: 'AWS_SQS_QUEUE_URL',
      problem: `${show('AWS_SQS_QUEUE_URL', p.AWS_SQS_QUEUE_URL ?? '')} is in region ${queueRegion} but AWS_REGION is ${region}`,
      fix: `create the queue in ${region} and use its URL, or set AWS_REGION=${queueRegion}`,
    });
  }

  // Temporal connection (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*,
  // TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE...) through the SDK's own envconfig loader.
  let temporal: ClientConnectConfig | undefined;
  if (!bad.has('TEMPORAL_ADDRESS') && !bad.has('TEMPORAL_TLS')) {
    try {
      temporal = loadClientConnectConfig({ overrideEnvVars: clean });
    } catch (err) {
      issues.push(temporalIssue(err, clean));
    }
  }

  if (issues.length > 0) throw new ConfigError(issues);
  const v = p as Parsed;
  const t = temporal as ClientConnectConfig;
  const address = t.connectionOptions.address ?? 'localhost:7233';

  return deepFreeze({
    aws: {
      region: v.AWS_REGION,
      iotEndpoint: v.AWS_IOT_ENDPOINT,
      iotRoleArn: v.AWS_IOT_ROLE_ARN,
      sqsQueueUrl: v.AWS_SQS_QUEUE_URL,
      sqsQueueIsFifo: v.AWS_SQS_QUEUE_URL?.endsWith('.fifo') ?? false,
      endpointUrl: v.AWS_ENDPOINT_URL,
    },
    iot: {
      useAwsIot,
      useMockData,
      mode,
      certificateMode: v.CERTIFICATE_MODE,
      topicRuleMode: v.TOPIC_RULE_MODE,
      policyMode: v.POLICY_MODE,
    },
    encryption: hideSecrets({ currentKey: v.ENCRYPTION_KEY, previousKeys: v.ENCRYPTION_KEYS_PREVIOUS }),
    logLevel: v.LOG_LEVEL,
    databaseUrl: v.DATABASE_URL,
    port: v.PORT,
    temporal: {
      taskQueue: v.TEMPORAL_TASK_QUEUE,
      namespace: t.namespace ?? 'default',
      address,
      addressConfigured: t.connectionOptions.address !== undefined,
      connectionOptions: hideSecrets({ ...t.connectionOptions, address }),
    },
  });
}

function temporalIssue(err: unknown, env: Record<string, string>): ConfigIssue {
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
  const path = (err as { path?: unknown })?.path;
  if (/Profile '.*' not found/.test(message ?? '')) {
    return {
      variable: 'TEMPORAL_PROFILE',
      problem: `${show('TEMPORAL_PROFILE', env.TEMPORAL_PROFILE ?? '')} names a profile that the Temporal config file does not have`,
      fix: 'use a profile defined in the file (`temporal config list`), or unset TEMPORAL_PROFILE',
    };
  }
  if (typeof path === 'string') {
    const variable =
      Object.entries(env).find(([k, v]) => k.startsWith('TEMPORAL_') && v === path)?.[0] ??
      'TEMPORAL_CONFIG_FILE';
    return {
      variable,
      problem: `${show(variable, path)} cannot be read (${(err as { code?: string }).code ?? 'error'})`,
      fix: 'point it at an existing, readable file, or unset it',
    };
  }
  return {
    variable: 'TEMPORAL_CONFIG_FILE',
    problem: `the Temporal client config could not be loaded: ${message}`,
    fix: 'fix the TOML file named by TEMPORAL_CONFIG_FILE (default ~/.config/temporalio/temporal.toml), or unset TEMPORAL_CONFIG_FILE',
  };
}

/**
 * Makes the object's secret-bearing fields invisible to JSON.stringify, util.inspect and pino,
 * while leaving them readable as ordinary properties.
 */
function hideSecrets<T extends object>(obj: T): T {
  const redacted = () => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) {
      const secret = /key|secret|password|token|auth|tls|metadata/i.test(k);
      const empty = v === undefined || typeof v === 'boolean' || (Array.isArray(v) && v.length === 0);
      out[k] = secret && !empty ? '[redacted]' : v;
    }
    return out;
  };
  Object.defineProperty(obj, 'toJSON', { value: redacted, enumerable: false });
  Object.defineProperty(obj, inspect.custom, { value: redacted, enumerable: false });
  return obj;
}

function deepFreeze<T>(obj: T): T {
  if (obj && typeof obj === 'object' && !Object.isFrozen(obj)) {
    Object.freeze(obj);
    for (const v of Object.values(obj)) deepFreeze(v);
  }
  return obj;
}

/** As the seed: IoT provisioning runs when USE_AWS_IOT is on and a region is set, or in mock mode. */
export function isAwsIotEnabled(config: Config): boolean {
  if (config.iot.mode === 'mock') return true;
  return config.iot.mode === 'aws' && config.aws.region !== '';
}

/**
 * Resolves AWS credentials through the SDK default provider chain (no call to AWS), so start-up
 * can degrade gracefully (seed behaviour) with a clear reason instead of failing every provision.
 */
export async function checkAwsCredentials(
  config: Config,
): Promise<{ ok: true } | { ok: false; problem: string }> {
  if (config.iot.mode !== 'aws') return { ok: true };
  const { IoTClient } = await import('@aws-sdk/client-iot');
  const client = new IoTClient({ region: config.aws.region, endpoint: config.aws.endpointUrl });
  try {
    const creds = await client.config.credentials();
    return creds.accessKeyId
      ? { ok: true }
      : { ok: false, problem: 'the provider chain returned no access key' };
  } catch (err) {
    return {
      ok: false,
      problem: `no AWS credentials found by the SDK default provider chain (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); configure a profile (AWS_PROFILE / aws sso login), a role, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
    };
  } finally {
    client.destroy();
  }
}

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

/** `loadConfig(process.env)`, once per process. For the seed-compatible helpers; prefer injection. */
export function getConfig(): Config {
  cached ??= loadConfig(process.env);
  return cached;
}
