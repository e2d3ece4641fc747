/**
 * vitest globalSetup: ONE of each real server per test run, on free ports, torn down afterwards.
 *
 *   moto                  AWS IoT + IoT data + SQS           AWS_ENDPOINT_URL (+ region, `test` keys)
 *   PostgreSQL            fresh temp data dir, migrated      DATABASE_URL
 *   Temporal dev server   in memory, PlantId and IotStatus    TEMPORAL_ADDRESS
 *                         search attributes, Web UI whose    inject('webUi')
 *                         codec endpoint is set as by `npm start`
 *   Java test server      `existing-path` executable         TEMPORAL_TEST_SERVER_PATH
 *
 * Values reach tests twice: `inject('stack')` (typed, test/support/env.ts) and process.env of the
 * test workers (vitest forks copy the main process' environment, which this file sets before the
 * workers are spawned). A variable already set by the caller (DATABASE_URL, TEMPORAL_ADDRESS,
 * AWS_ENDPOINT_URL) replaces the matching server, which is then not started.
 *
 * webUi (inject only): the dev server's Web UI, pointed like `npm start`'s at a codec server on
 * codecPort with the token in codecTokenFile (tools/stack/start.ts); the test that uses it starts
 * that codec server (test/stack/web-ui.test.ts). null when TEMPORAL_ADDRESS is given.
 *
 * MOTO_IOT_CA_FILE (process.env only): the PEM of the CA that signs our moto's
 * CreateCertificateFromCsr certificates (startMoto's iotCaFile), for tests that verify them.
 * With AWS_ENDPOINT_URL from the caller, the caller's MOTO_IOT_CA_FILE (if any) is kept.
 *
 * TEMPORAL_TEST_SERVER_PATH: by default the cached wrapper that starts a fresh JVM for each
 * TestWorkflowEnvironment (about 0.5 s with its class-data archive, 1.5 s on a loaded machine,
 * inside the SDK's 5 s window). SOLAR_IOT_TEST_SERVER=shared starts one Java server for the run
 * and hands out a TCP relay instead (no JVM start per environment; environments share one clock).
 */
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { localCodecUiEndpoint } from '../../src/codec/local.js';
import {
  type Component,
  MOTO_ACCOUNT_ID,
  MOTO_CREDENTIALS,
  startMoto,
  startPostgres,
  startSharedTestServer,
  startTemporalDevServer,
} from '../../tools/stack/components.js';
import { freePort } from '../../tools/stack/processes.js';
import { ensureTools, formatToolError } from '../../tools/stack/tools.js';
import { STACK_ENV_KEYS, type StackEnv, TEST_ENCRYPTION_KEY, type WebUiEnv } from './env.js';

const MIGRATE_MODULE = fileURLToPath(new URL('../../src/db/migrate.ts', import.meta.url));

/** Applies the migrations with the same code as `npm start` (src/db/migrate.ts). */
async function migrate(databaseUrl: string): Promise<void> {
  if (!existsSync(MIGRATE_MODULE)) {
    console.warn('[global-setup] src/db/migrate.ts not found: the test database has no tables');
    return;
  }
  const mod = (await import(MIGRATE_MODULE)) as { migrateDatabase?: (url: string) => Promise<void> };
  if (typeof mod.migrateDatabase !== 'function')
    throw new Error('src/db/migrate.ts does not export migrateDatabase');
  await mod.migrateDatabase(databaseUrl);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = Date.now();
  const external = {
    temporal: process.env.TEMPORAL_ADDRESS,
    db: process.env.DATABASE_URL,
    aws: process.env.AWS_ENDPOINT_URL,
  };
  const shared = process.env.SOLAR_IOT_TEST_SERVER === 'shared';

  let tools: Awaited<ReturnType<typeof ensureTools>>;
  try {
    tools = await ensureTools({
      temporalCli: !external.temporal,
      testServer: true,
      moto: !external.aws,
      postgres: !external.db,
    });
  } catch (err) {
    const line = formatToolError(err);
    if (line === undefined) throw err;
    // One line, no stack trace: vitest prints the message of what we throw.
    const clean = new Error(line);
    clean.stack = line;
    throw clean;
  }

  const workDir = await mkdtemp(join(tmpdir(), 'solar-iot-test-'));
  // PostgreSQL runs as user `postgres` when we are root: it must be able to traverse this folder.
  await chmod(workDir, 0o711);
  const running: Component[] = [];
  const teardown = async () => {
    for (const c of running.reverse())
      await c.stop().catch((err: unknown) => console.error(`[global-setup] ${c.name}: ${err}`));
    if (!process.env.SOLAR_IOT_KEEP_TEST_DIR) await rm(workDir, { recursive: true, force: true });
    else console.log(`[global-setup] kept ${workDir}`);
  };

  try {
    const track = <C extends Component>(c: C): C => {
      running.push(c);
      return c;
    };
    // The Web UI costs the dev server nothing until a browser loads it; its codec endpoint is made
    // by the same function as npm start's (token file beside the other throw-away state).
    const webUi: WebUiEnv | null = external.temporal
      ? null
      : { url: '', codecPort: await freePort(), codecTokenFile: join(workDir, 'codec-server.token') };
    // allSettled: when one fails, the others must still finish starting so teardown stops them.
    const results = await Promise.allSettled([
      external.db || !tools.postgres
        ? undefined
        : startPostgres({
            binaries: tools.postgres,
            dataDir: join(workDir, 'postgres'),
            port: await freePort(),
            database: 'solar_iot_test',
            logFile: join(workDir, 'postgres.log'),
            fast: true,
          }).then(track),
      external.aws || !tools.motoServer
        ? undefined
        : startMoto({
            bin: tools.motoServer,
            port: await freePort(),
            logFile: join(workDir, 'moto.log'),
          }).then(track),
      external.temporal || !tools.temporalCli
        ? undefined
        : startTemporalDevServer({
            tool: tools.temporalCli,
            port: await freePort(),
            uiPort: await freePort(),
            uiCodecEndpoint: webUi
              ? await localCodecUiEndpoint({ tokenFile: webUi.codecTokenFile, port: webUi.codecPort })
              : undefined,
            logFile: join(workDir, 'temporal.log'),
          }).then(track),
      shared && tools.testServer?.kind === 'path'
        ? startSharedTestServer({
            wrapper: tools.testServer.path,
            port: await freePort(),
            workDir,
            logFile: join(workDir, 'temporal-test-server.log'),
          }).then(track)
        : undefined,
    ] as const);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
    const value = <T>(r: PromiseSettledResult<T>): T | undefined =>
      r.status === 'fulfilled' ? r.value : undefined;
    const [pg, moto, temporal, testServer] = [
      value(results[0]),
      value(results[1]),
      value(results[2]),
      value(results[3]),
    ];

    const databaseUrl = external.db ?? pg?.url ?? '';
    await migrate(databaseUrl);

    const stack: StackEnv = {
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: external.temporal ?? temporal?.address ?? '',
      TEMPORAL_TEST_SERVER_PATH:
        testServer?.relayPath ?? (tools.testServer?.kind === 'path' ? tools.testServer.path : ''),
      AWS_ENDPOINT_URL: external.aws ?? moto?.endpoint ?? '',
      AWS_REGION: process.env.AWS_REGION || 'us-east-1',
      // With our own moto, always the dummy keys: a test must never reach real AWS.
      AWS_ACCESS_KEY_ID: moto
        ? MOTO_CREDENTIALS.accessKeyId
        : process.env.AWS_ACCESS_KEY_ID || MOTO_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: moto
        ? MOTO_CREDENTIALS.secretAccessKey
        : process.env.AWS_SECRET_ACCESS_KEY || MOTO_CREDENTIALS.secretAccessKey,
      AWS_IOT_ROLE_ARN:
        process.env.AWS_IOT_ROLE_ARN || `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/solar-iot-iot-rule`,
      ENCRYPTION_KEY: process.env.ENCRYPTION_KEY || TEST_ENCRYPTION_KEY,
    };
    for (const key of STACK_ENV_KEYS) process.env[key] = stack[key];
    if (moto) {
      if (moto.iotCaFile) process.env.MOTO_IOT_CA_FILE = moto.iotCaFile;
      else delete process.env.MOTO_IOT_CA_FILE;
    }
    // Real credential sources must not leak into tests that talk to moto.
    if (moto)
      for (const key of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_WEB_IDENTITY_TOKEN_FILE'])
        delete process.env[key];
    project.provide('stack', stack);
    project.provide('workDir', workDir);
    project.provide('webUi', webUi && temporal?.uiUrl ? { ...webUi, url: temporal.uiUrl } : null);

    console.log(
      `[global-setup] servers up in ${((Date.now() - t0) / 1000).toFixed(1)}s: postgres ${pg ? pg.url : '(DATABASE_URL)'}, moto ${stack.AWS_ENDPOINT_URL}, temporal ${stack.TEMPORAL_ADDRESS}${temporal?.uiUrl ? ` (Web UI ${temporal.uiUrl})` : ''}, test server ${shared ? `shared via relay ${stack.TEMPORAL_TEST_SERVER_PATH}` : stack.TEMPORAL_TEST_SERVER_PATH || 'SDK download'}`,
    );
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}
