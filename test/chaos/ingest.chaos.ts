/**
 * PostgreSQL crashes mid-ingestion: `tsx src/ingest/main.ts` consumes a standard SQS queue (moto)
 * while the whole database server is SIGKILLed, stays down 10 s, and restarts (crash recovery from
 * its WAL). Every reading must end up exactly once in raw_mqtt_data and processed_data, every
 * poison message exactly once in quarantine, and the queue must end empty.
 *
 * The messages go out in waves while the consumer runs, keeping at most BACKLOG of them in the
 * queue (visible or in flight): moto spends O(queue depth) on every message it accepts or hands
 * out (each one re-counts the queue's attributes), so a backlog of 1500 costs minutes where 200
 * costs seconds. Sending goes on while the database is down, until the backlog is reached.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  POISON_KINDS,
  type SimMessage,
  sendToQueue,
  TelemetrySimulator,
} from '../../src/ingest/simulator.js';
import { MOTO_CREDENTIALS } from '../../tools/stack/components.js';
import { IngestProcess, metric, queueDepth, scrape } from '../support/chaos-ingest.js';
import { ChaosStack, waitFor } from '../support/chaos-stack.js';

const MESSAGES = Number(process.env.CHAOS_INGEST_MESSAGES ?? 1500);
/** Most messages in the queue at once (see the top of this file). */
const BACKLOG = Number(process.env.CHAOS_INGEST_BACKLOG ?? 200);
/** PostgreSQL is killed once this share of the readings is committed, with messages in the consumer. */
const CRASH_AT = Number(process.env.CHAOS_INGEST_CRASH_AT ?? 0.3);

let stack: ChaosStack;
let sqs: SQSClient;

beforeAll(async () => {
  stack = await ChaosStack.start('ingest');
  sqs = new SQSClient({ endpoint: stack.moto.endpoint, region: 'us-east-1', credentials: MOTO_CREDENTIALS });
}, 300_000);

afterAll(async () => {
  sqs?.destroy();
  await stack?.stop();
});

async function count(sql: string, params: unknown[]): Promise<number> {
  const { rows } = await stack.database.pool.query<{ n: string }>(sql, params);
  return Number(rows[0]?.n ?? 0);
}

/** Sends `messages` in waves, never more than BACKLOG in the queue; `sent` counts what SQS took. */
class Producer {
  sent = 0;
  waves = 0;
  private stopped = false;
  readonly done: Promise<Error | undefined>;

  constructor(private readonly messages: readonly SimMessage[]) {
    this.done = this.run().then(
      () => undefined,
      (error: Error) => error,
    );
  }

  stop(): void {
    this.stopped = true;
  }

  private async run(): Promise<void> {
    while (this.sent < this.messages.length && !this.stopped) {
      const room = BACKLOG - (await queueDepth(sqs, stack.queueUrl));
      if (room < 10) {
        await sleep(200);
        continue;
      }
      const wave = this.messages.slice(this.sent, this.sent + room);
      const accepted = await sendToQueue(sqs, stack.queueUrl, wave);
      if (accepted !== wave.length) throw new Error(`SQS took ${accepted} of ${wave.length} messages`);
      this.sent += wave.length;
      this.waves++;
    }
  }
}

describe('PostgreSQL crash mid-ingestion', () => {
  it('every message ends up exactly once', async () => {
    const started = performance.now();
    const seconds = () => Math.round((performance.now() - started) / 1000);
    const prefix = `chaos${Date.now().toString(36)}`;
    const ofRun = [`${prefix}-%`];
    const sim = new TelemetrySimulator({
      plants: 20,
      devices: 5,
      duplicates: 0.05,
      malformed: 0.01,
      seed: 11,
      plantPrefix: prefix,
      // Generated at once, one round a simulated minute: started now, the last rounds would be
      // ahead of the clock and quarantined as future_timestamp (INGEST_MAX_FUTURE_SECONDS, 5 min).
      start: new Date(Date.now() - 24 * 3_600_000),
    });
    const messages = Array.from({ length: MESSAGES }, () => sim.next());
    const consumer = await IngestProcess.start(stack, 'ingest', {
      INGEST_WAIT_SECONDS: '1',
      INGEST_VISIBILITY_SECONDS: '20',
      INGEST_BATCH_MESSAGES: '100',
    });
    const metricsPort = consumer.metricsPort;
    const producer = new Producer(messages);
    try {
      // The crash: once CRASH_AT of the readings are committed, while the consumer holds messages
      // (received, not yet deleted: being written, waiting for a batch, or being deleted).
      const crashAt = Math.ceil(sim.counts.reading * CRASH_AT);
      const atCrash = await waitFor(
        `${crashAt} readings committed with messages in the consumer`,
        async () => {
          if (!consumer.running) throw new Error('the consumer exited');
          const committed = await count(
            'SELECT count(*) AS n FROM raw_mqtt_data WHERE plant_id LIKE $1',
            ofRun,
          );
          if (committed < crashAt) return undefined;
          const inFlight = metric(await scrape(metricsPort), 'ingest_in_flight_messages');
          return inFlight > 0 ? { committed, inFlight, sent: producer.sent } : undefined;
        },
        180_000,
        100,
      );
      const crashedAt = seconds();
      await stack.restartPostgres({ signal: 'SIGKILL', downMs: 10_000 });
      const sentWhileDown = producer.sent - atCrash.sent;
      expect(consumer.running).toBe(true); // it rode out the outage
      const producerError = await producer.done;
      if (producerError) throw producerError;
      expect(producer.sent).toBe(messages.length);
      await waitFor(
        'the queue to drain',
        async () => (await queueDepth(sqs, stack.queueUrl)) === 0,
        240_000,
        500,
      ).catch(async (error: Error) => {
        // What is left, and what the consumer thinks, for the failure message.
        const metrics = await scrape(metricsPort).catch(() => '');
        const { Attributes } = await sqs.send(
          new GetQueueAttributesCommand({ QueueUrl: stack.queueUrl, AttributeNames: ['All'] }),
        );
        const peek = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: stack.queueUrl,
            MaxNumberOfMessages: 10,
            VisibilityTimeout: 0,
          }),
        );
        const raw = await count('SELECT count(*) AS n FROM raw_mqtt_data WHERE plant_id LIKE $1', ofRun);
        throw new Error(
          `${error.message}; queue ${JSON.stringify(Attributes)}; receivable now ${peek.Messages?.length ?? 0}; ` +
            `raw rows ${raw} of ${sim.counts.reading}; ${metrics
              .split('\n')
              .filter((l) => /^ingest_(messages_|in_flight|sqs_errors|db_errors)/.test(l))
              .join('; ')}`,
        );
      });
      const metrics = await scrape(metricsPort);
      console.log(
        `[chaos] ingest: ${messages.length} messages (${sim.counts.reading} readings, ${sim.counts.duplicate} duplicates, ` +
          `${messages.length - sim.counts.reading - sim.counts.duplicate} poison) in ${producer.waves} waves of at most ${BACKLOG}; ` +
          `PostgreSQL killed at ${crashedAt} s after ${atCrash.committed} readings were committed, ${atCrash.inFlight} messages in the consumer, ` +
          `${sentWhileDown} sent while it was down; drained at ${seconds()} s; consumer: ` +
          `${metric(metrics, 'ingest_messages_received_total')} received, ` +
          `${metric(metrics, 'ingest_duplicate_messages_total')} refused as duplicates, ` +
          `${metric(metrics, 'ingest_db_errors_total')} database errors, ` +
          `${metric(metrics, 'ingest_visibility_extensions_total')} visibility extensions`,
      );

      // The crash reached the consumer: its writes failed, and it retried them.
      expect(metric(metrics, 'ingest_db_errors_total', 'kind="transient"')).toBeGreaterThan(0);
      expect(await count('SELECT count(*) AS n FROM raw_mqtt_data WHERE plant_id LIKE $1', ofRun)).toBe(
        sim.counts.reading,
      );
      expect(await count('SELECT count(*) AS n FROM processed_data WHERE plant_id LIKE $1', ofRun)).toBe(
        sim.expectedRows,
      );
      // One row per poison message (quarantine.message_id is unique), by reason.
      const quarantined = await stack.database.pool.query<{ reason: string; n: string }>(
        `SELECT split_part(reason, ':', 1) AS reason, count(*)::text AS n
           FROM quarantine WHERE body LIKE $1 GROUP BY 1`,
        [`%"${prefix}-plant-%`],
      );
      expect(Object.fromEntries(quarantined.rows.map((r) => [r.reason, Number(r.n)]))).toEqual(
        Object.fromEntries(POISON_KINDS.filter((k) => sim.counts[k] > 0).map((k) => [k, sim.counts[k]])),
      );
    } finally {
      producer.stop();
      await producer.done;
      await consumer.stop();
    }
  });
});
