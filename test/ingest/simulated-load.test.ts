/**
 * 10,000 simulated messages (5 % duplicates, 1 % poison) through moto's SQS and the consumer:
 * exact row counts at the end, and nothing left in the queue.
 */
import { describe, expect, it } from 'vitest';
import {
  POISON_KINDS,
  type SimMessage,
  sendToQueue,
  TelemetrySimulator,
} from '../../src/ingest/simulator.js';
import { queueDepth, startConsumer, testSettings, waitFor } from '../support/ingest.js';
import { useIngestHarness } from '../support/use-ingest-harness.js';

const t = useIngestHarness();

describe('simulated load', () => {
  it('10,000 messages with 5% duplicates and 1% poison end with the exact rows and an empty queue', async () => {
    const prefix = `load${Date.now().toString(36)}`;
    const sim = new TelemetrySimulator({
      plants: 10,
      devices: 8,
      duplicates: 0.05,
      malformed: 0.01,
      seed: 20240621,
      start: new Date('2024-06-21T03:00:00Z'),
      stepMs: 60_000,
      plantPrefix: prefix,
    });
    const messages: SimMessage[] = Array.from({ length: 10_000 }, () => sim.next());
    const poison = POISON_KINDS.reduce((n, k) => n + sim.counts[k], 0);
    // The rates are what was asked for (the generator is seeded, so these are fixed numbers).
    expect(sim.counts.duplicate).toBeGreaterThan(400);
    expect(sim.counts.duplicate).toBeLessThan(600);
    expect(poison).toBeGreaterThan(60);
    expect(poison).toBeLessThan(140);
    expect(sim.counts.reading + sim.counts.duplicate + poison).toBe(10_000);

    const url = await t.queue();
    // Consumed while it is being sent, as in production.
    const c = startConsumer(url, {
      settings: testSettings({ pollers: 4, batchMessages: 500, lingerMs: 20 }),
    });
    try {
      // A steady stream with a small backlog: moto's SQS spends O(messages in the queue) on every
      // message it sends or receives (it recomputes the queue's attributes each time), so a deep
      // backlog would measure moto, not the consumer. The next 100 go once the consumer has deleted
      // all but 100 of what was sent; counted locally, without asking moto.
      const backlog = 100;
      let sent = 0;
      for (let i = 0; i < messages.length; i += backlog) {
        await waitFor(
          'the consumer catching up',
          async () => (await c.metrics.value(c.metrics.deleted)) >= sent - backlog,
          300_000,
          20,
        );
        sent += await sendToQueue(t.sqs, url, messages.slice(i, i + backlog));
      }
      expect(sent).toBe(10_000);
      await waitFor(
        'at least 10,000 deletions',
        async () => (await c.metrics.value(c.metrics.deleted)) >= 10_000,
        300_000,
        20,
      );
      // A message delivered twice is deleted twice: the last ones may still be on their way.
      await waitFor(
        'queue empty',
        async () => c.consumer.inFlight === 0 && (await queueDepth(t.sqs, url)).total === 0,
      );
    } finally {
      await c.close();
    }

    // Nothing left, and every delivery (a standard queue may deliver a message twice) deleted.
    expect(await queueDepth(t.sqs, url)).toEqual({ visible: 0, inFlight: 0, total: 0 });
    const received = await c.metrics.value(c.metrics.received);
    expect(received).toBeGreaterThanOrEqual(10_000);
    // (A delete refused because another delivery of the same message deleted it first is counted
    // as an SQS error, not lost: the queue is empty.)
    const deleteErrors = await c.metrics.value(c.metrics.sqsErrors, { operation: 'delete' });
    expect((await c.metrics.value(c.metrics.deleted)) + deleteErrors).toBe(received);
    expect(deleteErrors).toBeLessThanOrEqual(received - 10_000);

    // Exactly one raw row per reading, one processed row per metric.
    const plantLike = `${prefix}-%`;
    expect(await t.db.count('SELECT 1 FROM raw_mqtt_data WHERE plant_id LIKE $1', [plantLike])).toBe(
      sim.counts.reading,
    );
    expect(await t.db.count('SELECT 1 FROM processed_data WHERE plant_id LIKE $1', [plantLike])).toBe(
      sim.expectedRows,
    );
    // Every poison message quarantined (by message id: a redelivered one may have a second row).
    const quarantined = await t.db.pool.query<{ reason: string; n: string }>(
      `SELECT split_part(reason, ':', 1) AS reason, count(DISTINCT message_id)::text AS n
         FROM quarantine WHERE body LIKE $1 GROUP BY 1`,
      [`%"${prefix}-plant-%`],
    );
    const byReason = Object.fromEntries(quarantined.rows.map((r) => [r.reason, Number(r.n)]));
    const expected = Object.fromEntries(
      POISON_KINDS.filter((k) => sim.counts[k] > 0).map((k) => [k, sim.counts[k]]),
    );
    expect(byReason).toEqual(expected);

    // The books balance: every delivery was ingested, refused as a duplicate, or quarantined.
    const ingested = await c.metrics.value(c.metrics.ingested);
    const byHash = await c.metrics.value(c.metrics.duplicates, { layer: 'message_hash' });
    const byId = await c.metrics.value(c.metrics.duplicates, { layer: 'message_id' });
    expect(ingested).toBe(sim.counts.reading);
    expect(byHash).toBeGreaterThanOrEqual(sim.counts.duplicate);
    expect(ingested + byHash + byId + (await c.metrics.value(c.metrics.quarantined))).toBe(received);
  }, 900_000);
});
