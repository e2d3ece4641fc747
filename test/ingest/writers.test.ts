/**
 * INGEST_WRITERS: how many batches the consumer writes at once, each in its own transaction. A
 * batch waiting on PostgreSQL (here: held before its COMMIT) must not hold back the next one when
 * there are two writers, and must when there is one.
 */
import { describe, expect, it } from 'vitest';
import { loadIngestSettings } from '../../src/ingest/settings.js';
import { body, reading, send, testPlant, testSettings, waitFor } from '../support/ingest.js';
import { useIngestHarness } from '../support/use-ingest-harness.js';

const t = useIngestHarness();
const { queue, consumer, emptied } = t;

/**
 * 10 messages, each of its own plant, and a consumer of batches of 5 whose first COMMIT waits.
 * Separate plants, because two batches of the same devices also wait on each other's
 * device_last_reading rows between that upsert (the last statement) and COMMIT.
 */
async function firstBatchHeld(writers: number) {
  const url = await queue();
  const plants = Array.from({ length: 10 }, () => testPlant());
  for (const [n, plant] of plants.entries()) await send(t.sqs, url, body(reading(plant, n)));
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let commits = 0;
  const c = consumer(url, {
    settings: testSettings({ writers, batchMessages: 5, lingerMs: 5_000, pollers: 1 }),
    hooks: {
      async beforeCommit() {
        if (commits++ === 0) await released;
      },
    },
  });
  // Registered after the consumer, so it runs before the consumer's stop() (cleanups run in reverse).
  t.cleanup(async () => release());
  await waitFor('the first batch held before its COMMIT', () => commits >= 1);
  // Every message received: a second batch of 5 is ready (a full batch does not linger).
  await waitFor('all ten received', async () => (await c.metrics.value(c.metrics.received)) === 10);
  const raw = () => t.db.count('SELECT 1 FROM raw_mqtt_data WHERE plant_id = ANY($1)', [plants]);
  return { url, raw, release, commits: () => commits };
}

describe('ingestion writers (INGEST_WRITERS)', () => {
  it('defaults to two, and refuses 0 naming the variable', () => {
    expect(loadIngestSettings({}).writers).toBe(2);
    expect(() => loadIngestSettings({ INGEST_WRITERS: '0' })).toThrow(/INGEST_WRITERS: "0"/);
  });

  it('with two writers, a batch held by PostgreSQL does not hold back the next', async () => {
    const { url, raw, release } = await firstBatchHeld(2);
    await waitFor('the second batch committed while the first is held', async () => (await raw()) === 5);
    release();
    await waitFor('queue emptied', emptied(url));
    expect(await raw()).toBe(10);
  });

  it('with one writer, the next batch waits for the held one', async () => {
    const { url, raw, release, commits } = await firstBatchHeld(1);
    // The second batch is ready; with one writer it is not even started while the first is held.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(commits()).toBe(1);
    expect(await raw()).toBe(0);
    release();
    await waitFor('queue emptied', emptied(url));
    expect(await raw()).toBe(10);
  });
});
