/**
 * The set-up the consumer test files share, as vitest hooks: one SQS client and one Db for the
 * file, and after each test what it made (queues, consumers, anything given to `cleanup`) removed,
 * newest first.
 *
 *   const t = useIngestHarness();
 *   it('...', async () => { const url = await t.queue(); t.consumer(url); await send(t.sqs, url, ...) });
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll } from 'vitest';
import {
  createQueue,
  Db,
  deleteQueue,
  newSqs,
  queueDepth,
  startConsumer,
  type TestConsumer,
} from './ingest.js';

export interface IngestHarness {
  /** The file's SQS client (from its beforeAll on). */
  readonly sqs: SQSClient;
  /** The file's database helper (from its beforeAll on). */
  readonly db: Db;
  /** Runs `fn` after the current test, before what was registered earlier. */
  cleanup(fn: () => Promise<void>): void;
  /** A fresh queue, deleted after the test. */
  queue(options?: Parameters<typeof createQueue>[1]): Promise<string>;
  /** A running consumer on `queueUrl`, closed after the test. */
  consumer(queueUrl: string, options?: Parameters<typeof startConsumer>[1]): TestConsumer;
  /** For waitFor: true once the queue holds no message, visible or in flight. */
  emptied(queueUrl: string): () => Promise<boolean>;
}

/** Registers the file's beforeAll / afterEach / afterAll; call it at the top level of a test file. */
export function useIngestHarness(): IngestHarness {
  let sqs: SQSClient | undefined;
  let db: Db | undefined;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(() => {
    sqs = newSqs();
    db = new Db();
  });

  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  afterAll(async () => {
    sqs?.destroy();
    await db?.close();
  });

  const harness: IngestHarness = {
    get sqs() {
      if (!sqs) throw new Error('useIngestHarness: sqs is set in beforeAll');
      return sqs;
    },
    get db() {
      if (!db) throw new Error('useIngestHarness: db is set in beforeAll');
      return db;
    },
    cleanup: (fn) => {
      cleanups.push(fn);
    },
    queue: async (options = {}) => {
      const client = harness.sqs;
      const url = await createQueue(client, options);
      cleanups.push(() => deleteQueue(client, url));
      return url;
    },
    consumer: (queueUrl, options = {}) => {
      const c = startConsumer(queueUrl, options);
      cleanups.push(() => c.close());
      return c;
    },
    emptied: (queueUrl) => async () => (await queueDepth(harness.sqs, queueUrl)).total === 0,
  };
  return harness;
}
