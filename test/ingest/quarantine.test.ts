/**
 * The quarantine against moto's SQS and a real PostgreSQL: readings from the future, bytes in
 * flight, oversized bodies kept as prefix + sha256 + size, expiry.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { QUARANTINE_PREFIX_BYTES } from '../../src/ingest/message.js';
import { purgeExpiredQuarantine } from '../../src/ingest/quarantine.js';
import { body, reading, send, testPlant, testSettings, waitFor } from '../support/ingest.js';
import { useIngestHarness } from '../support/use-ingest-harness.js';

const t = useIngestHarness();
const { queue, consumer, emptied } = t;

describe('quarantine', () => {
  it('quarantines a reading further ahead than the allowed clock skew as future_timestamp', async () => {
    const url = await queue();
    const plant = testPlant();
    const inMinutes = (n: number) => new Date(Date.now() + n * 60_000).toISOString();
    await send(t.sqs, url, body({ ...reading(plant, 1), timestamp: inMinutes(1) }));
    await send(t.sqs, url, body({ ...reading(plant, 2), timestamp: inMinutes(60) }));
    const c = consumer(url);

    await waitFor('queue emptied', emptied(url));
    expect(await t.db.raw(plant)).toBe(1);
    const rows = await t.db.quarantine(plant);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.reason).toMatch(/^future_timestamp: timestamp ".*" is 60 min ahead .*=300\)$/);
    expect(await c.metrics.value(c.metrics.quarantined, { reason: 'future_timestamp' })).toBe(1);
  });

  it('caps the bytes in flight: a burst of large messages is received and written in parts', async () => {
    const url = await queue();
    const plant = testPlant();
    const maxBodyBytes = 4096;
    const maxInFlightBytes = 10 * maxBodyBytes; // the smallest cap allowed: one receive of 10 at a time
    const big = (n: number) => body({ ...reading(plant, n), pad: 'x'.repeat(3500) } as never);
    for (let n = 0; n < 30; n++) await send(t.sqs, url, big(n));
    expect(Buffer.byteLength(big(0))).toBeGreaterThan(3500);
    let batches = 0;
    let peakBytes = 0;
    let peakMessages = 0;
    const c = consumer(url, {
      // A long linger: without a byte cap, every message arrives before the first batch is written.
      settings: testSettings({ maxBodyBytes, maxInFlightBytes, pollers: 2, lingerMs: 1_000 }),
      hooks: {
        async beforeCommit() {
          batches++;
          peakBytes = Math.max(peakBytes, c.consumer.inFlightBytes);
          peakMessages = Math.max(peakMessages, c.consumer.inFlight);
        },
      },
    });

    await waitFor('queue emptied', emptied(url));
    expect(await t.db.raw(plant)).toBe(30);
    expect(batches).toBeGreaterThanOrEqual(3);
    expect(peakMessages).toBeLessThanOrEqual(10);
    expect(peakBytes).toBeGreaterThan(0);
    expect(peakBytes).toBeLessThanOrEqual(maxInFlightBytes);
    expect(c.consumer.inFlightBytes).toBe(0);
    expect(await c.metrics.value(c.metrics.inFlightBytes)).toBe(0);
  });

  it('keeps an oversized body as its prefix, sha256 and size, not whole', async () => {
    const url = await queue();
    const plant = testPlant();
    // Multi-byte characters across the cut: the prefix must stay valid UTF-8.
    const huge = body({ ...reading(plant, 1), pad: 'é€😀'.repeat(2_000) } as never);
    await send(t.sqs, url, huge);
    const c = consumer(url, { settings: testSettings({ maxBodyBytes: 2048 }) });

    await waitFor('queue emptied', emptied(url));
    const { rows } = await t.db.pool.query(
      `SELECT body, reason, body_bytes, body_sha256, body_truncated FROM quarantine WHERE body LIKE $1`,
      [`%${plant}%`],
    );
    expect(rows).toHaveLength(1);
    const row = rows[0];
    const bytes = Buffer.byteLength(huge);
    expect(row.reason).toBe(`oversized_body: ${bytes} bytes, limit 2048`);
    expect(row.body_bytes).toBe(bytes);
    expect(row.body_sha256).toBe(createHash('sha256').update(huge).digest('hex'));
    expect(row.body_truncated).toBe(true);
    expect(Buffer.byteLength(row.body)).toBeLessThanOrEqual(QUARANTINE_PREFIX_BYTES);
    expect(Buffer.byteLength(row.body)).toBeGreaterThan(QUARANTINE_PREFIX_BYTES - 4);
    expect(huge.startsWith(row.body)).toBe(true);
    expect(await c.metrics.value(c.metrics.quarantined, { reason: 'oversized_body' })).toBe(1);
  });

  it('expires quarantine rows older than the retention, and only those, with several purgers at once', async () => {
    const marker = `expiry-${testPlant()}`;
    const insert = (age: string, n: number) =>
      t.db.pool.query(
        `INSERT INTO quarantine (message_id, body, reason, body_bytes, body_sha256, received_at)
         VALUES ($1, $2, 'invalid_json: test', 20, 'not a digest', now() - $3::interval)`,
        [`${marker}-${n}`, `{"marker": "${marker}", "n": ${n}`, age],
      );
    for (let n = 0; n < 5; n++) await insert('31 days', n);
    await insert('29 days', 5);
    await insert('1 minute', 6);
    // Two consumers' purges at once, in small slices: each old row deleted once, no error.
    const deleted = await Promise.all([
      purgeExpiredQuarantine(t.db.pool, { retentionDays: 30, batchRows: 2 }),
      purgeExpiredQuarantine(t.db.pool, { retentionDays: 30, batchRows: 2 }),
    ]);
    expect(deleted[0] + deleted[1]).toBeGreaterThanOrEqual(5);
    const left = await t.db.quarantine(marker);
    expect(left.map((r) => r.message_id)).toEqual([`${marker}-5`, `${marker}-6`]);

    // The consumer purges on its own (at start, then periodically) with its configured retention.
    await insert('3 days', 7);
    const url = await queue();
    consumer(url, { settings: testSettings({ quarantineRetentionDays: 2 }) });
    await waitFor('the consumer purged rows older than 2 days', async () => {
      const rows = await t.db.quarantine(marker);
      return rows.map((r) => r.message_id).join() === `${marker}-6`;
    });
  });
});
