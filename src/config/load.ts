/**
 * `loadConfig()` either returns a typed, frozen `Config` or throws a `ConfigError` whose message
 * has one line per wrong variable: its name, what is wrong with the value, and how to fix it.
 * Secret values (ENCRYPTION_KEY, passwords in URLs, Temporal API keys) are never echoed.
 *
 * AWS credentials are NOT configured here: the AWS SDK resolves them through its default
 * provider chain (environment, SSO, shared config, container/instance roles).
 */
import { type ClientConnectConfig, loadClientConnectConfig } from '@temporalio/envconfig';
import { defaultDeadLetterQueueUrl } from './aws.js';
import { cleanEnv, type Env, show } from './env.js';
import { ConfigError, type ConfigIssue } from './error.js';
import { deepFreeze, hideSecrets } from './freeze.js';
import {
  ATS_HOST_RE,
  GENERATE_KEY_HINT,
  type Parsed,
  RENAMED_VARIABLES,
  SPECS,
  type VarSpec,
} from './specs.js';
import { type Config, type IotMode, MIN_ENCRYPTION_KEY_LENGTH } from './types.js';

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
  const { parsed: p, issues } = parseVariables(clean);
  const bad = new Set(issues.map((i) => i.variable));
  const mode = iotMode(p);
  issues.push(
    ...encryptionKeyIssues(p, mode, bad, options),
    ...regionIssues(p, bad),
    ...deadLetterQueueIssues(p, bad),
    ...renamedVariableIssues(clean),
  );
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
  return buildConfig(p as Parsed, mode, temporal as ClientConnectConfig);
}

/** Every variable of SPECS through its schema: the values that parse, an issue for each that does not. */
function parseVariables(clean: Record<string, string>): { parsed: Partial<Parsed>; issues: ConfigIssue[] } {
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
  return { parsed: parsed as Partial<Parsed>, issues };
}

/** A variable set under a former name (RENAMED_VARIABLES), which nothing reads any more. */
function renamedVariableIssues(clean: Record<string, string>): ConfigIssue[] {
  return Object.entries(RENAMED_VARIABLES)
    .filter(([former]) => clean[former] !== undefined)
    .map(([former, current]) => ({
      variable: former,
      problem: `${show(former, clean[former] ?? '')} is no longer read: it was replaced by ${current}`,
      fix:
        clean[current] === undefined
          ? `rename it: ${current}=${clean[former]}`
          : `remove it (${current} is set and is the one read)`,
    }));
}

/** Mock wins over aws; `disabled` = graceful degradation, plants get no IoT identity. */
function iotMode(p: Partial<Parsed>): IotMode {
  return (p.USE_MOCK_DATA ?? false) ? 'mock' : (p.USE_AWS_IOT ?? true) ? 'aws' : 'disabled';
}

/** ENCRYPTION_KEY is required only when real private keys are created and stored. */
function encryptionKeyIssues(
  p: Partial<Parsed>,
  mode: IotMode,
  bad: ReadonlySet<string>,
  options: LoadConfigOptions,
): ConfigIssue[] {
  if (bad.has('ENCRYPTION_KEY') || p.ENCRYPTION_KEY !== undefined) return [];
  if (mode === 'aws' && options.requireEncryptionKey !== false) {
    return [
      {
        variable: 'ENCRYPTION_KEY',
        problem:
          'is not set, but AWS IoT is enabled (USE_AWS_IOT=true, USE_MOCK_DATA=false) and device private keys are stored encrypted with it',
        fix: `set it to at least ${MIN_ENCRYPTION_KEY_LENGTH} random characters (generate one with ${GENERATE_KEY_HINT}), or set USE_AWS_IOT=false or USE_MOCK_DATA=true`,
      },
    ];
  }
  if ((p.ENCRYPTION_KEYS_PREVIOUS?.length ?? 0) > 0) {
    return [
      {
        variable: 'ENCRYPTION_KEY',
        problem:
          'is not set, but ENCRYPTION_KEYS_PREVIOUS is: previous keys only make sense next to a current key',
        fix: 'set ENCRYPTION_KEY to the new key, or unset ENCRYPTION_KEYS_PREVIOUS',
      },
    ];
  }
  return [];
}

/** The ATS endpoint and the queue URL name their region: a mismatch splits the plant over two regions. */
function regionIssues(p: Partial<Parsed>, bad: ReadonlySet<string>): ConfigIssue[] {
  if (bad.has('AWS_REGION')) return [];
  const issues: ConfigIssue[] = [];
  const region = p.AWS_REGION ?? 'us-east-1';
  const endpointRegion = p.AWS_IOT_ENDPOINT ? ATS_HOST_RE.exec(p.AWS_IOT_ENDPOINT)?.[1] : undefined;
  if (endpointRegion && endpointRegion !== region) {
    issues.push({
      variable: 'AWS_IOT_ENDPOINT',
      problem: `${show('AWS_IOT_ENDPOINT', p.AWS_IOT_ENDPOINT ?? '')} is in region ${endpointRegion} but AWS_REGION is ${region}`,
      fix: `use the ATS endpoint of ${region} (aws iot describe-endpoint --endpoint-type iot:Data-ATS --region ${region}) or set AWS_REGION=${endpointRegion}`,
    });
  }
  for (const variable of ['AWS_SQS_QUEUE_URL', 'AWS_SQS_DEAD_LETTER_QUEUE_URL'] as const) {
    const url = p[variable];
    const queueRegion = url
      ? /^sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(new URL(url).hostname)?.[1]
      : undefined;
    if (queueRegion && queueRegion !== region) {
      issues.push({
        variable,
        problem: `${show(variable, url ?? '')} is in region ${queueRegion} but AWS_REGION is ${region}`,
        fix: `create the queue in ${region} and use its URL, or set AWS_REGION=${queueRegion}`,
      });
    }
  }
  return issues;
}

/** A dead-letter queue that is the telemetry queue would feed failures back into what failed. */
function deadLetterQueueIssues(p: Partial<Parsed>, bad: ReadonlySet<string>): ConfigIssue[] {
  const url = p.AWS_SQS_DEAD_LETTER_QUEUE_URL;
  if (bad.has('AWS_SQS_DEAD_LETTER_QUEUE_URL') || !url || url !== p.AWS_SQS_QUEUE_URL) return [];
  return [
    {
      variable: 'AWS_SQS_DEAD_LETTER_QUEUE_URL',
      problem: `${show('AWS_SQS_DEAD_LETTER_QUEUE_URL', url)} is the telemetry queue itself (AWS_SQS_QUEUE_URL)`,
      fix: "use a queue of its own for the rule's failed deliveries, or unset it for the telemetry queue's name with -dlq",
    },
  ];
}

function buildConfig(v: Parsed, mode: IotMode, t: ClientConnectConfig): Config {
  const address = t.connectionOptions.address ?? 'localhost:7233';
  return deepFreeze({
    aws: {
      region: v.AWS_REGION,
      iotEndpoint: v.AWS_IOT_ENDPOINT,
      iotRoleArn: v.AWS_IOT_ROLE_ARN,
      sqsQueueUrl: v.AWS_SQS_QUEUE_URL,
      sqsQueueIsFifo: v.AWS_SQS_QUEUE_URL?.endsWith('.fifo') ?? false,
      deadLetterQueueUrl: v.AWS_SQS_DEAD_LETTER_QUEUE_URL ?? defaultDeadLetterQueueUrl(v.AWS_SQS_QUEUE_URL),
      endpointUrl: v.AWS_ENDPOINT_URL,
    },
    iot: {
      useAwsIot: v.USE_AWS_IOT,
      useMockData: v.USE_MOCK_DATA,
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
