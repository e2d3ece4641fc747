/**
 * The real entry point, `src/ingest/main.ts`, as `npm start` runs it: a child process with the
 * worker's environment. SIGTERM arrives while a batch is stuck inside its transaction (the test
 * holds a lock on processed_data); the process must commit it, delete it, and exit 0.
 */
import { randomBytes } from 'node:crypto';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../tools/stack/processes.js';
import { started, tsx } from '../support/child.js';
import { body, queueDepth, reading, send, testPlant, waitFor } from '../support/ingest.js';
import { useIngestHarness } from '../support/use-ingest-harness.js';

const t = useIngestHarness();

const startMain = (env: Record<string, string>) =>
  started(tsx(['src/ingest/main.ts']), {
    // loadConfig refuses the global setup's low-entropy test key; the consumer never uses it.
    env: { ...process.env, ENCRYPTION_KEY: randomBytes(32).toString('hex'), LOG_LEVEL: 'info', ...env },
  });

describe('src/ingest/main.ts', () => {
  it('refuses a bad setting with one line naming the variable, exit code 2', async () => {
    const child = startMain({ AWS_SQS_QUEUE_URL: 'http://127.0.0.1:1/q', INGEST_POLLERS: '0' });
    expect(await child.exited).toBe(2);
    expect(child.output()).toMatch(/^INGEST_POLLERS: "0" is below 1\. Fix: /m);
  });

  it('names the wrong variables of every settings group at once, not only the first group', async () => {
    const child = startMain({
      AWS_SQS_QUEUE_URL: 'http://127.0.0.1:1/q',
      LOG_LEVEL: 'loud', // src/config
      INGEST_POLLERS: '0', // ./settings.ts
      INGEST_RAW_RETENTION_DAYS: 'ten', // ./partition-maintainer.ts
      INGEST_SILENT_AFTER_SECONDS: '15m', // ./silent-plants.ts
      METRICS_HOST: 'not a host', // main.ts itself
    });
    expect(await child.exited).toBe(2);
    const output = child.output();
    expect(output).toMatch(/^LOG_LEVEL: .* is not a log level\. Fix: /m);
    expect(output).toMatch(/^INGEST_POLLERS: "0" is below 1\. Fix: /m);
    expect(output).toMatch(/^INGEST_RAW_RETENTION_DAYS: "ten" is not a whole number\. Fix: /m);
    expect(output).toMatch(/^INGEST_SILENT_AFTER_SECONDS: "15m" is not a whole number\. Fix: /m);
    expect(output).toMatch(/^METRICS_HOST: "not a host" is not a host name or IP address\. Fix: /m);
  });

  it('on SIGTERM mid-batch, commits and deletes the batch in flight, then exits 0', async () => {
    const url = await t.queue();
    const plant = testPlant();
    const total = 30;
    for (let n = 0; n < total; n++) await send(t.sqs, url, body(reading(plant, n)));

    // Hold a lock that every INSERT into processed_data waits for: the batch stops mid-transaction.
    const locker = await t.db.pool.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE processed_data IN SHARE ROW EXCLUSIVE MODE');
    const metricsPort = await freePort();
    const child = startMain({
      AWS_SQS_QUEUE_URL: url,
      INGEST_WAIT_SECONDS: '1',
      INGEST_LINGER_MS: '200',
      INGEST_VISIBILITY_SECONDS: '5',
      METRICS_PORT: String(metricsPort),
    });
    try {
      await waitFor(
        'the consumer blocked inside its batch',
        async () =>
          (await t.db.count(
            `SELECT 1 FROM pg_stat_activity WHERE application_name = 'solar-iot-ingest' AND wait_event_type = 'Lock'`,
          )) === 1,
      );
      const scraped = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(scraped).toMatch(/^ingest_messages_received_total [1-9]/m);
      expect(scraped).toMatch(/^ingest_duplicate_messages_total\{layer="message_hash"\} 0$/m);

      void child.stop();
      await child.waitFor(/"msg":"ingest consumer stopping"/);
      await locker.query('ROLLBACK');
    } finally {
      locker.release();
    }
    expect(await child.exited).toBe(0);

    // Everything committed was deleted; everything left in the queue was not committed.
    const committed = await t.db.raw(plant);
    expect(committed).toBeGreaterThan(0);
    expect(await t.db.processed(plant)).toBe(committed * 3);
    const left = await queueDepth(t.sqs, url);
    expect(committed + left.total).toBe(total);
    const stored = await t.db.pool.query<{ payload: { timestamp: string } }>(
      'SELECT payload FROM raw_mqtt_data WHERE plant_id = $1',
      [plant],
    );
    const storedTimestamps = new Set(stored.rows.map((r) => r.payload.timestamp));
    let seen = 0;
    // Messages caught by an aborted long poll come back after the child's 5 s visibility timeout.
    for (const deadline = Date.now() + 30_000; seen < left.total && Date.now() < deadline; ) {
      const res = await t.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          VisibilityTimeout: 60,
        }),
      );
      for (const m of res.Messages ?? []) {
        seen++;
        expect(storedTimestamps.has((JSON.parse(m.Body ?? '{}') as { timestamp: string }).timestamp)).toBe(
          false,
        );
      }
    }
    expect(seen).toBe(left.total);
  });
});
