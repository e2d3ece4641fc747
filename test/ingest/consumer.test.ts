/**
 * The consumer against moto's SQS and a real PostgreSQL: delivery, the deduplication layers,
 * poison, the database going away, slow batches and shutdown.
 */
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { fifoDeduplicationId } from '../../src/ingest/message.js';
import {
  body,
  databaseUrl,
  newSqs,
  queueDepth,
  reading,
  send,
  TcpGate,
  type TestConsumer,
  testPlant,
  testSettings,
  waitFor,
} from '../support/ingest.js';
import { useIngestHarness } from '../support/use-ingest-harness.js';

const t = useIngestHarness();
const { queue, consumer, emptied } = t;

/**
 * Sends `message` to `url` (a queue with a 2 s visibility) and runs a consumer whose every
 * DeleteMessageBatch fails: the first delivery is handled but stays in the queue. Once a delete
 * has failed, `whileDeletesFail` checks what that delivery did; then deletes work again, SQS
 * redelivers the message, the consumer refuses it by message id and the queue empties. Returns
 * the consumer after checking it received the message twice.
 */
async function redeliveredAfterLostDelete(
  url: string,
  message: string,
  whileDeletesFail: () => Promise<void>,
): Promise<TestConsumer> {
  let failDeletes = true;
  const faulty = newSqs();
  faulty.middlewareStack.add(
    (next, context) => async (args) => {
      if (failDeletes && context.commandName === 'DeleteMessageBatchCommand')
        throw new Error('injected: delete lost');
      return next(args);
    },
    { step: 'initialize', name: 'failDeletes' },
  );
  t.cleanup(async () => faulty.destroy());
  await send(t.sqs, url, message);
  const c = consumer(url, { sqs: faulty, settings: testSettings({ visibilitySeconds: 2 }) });

  await waitFor(
    'delete failures',
    async () => (await c.metrics.value(c.metrics.sqsErrors, { operation: 'delete' })) >= 1,
  );
  await whileDeletesFail();
  failDeletes = false;
  await waitFor(
    'the redelivery refused by message id',
    async () => (await c.metrics.value(c.metrics.duplicates, { layer: 'message_id' })) === 1,
  );
  await waitFor('queue emptied', emptied(url));
  expect(await c.metrics.value(c.metrics.received)).toBe(2);
  return c;
}

/** A beforeCommit hook that holds the batch inside its transaction: `inBatch` once it is, `release()` to commit. */
function heldBatch() {
  let entered!: () => void;
  let release!: () => void;
  const inBatch = new Promise<void>((r) => (entered = r));
  const released = new Promise<void>((r) => (release = r));
  const hooks = {
    async beforeCommit() {
      entered();
      await released;
    },
  };
  return { inBatch, release, hooks };
}

describe('ingestion consumer', () => {
  it('ingests a batch, one processed row per metric, and deletes it from the queue', async () => {
    const url = await queue();
    const plant = testPlant();
    for (let n = 0; n < 25; n++) await send(t.sqs, url, body(reading(plant, n)));
    const c = consumer(url);

    await waitFor('queue emptied', emptied(url));
    expect(await t.db.raw(plant)).toBe(25);
    expect(await t.db.processed(plant)).toBe(75);
    const row = await t.db.pool.query(
      `SELECT value, device_id, tag_id, "timestamp" FROM processed_data
        WHERE plant_id = $1 AND tag_id = 'voltage_dc' AND "timestamp" = '2024-06-21T12:00:07Z'`,
      [plant],
    );
    expect(row.rows).toEqual([
      {
        value: 357.5,
        device_id: `${plant}-inv-1`,
        tag_id: 'voltage_dc',
        timestamp: new Date('2024-06-21T12:00:07Z'),
      },
    ]);
    expect(await c.metrics.value(c.metrics.ingested)).toBe(25);
    expect(await c.metrics.value(c.metrics.deleted)).toBe(25);
    // Queue lag comes from each message's SentTimestamp.
    const ages = await c.metrics.messageAge.get();
    expect(ages.values.find((v) => v.metricName === 'ingest_message_age_seconds_count')?.value).toBe(25);
  });

  it('refuses a redelivery of a committed message (same message id) on a standard queue', async () => {
    const url = await queue({ visibilitySeconds: 2 });
    const plant = testPlant();
    const c = await redeliveredAfterLostDelete(url, body(reading(plant, 1)), async () => {
      expect(await t.db.raw(plant)).toBe(1);
    });
    expect(await t.db.raw(plant)).toBe(1);
    expect(await t.db.processed(plant)).toBe(3);
    expect(await c.metrics.value(c.metrics.rows, { result: 'duplicate' })).toBe(3);
  });

  it('quarantines a poison message once, even when SQS delivers it again after a lost delete', async () => {
    const url = await queue({ visibilitySeconds: 2 });
    const plant = testPlant();
    const marker = `poison-again-${plant}`;
    const c = await redeliveredAfterLostDelete(url, `{"marker": "${marker}", "deviceId": `, async () => {
      expect(await t.db.quarantine(marker)).toHaveLength(1);
    });
    const rows = await t.db.quarantine(marker);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.reason).toMatch(/^invalid_json: /);
    expect(await c.metrics.value(c.metrics.quarantined)).toBe(1);
  });

  it('keeps one row for the same reading under a new message id, even written differently, hours later', async () => {
    const url = await queue();
    const plant = testPlant();
    const r = reading(plant, 5);
    await send(t.sqs, url, body(r));
    const c = consumer(url);
    await waitFor('first copy ingested', emptied(url));
    expect(await t.db.processed(plant)).toBe(3);

    // Later: the same instant with another zone notation and whitespace, new SQS message id.
    const again = { ...r, timestamp: r.timestamp.replace('T12:00:05.000Z', 'T14:00:05+02:00') };
    expect(again.timestamp).not.toBe(r.timestamp);
    await send(t.sqs, url, JSON.stringify(JSON.parse(body(again)), null, 2));
    await waitFor(
      'second copy handled',
      async () =>
        (await c.metrics.value(c.metrics.received)) === 2 && (await queueDepth(t.sqs, url)).total === 0,
    );
    expect(await c.metrics.value(c.metrics.duplicates, { layer: 'message_hash' })).toBe(1);
    expect(await t.db.raw(plant)).toBe(1);
    expect(await t.db.processed(plant)).toBe(3);
  });

  it('works on a FIFO queue: group per plant, the seed deduplication id drops a resend (layer 1)', async () => {
    const url = await queue({ fifo: true });
    const plants = [testPlant(), testPlant()];
    for (const plant of plants) {
      for (let n = 0; n < 6; n++) {
        const r = reading(plant, n);
        const dedup = fifoDeduplicationId(`solar/${plant}/data`, r.timestamp, r.deviceId);
        await send(t.sqs, url, body(r), { group: plant, dedup });
        if (n === 2) await send(t.sqs, url, body(r), { group: plant, dedup }); // a resend: SQS drops it
      }
    }
    const c = consumer(url);
    await waitFor('queue emptied', emptied(url));
    expect(await c.metrics.value(c.metrics.received)).toBe(12);
    for (const plant of plants) {
      expect(await t.db.raw(plant)).toBe(6);
      expect(await t.db.processed(plant)).toBe(18);
    }
  });

  it('quarantines each kind of poison with its reason and deletes it, without holding back the batch', async () => {
    const url = await queue();
    const plant = testPlant();
    const marker = `poison-${plant}`;
    const good = [reading(plant, 1), reading(plant, 2)];
    const poison: [string, string][] = [
      ['invalid_json', `{"marker": "${marker}", "deviceId": `],
      [
        'missing_field',
        body({ ...reading(plant, 3), deviceId: undefined as unknown as string, marker } as never),
      ],
      ['bad_timestamp', body({ ...reading(plant, 4), timestamp: 'yesterday', marker } as never)],
      ['non_numeric_metric', body({ ...reading(plant, 5), metrics: { power_ac: 'N/A' }, marker } as never)],
      ['oversized_body', body({ ...reading(plant, 6), marker, pad: 'x'.repeat(3000) } as never)],
      ['invalid_topic', JSON.stringify({ ...reading(plant, 7), topic: 'solar/x/y/data', marker })],
    ];
    await send(t.sqs, url, body(good[0] as never));
    for (const [, b] of poison) await send(t.sqs, url, b);
    await send(t.sqs, url, body(good[1] as never));
    const c = consumer(url, { settings: testSettings({ maxBodyBytes: 2048, pollers: 1, lingerMs: 500 }) });

    await waitFor('queue emptied', emptied(url));
    expect(await t.db.raw(plant)).toBe(2);
    expect(await t.db.processed(plant)).toBe(6);
    const rows = await t.db.quarantine(marker);
    expect(rows.map((r) => r.reason.split(':')[0]).sort()).toEqual(poison.map(([reason]) => reason).sort());
    // Kept whole, except an oversized body: its prefix (with its sha256 and size, quarantine.test.ts).
    for (const [reason, b] of poison)
      expect(rows.find((r) => r.reason.startsWith(`${reason}:`))?.body).toBe(
        reason === 'oversized_body' ? b.slice(0, 1024) : b,
      );
    expect(rows.every((r) => r.message_id)).toBe(true);
    expect(await c.metrics.value(c.metrics.quarantined, { reason: 'oversized_body' })).toBe(1);
    expect(await c.metrics.value(c.metrics.quarantined)).toBe(6);
  });

  it('splits a batch PostgreSQL refuses: the culprit goes to quarantine as db_rejected, the rest is written', async () => {
    const url = await queue();
    const plant = testPlant();
    const culprit = reading(plant, 9);
    for (let n = 0; n < 5; n++) await send(t.sqs, url, body(reading(plant, n)));
    await send(t.sqs, url, body(culprit));
    // Any transaction that contains the culprit's raw row fails like a refused value (22P02).
    const c = consumer(url, {
      settings: testSettings({ pollers: 1, lingerMs: 300 }),
      hooks: {
        async beforeCommit(client) {
          const res = await client.query(
            'SELECT 1 FROM raw_mqtt_data WHERE plant_id = $1 AND "timestamp" = $2',
            [plant, culprit.timestamp],
          );
          if (res.rowCount)
            throw Object.assign(new Error('invalid input syntax (injected)'), { code: '22P02' });
        },
      },
    });
    await waitFor('queue emptied', emptied(url));
    expect(await t.db.raw(plant)).toBe(5);
    expect(await t.db.processed(plant)).toBe(15);
    const q = await t.db.quarantine(plant);
    expect(q.map((r) => [r.reason, r.body])).toEqual([
      ['db_rejected: invalid input syntax (injected)', body(culprit)],
    ]);
    expect(await c.metrics.value(c.metrics.dbErrors, { kind: 'data' })).toBeGreaterThanOrEqual(2);
  });

  it('leaves in SQS a message even the quarantine refuses, counts it, and stores it when it comes back', async () => {
    const url = await queue({ visibilitySeconds: 2 });
    const plant = testPlant();
    const culprit = reading(plant, 9);
    for (let n = 0; n < 5; n++) await send(t.sqs, url, body(reading(plant, n)));
    await send(t.sqs, url, body(culprit));
    // The quarantine refuses the culprit's row (a real trigger, SQLSTATE 23514) until it is dropped.
    const fn = `test_refuse_${plant.replaceAll('-', '_')}`;
    await t.db.pool.query(`
      CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.body LIKE '%${culprit.timestamp}%${plant}%' OR NEW.body LIKE '%${plant}%${culprit.timestamp}%' THEN
          RAISE EXCEPTION 'quarantine refused (injected)' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER ${fn} BEFORE INSERT ON quarantine FOR EACH ROW EXECUTE FUNCTION ${fn}();`);
    const unblock = async () => {
      await t.db.pool.query(`DROP TRIGGER IF EXISTS ${fn} ON quarantine; DROP FUNCTION IF EXISTS ${fn}();`);
    };
    t.cleanup(unblock);
    // The tables refuse the culprit's reading like a bad value (22P02), always.
    const c = consumer(url, {
      settings: testSettings({ pollers: 1, lingerMs: 300, visibilitySeconds: 2 }),
      hooks: {
        async beforeCommit(client) {
          const res = await client.query(
            'SELECT 1 FROM raw_mqtt_data WHERE plant_id = $1 AND "timestamp" = $2',
            [plant, culprit.timestamp],
          );
          if (res.rowCount)
            throw Object.assign(new Error('invalid input syntax (injected)'), { code: '22P02' });
        },
      },
    });

    await waitFor('the other five written and deleted', async () => (await t.db.raw(plant)) === 5);
    await waitFor('the five deleted', async () => (await c.metrics.value(c.metrics.deleted)) >= 5);
    expect(await queueDepth(t.sqs, url)).toMatchObject({ total: 1 });
    expect(await c.metrics.value(c.metrics.deleted)).toBe(5);
    expect(await t.db.quarantine(plant)).toEqual([]);
    await waitFor(
      'the culprit counted as refused by the quarantine',
      async () => (await c.metrics.value(c.metrics.unstorable)) >= 1,
    );

    // Fixed: the message comes back once its visibility expires and reaches the quarantine.
    await unblock();
    await waitFor('queue emptied', emptied(url));
    const q = await t.db.quarantine(plant);
    expect(q.map((r) => [r.reason, r.body])).toEqual([
      ['db_rejected: invalid input syntax (injected)', body(culprit)],
    ]);
    expect(await c.metrics.value(c.metrics.received)).toBeGreaterThanOrEqual(7);
    expect(await c.metrics.value(c.metrics.deleted)).toBe(6);
  });

  it('holds at most INGEST_MAX_IN_FLIGHT messages, however many pollers receive at once', async () => {
    const url = await queue();
    const plant = testPlant();
    for (let n = 0; n < 40; n++) await send(t.sqs, url, body(reading(plant, n)));
    let peak = 0;
    const c = consumer(url, {
      settings: testSettings({ pollers: 4, maxInFlight: 10, lingerMs: 1_000 }),
      hooks: {
        async beforeCommit() {
          peak = Math.max(peak, c.consumer.inFlight);
        },
      },
    });
    await waitFor('queue emptied', emptied(url));
    expect(await t.db.raw(plant)).toBe(40);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(10);
  });

  it('deletes nothing while the database is down, then ingests everything exactly once', async () => {
    const url = await queue();
    const plant = testPlant();
    const { gate, url: gatedUrl } = await TcpGate.before(databaseUrl());
    t.cleanup(() => gate.close());
    await gate.close();
    for (let n = 0; n < 20; n++) await send(t.sqs, url, body(reading(plant, n)));
    const c = consumer(url, { databaseUrl: gatedUrl });

    await waitFor(
      'the consumer holds all 20 and keeps failing',
      async () =>
        c.consumer.inFlight === 20 && (await c.metrics.value(c.metrics.dbErrors, { kind: 'transient' })) >= 3,
    );
    expect(await queueDepth(t.sqs, url)).toMatchObject({ total: 20 });
    expect(await c.metrics.value(c.metrics.deleted)).toBe(0);
    expect(await t.db.raw(plant)).toBe(0);

    await gate.open();
    await waitFor('queue emptied', emptied(url));
    expect(await t.db.raw(plant)).toBe(20);
    expect(await t.db.processed(plant)).toBe(60);
    expect(await c.metrics.value(c.metrics.received)).toBe(20);
  });

  it('survives the connection dying mid-batch, just before COMMIT', async () => {
    const url = await queue();
    const plant = testPlant();
    const { gate, url: gatedUrl } = await TcpGate.before(databaseUrl());
    t.cleanup(() => gate.close());
    for (let n = 0; n < 10; n++) await send(t.sqs, url, body(reading(plant, n)));
    let cut = 0;
    const c = consumer(url, {
      databaseUrl: gatedUrl,
      settings: testSettings({ lingerMs: 300 }),
      hooks: {
        async beforeCommit() {
          if (cut++ === 0) await gate.close(); // the database vanishes with the transaction open
        },
      },
    });
    await waitFor(
      'retries failing',
      async () => (await c.metrics.value(c.metrics.dbErrors, { kind: 'transient' })) >= 2,
    );
    expect(await t.db.raw(plant)).toBe(0);
    expect(await queueDepth(t.sqs, url)).toMatchObject({ total: 10 });
    await gate.open();
    await waitFor('queue emptied', emptied(url));
    expect(await t.db.raw(plant)).toBe(10);
    expect(await t.db.processed(plant)).toBe(30);
  });

  it('extends the visibility of a slow batch, so no other consumer gets its messages', async () => {
    const url = await queue({ visibilitySeconds: 2 });
    const plant = testPlant();
    await send(t.sqs, url, body(reading(plant, 1)));
    const { inBatch, release, hooks } = heldBatch();
    const c = consumer(url, {
      settings: testSettings({ visibilitySeconds: 2 }),
      hooks,
    });
    await inBatch;
    // Three visibility timeouts later, another consumer polls the queue for 2 s and gets nothing.
    await new Promise((r) => setTimeout(r, 6_000));
    const other = await t.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 2, MaxNumberOfMessages: 10 }),
    );
    expect(other.Messages ?? []).toHaveLength(0);
    expect(await c.metrics.value(c.metrics.visibilityExtended)).toBeGreaterThanOrEqual(2);
    release();
    await waitFor('queue emptied', emptied(url));
    expect(await t.db.processed(plant)).toBe(3);
    expect(await c.metrics.value(c.metrics.received)).toBe(1);
  });

  it('stop() commits and deletes the batch in flight, and receives nothing after', async () => {
    const url = await queue();
    const plant = testPlant();
    for (let n = 0; n < 8; n++) await send(t.sqs, url, body(reading(plant, n)));
    const { inBatch, release, hooks } = heldBatch();
    const c = consumer(url, {
      settings: testSettings({ lingerMs: 300 }),
      hooks,
    });
    await inBatch;
    const stopping = c.consumer.stop();
    expect(await t.db.raw(plant)).toBe(0); // still held inside its transaction
    release();
    expect(await stopping).toEqual({ uncommitted: 0 });
    expect(await t.db.raw(plant)).toBe(8);
    expect(await t.db.processed(plant)).toBe(24);
    expect(await queueDepth(t.sqs, url)).toMatchObject({ total: 0 });

    // An aborted long poll is over once its wait has passed; a new message stays in the queue.
    await new Promise((r) => setTimeout(r, 2_000));
    await send(t.sqs, url, body(reading(plant, 99)));
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await queueDepth(t.sqs, url)).toMatchObject({ visible: 1 });
    expect(await c.metrics.value(c.metrics.received)).toBe(8);
  });

  it('on a stop with the database still down, gives the messages back to SQS and deletes none', async () => {
    const url = await queue();
    const plant = testPlant();
    const { gate, url: gatedUrl } = await TcpGate.before(databaseUrl());
    t.cleanup(() => gate.close());
    await gate.close();
    for (let n = 0; n < 5; n++) await send(t.sqs, url, body(reading(plant, n)));
    const c = consumer(url, { databaseUrl: gatedUrl, settings: testSettings({ shutdownTimeoutSeconds: 1 }) });
    await waitFor('all five held', () => c.consumer.inFlight === 5);
    expect(await c.consumer.stop()).toEqual({ uncommitted: 5 });
    expect(await queueDepth(t.sqs, url)).toEqual({ visible: 5, inFlight: 0, total: 5 });
    expect(await t.db.raw(plant)).toBe(0);
  });
});
