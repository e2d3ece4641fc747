/**
 * 10,000 simulated messages (5 % duplicates, 1 % poison) through moto's SQS and the consumer:
 * exact row counts at the end, and nothing left in the queue.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  POISON_KINDS,
  type SimMessage,
  sendToQueue,
  TelemetrySimulator,
} from '../../src/ingest/simulator.js';
import {
  createQueue,
  Db,
  deleteQueue,
  newSqs,
  queueDepth,
  startConsumer,
  testSettings,
  waitFor,
} from './support.js';

let sqs: SQSClient;
let db: Db;

beforeAll(() => {
  sqs = newSqs();
  db = new Db();
});

afterAll(async () => {
  sqs.destroy();
  await db.close();
});

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

    const url = await createQueue(sqs);
    // Consumed while it is being sent, as in production.
    const c = startConsumer(url, {
      settings: testSettings({ pollers: 4, batchMessages: 500, lingerMs: 50 }),
    });
    try {
      expect(await sendToQueue(sqs, url, messages)).toBe(10_000);
      // Counted locally, without a request to moto (which has enough to do); the queue is checked after.
      await waitFor(
        'all 10,000 deleted',
        async () => (await c.metrics.value(c.metrics.deleted)) >= 10_000,
        500_000,
      );
    } finally {
      await c.close();
    }

    expect(await queueDepth(sqs, url)).toEqual({ visible: 0, inFlight: 0, total: 0 });
    expect(await c.metrics.value(c.metrics.deleted)).toBe(10_000);
    const plantLike = `${prefix}-%`;
    expect(await db.count('SELECT 1 FROM raw_mqtt_data WHERE plant_id LIKE $1', [plantLike])).toBe(
      sim.counts.reading,
    );
    expect(await db.count('SELECT 1 FROM processed_data WHERE plant_id LIKE $1', [plantLike])).toBe(
      sim.expectedRows,
    );
    const quarantined = await db.pool.query<{ reason: string; n: string }>(
      `SELECT split_part(reason, ':', 1) AS reason, count(*)::text AS n FROM quarantine WHERE body LIKE $1 GROUP BY 1`,
      [`%"${prefix}-plant-%`],
    );
    const byReason = Object.fromEntries(quarantined.rows.map((r) => [r.reason, Number(r.n)]));
    const expected = Object.fromEntries(
      POISON_KINDS.filter((k) => sim.counts[k] > 0).map((k) => [k, sim.counts[k]]),
    );
    expect(byReason).toEqual(expected);
    expect(await c.metrics.value(c.metrics.duplicates, { layer: 'message_hash' })).toBe(sim.counts.duplicate);
    expect(await c.metrics.value(c.metrics.ingested)).toBe(sim.counts.reading);
    await deleteQueue(sqs, url);
  }, 600_000);
});
