/**
 * The environment `npm start` gives its children (tools/stack/child-env.ts) when it runs its own
 * Temporal dev server: an operator's shell set up for Temporal Cloud (an API key, mTLS files, a
 * namespace, a profile, a default profile in the Temporal config file) must neither reach the
 * worker and the API nor change where and how they connect: the local dev server, namespace
 * `default`, no TLS, no key.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { childEnvironment, LOCAL_TEMPORAL_CONFIG, withLocalTemporal } from '../../tools/stack/child-env.js';

const CLOUD_KEY = 'cloud-api-key-of-production-0123456789';
let dir = '';
let cloudShell: Record<string, string>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'solar-iot-child-env-'));
  const toml = join(dir, 'temporal.toml');
  await writeFile(
    toml,
    `[profile.default]\naddress = "prod.a1b2c.tmprl.cloud:7233"\nnamespace = "prod.a1b2c"\napi_key = "${CLOUD_KEY}"\n`,
  );
  await writeFile(join(dir, 'client.pem'), 'not a certificate');
  cloudShell = {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    TEMPORAL_CONFIG_FILE: toml,
    TEMPORAL_API_KEY: CLOUD_KEY,
    TEMPORAL_NAMESPACE: 'prod.a1b2c',
    TEMPORAL_TLS: 'true',
    TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'client.pem'),
    TEMPORAL_TLS_CLIENT_KEY_PATH: join(dir, 'client.pem'),
    TEMPORAL_GRPC_META_AUTHORIZATION: `Bearer ${CLOUD_KEY}`,
    // The stack's own settings, which must stay.
    TEMPORAL_TASK_QUEUE: 'solar-iot',
    TEMPORAL_CODEC_KEYS: `k1:${'ab'.repeat(32)}`,
  };
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('npm start with its own Temporal dev server', () => {
  it("gives the worker and the API no Temporal Cloud setting of the user's shell or config file", async () => {
    const local = join(dir, 'local-client.toml');
    await writeFile(local, LOCAL_TEMPORAL_CONFIG);
    const env = withLocalTemporal({ ...cloudShell }, '127.0.0.1:7233', local);
    for (const app of ['worker', 'api'] as const) {
      const child = childEnvironment(app, env);
      expect(JSON.stringify(child), app).not.toContain(CLOUD_KEY);
      expect(child.TEMPORAL_ADDRESS, app).toBe('127.0.0.1:7233');
      expect(child.TEMPORAL_TASK_QUEUE, app).toBe('solar-iot');
      expect(child.TEMPORAL_CODEC_KEYS, app).toBe(cloudShell.TEMPORAL_CODEC_KEYS);
      for (const k of Object.keys(child))
        expect(k, app).not.toMatch(/^TEMPORAL_(API_KEY|NAMESPACE|TLS|GRPC_META_|PROFILE)/);
      // What the process makes of it: the dev server, plainly, in namespace default.
      const t = loadConfig({ ...child, ENCRYPTION_KEY: randomBytes(32).toString('hex') }).temporal;
      expect(t.address, app).toBe('127.0.0.1:7233');
      expect(t.namespace, app).toBe('default');
      expect(t.connectionOptions.apiKey, app).toBeUndefined();
      expect(t.connectionOptions.tls ?? false, app).toBe(false);
      expect(t.connectionOptions.metadata ?? {}, app).toEqual({});
    }
  });
});
