/**
 * Ingestion test tools: queues in moto, a consumer wired to them, row counts in PostgreSQL, a TCP
 * gate in front of PostgreSQL to take the database away and give it back, and condition waits.
 */
import { randomUUID } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import pg from 'pg';
import { type ConsumerOptions, IngestConsumer } from '../../src/ingest/consumer.js';
import { ruleOutput } from '../../src/ingest/message.js';
import { IngestMetrics } from '../../src/ingest/metrics.js';
import { INGEST_DEFAULTS, type IngestSettings } from '../../src/ingest/settings.js';
import { createLogger, type Logger } from '../../src/logging/index.js';
import { awsClientConfig } from './moto.js';

export function databaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url)
    throw new Error('DATABASE_URL is not set: run the tests through vitest (test/support/global-setup.ts)');
  return url;
}

export function newSqs(): SQSClient {
  return new SQSClient({ ...awsClientConfig(), maxAttempts: 1 });
}

export const quietLogger: Logger = createLogger({
  level: process.env.TEST_LOG_LEVEL === 'debug' ? 'debug' : 'silent',
});

/** Fast settings for tests: short long-polls and visibility, small batches. */
export function testSettings(overrides: Partial<IngestSettings> = {}): IngestSettings {
  return {
    ...INGEST_DEFAULTS,
    pollers: 2,
    waitSeconds: 1,
    visibilitySeconds: 30,
    batchMessages: 50,
    lingerMs: 20,
    shutdownTimeoutSeconds: 20,
    metricsPort: 0,
    ...overrides,
  };
}

export async function createQueue(
  sqs: SQSClient,
  options: { fifo?: boolean; visibilitySeconds?: number } = {},
): Promise<string> {
  const name = `ingest-${randomUUID().slice(0, 8)}${options.fifo ? '.fifo' : ''}`;
  const attributes: Record<string, string> = { VisibilityTimeout: String(options.visibilitySeconds ?? 30) };
  if (options.fifo) {
    attributes.FifoQueue = 'true';
    attributes.ContentBasedDeduplication = 'false';
  }
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  if (!QueueUrl) throw new Error('CreateQueue returned no URL');
  return QueueUrl;
}

export async function deleteQueue(sqs: SQSClient, queueUrl: string): Promise<void> {
  await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => {});
}

/** Messages still in the queue, visible or not (moto counts exactly). */
export async function queueDepth(
  sqs: SQSClient,
  queueUrl: string,
): Promise<{ visible: number; inFlight: number; total: number }> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  const visible = Number(Attributes.ApproximateNumberOfMessages ?? 'NaN');
  const inFlight = Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 'NaN');
  return { visible, inFlight, total: visible + inFlight };
}

export async function send(
  sqs: SQSClient,
  queueUrl: string,
  body: string,
  fifo?: { group: string; dedup: string },
): Promise<string> {
  const res = await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: body,
      ...(fifo ? { MessageGroupId: fifo.group, MessageDeduplicationId: fifo.dedup } : {}),
    }),
  );
  return res.MessageId ?? '';
}

/** A unique plant per test, so counts never see another test's rows. */
export function testPlant(): string {
  return `t-${randomUUID()}`;
}

export interface DeviceReading {
  plantId: string;
  deviceId: string;
  timestamp: string;
  metrics: Record<string, unknown>;
}

export function reading(
  plantId: string,
  n: number,
  metrics: Record<string, unknown> = { voltage_dc: 350.5 + n, current_dc: 12.3, power_ac: 4200 },
): DeviceReading {
  return {
    plantId,
    deviceId: `${plantId}-inv-${n % 3}`,
    timestamp: new Date(Date.UTC(2024, 5, 21, 12, 0, n)).toISOString(),
    metrics,
  };
}

/** The SQS body the shared telemetry rule delivers for this device payload. */
export function body(r: DeviceReading): string {
  return ruleOutput({ ...r }, r.plantId);
}

export class Db {
  readonly pool: pg.Pool;
  constructor(url = databaseUrl()) {
    this.pool = new pg.Pool({ connectionString: url, max: 3 });
  }
  async count(sql: string, params: unknown[] = []): Promise<number> {
    const res = await this.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM (${sql}) q`, params);
    return Number(res.rows[0]?.n);
  }
  raw(plantId: string): Promise<number> {
    return this.count('SELECT 1 FROM raw_mqtt_data WHERE plant_id = $1', [plantId]);
  }
  processed(plantId: string): Promise<number> {
    return this.count('SELECT 1 FROM processed_data WHERE plant_id = $1', [plantId]);
  }
  async quarantine(marker: string): Promise<{ message_id: string | null; reason: string; body: string }[]> {
    const res = await this.pool.query<{ message_id: string | null; reason: string; body: string }>(
      'SELECT message_id, reason, body FROM quarantine WHERE body LIKE $1 ORDER BY id',
      [`%${marker}%`],
    );
    return res.rows;
  }
  close(): Promise<void> {
    return this.pool.end();
  }
}

export interface TestConsumer {
  consumer: IngestConsumer;
  metrics: IngestMetrics;
  pool: pg.Pool;
  sqs: SQSClient;
  /** stop(), then closes the pool and client it made. */
  close(): Promise<void>;
}

export function startConsumer(
  queueUrl: string,
  options: Partial<Omit<ConsumerOptions, 'queueUrl'>> & { databaseUrl?: string } = {},
): TestConsumer {
  const pool =
    options.pool ??
    new pg.Pool({
      connectionString: options.databaseUrl ?? databaseUrl(),
      max: 4,
      connectionTimeoutMillis: 2_000,
    });
  pool.on('error', () => {}); // idle clients dying when the gate closes
  const sqs = options.sqs ?? newSqs();
  const metrics = options.metrics ?? new IngestMetrics();
  const consumer = new IngestConsumer({
    sqs,
    queueUrl,
    pool,
    settings: options.settings ?? testSettings(),
    logger: options.logger ?? quietLogger,
    metrics,
    retry: options.retry ?? { initialMs: 50, maxMs: 500 },
    ...(options.hooks ? { hooks: options.hooks } : {}),
  });
  consumer.start();
  let closed = false;
  return {
    consumer,
    metrics,
    pool,
    sqs,
    async close() {
      if (closed) return;
      closed = true;
      await consumer.stop();
      if (!options.pool) await pool.end();
      if (!options.sqs) sqs.destroy();
    },
  };
}

/** Polls `check` until it returns true; fails with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 60_000,
  maxPauseMs = 500,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Checks often hit moto, which is slow on a busy machine: back off from 20 ms to maxPauseMs.
  for (let pause = 20; ; pause = Math.min(maxPauseMs, pause * 1.5)) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, pause));
  }
}

/**
 * A TCP relay in front of PostgreSQL. `close()` refuses new connections and cuts the open ones
 * (the database is "down" for whoever connects through it); `silence()` keeps every connection
 * open but forwards nothing either way, and accepts new ones that never answer (a network
 * blackhole: no RST, no FIN); `open()` brings it back, delivering what was held during a silence.
 */
export class TcpGate {
  private server: Server | undefined;
  private readonly pairs = new Set<[Socket, Socket]>();
  private silent = false;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  static async before(url: string): Promise<{ gate: TcpGate; url: string }> {
    const u = new URL(url);
    const gate = new TcpGate(u.hostname, Number(u.port || 5432));
    await gate.open();
    u.hostname = '127.0.0.1';
    u.port = String(gate.port);
    return { gate, url: u.toString() };
  }

  async open(): Promise<void> {
    if (this.silent) {
      this.silent = false;
      for (const pair of this.pairs) this.forward(pair);
    }
    if (this.server) return;
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      for (const s of pair) {
        s.on('close', () => this.pairs.delete(pair));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      if (!this.silent) this.forward(pair);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  /** Stops forwarding without closing anything: bytes stay unread in the sockets until open(). */
  silence(): void {
    this.silent = true;
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.silent = false;
    for (const pair of this.pairs) for (const s of pair) s.destroy();
    this.pairs.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private forward([client, upstream]: [Socket, Socket]): void {
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
