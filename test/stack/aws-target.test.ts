/**
 * The explicit real-AWS opt-in of `npm start` (tools/stack/aws-target.ts, issue 13 item 8): who and
 * where come from the SDK's own chain (here a profile whose region is not us-east-1, and moto's
 * STS standing in for AWS through AWS_ENDPOINT_URL_STS); anything but true/false is refused.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  describeRealAws,
  emulatorEnvironment,
  RealAwsOptInError,
  wantsRealAws,
} from '../../tools/stack/aws-target.js';
import { MOTO_ACCOUNT_ID } from '../../tools/stack/components.js';

const saved = { ...process.env };
afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
  Object.assign(process.env, saved);
});

describe('wantsRealAws', () => {
  it('is false unless SOLAR_IOT_REAL_AWS says true, whatever profile or keys the shell has', () => {
    expect(wantsRealAws({ AWS_PROFILE: 'prod', AWS_ACCESS_KEY_ID: 'AKIAREAL' })).toBe(false);
    expect(wantsRealAws({ SOLAR_IOT_REAL_AWS: 'false', AWS_PROFILE: 'prod' })).toBe(false);
    expect(wantsRealAws({ SOLAR_IOT_REAL_AWS: 'true' })).toBe(true);
    expect(wantsRealAws({ SOLAR_IOT_REAL_AWS: '1' })).toBe(true);
  });

  it('refuses a value it does not understand, and real AWS together with an emulator endpoint', () => {
    expect(() => wantsRealAws({ SOLAR_IOT_REAL_AWS: 'yes please' })).toThrow(RealAwsOptInError);
    expect(() =>
      wantsRealAws({ SOLAR_IOT_REAL_AWS: 'true', AWS_ENDPOINT_URL: 'http://127.0.0.1:5000' }),
    ).toThrow(/AWS_ENDPOINT_URL/);
  });
});

describe('emulatorEnvironment', () => {
  it('replaces every credential setting of the user by `test` keys', () => {
    const env = emulatorEnvironment(
      {
        AWS_PROFILE: 'prod',
        AWS_ACCESS_KEY_ID: 'AKIAREAL',
        AWS_SECRET_ACCESS_KEY: 'real',
        AWS_SESSION_TOKEN: 'real',
        AWS_WEB_IDENTITY_TOKEN_FILE: '/var/run/token',
        AWS_REGION: 'eu-west-1',
      },
      'http://127.0.0.1:5000',
    );
    expect(env).toEqual({
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:5000',
      AWS_REGION: 'eu-west-1',
    });
  });
});

describe('emulatorEnvironment, credentials under other names', () => {
  it('drops the legacy AWS_SECURITY_TOKEN and the account id too: the AWS_* prefix passed them to worker, API and ingest', () => {
    const env = emulatorEnvironment(
      {
        AWS_SECURITY_TOKEN: 'real-session-token',
        AWS_ACCOUNT_ID: '210987654321',
        AWS_CREDENTIAL_SCOPE: 'eu-west-1',
      },
      'http://127.0.0.1:5000',
    );
    expect(env).toEqual({
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:5000',
    });
  });
});

describe('emulatorEnvironment for the emulator npm start runs itself', () => {
  it("drops the user's real queue, ATS endpoint and role: a fresh moto has none of them", () => {
    const shell = {
      AWS_PROFILE: 'prod',
      AWS_SQS_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/210987654321/prod-telemetry',
      AWS_SQS_DEAD_LETTER_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/210987654321/prod-telemetry-dlq',
      AWS_IOT_ENDPOINT: 'a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com',
      AWS_IOT_ROLE_ARN: 'arn:aws:iam::210987654321:role/prod-iot-rule',
    };
    const env = emulatorEnvironment(shell, 'http://127.0.0.1:5000', { fresh: true });
    for (const k of [
      'AWS_SQS_QUEUE_URL',
      'AWS_SQS_DEAD_LETTER_QUEUE_URL',
      'AWS_IOT_ENDPOINT',
      'AWS_IOT_ROLE_ARN',
    ])
      expect(env[k], k).toBeUndefined();
    // An emulator the user runs (AWS_ENDPOINT_URL) holds what they created there: kept.
    expect(emulatorEnvironment(shell, 'http://localstack:4566').AWS_SQS_QUEUE_URL).toBe(
      shell.AWS_SQS_QUEUE_URL,
    );
  });
});

describe('describeRealAws', () => {
  it("names the account and takes the region of the SDK's chain (a profile's region, not us-east-1)", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'solar-iot-aws-'));
    try {
      await writeFile(join(dir, 'config'), '[profile solar-ops]\nregion = eu-central-1\n');
      await writeFile(
        join(dir, 'credentials'),
        '[solar-ops]\naws_access_key_id = test\naws_secret_access_key = test\n',
      );
      const moto = process.env.AWS_ENDPOINT_URL as string;
      for (const k of [
        'AWS_REGION',
        'AWS_DEFAULT_REGION',
        'AWS_ACCESS_KEY_ID',
        'AWS_SECRET_ACCESS_KEY',
        'AWS_ENDPOINT_URL',
      ])
        delete process.env[k];
      Object.assign(process.env, {
        AWS_CONFIG_FILE: join(dir, 'config'),
        AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
        AWS_PROFILE: 'solar-ops',
        AWS_ENDPOINT_URL_STS: moto,
      });
      const me = await describeRealAws();
      expect(me.accountId).toBe(MOTO_ACCOUNT_ID);
      expect(me.region).toBe('eu-central-1');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says how to fix a missing region instead of assuming one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'solar-iot-aws-'));
    try {
      await writeFile(join(dir, 'config'), '[profile no-region]\n');
      for (const k of ['AWS_REGION', 'AWS_DEFAULT_REGION']) delete process.env[k];
      Object.assign(process.env, { AWS_CONFIG_FILE: join(dir, 'config'), AWS_PROFILE: 'no-region' });
      await expect(describeRealAws()).rejects.toThrow(/no AWS region is configured/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
