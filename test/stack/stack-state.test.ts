/**
 * The state `npm start` leaves for the commands of a second terminal (src/app/stack-state.ts):
 * what a command takes from it and what it leaves to its own environment. The real stack writing
 * and using it is test/stack/start.test.ts.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type StackState, withStackState, writeStackState } from '../../src/app/stack-state.js';

let dir: string;
const PASSWORD = 'p@ss/word:with#specials';

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'solar-iot-state-'));
  for (const [file, value] of [
    ['postgres.password', PASSWORD],
    ['api.token', 'a'.repeat(64)],
    ['encryption.key', 'k'.repeat(64)],
    ['codec.keys', 'c-1:AAAA'],
  ])
    await writeFile(join(dir, file as string), `${value}\n`, { mode: 0o600 });
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

function state(overrides: Partial<StackState> = {}): StackState {
  return {
    version: 1,
    pid: process.pid,
    startedAt: new Date().toISOString(),
    database: {
      url: 'postgres://postgres@127.0.0.1:5544/solar_iot',
      passwordFile: join(dir, 'postgres.password'),
    },
    temporal: { address: '127.0.0.1:7299', own: true, configFile: join(dir, 'client.toml') },
    aws: {
      emulator: true,
      endpoint: 'http://127.0.0.1:5099',
      region: 'us-east-1',
      sqsQueueUrl: 'http://127.0.0.1:5099/123456789012/solar-plant-data',
    },
    api: { url: 'http://127.0.0.1:3099', tokenFile: join(dir, 'api.token') },
    encryptionKeyFile: join(dir, 'encryption.key'),
    codecKeysFile: join(dir, 'codec.keys'),
    settings: { TEMPORAL_TASK_QUEUE: 'stack-queue', POLICY_MODE: 'per-plant' },
    ...overrides,
  };
}

describe('withStackState', () => {
  it('fills an empty environment with the running stack: secrets from their files', async () => {
    await writeStackState(dir, state());
    const { env, from } = await withStackState({
      SOLAR_IOT_DATA_DIR: dir,
      AWS_PROFILE: 'someones-production-account',
      AWS_SESSION_TOKEN: 'real-looking',
      TEMPORAL_API_KEY: 'cloud-key',
      TEMPORAL_NAMESPACE: 'prod.a1b2c',
    });
    expect(from).toBe(join(dir, 'stack.json'));
    expect(new URL(env.DATABASE_URL ?? '').password).toBe(encodeURIComponent(PASSWORD));
    expect(env).toMatchObject({
      TEMPORAL_ADDRESS: '127.0.0.1:7299',
      TEMPORAL_CONFIG_FILE: join(dir, 'client.toml'),
      AWS_ENDPOINT_URL: 'http://127.0.0.1:5099',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_SQS_QUEUE_URL: 'http://127.0.0.1:5099/123456789012/solar-plant-data',
      SOLAR_IOT_API_URL: 'http://127.0.0.1:3099',
      SOLAR_IOT_API_TOKEN_FILE: join(dir, 'api.token'),
      ENCRYPTION_KEY: 'k'.repeat(64),
      TEMPORAL_CODEC_KEYS: 'c-1:AAAA',
      TEMPORAL_TASK_QUEUE: 'stack-queue',
      POLICY_MODE: 'per-plant',
    });
    // As npm start does for its own processes: the shell's cloud settings never reach its stack.
    for (const k of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'TEMPORAL_API_KEY', 'TEMPORAL_NAMESPACE'])
      expect(env, k).not.toHaveProperty(k);
  });

  it('leaves every variable the environment sets, and each group it names, alone', async () => {
    await writeStackState(dir, state());
    const mine = {
      SOLAR_IOT_DATA_DIR: dir,
      DATABASE_URL: 'postgres://me:secret@db.example:5432/x',
      TEMPORAL_ADDRESS: 'temporal.example:7233',
      TEMPORAL_NAMESPACE: 'mine',
      AWS_ENDPOINT_URL: 'http://localstack:4566',
      AWS_PROFILE: 'mine',
      SOLAR_IOT_API_URL: 'https://api.example',
      SOLAR_IOT_API_TOKEN: 'my-token-0123456789',
      ENCRYPTION_KEY: 'm'.repeat(40),
      TEMPORAL_CODEC_KEYS: 'mine:BBBB',
      TEMPORAL_TASK_QUEUE: 'my-queue',
    };
    const { env } = await withStackState(mine);
    expect(env).toMatchObject(mine);
    for (const k of [
      'SOLAR_IOT_API_TOKEN_FILE',
      'TEMPORAL_CONFIG_FILE',
      'AWS_ACCESS_KEY_ID',
      'AWS_SQS_QUEUE_URL',
    ])
      expect(env, k).not.toHaveProperty(k);
    expect(env.POLICY_MODE).toBe('per-plant');
  });

  it('is not used once its npm start is gone, nor when there is none', async () => {
    await writeStackState(dir, state({ pid: 2 ** 22 + 7 }));
    expect((await withStackState({ SOLAR_IOT_DATA_DIR: dir })).from).toBeUndefined();
    const empty = await mkdtemp(join(tmpdir(), 'solar-iot-state-'));
    try {
      expect(await withStackState({ SOLAR_IOT_DATA_DIR: empty })).toEqual({
        env: { SOLAR_IOT_DATA_DIR: empty },
      });
    } finally {
      await rm(empty, { recursive: true });
    }
  });

  it('is not used when its process id now belongs to a process started after it (a reused pid)', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await once(child, 'spawn');
      const anHourAgo = new Date(Date.now() - 3_600_000).toISOString();
      await writeStackState(dir, state({ pid: child.pid as number, startedAt: anHourAgo }));
      expect((await withStackState({ SOLAR_IOT_DATA_DIR: dir })).from).toBeUndefined();
      // The same process named with a start time after its own is the live stack.
      await writeStackState(dir, state({ pid: child.pid as number }));
      expect((await withStackState({ SOLAR_IOT_DATA_DIR: dir })).from).toBeDefined();
    } finally {
      child.kill();
    }
  });

  it('refuses a state file others can read or write: it says where the token goes', async () => {
    await writeStackState(dir, state());
    await chmod(join(dir, 'stack.json'), 0o644);
    await expect(withStackState({ SOLAR_IOT_DATA_DIR: dir })).rejects.toThrow(
      /stack\.json: readable by other users/,
    );
  });
});
