/**
 * The product wired as in production, for API, library and CLI tests: configuration from the
 * environment the global setup provides (moto, PostgreSQL, the Temporal dev server), a worker
 * with the real (or mock) activities on a fresh task queue, and the library instance on top.
 */
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';
import { eq } from 'drizzle-orm';
import { type Activities, createActivities } from '../../src/activities/index.js';
import { buildServer } from '../../src/api/server.js';
import { loadPayloadCodec, loadWorkerPayloadCodec } from '../../src/codec/data-converter.js';
import { type Config, loadConfig } from '../../src/config/index.js';
import { createCipher } from '../../src/crypto/encryption.js';
import { createDb, type DbHandle } from '../../src/db/client.js';
import { plants } from '../../src/db/schema.js';
import { type AwsClients, createAwsClients } from '../../src/iot/clients.js';
import { createLogger, type Logger } from '../../src/logging/index.js';
import { createMockActivities } from '../../src/mock/activities.js';
import { createSolarIot, type SolarIot, type SolarIotDeps } from '../../src/service/solar-iot.js';
import type { WorkerSet } from '../../src/worker/workers.js';
import { awsClientConfig } from './moto.js';
import { installTestRuntime, uniqueTaskQueue } from './temporal.js';
import { type ActivityOverrides, createTestWorkers } from './worker.js';

export type Mode = 'aws' | 'mock' | 'disabled';

/** The standard queue the telemetry rule targets (moto may have been reset by another file). */
export async function ensureQueue(): Promise<string> {
  const sqs = new SQSClient(awsClientConfig());
  try {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'solar-plant-data' }));
    return QueueUrl ?? '';
  } finally {
    sqs.destroy();
  }
}

export const TEST_API_ENCRYPTION_KEY = '0123456789abcdef'.repeat(4);

/** The environment a process of the product would see in this mode. */
export async function envFor(mode: Mode, taskQueue: string, extra: Record<string, string> = {}) {
  return {
    ...process.env,
    TEMPORAL_TASK_QUEUE: taskQueue,
    USE_MOCK_DATA: mode === 'mock' ? 'true' : 'false',
    USE_AWS_IOT: mode === 'disabled' ? 'false' : 'true',
    AWS_SQS_QUEUE_URL: mode === 'aws' ? await ensureQueue() : '',
    AWS_IOT_ENDPOINT: 'test-ats.iot.us-east-1.amazonaws.com',
    // The global setup's key is refused by loadConfig (too few distinct characters): our own.
    ENCRYPTION_KEY: TEST_API_ENCRYPTION_KEY,
    LOG_LEVEL: 'warn',
    PORT: '3000',
    // No metrics endpoint unless a test asks: the defaults (9465-9467) are one machine-wide port each.
    API_METRICS_PORT: '0',
    WORKER_METRICS_PORT: '0',
    WORKER_METRICS_TEMPORAL_PORT: '0',
    ...extra,
  } as Record<string, string | undefined>;
}

/** Log lines captured in memory (JSON objects), to check what an operator would see. */
export function memoryLogger(level: 'warn' | 'info' = 'warn'): {
  logger: Logger;
  lines: Record<string, unknown>[];
} {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n'))
        if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level, destination, pretty: false }), lines };
}

export interface StackOptions {
  mode: Mode;
  env?: Record<string, string>;
  overrides?: ActivityOverrides;
  /** Default: a worker in aws and mock modes, none when IoT is disabled. */
  worker?: boolean;
  solarIot?: Partial<Omit<SolarIotDeps, 'config' | 'temporal' | 'db' | 'aws'>>;
}

export interface ApiRequest {
  json?: unknown;
  body?: string;
  contentType?: string;
  /** Default: serveApi()'s token; null: none. */
  token?: string | null;
  /** Another server's URL (default: serveApi()'s). */
  base?: string;
}

export class TestStack {
  private worker: WorkerSet | undefined;
  private running: Promise<void> | undefined;
  private nativeConnection: NativeConnection | undefined;
  private closeApi: (() => Promise<void>) | undefined;
  /** SOLAR_IOT_API_URL and SOLAR_IOT_API_TOKEN of the API serveApi() runs: the CLI's way in. */
  apiEnv: Record<string, string> = {};

  private constructor(
    readonly mode: Mode,
    readonly taskQueue: string,
    readonly env: Record<string, string | undefined>,
    readonly config: Config,
    readonly database: DbHandle,
    readonly aws: AwsClients | undefined,
    readonly connection: Connection,
    readonly temporal: Client,
    readonly solarIot: SolarIot,
    /** The payload codec, as the worker and every client of the product use it. */
    readonly dataConverter: DataConverter,
  ) {}

  static async start(options: StackOptions): Promise<TestStack> {
    installTestRuntime();
    const taskQueue = uniqueTaskQueue('api');
    const env = await envFor(options.mode, taskQueue, options.env);
    const config = loadConfig(env);
    const database = createDb(config.databaseUrl ?? '');
    const aws = options.mode === 'aws' ? createAwsClients(config) : undefined;
    const { dataConverter } = await loadPayloadCodec(env, config.encryption);
    const connection = await Connection.connect({ address: config.temporal.address });
    const temporal = new Client({ connection, namespace: config.temporal.namespace, dataConverter });
    const solarIot = createSolarIot({ ...options.solarIot, config, temporal, db: database.db, aws });
    const stack = new TestStack(
      options.mode,
      taskQueue,
      env,
      config,
      database,
      aws,
      connection,
      temporal,
      solarIot,
      dataConverter,
    );
    if (options.worker ?? options.mode !== 'disabled') await stack.startWorker(options.overrides);
    return stack;
  }

  realActivities(): Activities {
    if (this.mode === 'mock') return createMockActivities({ db: this.database.db, temporal: this.temporal });
    if (!this.aws) throw new Error('no AWS clients in this mode');
    return createActivities({
      iot: this.aws.iot,
      db: this.database.db,
      vault: createCipher({ currentKey: this.config.encryption.currentKey ?? '' }),
      temporal: this.temporal,
      settings: {
        certificateMode: this.config.iot.certificateMode,
        topicRuleMode: this.config.iot.topicRuleMode,
        policyMode: this.config.iot.policyMode,
        sqsQueueUrl: this.config.aws.sqsQueueUrl,
        iotRoleArn: this.config.aws.iotRoleArn,
        iotEndpoint: this.config.aws.iotEndpoint,
        pollIntervalMs: 200,
      },
    });
  }

  /** A worker on this stack's task queue, as `npm run worker` would run it (plus overrides). */
  async startWorker(overrides: ActivityOverrides = {}): Promise<void> {
    if (this.worker) throw new Error('worker already running');
    this.nativeConnection ??= await NativeConnection.connect({ address: this.config.temporal.address });
    // The worker's own codec (refuses plain, unbound and foreign-bound payloads), as src/worker.ts.
    const { dataConverter } = await loadWorkerPayloadCodec(this.env, this.config.encryption);
    ({ workers: this.worker } = await createTestWorkers({
      connection: this.nativeConnection,
      taskQueue: this.taskQueue,
      dataConverter,
      activities: { ...this.realActivities(), ...overrides },
    }));
    this.running = this.worker.run();
  }

  /** Stops the worker as a deploy or a crash would (in-flight activities finish first). */
  async stopWorker(): Promise<void> {
    if (!this.worker) return;
    this.worker.shutdown();
    await this.running;
    this.worker = undefined;
    this.running = undefined;
  }

  /** The HTTP API over this stack's library on a free loopback port, as `npm start` runs it. */
  async serveApi(): Promise<Record<string, string>> {
    if (this.closeApi) return this.apiEnv;
    const token = `api-test-token-${this.taskQueue}`;
    const api = buildServer({ solarIot: this.solarIot, settings: { token } });
    await api.app.listen({ port: 0, host: '127.0.0.1' });
    this.closeApi = () => api.app.close();
    const { port } = api.app.server.address() as AddressInfo;
    this.apiEnv = { SOLAR_IOT_API_URL: `http://127.0.0.1:${port}`, SOLAR_IOT_API_TOKEN: token };
    return this.apiEnv;
  }

  /**
   * A request to the API serveApi() runs (or to `base`), with its token (null: none), answering its
   * status and JSON body. `json` is sent as JSON; `body` as it is, with `contentType`.
   */
  async api<T = Record<string, unknown>>(method: string, path: string, options: ApiRequest = {}) {
    const token = options.token === undefined ? (this.apiEnv.SOLAR_IOT_API_TOKEN ?? null) : options.token;
    const body = options.body ?? (options.json === undefined ? undefined : JSON.stringify(options.json));
    const res = await fetch(`${options.base ?? this.apiEnv.SOLAR_IOT_API_URL}${path}`, {
      method,
      headers: {
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { 'content-type': options.contentType ?? 'application/json' }),
      },
      ...(body === undefined ? {} : { body }),
    });
    return { status: res.status, body: (await res.json()) as T };
  }

  /** GET `path` of the API serveApi() runs, with its token (null: none), answering JSON. */
  apiGet<T>(path: string, token: string | null = this.apiEnv.SOLAR_IOT_API_TOKEN ?? null) {
    return this.api<T>('GET', path, { token });
  }

  async plantRow(plantId: string) {
    const [row] = await this.database.db.select().from(plants).where(eq(plants.id, plantId));
    return row;
  }

  /** Polls until `check` returns a value (never a timed assertion: the test timeout bounds it). */
  async until<T>(check: () => Promise<T | undefined | null | false>, intervalMs = 100): Promise<T> {
    for (;;) {
      const value = await check();
      if (value) return value;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  async close(): Promise<void> {
    await this.closeApi?.();
    await this.stopWorker();
    await this.nativeConnection?.close();
    await this.connection.close();
    await this.database.close();
    this.aws?.destroy();
  }
}
