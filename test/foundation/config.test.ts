/** Configuration: defaults, every invalid variable reported on its own line, no secret echoed. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadApiConfig, loadClientConfig, loadIngestConfig, loadWorkerConfig } from '../../src/app/config.js';
import {
  type Config,
  ConfigError,
  isAwsIotEnabled,
  loadConfig,
  summarizeConfig,
} from '../../src/config/index.js';

const KEY = `${'k3y-'.repeat(8)}for-config-tests`; // 48 characters
/** No HOME: the Temporal loader must not pick up a developer's ~/.config/temporalio/temporal.toml. */
const base = { ENCRYPTION_KEY: KEY };

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(Object.keys(env))}`);
}

describe('loadConfig: defaults', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(base);
    expect(c.aws).toEqual({
      region: 'us-east-1',
      iotEndpoint: undefined,
      iotRoleArn: undefined,
      sqsQueueUrl: undefined,
      sqsQueueIsFifo: false,
      deadLetterQueueUrl: undefined,
      endpointUrl: undefined,
    });
    expect(c.iot).toEqual({
      useAwsIot: true,
      useMockData: false,
      mode: 'aws',
      certificateMode: 'csr',
      topicRuleMode: 'shared',
      policyMode: 'shared',
    });
    expect(c.logLevel).toBe('info');
    expect(c.port).toBe(3000);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.temporal.taskQueue).toBe('solar-iot');
    expect(c.temporal.address).toBe('localhost:7233');
    expect(c.temporal.addressConfigured).toBe(false);
    expect(c.temporal.namespace).toBe('default');
    expect(c.encryption.currentKey).toBe(KEY);
    expect(c.encryption.previousKeys).toEqual([]);
    expect(Object.isFrozen(c.aws)).toBe(true);
  });

  it('parses a full, valid environment', () => {
    const c = loadConfig({
      AWS_REGION: 'eu-west-1',
      AWS_IOT_ENDPOINT: 'A1B2C3D4E5-ats.iot.eu-west-1.amazonaws.com',
      AWS_IOT_ROLE_ARN: 'arn:aws:iam::123456789012:role/service-role/IoTToSQSRole',
      AWS_SQS_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/solar-plant-data.fifo',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:5000',
      ENCRYPTION_KEY: KEY,
      ENCRYPTION_KEYS_PREVIOUS: ` ${'a'.repeat(20)}${'b'.repeat(20)}, ${'0123456789abcdef'.repeat(2)} `,
      USE_AWS_IOT: '1',
      USE_MOCK_DATA: 'FALSE',
      LOG_LEVEL: 'debug',
      DATABASE_URL: 'postgresql://app:s3cret@db.internal:5432/solar',
      PORT: '8080',
      TEMPORAL_TASK_QUEUE: 'solar-iot-eu',
      CERTIFICATE_MODE: 'create-keys',
      TOPIC_RULE_MODE: 'per-plant',
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_NAMESPACE: 'solar',
    });
    expect(c.aws.region).toBe('eu-west-1');
    expect(c.aws.iotEndpoint).toBe('a1b2c3d4e5-ats.iot.eu-west-1.amazonaws.com');
    expect(c.aws.sqsQueueIsFifo).toBe(true);
    // No default dead-letter queue beside a FIFO queue: no IoT rule can feed one.
    expect(c.aws.deadLetterQueueUrl).toBeUndefined();
    expect(c.encryption.previousKeys).toHaveLength(2);
    expect(c.iot).toMatchObject({ mode: 'aws', certificateMode: 'create-keys', topicRuleMode: 'per-plant' });
    expect(c.logLevel).toBe('debug');
    expect(c.port).toBe(8080);
    expect(c.temporal).toMatchObject({
      address: 'temporal.internal:7233',
      addressConfigured: true,
      namespace: 'solar',
      taskQueue: 'solar-iot-eu',
    });
    expect(c.temporal.connectionOptions.address).toBe('temporal.internal:7233');
  });

  it('treats empty values (FOO= in a .env file) as unset', () => {
    const c = loadConfig({ ...base, AWS_REGION: '', PORT: ' ', AWS_IOT_ROLE_ARN: '' });
    expect(c.aws.region).toBe('us-east-1');
    expect(c.port).toBe(3000);
    expect(c.aws.iotRoleArn).toBeUndefined();
  });

  it('accepts only true/false/1/0 as booleans', () => {
    for (const [raw, value] of [
      ['true', true],
      ['1', true],
      ['TRUE', true],
      ['false', false],
      ['0', false],
    ] as const) {
      expect(loadConfig({ ...base, USE_MOCK_DATA: raw }).iot.useMockData).toBe(value);
    }
    for (const raw of ['yes', 'no', 'on', 'off', '2', 't']) {
      expect(configError({ ...base, USE_MOCK_DATA: raw }).issues.map((i) => i.variable)).toEqual([
        'USE_MOCK_DATA',
      ]);
    }
  });

  it('names the dead-letter queue after the telemetry queue unless AWS_SQS_DEAD_LETTER_QUEUE_URL says otherwise', () => {
    const queue = 'https://sqs.us-east-1.amazonaws.com/123456789012/solar-plant-data';
    expect(loadConfig({ ...base, AWS_SQS_QUEUE_URL: queue }).aws.deadLetterQueueUrl).toBe(`${queue}-dlq`);
    const own = 'https://sqs.us-east-1.amazonaws.com/123456789012/telemetry-failures';
    expect(
      loadConfig({ ...base, AWS_SQS_QUEUE_URL: queue, AWS_SQS_DEAD_LETTER_QUEUE_URL: own }).aws
        .deadLetterQueueUrl,
    ).toBe(own);
    const same = configError({ ...base, AWS_SQS_QUEUE_URL: queue, AWS_SQS_DEAD_LETTER_QUEUE_URL: queue });
    expect(same.message).toMatch(/^AWS_SQS_DEAD_LETTER_QUEUE_URL: .* is the telemetry queue itself.*Fix: /);
  });

  it('requires no AWS credentials variables', () => {
    const c = loadConfig(base);
    expect(c.iot.mode).toBe('aws');
  });
});

describe('loadConfig: each invalid variable gets its own line', () => {
  const cases: [variable: string, value: string, problem: RegExp][] = [
    ['AWS_REGION', 'mars-1', /"mars-1" is not an AWS region code/],
    [
      'AWS_IOT_ENDPOINT',
      'https://abc-ats.iot.us-east-1.amazonaws.com',
      /must be a bare host name, not a URL/,
    ],
    ['AWS_IOT_ENDPOINT', 'abc.iot.us-east-1.amazonaws.com', /legacy \(VeriSign\) endpoint/],
    [
      'AWS_IOT_ENDPOINT',
      'abc-ats.iot.eu-west-1.amazonaws.com',
      /in region eu-west-1 but AWS_REGION is us-east-1/,
    ],
    ['AWS_IOT_ROLE_ARN', 'arn:aws:iam::123456789012:user/alice', /is not an IAM role ARN/],
    ['AWS_IOT_ROLE_ARN', 'IoTToSQSRole', /is not an IAM role ARN/],
    ['AWS_SQS_QUEUE_URL', 'solar-plant-data-queue', /is not an http\(s\) URL/],
    [
      'AWS_SQS_QUEUE_URL',
      'https://sqs.eu-west-1.amazonaws.com/123456789012/q',
      /in region eu-west-1 but AWS_REGION is us-east-1/,
    ],
    ['AWS_SQS_DEAD_LETTER_QUEUE_URL', 'solar-plant-data-dlq', /is not an http\(s\) URL/],
    [
      'AWS_SQS_DEAD_LETTER_QUEUE_URL',
      'https://sqs.us-east-1.amazonaws.com/123456789012/failures.fifo',
      /is a FIFO queue/,
    ],
    [
      'AWS_SQS_DEAD_LETTER_QUEUE_URL',
      'https://sqs.eu-west-1.amazonaws.com/123456789012/failures',
      /in region eu-west-1 but AWS_REGION is us-east-1/,
    ],
    ['AWS_ENDPOINT_URL', 'localhost:5000', /is not an http\(s\) URL/],
    ['ENCRYPTION_KEY', 'too-short', /shorter than 32 characters/],
    ['ENCRYPTION_KEY', 'your-32-character-encryption-key-here', /placeholder/],
    ['ENCRYPTION_KEY', 'a'.repeat(40), /fewer than 8 distinct characters/],
    ['ENCRYPTION_KEYS_PREVIOUS', `${'x'.repeat(8)}`, /entry 1 of 1 is shorter than 32 characters/],
    ['ENCRYPTION_KEYS_PREVIOUS', `${'0123456789abcdef'.repeat(2)},,`, /entry 2 of 3 is empty/],
    ['USE_AWS_IOT', 'yes', /"yes" is not a boolean/],
    ['USE_MOCK_DATA', 'enabled', /"enabled" is not a boolean/],
    ['LOG_LEVEL', 'verbose', /"verbose" is not a log level/],
    ['DATABASE_URL', 'mysql://localhost/solar', /is not a PostgreSQL URL/],
    ['DATABASE_URL', 'localhost:5432', /is not a PostgreSQL URL/],
    ['PORT', 'http', /is not a whole number/],
    ['PORT', '70000', /is out of range/],
    ['PORT', '0', /is out of range/],
    ['TEMPORAL_TASK_QUEUE', 'solar iot', /contains whitespace/],
    ['CERTIFICATE_MODE', 'generate', /"generate" is not a certificate mode/],
    ['TOPIC_RULE_MODE', 'each', /"each" is not a topic rule mode/],
    ['TEMPORAL_ADDRESS', 'http://localhost:7233', /must be host:port, not a URL/],
    ['TEMPORAL_ADDRESS', 'localhost', /is not host:port/],
    ['TEMPORAL_TLS', 'sometimes', /is not a boolean/],
  ];

  it.each(cases)('%s=%s', (variable, value, problem) => {
    const err = configError({ ...base, [variable]: value });
    const lines = err.message.split('\n');
    expect(lines).toHaveLength(1);
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]?.variable).toBe(variable);
    expect(lines[0]).toMatch(new RegExp(`^${variable}: `));
    expect(lines[0]).toMatch(problem);
    expect(lines[0]).toMatch(/\. Fix: \S/);
  });

  it('reports every wrong variable at once, one line each', () => {
    const err = configError({
      AWS_REGION: 'nowhere',
      USE_AWS_IOT: 'maybe',
      PORT: '-1',
      LOG_LEVEL: 'loud',
      DATABASE_URL: 'nope',
      ENCRYPTION_KEY: 'short',
      CERTIFICATE_MODE: 'x',
    });
    const lines = err.message.split('\n');
    expect(lines.map((l) => l.split(':')[0]).sort()).toEqual(
      [
        'AWS_REGION',
        'CERTIFICATE_MODE',
        'DATABASE_URL',
        'ENCRYPTION_KEY',
        'LOG_LEVEL',
        'PORT',
        'USE_AWS_IOT',
      ].sort(),
    );
    for (const line of lines) expect(line).toContain('Fix: ');
  });

  it('refuses a renamed variable, naming it and its replacement, in every process that reads the config', () => {
    // Set, the old name would be ignored without a word: a certificate-age report on 365 days
    // while the operator believes it runs on theirs.
    const env = { ...base, ROTATION_MAX_AGE_DAYS: '90' };
    const err = configError(env);
    expect(err.issues.map((i) => i.variable)).toEqual(['ROTATION_MAX_AGE_DAYS']);
    expect(err.message).toMatch(
      /^ROTATION_MAX_AGE_DAYS: .*replaced by CERTIFICATE_MAX_AGE_DAYS.*\. Fix: .*CERTIFICATE_MAX_AGE_DAYS=90/,
    );
    for (const load of [loadWorkerConfig, loadApiConfig, loadClientConfig, loadIngestConfig]) {
      expect(
        () =>
          load({
            ...env,
            DATABASE_URL: 'postgres://localhost/x',
            AWS_SQS_QUEUE_URL: 'http://localhost:5000/123456789012/q',
          }),
        load.name,
      ).toThrow(/^ROTATION_MAX_AGE_DAYS: .*CERTIFICATE_MAX_AGE_DAYS/m);
    }
    // Unset or empty (`ROTATION_MAX_AGE_DAYS=` left in a .env) changes nothing.
    expect(loadConfig({ ...base, ROTATION_MAX_AGE_DAYS: '' }).iot.mode).toBe('aws');
  });

  it("gives the API the consumer's validation settings, for quarantine replays, and names a wrong one", () => {
    expect(loadApiConfig(base).ingestValidation).toEqual({ maxBodyBytes: 131_072, maxFutureSeconds: 300 });
    const wide = { ...base, INGEST_MAX_FUTURE_SECONDS: '7200', INGEST_MAX_BODY_BYTES: '262144' };
    expect(loadApiConfig(wide).ingestValidation).toEqual({ maxBodyBytes: 262_144, maxFutureSeconds: 7200 });
    // Only what validation reads: the consumer's own knobs (pollers, in-flight bytes) are not the API's.
    expect(loadApiConfig({ ...base, INGEST_POLLERS: 'many' }).ingestValidation.maxFutureSeconds).toBe(300);
    expect(() => loadApiConfig({ ...base, INGEST_MAX_FUTURE_SECONDS: 'soon' })).toThrow(
      /^INGEST_MAX_FUTURE_SECONDS: "soon" is not a whole number\. Fix: /m,
    );
  });

  it('requires ENCRYPTION_KEY only when real AWS IoT is on', () => {
    const err = configError({});
    expect(err.issues.map((i) => i.variable)).toEqual(['ENCRYPTION_KEY']);
    expect(err.message).toMatch(/^ENCRYPTION_KEY: is not set, but AWS IoT is enabled/);
    expect(err.message).toMatch(/USE_AWS_IOT=false or USE_MOCK_DATA=true/);
    expect(loadConfig({ USE_AWS_IOT: 'false' }).iot.mode).toBe('disabled');
    expect(loadConfig({ USE_MOCK_DATA: 'true' }).iot.mode).toBe('mock');
  });

  it('refuses previous keys without a current key', () => {
    const err = configError({ USE_AWS_IOT: 'false', ENCRYPTION_KEYS_PREVIOUS: KEY });
    expect(err.issues.map((i) => i.variable)).toEqual(['ENCRYPTION_KEY']);
    expect(err.message).toMatch(/previous keys only make sense next to a current key/);
  });

  it('names TEMPORAL_PROFILE when the profile does not exist', () => {
    const dir = mkdtempSync(join(tmpdir(), 'solar-iot-config-'));
    const file = join(dir, 'temporal.toml');
    writeFileSync(file, '[profile.default]\naddress = "file.example:7233"\nnamespace = "from-file"\n');
    const c = loadConfig({ ...base, TEMPORAL_CONFIG_FILE: file });
    expect(c.temporal).toMatchObject({
      address: 'file.example:7233',
      namespace: 'from-file',
      addressConfigured: true,
    });
    // the environment overrides the file
    expect(
      loadConfig({ ...base, TEMPORAL_CONFIG_FILE: file, TEMPORAL_ADDRESS: 'env:7233' }).temporal.address,
    ).toBe('env:7233');
    const err = configError({ ...base, TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'staging' });
    expect(err.message).toMatch(
      /^TEMPORAL_PROFILE: "staging" names a profile that the Temporal config file does not have/,
    );
  });

  it('names the Temporal variable that points at a missing file', () => {
    const err = configError({
      ...base,
      TEMPORAL_TLS_CLIENT_CERT_PATH: '/nonexistent/client.pem',
      TEMPORAL_TLS_CLIENT_KEY_PATH: '/nonexistent/client.key',
    });
    expect(err.issues).toHaveLength(1);
    expect(err.message).toMatch(
      /^TEMPORAL_TLS_CLIENT_(CERT|KEY)_PATH: "\/nonexistent\/client\.(pem|key)" cannot be read/,
    );
  });
});

describe('secrets are never echoed', () => {
  const secret = 'Sup3r-S3cret-but-too-short';

  it('hides ENCRYPTION_KEY, previous keys and URL passwords in error messages', () => {
    const err = configError({
      ENCRYPTION_KEY: secret,
      ENCRYPTION_KEYS_PREVIOUS: `${secret},${KEY}`,
      DATABASE_URL: 'mysql://app:Pa55w0rd@db/solar',
      AWS_ENDPOINT_URL: 'ftp://user:Pa55w0rd@host',
    });
    expect(err.message).not.toContain(secret);
    expect(err.message).not.toContain(KEY);
    expect(err.message).not.toContain('Pa55w0rd');
    expect(err.message).toContain(
      `ENCRYPTION_KEY: (value hidden, ${secret.length} characters) is shorter than 32`,
    );
    expect(err.message).toContain('mysql://app:***@db/solar');
  });

  it('keeps keys and API keys out of JSON, util.inspect and the summary', () => {
    const previous = `${'p'.repeat(16) + 'q'.repeat(16)}0123456789`;
    const c: Config = loadConfig({
      ENCRYPTION_KEY: KEY,
      ENCRYPTION_KEYS_PREVIOUS: previous,
      TEMPORAL_API_KEY: 'temporal-api-key-value',
      DATABASE_URL: 'postgres://app:Pa55w0rd@db/solar',
    });
    expect(c.encryption.currentKey).toBe(KEY); // still readable by code
    expect(c.temporal.connectionOptions.apiKey).toBe('temporal-api-key-value');
    for (const text of [JSON.stringify(c), inspect(c, { depth: 10 }), JSON.stringify(summarizeConfig(c))]) {
      expect(text).not.toContain(KEY);
      expect(text).not.toContain(previous);
      expect(text).not.toContain('temporal-api-key-value');
    }
    expect(JSON.stringify(summarizeConfig(c))).not.toContain('Pa55w0rd');
  });
});

describe('isAwsIotEnabled', () => {
  it('follows USE_AWS_IOT and USE_MOCK_DATA', () => {
    expect(isAwsIotEnabled(loadConfig(base))).toBe(true);
    expect(isAwsIotEnabled(loadConfig({ USE_AWS_IOT: 'false' }))).toBe(false);
    expect(isAwsIotEnabled(loadConfig({ USE_AWS_IOT: 'false', USE_MOCK_DATA: 'true' }))).toBe(true);
    expect(loadConfig({ USE_AWS_IOT: 'true', USE_MOCK_DATA: 'true' }).iot.mode).toBe('mock');
  });
});
