/**
 * Prometheus counters of the consumer, in their own registry (several consumers can live in one
 * test process), served on `/metrics` by `serveMetrics`.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { QUARANTINE_REASONS } from './message.js';
import type { BatchOutcome } from './store.js';

export class IngestMetrics {
  // Every metric is registered in this instance's registry only, never the global one.
  readonly registry = new Registry();

  readonly received = this.counter(
    'ingest_messages_received_total',
    'SQS messages received (each delivery counts, redeliveries included)',
  );
  readonly ingested = this.counter(
    'ingest_messages_ingested_total',
    'Messages stored for the first time in raw_mqtt_data',
  );
  readonly rows = this.counter(
    'ingest_processed_rows_total',
    'processed_data rows offered, by result (inserted, duplicate = refused by the primary key)',
    ['result'],
  );
  readonly duplicates = this.counter(
    'ingest_duplicate_messages_total',
    'Messages refused as duplicates, by layer: message_id (a redelivery), message_hash (same plant, ' +
      'device and timestamp under a new message id). Layer 1 (FIFO deduplication) happens inside SQS.',
    ['layer'],
  );
  readonly copyFallbacks = this.counter(
    'ingest_copy_fallbacks_total',
    'Batches whose COPY met a duplicate key (a concurrent writer, a raw row dropped by retention) and ' +
      'were written again with INSERT ... ON CONFLICT: each costs the batch twice',
  );
  readonly quarantined = this.counter(
    'ingest_quarantined_total',
    'Messages written to the quarantine table, by reason',
    ['reason'],
  );
  readonly batchSeconds = this.histogram(
    'ingest_batch_duration_seconds',
    'Time to write one batch (one transaction), retries excluded',
    [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );
  readonly batchMessages = this.histogram(
    'ingest_batch_messages',
    'Messages per written batch',
    [1, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
  );
  readonly queueLag = this.gauge(
    'ingest_queue_lag_seconds',
    'Age (now - SentTimestamp) of the oldest message in the latest non-empty receive; 0 after an empty one',
  );
  readonly messageAge = this.histogram(
    'ingest_message_age_seconds',
    'Age of each message when received (now - SentTimestamp)',
    [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 21600],
  );
  readonly dbErrors = this.counter(
    'ingest_db_errors_total',
    'Failed batch writes, by kind (transient: retried with backoff; data: batch split)',
    ['kind'],
  );
  readonly sqsErrors = this.counter('ingest_sqs_errors_total', 'Failed SQS calls or entries, by operation', [
    'operation',
  ]);
  readonly deleted = this.counter(
    'ingest_messages_deleted_total',
    'Messages deleted from SQS after their batch committed',
  );
  readonly visibilityExtended = this.counter(
    'ingest_visibility_extensions_total',
    'Messages whose visibility timeout was extended while their batch was slow',
  );
  readonly unstorable = this.counter(
    'ingest_unstorable_messages_total',
    'Messages refused by the tables and by the quarantine: not deleted, left in SQS to come back ' +
      'when their visibility expires (each delivery counts)',
  );
  readonly silentPlants = this.gauge(
    'ingest_silent_plants',
    'Active plants without an accepted reading for INGEST_SILENT_AFTER_SECONDS (default 900), never-sent ' +
      'included; counted every INGEST_SILENT_CHECK_SECONDS (default 60) by every consumer process',
  );
  readonly agingCertificates = this.gauge(
    'certificates_aging',
    'Active plants whose device certificate was activated more than CERTIFICATE_MAX_AGE_DAYS (default 365) ' +
      'ago: candidates for rotation on request (automatic rotation is off by default); counted hourly',
  );
  readonly deadLetters = this.gauge(
    'ingest_dead_letter_messages',
    'Deliveries the telemetry rules could not make (queue deleted, role wrong), waiting in their dead-letter ' +
      'queue AWS_SQS_DEAD_LETTER_QUEUE_URL (ApproximateNumberOfMessages); measured every minute',
  );
  readonly inFlight = this.gauge('ingest_in_flight_messages', 'Messages received and not yet deleted');

  readonly inFlightBytes = this.gauge(
    'ingest_in_flight_bytes',
    'Bytes of the message bodies received and not yet deleted (capped by INGEST_MAX_IN_FLIGHT_BYTES)',
  );

  private counter<L extends string = string>(name: string, help: string, labelNames?: readonly L[]) {
    return new Counter<L>({ name, help, ...(labelNames ? { labelNames } : {}), registers: [this.registry] });
  }

  private gauge(name: string, help: string) {
    return new Gauge({ name, help, registers: [this.registry] });
  }

  private histogram(name: string, help: string, buckets: number[]) {
    return new Histogram({ name, help, buckets, registers: [this.registry] });
  }

  constructor(options: { defaultMetrics?: boolean } = {}) {
    // Zero-valued series exist from the start, so a dashboard shows 0 rather than "no data".
    for (const result of ['inserted', 'duplicate']) this.rows.inc({ result }, 0);
    for (const layer of ['message_id', 'message_hash']) this.duplicates.inc({ layer }, 0);
    for (const reason of QUARANTINE_REASONS) this.quarantined.inc({ reason }, 0);
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  recordOutcome(outcome: BatchOutcome): void {
    this.ingested.inc(outcome.rawInserted);
    this.rows.inc({ result: 'inserted' }, outcome.rowsInserted);
    this.rows.inc({ result: 'duplicate' }, outcome.rowsDuplicate);
    this.duplicates.inc({ layer: 'message_id' }, outcome.duplicates.messageId);
    this.duplicates.inc({ layer: 'message_hash' }, outcome.duplicates.messageHash);
    this.copyFallbacks.inc(outcome.fallbacks);
    for (const [reason, n] of Object.entries(outcome.quarantined)) this.quarantined.inc({ reason }, n);
  }

  /** Current value of a counter or gauge series (tests, logs). */
  async value(metric: Counter | Gauge, labels: Record<string, string> = {}): Promise<number> {
    const { values } = await metric.get();
    const want = Object.entries(labels);
    return values
      .filter((v) => want.every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val))
      .reduce((sum, v) => sum + v.value, 0);
  }
}

/** The consumer's endpoint is the one every process uses (src/metrics/serve.ts). */
export { serveMetrics } from '../metrics/serve.js';
