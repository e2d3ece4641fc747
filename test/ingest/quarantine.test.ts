/**
 * The quarantine against moto's SQS and a real PostgreSQL: readings from the future, bytes in
 * flight, oversized bodies kept as prefix + sha256 + size, expiry.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  body,
  createQueue,
  Db,
  deleteQueue,
  newSqs,
  queueDepth,
  reading,
  send,
  startConsumer,
  type TestConsumer,
  testPlant,
  testSettings,
  waitFor,
} from './support.js';

let sqs: SQSClient;
let db: Db;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(() => {
  sqs = newSqs();
  db = new Db();
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

afterAll(async () => {
  sqs.destroy();
  await db.close();
});

async function queue(): Promise<string> {
  const url = await createQueue(sqs);
  cleanups.push(() => deleteQueue(sqs, url));
  return url;
}

function consumer(queueUrl: string, options: Parameters<typeof startConsumer>[1] = {}): TestConsumer {
  const c = startConsumer(queueUrl, options);
  cleanups.push(() => c.close());
  return c;
}

const emptied = (url: string) => async () => (await queueDepth(sqs, url)).total === 0;

describe('quarantine', () => {
  it('quarantines a reading further ahead than the allowed clock skew as future_timestamp', async () => {
    const url = await queue();
    const plant = testPlant();
    const inMinutes = (n: number) => new Date(Date.now() + n * 60_000).toISOString();
    await send(sqs, url, body({ ...reading(plant, 1), timestamp: inMinutes(1) }));
    await send(sqs, url, body({ ...reading(plant, 2), timestamp: inMinutes(60) }));
    const c = consumer(url);

    await waitFor('queue emptied', emptied(url));
    expect(await db.raw(plant)).toBe(1);
    const rows = await db.quarantine(plant);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.reason).toMatch(/^future_timestamp: timestamp ".*" is 60 min ahead .*=300\)$/);
    expect(await c.metrics.value(c.metrics.quarantined, { reason: 'future_timestamp' })).toBe(1);
  });
});
