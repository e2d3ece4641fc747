/**
 * `src/ingest/main.ts` with PostgreSQL behind a relay that goes silent: connections stay open, no
 * byte comes back (a network blackhole, no RST). A write must fail as transient within the
 * consumer's bounds instead of waiting forever, delete nothing, and be written exactly once when
 * the network heals; a SIGTERM while the database is silent must still end the process, with the
 * messages given back to SQS.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../tools/stack/processes.js';
import { type Started, started, tsx } from '../support/child.js';
import {
  body,
  databaseUrl,
  queueDepth,
  reading,
  send,
  TcpGate,
  testPlant,
  waitFor,
} from '../support/ingest.js';
import { parseSamples, sampleValue } from '../support/prometheus-text.js';
import { useIngestHarness } from '../support/use-ingest-harness.js';

const t = useIngestHarness();

let gate: TcpGate | undefined;
let child: Started | undefined;
afterEach(async () => {
  await gate?.open(); // a consumer stuck on a silent database could not stop
  if (child?.running()) await child.stop();
  await gate?.close();
  gate = undefined;
  child = undefined;
});

/** The consumer process through a fresh gate, with 1 s statement bounds; its metrics scraper. */
async function startBehindGate(queueUrl: string) {
  const opened = await TcpGate.before(databaseUrl());
  gate = opened.gate;
  const metricsPort = await freePort();
  child = started(tsx(['src/ingest/main.ts']), {
    env: {
      ...process.env,
      // loadConfig refuses the global setup's low-entropy test key; the consumer never uses it.
      ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      LOG_LEVEL: 'info',
      DATABASE_URL: opened.url,
      AWS_SQS_QUEUE_URL: queueUrl,
      INGEST_WAIT_SECONDS: '1',
      INGEST_LINGER_MS: '100',
      INGEST_SHUTDOWN_TIMEOUT_SECONDS: '2',
      INGEST_STATEMENT_TIMEOUT_SECONDS: '1',
      // Nothing but the writers on the database: the test silences it between their batches.
      INGEST_PARTITION_MAINTENANCE_MINUTES: '0',
      INGEST_SILENT_CHECK_SECONDS: '0',
      METRICS_PORT: String(metricsPort),
    },
  });
  const metric = async (name: string, labels: Record<string, string> = {}) => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    return sampleValue(parseSamples(text), name, labels);
  };
  await child.waitFor(/"msg":"metrics endpoint listening"/);
  return { gate: opened.gate, child, metric };
}

describe('ingest with a silent database', () => {
  it('fails the write as transient, deletes nothing, and writes everything once the network heals', async () => {
    const url = await t.queue();
    const plant = testPlant();
    const { gate, metric } = await startBehindGate(url);
    for (let n = 0; n < 5; n++) await send(t.sqs, url, body(reading(plant, n)));
    await waitFor('the first messages written', t.emptied(url));

    gate.silence();
    for (let n = 5; n < 20; n++) await send(t.sqs, url, body(reading(plant, n)));
    await waitFor(
      'the write on the silent database failed',
      async () => (await metric('ingest_db_errors_total', { kind: 'transient' })) >= 1,
    );
    expect(await metric('ingest_db_errors_total', { kind: 'data' })).toBe(0);
    expect(await metric('ingest_messages_deleted_total')).toBe(5);
    expect(await queueDepth(t.sqs, url)).toMatchObject({ total: 15 });
    expect(await t.db.raw(plant)).toBe(5);

    await gate.open();
    await waitFor('queue emptied', t.emptied(url));
    expect(await t.db.raw(plant)).toBe(20);
    expect(await t.db.processed(plant)).toBe(60);
    expect(await metric('ingest_messages_deleted_total')).toBe(20);
    expect(await metric('ingest_quarantined_total')).toBe(0);
  });

  it('on SIGTERM with the database silent, exits 1 and gives the messages back', async () => {
    const url = await t.queue();
    const plant = testPlant();
    const { gate, child, metric } = await startBehindGate(url);
    await send(t.sqs, url, body(reading(plant, 0)));
    await waitFor('the first message written', t.emptied(url));

    gate.silence();
    for (let n = 1; n < 6; n++) await send(t.sqs, url, body(reading(plant, n)));
    await waitFor('all five held', async () => (await metric('ingest_messages_received_total')) === 6);
    // Exits (vitest's timeout bounds the wait) although the database never answers.
    expect(await child.stop()).toBe(1);
    expect(child.output()).toMatch(/database still unreachable at the shutdown deadline/);
    expect(await queueDepth(t.sqs, url)).toEqual({ visible: 5, inFlight: 0, total: 5 });
    expect(await t.db.raw(plant)).toBe(1);
  });
});
